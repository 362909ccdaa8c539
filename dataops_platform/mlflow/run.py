"""The MLflow helper: a run in the project's own experiment with the platform's tags and the
dataset version as an MLflow dataset input (SPEC §9).

    with dataops_platform.mlflow.start_run(project="p02_legal_sft", dataset_version="t02_legal.ds_v002",
                                           digest=..., source=...) as run:
        mlflow.log_params(...); mlflow.log_metrics(...)

Everything else is plain MLflow at MLflow's own tracking URI (`MLFLOW_TRACKING_URI` or
`mlflow.set_tracking_uri`): `run` is MLflow's ActiveRun, the run is MLflow's, and whether it counts
is decided by `dataops experiment sync`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import mlflow

from dataops_platform.errors import InvalidInput
from dataops_platform.mlflow.target import ENV_DIGEST, ENV_SOURCE, RunTarget, run_target
from dataops_platform.tracking import client as tc

TRAINING_CONTEXT = "training"  # the dataset input's mlflow.data.context tag, as the platform's own runs log it


def project_experiment(project: str) -> str:
    """The id of the project's experiment (`dataops/<project>`) at MLflow's current tracking URI:
    created with the platform's experiment tags when missing (as the platform creates it), refused
    when it was deleted in MLflow (a run there would never count)."""
    tracking = tc.Tracking(mlflow.get_tracking_uri())
    name = tc.experiment_name(project)
    existing = tracking.client.get_experiment_by_name(name)
    if existing is not None and existing.lifecycle_stage != "active":
        raise InvalidInput(
            f"MLflow experiment {name!r} (id {existing.experiment_id}) is deleted: restore it "
            f"(`mlflow experiments restore --experiment-id {existing.experiment_id}`) before logging runs of {project}",
            field="project",
            value=project,
        )
    return tracking.experiment_id(project)


def dataset_input(target: RunTarget) -> Any:
    """The version as an MLflow dataset (digest and source); InvalidInput when MLflow cannot read the source."""
    from mlflow.exceptions import MlflowException

    if target.digest is None or target.source is None:
        raise InvalidInput(
            f"no digest and source for {target.dataset_version}: pass digest=... and source=... "
            f"or set {ENV_DIGEST} and {ENV_SOURCE} (`dataops version show {target.dataset_version}`)",
            field="digest",
            value=None,
        )
    try:
        return tc.mlflow_dataset(target.dataset_version, target.digest, target.source)
    except MlflowException as exc:
        raise InvalidInput(
            f"source={target.source[:200]!r} is no dataset source MLflow can name ({exc.message[:200]}); "
            "give the version's source_uri (a path, file:// or s3:// URI)",
            field="source",
            value=target.source[:200],
        ) from exc


def _warn_on_default_store() -> None:
    """MLflow with no tracking URI logs to ./mlflow.db in the working directory, a store the
    platform never syncs: the run would silently count for nothing (a newcomer released degraded
    data that way). Say so, once per run, before it starts."""
    import warnings

    try:
        from mlflow.tracking._tracking_service.utils import is_tracking_uri_set
    except ImportError:  # MLflow moved it: no warning rather than no run
        return
    if not is_tracking_uri_set():
        warnings.warn(
            f"MLflow has no tracking URI, so this run goes to its default store {mlflow.get_tracking_uri()} in the working "
            "directory, which the platform does not sync: set MLFLOW_TRACKING_URI (or mlflow.set_tracking_uri) to the "
            "platform's tracking store",
            UserWarning,
            stacklevel=3,
        )


@contextmanager
def start_run(
    project: str | None = None,
    dataset_version: str | None = None,
    *,
    digest: str | None = None,
    source: str | None = None,
    run_name: str | None = None,
    tags: Mapping[str, Any] | None = None,
    description: str | None = None,
) -> Iterator[mlflow.ActiveRun]:
    """Start an MLflow run for a dataset version of a project; end it when the block ends (FAILED,
    with the error as the `dataops.error` tag, when the block raises).

    Project and version default to DATAOPS_PROJECT / DATAOPS_DATASET_VERSION; digest and source
    to DATAOPS_DATASET_DIGEST / DATAOPS_DATASET_SOURCE. Without a digest and source the run has
    the platform's tags but no dataset input. Every value is checked before a run starts
    (InvalidInput naming field, value and fix); `tags` may not set the platform's `dataops.*` tags."""
    target = run_target(project, dataset_version, digest, source)
    extra = dict(tags or {})
    reserved = sorted(k for k in extra if str(k).startswith("dataops."))
    if reserved:
        raise InvalidInput(
            f"tags {reserved} are the platform's: pass project / dataset_version / digest instead",
            field="tags",
            value=reserved,
        )
    dataset = dataset_input(target) if target.digest is not None else None
    _warn_on_default_store()
    experiment_id = project_experiment(target.project)
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=run_name, tags={**extra, **target.tags()}, description=description
    ) as run:
        if dataset is not None:
            mlflow.log_input(dataset, context=TRAINING_CONTEXT)
        try:
            yield run
        except BaseException as exc:
            mlflow.set_tag(tc.TAG_ERROR, f"{type(exc).__name__}: {exc}"[:500])
            raise


def log_dataset(dataset_version: str | None = None, *, digest: str | None = None, source: str | None = None) -> None:
    """Log the version as the dataset input of the active run: for a plain `mlflow.start_run()`
    whose tags came from the plugin (a run-context plugin can add tags, not inputs)."""
    active = mlflow.active_run()
    if active is None:
        raise InvalidInput("no active MLflow run: call log_dataset inside `with mlflow.start_run():`", field="run", value=None)
    tagged = active.data.tags
    target = run_target(tagged.get(tc.TAG_PROJECT), dataset_version or tagged.get(tc.TAG_VERSION), digest, source)
    mlflow.log_input(dataset_input(target), context=TRAINING_CONTEXT)
    mlflow.set_tag(tc.TAG_DIGEST, target.digest)
