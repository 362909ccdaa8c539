"""Reading and verifying the audit log as a user (audit.read)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select

from dataops_platform.errors import PermissionDenied
from dataops_platform.governance import audit
from dataops_platform.governance.authz import decide, projects_granting
from dataops_platform.governance.platform import Platform, iso
from dataops_platform.store.models import AuditRecord, PlatformMembership, RoleAction


@dataclass(frozen=True)
class AuditFilter:
    project: str | None = None
    actor: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100


def _audit_scopes(platform: Platform, actor: str) -> tuple[list[str], bool]:
    """Projects where `actor` holds audit.read, and whether it also reads platform-level records."""
    with platform.store.read() as session:
        projects = projects_granting(session, actor, "audit.read")
        platform_role = session.get(PlatformMembership, actor)
        platform_wide = platform_role is not None and session.get(RoleAction, (platform_role.role, "audit.read")) is not None
    return projects, platform_wide


def list_records(platform: Platform, actor: str, flt: AuditFilter) -> list[AuditRecord]:
    """Audit records visible to `actor`, newest first. One named project needs audit.read there."""
    if flt.project is not None:
        with platform.view(actor, "audit.read", project=flt.project):
            pass
        scope = [AuditRecord.project == flt.project]
    else:
        projects, platform_wide = _audit_scopes(platform, actor)
        if not projects and not platform_wide:
            raise PermissionDenied(actor, None, "audit.read", None, "no role grants audit.read in any project")
        clauses = [AuditRecord.project.in_(projects)] if projects else []
        if platform_wide:
            clauses.append(AuditRecord.project.is_(None))
        scope = [or_(*clauses)]
    query = select(AuditRecord).where(*scope)
    if flt.actor:
        query = query.where(AuditRecord.actor == flt.actor)
    if flt.action:
        query = query.where(AuditRecord.action == flt.action)
    if flt.since:
        query = query.where(AuditRecord.at >= iso(flt.since))
    if flt.until:
        query = query.where(AuditRecord.at < iso(flt.until))
    with platform.store.read() as session:
        return list(session.scalars(query.order_by(AuditRecord.seq.desc()).limit(flt.limit)))


def verify_chain(platform: Platform, actor: str) -> audit.VerifyResult:
    """Recompute the whole chain (needs audit.read somewhere: the result names only seq numbers)."""
    projects, platform_wide = _audit_scopes(platform, actor)
    if not projects and not platform_wide:
        with platform.store.read() as session:
            denial = decide(session, actor, "audit.read", None)
        raise PermissionDenied(actor, denial.role, "audit.read", None, "no role grants audit.read in any project")
    with platform.store.read() as session:
        return audit.verify(session, platform.anchor)
