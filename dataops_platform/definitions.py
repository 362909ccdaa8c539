"""Dagster entry point (workspace.yaml, `dagster dev`, `dg`): assets, checks, jobs, sensors,
schedules and resources.

The home comes from $DATAOPS_HOME (default ./.dataops), the same place the CLI uses; the
schedules come from the operating rhythm of the spec applied there.
"""

from __future__ import annotations

import dagster as dg

from dataops_platform.defs.assets import ASSETS
from dataops_platform.defs.checks import CHECKS
from dataops_platform.defs.jobs import governance_job
from dataops_platform.defs.resources import default_resources
from dataops_platform.defs.schedules import rhythm_schedules
from dataops_platform.defs.sensors import SENSORS
from dataops_platform.settings import load_settings

SCHEDULES: list[dg.ScheduleDefinition] = rhythm_schedules(load_settings())

defs = dg.Definitions(
    assets=ASSETS,
    asset_checks=CHECKS,
    jobs=[governance_job],
    schedules=SCHEDULES,
    sensors=SENSORS,
    resources=default_resources(),
    # The assets are small reads and file writes: one process per step (the multiprocess default)
    # would spend minutes importing MLflow and Dagster 31 times. Scale-out swaps in Celery.
    executor=dg.in_process_executor,
)
