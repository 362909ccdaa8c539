"""Experiments: the runs the platform recorded, and syncing finished MLflow runs into it (SPEC §9)."""

from typing import Any

from pydantic import BaseModel

from dataops_platform.api.common import Actor, Conf, Limit, Offset, Page, Plat, ProjectFilter, noun_router, page
from dataops_platform.api.records import record_model
from dataops_platform.governance import experiments
from dataops_platform.store.models import Experiment as ExperimentRow

router = noun_router("experiments")

Experiment = record_model(
    ExperimentRow,
    "Experiment",
    "A training run on a dataset version: params, metrics, status against its baseline, its MLflow run.",
    types={"alert_ids": list[str]},
)


class ExperimentPage(Page[Experiment]):  # type: ignore[valid-type]
    """A page of the experiments the caller may read."""


class IgnoredRun(BaseModel):
    """An MLflow run the sync did not record, and why."""

    run_id: str
    mlflow_experiment_id: str | None
    project: str | None
    dataset_version: str | None
    mlflow_user: str | None
    outcome: str
    reason: str
    new: bool


class SyncReport(BaseModel):
    """What a sync recorded, as the caller may see it: runs naming projects they cannot read are
    counted (`ignored_not_shown`), never described."""

    caller: str | None
    added: list[str]
    already_synced: int
    alerts: list[str]
    ignored: list[IgnoredRun]
    ignored_not_shown: int


@router.get("/experiments", response_model=ExperimentPage)
def experiment_list(plat: Plat, user: Actor, project: ProjectFilter = None, limit: Limit = 100, offset: Offset = 0) -> Any:
    return page(experiments.list_experiments(plat, user, project), limit, offset)


@router.post("/experiments/sync", response_model=SyncReport)
def experiment_sync(plat: Plat, settings: Conf, user: Actor) -> Any:
    """Record the finished MLflow runs of the platform's experiments (each as the platform user its
    MLflow user maps to); decided and audited as `experiment.log` in some project of the caller."""
    from dataops_platform.tracking.client import Tracking
    from dataops_platform.tracking.sync import sync_for_caller

    return sync_for_caller(plat, Tracking(settings.tracking_uri, settings.mlflow_artifact_root), user)
