"""Rollback: return a project's current release to an earlier release, impact shown first (SPEC §5)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from dataops_platform.errors import GateRefused, InvalidInput
from dataops_platform.governance import lineage, refs
from dataops_platform.governance.gate import project_rollback_candidate
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.refs import ref
from dataops_platform.governance.versions import require_transition
from dataops_platform.notify.events import rollback_payload
from dataops_platform.store.models import DatasetVersion, Project, RollbackEvent

IMPACT_KINDS = ("version", "experiment", "alert", "exception", "rollback", "review")


@dataclass
class RollbackPlan:
    project_id: str
    from_version: str
    to_version: str
    impact: dict[str, list[str]] = field(default_factory=dict)  # kind -> ids hanging below the abandoned version
    releases: list[str] = field(default_factory=list)  # released versions among them

    def as_dict(self) -> dict:
        return {
            "project": self.project_id,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "impact": self.impact,
            "releases_below": self.releases,
        }


def impact_of(session: Session, version_id: str) -> tuple[dict[str, list[str]], list[str]]:
    """Everything below a version, multi-hop, grouped by kind; plus the released versions among it."""
    grouped: dict[str, list[str]] = {kind: [] for kind in IMPACT_KINDS}
    for row in lineage.impact_rows(session, ref("version", version_id)):
        kind, _, object_id = row.ref.partition(":")
        grouped.setdefault(kind, []).append(object_id)
    releases = [v for v in grouped["version"] if (dv := session.get(DatasetVersion, v)) and dv.status == "released"]
    return {k: sorted(v) for k, v in grouped.items()}, sorted(releases)


def plan_rollback(session: Session, project_id: str, to_version: str) -> RollbackPlan:
    """Check the target and compute the impact; raise naming every reason the rollback cannot happen."""
    project = session.get(Project, project_id)
    target = session.get(DatasetVersion, to_version)
    if target is None or target.project_id != project_id:
        raise InvalidInput(f"--to {to_version!r}: no such version in project {project_id}", field="to", value=to_version)
    current = session.get(DatasetVersion, project.current_release) if project.current_release else None
    failed = []
    if current is None:
        failed.append(f"current_release: {project_id} has no current release to roll back from")
    elif current.version_id == to_version:
        candidate = project_rollback_candidate(session, project_id, current)
        hint = (
            f"roll back to an earlier release, e.g. --to {candidate}"
            if candidate
            else f"{project_id} has no earlier release: release a successor or approve an exception on {to_version} instead"
        )
        failed.append(f"target: {to_version} is already the current release; {hint}")
    if target.status != "released":
        failed.append(f"target: {to_version} is {target.status}; a rollback target must be a released version")
    if (
        current is not None
        and target.release_seq is not None
        and current.version_id != to_version
        and target.release_seq > current.release_seq
    ):
        failed.append(
            f"target: {to_version} was released after the current release {current.version_id}; "
            "roll back only to an earlier release"
        )
    if failed:
        raise GateRefused(f"rollback of {project_id} to {to_version} refused", failed)
    impact, releases = impact_of(session, current.version_id)
    return RollbackPlan(project_id, current.version_id, to_version, impact, releases)


def _check_trigger(session: Session, project_id: str, trigger: str | None) -> None:
    if trigger is not None and refs.project_of(session, trigger, "--trigger") != project_id:
        raise InvalidInput(f"--trigger {trigger!r}: no such object in project {project_id}", field="trigger", value=trigger)


def preview_rollback(
    platform: Platform, actor: str, project_id: str, to_version: str, trigger: str | None = None
) -> RollbackPlan:
    """The dry run: same checks (the trigger too) and impact, nothing written (needs rollback.execute; not audited)."""
    with platform.view(actor, "rollback.execute", project=project_id) as session:
        plan = plan_rollback(session, project_id, to_version)
        _check_trigger(session, project_id, trigger)
        return plan


def execute_rollback(
    platform: Platform,
    actor: str,
    project_id: str,
    to_version: str,
    reason: str,
    trigger: str | None = None,
) -> tuple[RollbackEvent, RollbackPlan]:
    """Roll back in one transaction: event, current release moved, abandoned version marked, lineage, audit."""
    if not reason.strip():
        error = InvalidInput("--reason must say why the project is rolled back", field="reason", value=reason)
        platform.refuse(actor, "rollback.execute", project=project_id, error=error)
    with platform.act(actor, "rollback.execute", project=project_id) as op:
        session = op.session
        plan = plan_rollback(session, project_id, to_version)
        _check_trigger(session, project_id, trigger)
        abandoned = session.get(DatasetVersion, plan.from_version)
        require_transition(abandoned, "rollback")
        event = RollbackEvent(
            rollback_id=op.next_id("rollback", "rb_"),
            project_id=project_id,
            reason=reason,
            trigger_ref=trigger,
            from_version=plan.from_version,
            to_version=to_version,
            executed_by=actor,
            executed_at=op.now,
            status="completed",
            impact=plan.as_dict(),
        )
        session.add(event)
        abandoned.status, abandoned.retired_at, abandoned.rollback_candidate = "rolled_back", op.now, False
        session.get(Project, project_id).current_release = to_version
        session.flush()
        rb = ref("rollback", event.rollback_id)
        lineage.add_edge(session, project_id, ref("version", plan.from_version), rb, "rolled_back_from", op.now)
        lineage.add_edge(session, project_id, ref("version", to_version), rb, "restored_to", op.now)
        if trigger:
            lineage.add_edge(session, project_id, trigger, rb, "triggered", op.now)
        op.object_ref = rb
        op.emit("rollback.executed", rb, project_id, rollback_payload(event))
        op.details = {"reason": reason, "trigger": trigger, **plan.as_dict()}
    return event, plan
