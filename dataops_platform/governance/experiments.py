"""Recording experiments in the store (the MLflow sync decides status and calls this).

Metric values are stored so that every JSON column and artifact stays valid JSON (`NaN` is not
JSON, and PostgreSQL's json type refuses it): a finite value is kept as a number; a NaN or
infinite one is kept, under its own metric name, as the text `"NaN"`, `"Infinity"` or
`"-Infinity"` (the same in `deltas`). Readers that compare metrics therefore take numbers only
(`tracking.regression.is_finite_number`). A run whose primary or guard metric is non-finite is
never recorded as `completed` (SPEC §5), whoever calls this.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from dataops_platform.errors import AlreadyRecorded, InvalidInput
from dataops_platform.governance import lineage
from dataops_platform.governance.listing import list_visible
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.policy import governance_policy
from dataops_platform.governance.refs import ref
from dataops_platform.store.models import DatasetVersion, Experiment
from dataops_platform.tracking.regression import (
    DATA_REGRESSION,
    REGRESSION_KINDS,
    is_finite_number,
    metric_text,
    non_finite,
    watched_metrics,
)

EXPERIMENT_STATUSES = ("completed", "regressed", "failed")


def storable_values(values: dict[str, Any] | None) -> dict[str, Any]:
    """Metric values as valid JSON: finite numbers as floats, NaN/inf as their text (see the module doc)."""
    out: dict[str, Any] = {}
    for name, value in (values or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = float(value) if is_finite_number(value) else metric_text(float(value))
        else:
            out[name] = value
    return out


def record_experiment(
    platform: Platform,
    actor: str,
    project_id: str,
    dataset_version: str,
    status: str,
    *,
    metrics: dict[str, float] | None = None,
    params: dict[str, Any] | None = None,
    mlflow_run_id: str | None = None,
    baseline_ref: str | None = None,
    deltas: dict[str, float] | None = None,
    error: str | None = None,
    run_ended_at: datetime | None = None,
    regression_kind: str | None = None,
) -> Experiment:
    """Record one experiment on a version of the same project (needs experiment.log).

    A regressed experiment carries its `regression_kind` (`data` unless told otherwise: a
    regression nobody attributed blocks its version, as the gate always did); no other status has one."""
    with platform.act(actor, "experiment.log", project=project_id) as op:
        if status not in EXPERIMENT_STATUSES:
            raise InvalidInput(f"status {status!r} is not one of {', '.join(EXPERIMENT_STATUSES)}", field="status", value=status)
        if status == "regressed":
            regression_kind = regression_kind or DATA_REGRESSION
            if regression_kind not in REGRESSION_KINDS:
                raise InvalidInput(
                    f"regression_kind {regression_kind!r} is not one of {', '.join(REGRESSION_KINDS)}",
                    field="regression_kind",
                    value=regression_kind,
                )
        elif regression_kind is not None:
            raise InvalidInput(
                f"regression_kind {regression_kind!r} is only for a regressed experiment, not a {status} one",
                field="regression_kind",
                value=regression_kind,
            )
        if status == "completed":
            numeric = {k: float(v) for k, v in (metrics or {}).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
            rule = governance_policy(op.session).regression.get(project_id)
            if bad := non_finite(numeric, watched_metrics(rule)):
                name, text = sorted(bad.items())[0]
                raise InvalidInput(
                    f"metric {name} = {text} is not a finite number: a run with a NaN or infinite primary or guard "
                    "metric is never completed",
                    field=f"metrics.{name}",
                    value=text,
                )
        version = op.session.get(DatasetVersion, dataset_version)
        if version is None or version.project_id != project_id:
            raise InvalidInput(
                f"dataset_version {dataset_version!r}: no such version in project {project_id}",
                field="dataset_version",
                value=dataset_version,
            )
        if mlflow_run_id is not None and (
            known := op.session.scalar(select(Experiment.experiment_id).where(Experiment.mlflow_run_id == mlflow_run_id))
        ):
            # Checked under the write lock: two syncs (a sensor and a person) racing for one run
            # cannot both record it.
            raise AlreadyRecorded(
                f"MLflow run {mlflow_run_id} is already recorded as {known}", field="mlflow_run_id", value=mlflow_run_id
            )
        experiment = Experiment(
            experiment_id=op.next_id("experiment", "exp_"),
            project_id=project_id,
            dataset_version=dataset_version,
            mlflow_run_id=mlflow_run_id,
            params=params or {},
            status=status,
            metric_summary=storable_values(metrics),
            baseline_ref=baseline_ref,
            deltas=storable_values(deltas),
            requires_review=status != "completed",
            alert_ids=[],
            error=error,
            regression_kind=regression_kind,
            run_ended_at=run_ended_at,
            recorded_by=actor,
            recorded_at=op.now,
        )
        op.session.add(experiment)
        op.session.flush()
        lineage.add_edge(
            op.session, project_id, ref("version", dataset_version), ref("experiment", experiment.experiment_id), "used", op.now
        )
        if mlflow_run_id is not None:  # recorded by `experiment sync` from that MLflow run (issue 14)
            run = ref("mlflow_run", mlflow_run_id)
            lineage.add_edge(op.session, project_id, run, ref("experiment", experiment.experiment_id), "recorded", op.now)
        op.object_ref = ref("experiment", experiment.experiment_id)
        op.details = {"status": status, "dataset_version": dataset_version, "mlflow_run_id": mlflow_run_id} | (
            {"regression_kind": regression_kind} if regression_kind else {}
        )
    return experiment


def list_experiments(platform: Platform, actor: str, project_id: str | None = None) -> list[Experiment]:
    return list_visible(platform, actor, Experiment, project_id)
