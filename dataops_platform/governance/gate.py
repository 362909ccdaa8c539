"""The release gate (SPEC §5): every condition evaluated, every failure named."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from dataops_platform.clock import as_utc
from dataops_platform.governance.policy import governance_policy, separation_of_duties
from dataops_platform.store.models import DatasetVersion, ExceptionApproval, Experiment

BLOCKING_EXPERIMENT_STATUSES = ("regressed", "failed")
EXPERIMENT_RULE = "experiment_status"


def active_exception(session: Session, version_id: str, rule: str, now: datetime) -> ExceptionApproval | None:
    """An approved exception covering exactly this version and rule, effective now; expiry needs no job."""
    candidates = session.scalars(
        select(ExceptionApproval).where(
            ExceptionApproval.version_id == version_id,
            ExceptionApproval.rule == rule,
            ExceptionApproval.status == "approved",
        )
    )
    for exc in candidates:
        starts = as_utc(exc.effective_from) if exc.effective_from else None
        if (starts is None or starts <= now) and now < as_utc(exc.expires_at):
            return exc
    return None


def release_conditions(session: Session, version: DatasetVersion, releaser: str, now: datetime) -> list[str]:
    """The failed release conditions for `version` released by `releaser` at `now`; empty means releasable."""
    failed: list[str] = []
    if version.status != "validated":
        detail = f"; failed thresholds: {'; '.join(version.quality_failures)}" if version.quality_failures else ""
        failed.append(f"quality_gate: version is {version.status}, it must be validated (passed the quality gate){detail}")
    blocking = session.scalars(
        select(Experiment)
        .where(Experiment.dataset_version == version.version_id, Experiment.status.in_(BLOCKING_EXPERIMENT_STATUSES))
        .order_by(Experiment.experiment_id)
    ).all()
    if blocking and active_exception(session, version.version_id, EXPERIMENT_RULE, now) is None:
        names = ", ".join(f"{e.experiment_id} ({e.status})" for e in blocking)
        failed.append(f"{EXPERIMENT_RULE}: {names} on {version.version_id} with no approved, unexpired exception")
    policy = governance_policy(session)
    for window in policy.freeze_windows:
        if window.project == version.project_id and as_utc(window.start) <= now < as_utc(window.end):
            failed.append(f"freeze_window: {version.project_id} is frozen until {window.end.isoformat()} ({window.reason})")
    if separation_of_duties(session).creator_cannot_release and version.created_by == releaser:
        failed.append(f"separation_of_duties: {releaser!r} created {version.version_id} and may not release it")
    return failed
