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
from dataops_platform.defs.notify_sensor import notification_dispatch
from dataops_platform.defs.resources import default_resources
from dataops_platform.defs.schedules import rhythm_schedules
from dataops_platform.defs.sensors import SENSORS
from dataops_platform.defs.verify_sensor import release_data_verify
from dataops_platform.settings import load_settings

SETTINGS = load_settings()
SCHEDULES: list[dg.ScheduleDefinition] = rhythm_schedules(SETTINGS)


def _executor() -> dg.ExecutorDefinition:
    """In process on the embedded default: the assets are small reads and file writes, and one
    process per step would spend minutes importing MLflow and Dagster 31 times. On a deployment
    (a Celery broker configured) every step is a Celery task run by the workers."""
    if SETTINGS.celery_broker_url is None:
        return dg.in_process_executor
    from dagster_celery import celery_executor

    from dataops_platform.stack.config import celery_config

    return celery_executor.configured(celery_config(SETTINGS)["execution"]["config"])


defs = dg.Definitions(
    assets=ASSETS,
    asset_checks=CHECKS,
    jobs=[governance_job],
    schedules=SCHEDULES,
    sensors=[*SENSORS, notification_dispatch, release_data_verify],
    resources=default_resources(),
    executor=_executor(),
)
