"""Reading, verifying and re-anchoring the audit log as a user (audit.read; re-anchor: platform admin)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from dataops_platform.errors import AuditIntegrityError, InvalidInput, PermissionDenied
from dataops_platform.governance import audit
from dataops_platform.governance.authz import decide, projects_granting, role_grants
from dataops_platform.governance.platform import Platform, iso
from dataops_platform.store.models import AuditRecord, PlatformMembership, RoleAction, User
from dataops_platform.text import check_text

REANCHOR_ACTION = "audit.reanchor"
# Who may re-anchor: a platform role granting spec.apply (the `admin` platform role by default),
# the same people who may rewrite the platform's rules.
REANCHOR_REQUIRES = "spec.apply"
MAX_REASON_CHARS = 2000


@dataclass(frozen=True)
class AuditFilter:
    project: str | None = None
    actor: str | None = None
    action: str | None = None
    since: datetime | None = None  # inclusive; any offset (compared as the UTC instant)
    until: datetime | None = None  # exclusive
    limit: int = 100
    offset: int = 0  # records skipped, newest first (for paging)


def _audit_scopes(platform: Platform, actor: str) -> tuple[list[str], bool]:
    """Projects where `actor` holds audit.read, and whether it also reads platform-level records."""
    with platform.store.read() as session:
        projects = projects_granting(session, actor, "audit.read")
        platform_role = session.get(PlatformMembership, actor)
        platform_wide = platform_role is not None and session.get(RoleAction, (platform_role.role, "audit.read")) is not None
    return projects, platform_wide


def _visible(platform: Platform, actor: str, flt: AuditFilter) -> list[ColumnElement[bool]]:
    """The WHERE clauses of what `actor` may read under `flt`. One named project needs audit.read there.

    Times are compared as text: every stored `at` is `clock.iso()` text (UTC, microseconds,
    `+00:00`), so the bounds are turned into the same text -- whatever offset they were given in."""
    if flt.project is not None:
        with platform.view(actor, "audit.read", project=flt.project):
            pass
        clauses: list[ColumnElement[bool]] = [AuditRecord.project == flt.project]
    else:
        projects, platform_wide = _audit_scopes(platform, actor)
        if not projects and not platform_wide:
            raise PermissionDenied(actor, None, "audit.read", None, "no role grants audit.read in any project")
        scope = [AuditRecord.project.in_(projects)] if projects else []
        if platform_wide:
            scope.append(AuditRecord.project.is_(None))
        clauses = [or_(*scope)]
    if flt.actor:
        clauses.append(AuditRecord.actor == flt.actor)
    if flt.action:
        clauses.append(AuditRecord.action == flt.action)
    if flt.since:
        clauses.append(AuditRecord.at >= iso(flt.since))
    if flt.until:
        clauses.append(AuditRecord.at < iso(flt.until))
    return clauses


def list_records(platform: Platform, actor: str, flt: AuditFilter) -> list[AuditRecord]:
    """Audit records visible to `actor`, newest first: `flt.limit` of them after skipping `flt.offset`."""
    query: Select[tuple[AuditRecord]] = select(AuditRecord).where(*_visible(platform, actor, flt))
    query = query.order_by(AuditRecord.seq.desc()).limit(flt.limit)
    if flt.offset:
        query = query.offset(flt.offset)
    with platform.store.read() as session:
        return list(session.scalars(query))


def count_records(platform: Platform, actor: str, flt: AuditFilter) -> int:
    """How many records `list_records` pages over: the same scope and filters, limit and offset ignored."""
    query = select(func.count()).select_from(AuditRecord).where(*_visible(platform, actor, flt))
    with platform.store.read() as session:
        return int(session.scalar(query) or 0)


def verify_chain(platform: Platform, actor: str) -> audit.VerifyResult:
    """Recompute the whole chain and hold it against every anchor location (needs audit.read
    somewhere: the result names only seq numbers and anchor locations)."""
    projects, platform_wide = _audit_scopes(platform, actor)
    if not projects and not platform_wide:
        with platform.store.read() as session:
            denial = decide(session, actor, "audit.read", None)
        raise PermissionDenied(actor, denial.role, "audit.read", None, "no role grants audit.read in any project")
    with platform.store.read() as session:
        return audit.verify(session, platform.anchor)


# -- re-anchoring --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReanchorResult:
    actor: str
    reason: str
    previous: audit.ChainHead | None  # the furthest head any anchor location witnessed before
    head: audit.ChainHead  # what every anchor location now witnesses: the audit.reanchor record
    problems: list[dict[str, Any]]  # the anchor findings the re-anchor resolved (empty: nothing was wrong)
    chain: audit.VerifyResult  # the chain walked up to the record before the re-anchor (anchors not consulted)
    unwritten: list[str]  # anchor locations that could not be written (re-run once they are reachable)


def _platform_admin_role(session: Session, actor: str) -> str | None:
    """The actor's platform role when it grants spec.apply (the `admin` platform role), else None."""
    if session.get(User, actor) is None:
        return None
    membership = session.get(PlatformMembership, actor)
    if membership is None or not role_grants(session, membership.role, REANCHOR_REQUIRES):
        return None
    return membership.role


def _head_dict(head: audit.ChainHead | None) -> dict[str, Any] | None:
    return {"seq": head.seq, "hash": head.hash} if head is not None else None


def reanchor(platform: Platform, actor: str, reason: str) -> ReanchorResult:
    """Move every anchor location to the chain's head, whatever it witnessed: the one path that can
    take an anchor to a head that is not ahead of it (after a cut tail, a rewritten chain or a
    removed anchor, once a platform admin has investigated).

    It appends an `audit.reanchor` record -- details: the reason, what each location witnessed
    before, the findings, the head before the record and the chain's own verdict -- and then writes
    that record's (seq, hash) to every location. The chain is not repaired: records removed stay
    removed, and a record changed in the middle is still named by `audit verify`.

    Raises InvalidInput (exit 2) for an empty reason; PermissionDenied (exit 3) unless `actor`
    holds a platform role granting spec.apply. A denial is audited like any other; while the chain
    is in doubt the store refuses that write too, so the denial goes to the alarm file instead.
    """
    check_text(reason, "reason")
    if not reason or not reason.strip():
        message = "--reason is required: say why the anchor is being moved (it is audited)"
        raise InvalidInput(message, field="reason", value=reason)
    if len(reason) > MAX_REASON_CHARS:
        raise InvalidInput(f"--reason is longer than {MAX_REASON_CHARS} characters", field="reason", value=reason[:80] + "...")
    reason = reason.strip()
    now = platform.clock.now()
    with platform.store.read() as session:
        role = _platform_admin_role(session, actor)
    if role is None:
        _deny(platform, actor, reason, now)
    with platform.write_reanchoring() as work:
        session = work.session
        role = _platform_admin_role(session, actor)  # decided again under the write lock
        if role is None:
            raise _denial(actor, session)
        before = audit.read_head(session)
        readings = platform.anchor.readings()
        problems = audit.anchor_problems(session, before, readings)
        previous_heads = [r.head for r in readings if r.head is not None]
        previous = max(previous_heads, key=lambda h: h.seq) if previous_heads else None
        chain = audit.verify(session, None)
        details = {
            "reason": reason,
            "previous_anchor": _head_dict(previous),
            "locations": [{"location": r.location.label, "witnessed": _head_dict(r.head), "error": r.error} for r in readings],
            "problems": [p.as_dict() for p in problems],
            "head_before": _head_dict(before),
            "witnesses": {"seq": before.seq + 1, "note": "this record: every anchor location is set to its seq and hash"},
            "chain": {"ok": chain.ok, "checked": chain.checked, "bad_seq": chain.bad_seq, "reason": chain.reason},
        }
        entry = audit.AuditEntry(
            at=iso(now), actor=actor, role=role, action=REANCHOR_ACTION, outcome="allowed", object_ref="audit:anchor",
            details=details,
        )  # fmt: skip
        audit.append(session, [entry])
    assert work.head is not None
    return ReanchorResult(actor, reason, previous, work.head, [p.as_dict() for p in problems], chain, work.unwritten)


def _denial(actor: str, session: Session) -> PermissionDenied:
    membership = session.get(PlatformMembership, actor)
    return PermissionDenied(
        actor, membership.role if membership else None, REANCHOR_ACTION, None,
        f"only a platform admin (a platform role granting {REANCHOR_REQUIRES}) may re-anchor the audit log",
    )  # fmt: skip


def _deny(platform: Platform, actor: str, reason: str, now: datetime) -> None:
    """Audit the denial through the ordinary guarded write; if the chain is refusing writes, the
    attempt is already in the alarm file (`Platform.write` records the refused attempt there)."""
    with platform.store.read() as session:
        denial = _denial(actor, session)
    entry = audit.AuditEntry(
        at=iso(now), actor=actor, role=denial.role, action=REANCHOR_ACTION, outcome="denied", object_ref="audit:anchor",
        details={"reason": denial.reason, "requested_reason": reason},
    )  # fmt: skip
    try:
        platform.record([entry])
    except AuditIntegrityError:
        raise PermissionDenied(
            actor, denial.role, REANCHOR_ACTION, None,
            f"{denial.reason} (the audit log is refusing writes, so this denial is recorded in "
            f"{platform.settings.audit_alarms_path.name} next to each anchor instead)",
        ) from None  # fmt: skip
    raise denial
