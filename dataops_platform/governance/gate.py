"""The release gate (SPEC §5): every condition evaluated, every failure named."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
    blocking = session.scalars(
        select(Experiment)
        .where(Experiment.dataset_version == version.version_id, Experiment.status.in_(BLOCKING_EXPERIMENT_STATUSES))
        .order_by(Experiment.experiment_id)
    ).all()
    excepted = bool(blocking) and active_exception(session, version.version_id, EXPERIMENT_RULE, now) is not None
    failed = gate_blockers(
        version.version_id,
        version.project_id,
        version.status,
        version.quality_failures,
        [(e.experiment_id, e.status) for e in blocking],
        excepted,
        governance_policy(session).freeze_windows,
        now,
    )
    if separation_of_duties(session).creator_cannot_release and version.created_by == releaser:
        failed.append(f"separation_of_duties: {releaser!r} created {version.version_id} and may not release it")
    return failed


def gate_blockers(
    version_id: str,
    project_id: str,
    status: str,
    quality_failures: list[str],
    blocking: list[tuple[str, str]],
    excepted: bool,
    freeze_windows: list[Any],
    now: datetime,
) -> list[str]:
    """Gate conditions 1-3 (quality gate, experiments, freeze), which hold whoever releases: what
    the release command checks and what the dataset_versions artifact shows on each version."""
    failed: list[str] = []
    if status != "validated":
        detail = f"; failed thresholds: {'; '.join(quality_failures)}" if quality_failures else ""
        failed.append(f"quality_gate: version is {status}, it must be validated (passed the quality gate){detail}")
    if blocking and not excepted:
        names = ", ".join(f"{eid} ({estatus})" for eid, estatus in blocking)
        failed.append(f"{EXPERIMENT_RULE}: {names} on {version_id} with no approved, unexpired exception")
    for window in freeze_windows:
        if window.project == project_id and as_utc(window.start) <= now < as_utc(window.end):
            failed.append(f"freeze_window: {project_id} is frozen until {window.end.isoformat()} ({window.reason})")
    return failed
