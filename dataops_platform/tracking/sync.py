"""`dataops experiment sync`: pull finished MLflow runs into the store, judged by the policy.

Incremental by run end time (the cursor is the newest `run_ended_at` already recorded) and
idempotent by MLflow run id, so re-syncing never duplicates an experiment, an alert or an edge.
The platform's system actor records the experiments and opens alerts for regressions and
failures; the verdict is written back onto the MLflow run as tags for the MLflow UI.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dataops_platform.errors import AlreadyRecorded, DataOpsError
from dataops_platform.governance.alerts import open_alert
from dataops_platform.governance.experiments import record_experiment
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.policy import config_document, governance_policy
from dataops_platform.store.models import DatasetVersion, Experiment, Project
from dataops_platform.tracking import client as tc
from dataops_platform.tracking.regression import judge

log = logging.getLogger(__name__)
ALERT_FOR_STATUS = {"regressed": ("high", "regression"), "failed": ("medium", "run_failure")}


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)  # experiment ids
    already_synced: int = 0
    ignored: list[str] = field(default_factory=list)  # warnings, one per ignored run
    alerts: list[str] = field(default_factory=list)


def gate_alert_key(category: str, experiment_id: str) -> str:
    """The source key of the alert a regressed or failed experiment raises (sync and sensor share it)."""
    return f"{category}:experiment:{experiment_id}"


def system_actor(session: Session) -> str:
    document = config_document(session, "system_actor")
    return document["id"] if document else "dataops-system"


def baseline_for(session: Session, project_id: str, primary: str, higher_is_better: bool) -> Experiment | None:
    """The best completed run on the current release; when the current release has none yet (a run
    evaluating a fresh release), the best on the most recent earlier release: the last known good one."""
    project = session.get(Project, project_id)
    released = session.scalars(
        select(DatasetVersion)
        .where(DatasetVersion.project_id == project_id, DatasetVersion.released_at.is_not(None))
        .order_by(DatasetVersion.released_at.desc(), DatasetVersion.version_id.desc())
    ).all()
    ordered = sorted(released, key=lambda v: v.version_id != project.current_release)  # current release first
    for version in ordered:
        runs = [
            e
            for e in session.scalars(
                select(Experiment).where(Experiment.dataset_version == version.version_id, Experiment.status == "completed")
            )
            if primary in e.metric_summary
        ]
        if runs:
            return max(runs, key=lambda e: e.metric_summary[primary] if higher_is_better else -e.metric_summary[primary])
    return None


def _cursor_ms(session: Session) -> int | None:
    newest = session.scalar(select(func.max(Experiment.run_ended_at)))
    if newest is None:
        return None
    newest = newest if newest.tzinfo else newest.replace(tzinfo=UTC)
    return int(newest.timestamp() * 1000)


def sync_runs(platform: Platform, tracking: tc.Tracking) -> SyncReport:
    """Record every finished run not yet in the store; safe to run any number of times.

    An unreachable tracking server stops the sync with an error naming it; what was recorded
    stays, and the next sync resumes after it (the cursor is the store's newest run end time)."""
    report = SyncReport()
    try:
        _sync_into(report, platform, tracking)
    except tc.tracking_errors() as exc:
        raise DataOpsError(
            f"MLflow at {tracking.tracking_uri} failed during sync ({type(exc).__name__}: {str(exc)[:300]}); "
            f"{len(report.added)} run(s) recorded before it stopped. Check DATAOPS_MLFLOW_TRACKING_URI "
            "(on a local stack: `dataops stack status`) and sync again: it resumes without duplicates.",
            field="mlflow_tracking_uri",
            value=tracking.tracking_uri,
            recorded=report.added,
        ) from exc
    return report


def _sync_into(report: SyncReport, platform: Platform, tracking: tc.Tracking) -> None:
    with platform.store.read() as session:
        cursor = _cursor_ms(session)
        actor = system_actor(session)
    for run in tracking.finished_runs(cursor):
        run_id, tags = run.info.run_id, run.data.tags
        with platform.store.read() as session:
            if session.scalar(select(Experiment.experiment_id).where(Experiment.mlflow_run_id == run_id)):
                report.already_synced += 1
                continue
            project_id, version_id = tags.get(tc.TAG_PROJECT), tags.get(tc.TAG_VERSION)
            version = session.get(DatasetVersion, version_id) if version_id else None
            if not project_id or version is None or version.project_id != project_id:
                warning = (
                    f"run {run_id} ignored: tags {tc.TAG_PROJECT}={project_id!r}, {tc.TAG_VERSION}={version_id!r} "
                    "do not name a dataset version of that project"
                )
                log.warning(warning)
                report.ignored.append(warning)
                continue
            rule = governance_policy(session).regression.get(project_id)
            metrics = {k: float(v) for k, v in run.data.metrics.items()}
            baseline = None
            if rule is not None:
                baseline = baseline_for(session, project_id, rule.primary_metric, rule.direction == "higher_is_better")
        if run.info.status == "FINISHED":
            verdict = judge(metrics, baseline.metric_summary if baseline else None, rule)
            status, deltas, error = verdict.status, verdict.deltas, "; ".join(verdict.reasons) or None
        else:
            status, deltas, error = "failed", {}, tags.get(tc.TAG_ERROR, f"MLflow run status {run.info.status}")
        ended = datetime.fromtimestamp((run.info.end_time or run.info.start_time) / 1000, tz=UTC)
        try:
            experiment = record_experiment(
                platform,
                actor,
                project_id,
                version_id,
                status,
                metrics=metrics,
                params=dict(run.data.params),
                mlflow_run_id=run_id,
                baseline_ref=baseline.experiment_id if baseline else None,
                deltas=deltas,
                error=error,
                run_ended_at=ended,
            )
        except AlreadyRecorded:  # another sync (the sensor, a person) recorded it since we looked
            report.already_synced += 1
            continue
        report.added.append(experiment.experiment_id)
        if status in ALERT_FOR_STATUS:
            severity, category = ALERT_FOR_STATUS[status]
            alert = open_alert(
                platform,
                actor,
                f"experiment:{experiment.experiment_id}",
                severity,
                category,
                f"{experiment.experiment_id} {status} on {version_id}: {error}"[:400],
                source_key=gate_alert_key(category, experiment.experiment_id),
            )
            report.alerts.append(alert.alert_id)
        tracking.set_tags(
            run_id,
            {
                tc.TAG_STATUS: status,
                tc.TAG_EXPERIMENT: experiment.experiment_id,
                **{f"dataops.delta.{k}": f"{v:+.4f}" for k, v in deltas.items()},
                **({tc.TAG_BASELINE_REF: baseline.experiment_id} if baseline else {}),
            },
        )
        if baseline and baseline.mlflow_run_id:
            tracking.set_tags(baseline.mlflow_run_id, {tc.TAG_BASELINE: "true"})
