"""Who may see and work deliveries (`notify list | retry | test`), audited like every decision.

Deny by default. A platform admin sees and works every delivery and is the only one who may send
a test through a channel (channels are platform-wide). Otherwise an actor sees and retries the
deliveries of the projects where their role grants `alert.ack` -- the ops of the project, who are
the ones being told -- and nothing of other tenants (answered as absent). Retries and tests are
audited under `notify.retry` / `notify.test`, allowed or denied.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dataops_platform.clock import iso
from dataops_platform.errors import GateRefused, InvalidInput, NotFound, PermissionDenied
from dataops_platform.governance import audit
from dataops_platform.governance.authz import actor_tenants, projects_granting, role_grants
from dataops_platform.governance.platform import Platform
from dataops_platform.notify.outbox import enqueue, routes_document
from dataops_platform.store.models import Membership, NotificationDelivery, PlatformMembership, Project

PROJECT_ACTION = "alert.ack"  # whose role grants this in a project works that project's deliveries
STATUSES = ("pending", "sending", "delivered", "dead", "cancelled")


@dataclass(frozen=True)
class Grant:
    allowed: bool
    role: str | None
    tenant: str | None
    reason: str
    hidden: bool = False


def _platform_admin(session: Session, actor: str) -> str | None:
    membership = session.get(PlatformMembership, actor)
    return membership.role if membership and role_grants(session, membership.role, "spec.apply") else None


def _grant(session: Session, actor: str, project: str | None) -> Grant:
    if (role := _platform_admin(session, actor)) is not None:
        tenant = session.get(Project, project).tenant_id if project and session.get(Project, project) else None
        return Grant(True, role, tenant, "platform admin")
    if project is None:
        return Grant(False, None, None, "only a platform admin works deliveries outside a project")
    row = session.get(Project, project)
    if row is None or row.tenant_id not in actor_tenants(session, actor):
        return Grant(False, None, None, "object not found", hidden=True)
    membership = session.get(Membership, (actor, project))
    role = membership.role if membership else None
    if role and role_grants(session, role, PROJECT_ACTION):
        return Grant(True, role, row.tenant_id, f"role grants {PROJECT_ACTION}")
    return Grant(False, role, row.tenant_id, f"role does not grant {PROJECT_ACTION} (ops of the project, or a platform admin)")


def _audit(
    session: Session, now: datetime, actor: str, action: str, project: str | None, grant: Grant, ref: str | None, details: dict
) -> None:
    outcome = "allowed" if grant.allowed else "denied"
    details = details if grant.allowed else {"reason": grant.reason}
    entry = audit.AuditEntry(iso(now), actor, action, outcome, grant.role, grant.tenant, project, ref, details)
    audit.append(session, [entry])


def _refusal(actor: str, action: str, project: str | None, grant: Grant, what: str) -> Exception:
    if grant.hidden:
        return NotFound(f"{what} not found (or not visible to {actor!r})", field="id", value=what)
    return PermissionDenied(actor, grant.role, action, project, grant.reason)


def delivery_dict(row: NotificationDelivery) -> dict[str, Any]:
    return {
        "id": row.id,
        "event_id": row.event_id,
        "event_type": row.event_type,
        "subject": row.subject_ref,
        "project": row.project_id,
        "channel": row.channel_id,
        "status": row.status,
        "attempts": row.attempts,
        "occurred_at": iso(row.occurred_at),
        "next_attempt_at": iso(row.next_attempt_at) if row.status == "pending" else None,
        "delivered_at": iso(row.delivered_at) if row.delivered_at else None,
        "last_error": row.last_error,
    }


def list_deliveries(
    platform: Platform, actor: str, project: str | None = None, status: str | None = None, limit: int = 200
) -> list[NotificationDelivery]:
    """Deliveries the actor may see, newest first."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"status {status!r} is not one of {', '.join(STATUSES)}", field="status", value=status)
    if not 1 <= limit <= 10_000:
        raise InvalidInput("limit must be between 1 and 10000", field="limit", value=limit)
    with platform.store.read() as session:
        query = select(NotificationDelivery)
        if _platform_admin(session, actor) is None:
            visible = projects_granting(session, actor, PROJECT_ACTION)
            if project is not None and project not in visible:
                grant = _grant(session, actor, project)
                raise _refusal(actor, "notify.list", project, grant, f"project:{project}")
            query = query.where(NotificationDelivery.project_id.in_(visible))
        if project is not None:
            query = query.where(NotificationDelivery.project_id == project)
        if status is not None:
            query = query.where(NotificationDelivery.status == status)
        return list(session.scalars(query.order_by(NotificationDelivery.id.desc()).limit(limit)))


def retry_delivery(platform: Platform, actor: str, delivery_id: int) -> NotificationDelivery:
    """Make a delivery due now (any status but `sending`, which is in flight); audited."""
    now = platform.clock.now()
    what = f"delivery:{delivery_id}"
    refusal: Exception | None = None
    with platform.write() as session:
        row = session.get(NotificationDelivery, delivery_id)
        if row is None:
            refusal = NotFound(f"{what} not found (or not visible to {actor!r})", field="id", value=delivery_id)
        else:
            grant = _grant(session, actor, row.project_id)
            if grant.hidden:
                refusal = _refusal(actor, "notify.retry", row.project_id, grant, what)
            else:
                _audit(session, now, actor, "notify.retry", row.project_id, grant, what,
                       {"from_status": row.status, "attempts": row.attempts})  # fmt: skip
                if not grant.allowed:
                    refusal = _refusal(actor, "notify.retry", row.project_id, grant, what)
                elif row.status == "sending":
                    refusal = GateRefused(
                        f"cannot retry {what}", [f"{what} is being sent now (claimed at {iso(row.claimed_at)})"]
                    )
                else:
                    row.status, row.next_attempt_at, row.claimed_at = "pending", now, None
    if refusal is not None:
        raise refusal
    return row


def test_channel(platform: Platform, actor: str, channel_id: str, environ: Any = None) -> NotificationDelivery:
    """Send a `notification.test` event through one channel now (platform admins); returns its delivery."""
    from dataops_platform.notify.dispatch import dispatch_once

    now = platform.clock.now()
    refusal: Exception | None = None
    with platform.write() as session:
        admin = _platform_admin(session, actor)
        grant = Grant(admin is not None, admin, None, "platform admin" if admin else "only a platform admin tests a channel")
        channels = {c["id"] for c in routes_document(session).get("channels", ())}
        if grant.allowed and channel_id not in channels:
            known = ", ".join(sorted(channels)) or "none (the spec has no notifications.channels)"
            refusal = InvalidInput(f"unknown channel {channel_id!r}; known: {known}", field="CHANNEL", value=channel_id)
        else:
            row = None
            if grant.allowed:
                (row,) = enqueue(session, now, "notification.test", None, None, {"title": f"test of channel {channel_id}"},
                                 actor=actor, only_channel=channel_id)  # fmt: skip
                session.flush()
            _audit(
                session, now, actor, "notify.test", None, grant, f"channel:{channel_id}", {"delivery": row.id if row else None}
            )
            if not grant.allowed:
                refusal = PermissionDenied(actor, admin, "notify.test", None, grant.reason)
    if refusal is not None:
        raise refusal
    dispatch_once(platform, ids=[row.id], environ=environ)
    with platform.store.read() as session:
        return session.get(NotificationDelivery, row.id)
