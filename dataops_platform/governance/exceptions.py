"""Exception approvals: a time-boxed waiver of one gate rule on exactly one version (SPEC §5)."""

from __future__ import annotations

from datetime import datetime, timedelta

from dataops_platform.clock import as_utc
from dataops_platform.errors import GateRefused, InvalidInput
from dataops_platform.governance import lineage
from dataops_platform.governance.listing import list_visible
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.policy import governance_policy, separation_of_duties
from dataops_platform.governance.refs import ref
from dataops_platform.governance.versions import get_version, version_project
from dataops_platform.notify.events import exception_payload
from dataops_platform.store.models import ExceptionApproval


def effective_status(exc: ExceptionApproval, now: datetime) -> str:
    """Stored status, except that an approved exception past its expiry reads as expired."""
    if exc.status == "approved" and now >= as_utc(exc.expires_at):
        return "expired"
    return exc.status


def request_exception(
    platform: Platform,
    actor: str,
    version_id: str,
    rule: str,
    reason: str,
    expires_at: datetime,
    follow_up: str | None = None,
) -> ExceptionApproval:
    """Ask to waive `rule` on `version_id` until `expires_at` (needs exception.request)."""
    expires_at = as_utc(expires_at)
    with platform.act(
        actor, "exception.request", project=version_project(version_id), object_ref=ref("version", version_id)
    ) as op:
        version = get_version(op.session, version_id)
        if not reason.strip():
            raise InvalidInput("--reason must say why the exception is needed", field="reason", value=reason)
        policy = governance_policy(op.session).exceptions
        if rule not in policy.waivable_rules:
            raise InvalidInput(
                f"--rule {rule!r} cannot be waived; waivable rules: {', '.join(policy.waivable_rules)}", field="rule", value=rule
            )
        if expires_at <= op.now:
            raise InvalidInput(
                f"--expires {expires_at.isoformat()} is not in the future", field="expires", value=expires_at.isoformat()
            )
        if expires_at > op.now + timedelta(days=policy.max_days):
            raise InvalidInput(
                f"--expires {expires_at.isoformat()} is more than {policy.max_days} days away (policy max_days)",
                field="expires",
                value=expires_at.isoformat(),
            )
        exc = ExceptionApproval(
            exception_id=op.next_id("exception", "exc_"),
            project_id=version.project_id,
            version_id=version_id,
            rule=rule,
            reason=reason,
            status="requested",
            requested_by=actor,
            requested_at=op.now,
            expires_at=expires_at,
            follow_up=follow_up or f"fix the cause of {rule} on {version_id} and close this exception before it expires",
        )
        op.session.add(exc)
        op.session.flush()
        lineage.add_edge(
            op.session, version.project_id, ref("version", version_id), ref("exception", exc.exception_id), "waives", op.now
        )
        op.object_ref = ref("exception", exc.exception_id)
        op.details = {"version": version_id, "rule": rule, "expires_at": expires_at.isoformat()}
    return exc


def approve_exception(platform: Platform, actor: str, exception_id: str) -> ExceptionApproval:
    """Approve a requested exception (needs exception.approve; never by its requester)."""

    def project(session):  # noqa: ANN001, ANN202
        exc = session.get(ExceptionApproval, exception_id)
        return exc.project_id if exc else None

    with platform.act(actor, "exception.approve", project=project, object_ref=ref("exception", exception_id)) as op:
        exc = op.session.get(ExceptionApproval, exception_id)
        failed = []
        status = effective_status(exc, op.now)
        if status != "requested":
            failed.append(f"illegal transition: {exception_id} is {status}; only a requested exception can be approved")
        if op.now >= as_utc(exc.expires_at):
            failed.append(f"expired: {exception_id} expired at {as_utc(exc.expires_at).isoformat()}")
        if separation_of_duties(op.session).requester_cannot_approve and exc.requested_by == actor:
            failed.append(f"separation_of_duties: {actor!r} requested {exception_id} and may not approve it")
        if failed:
            raise GateRefused(f"approval of {exception_id} refused", failed)
        exc.status, exc.approved_by, exc.approved_at, exc.effective_from = "approved", actor, op.now, op.now
        op.emit("exception.approved", op.object_ref, op.project, exception_payload(exc))
    return exc


def list_exceptions(platform: Platform, actor: str, project_id: str | None = None) -> list[ExceptionApproval]:
    """The exceptions `actor` may read, each with its effective status (an approved one past its
    expiry reads `expired`): the rows are detached, the store keeps what was recorded."""
    rows = list_visible(platform, actor, ExceptionApproval, project_id)
    now = platform.clock.now()
    for exc in rows:
        exc.status = effective_status(exc, now)
    return rows
