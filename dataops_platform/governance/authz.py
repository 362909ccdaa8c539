"""Deny-by-default authorization (SPEC §4).

An action is allowed only when the actor holds, in that project, a role granting it. Projects
outside every tenant the actor belongs to are answered as absent, so existence never leaks.
Platform-wide actions (spec.apply) are granted by a platform membership only.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from dataops_platform.spec.actions import PLATFORM_ACTIONS
from dataops_platform.store.models import Membership, PlatformMembership, Project, RoleAction, User


@dataclass(frozen=True)
class Decision:
    allowed: bool
    actor: str
    action: str
    role: str | None
    project: str | None
    tenant: str | None
    reason: str
    hidden: bool = False  # the caller may not learn that the project exists


def role_grants(session: Session, role: str, action: str) -> bool:
    return session.get(RoleAction, (role, action)) is not None


def actor_tenants(session: Session, actor: str) -> set[str]:
    rows = session.execute(
        select(Project.tenant_id).join(Membership, Membership.project_id == Project.id).where(Membership.user_id == actor)
    )
    return {tenant for (tenant,) in rows}


def decide(session: Session, actor: str, action: str, project_id: str | None) -> Decision:
    """The one permission decision every interface reaches through the services."""
    user = session.get(User, actor)
    if user is None:
        return Decision(False, actor, action, None, project_id, None, f"unknown user {actor!r}")
    if project_id is None:
        membership = session.get(PlatformMembership, actor)
        role = membership.role if membership else None
        if role and role_grants(session, role, action):
            return Decision(True, actor, action, role, None, None, "granted by platform role")
        return Decision(False, actor, action, role, None, None, "no platform role grants it")
    project = session.get(Project, project_id)
    if project is None:
        return Decision(False, actor, action, None, project_id, None, "no such project", hidden=True)
    if project.tenant_id not in actor_tenants(session, actor):
        return Decision(False, actor, action, None, project_id, project.tenant_id, "cross-tenant access", hidden=True)
    membership = session.get(Membership, (actor, project_id))
    if membership is None:
        return Decision(False, actor, action, None, project_id, project.tenant_id, "no role in this project")
    if action in PLATFORM_ACTIONS:
        return Decision(
            False,
            actor,
            action,
            membership.role,
            project_id,
            project.tenant_id,
            "a platform-wide action: only a platform role grants it",
        )
    if not role_grants(session, membership.role, action):
        return Decision(False, actor, action, membership.role, project_id, project.tenant_id, "role does not grant it")
    return Decision(True, actor, action, membership.role, project_id, project.tenant_id, "granted by project role")


def projects_granting(session: Session, actor: str, action: str) -> list[str]:
    """Projects in which the actor holds a role granting `action`."""
    rows = session.execute(
        select(Membership.project_id)
        .join(RoleAction, RoleAction.role == Membership.role)
        .where(Membership.user_id == actor, RoleAction.action == action)
        .order_by(Membership.project_id)
    )
    return [project for (project,) in rows]


def readable_projects(session: Session, actor: str) -> list[str]:
    """Projects in which the actor may `read`, for listings that span projects."""
    return projects_granting(session, actor, "read")
