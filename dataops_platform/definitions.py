"""Dagster entry point (workspace.yaml, `dagster dev`, `dg`): assets, checks, resources, jobs.

The home comes from $DATAOPS_HOME (default ./.dataops), the same place the CLI uses.
"""

from __future__ import annotations

import dagster as dg

from dataops_platform.defs.assets import ASSETS
from dataops_platform.defs.checks import CHECKS
from dataops_platform.defs.resources import default_resources

# The operating rhythm's schedules arrive with the operating-loop issue; operating_model lists them.
SCHEDULES: list[dg.ScheduleDefinition] = []

governance_job = dg.define_asset_job(
    "governance_refresh", selection=dg.AssetSelection.all(), description="Materialise every governance asset and check."
)

defs = dg.Definitions(
    assets=ASSETS,
    asset_checks=CHECKS,
    jobs=[governance_job],
    schedules=SCHEDULES,
    resources=default_resources(),
    # The assets are small reads and file writes: one process per step (the multiprocess default)
    # would spend minutes importing MLflow and Dagster 31 times. Scale-out swaps in Celery.
    executor=dg.in_process_executor,
)
