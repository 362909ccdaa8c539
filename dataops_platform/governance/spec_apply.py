"""Apply a platform spec: idempotent, one transaction, audited, with a report of what changed.

The spec is the truth for every object it declares (a declared project's members are exactly
the listed ones). Objects the file does not mention are left alone, never deleted, with two
exceptions that are lists of the whole platform rather than objects: `platform_admins`, when the
spec has it, is the complete list of platform admins (applying it revokes admin from everyone it no
longer names; it can never leave the platform without one; a spec without it changes no admin), and
each config document (policy, rhythm, queue and panel overrides, the organisation's name, the MLflow
user map, ...) is replaced as a whole. The platform's layers, API catalog, queues and panels are
not stored: they come from the code (`dataops_platform.self_description`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dataops_platform.errors import InvalidInput
from dataops_platform.governance.platform import Platform
from dataops_platform.spec.actions import SYSTEM_ROLE
from dataops_platform.spec.effective import overrides_document
from dataops_platform.spec.loader import mlflow_user_map
from dataops_platform.spec.models import PlatformSpec
from dataops_platform.store.models import (
    Membership,
    PlatformConfig,
    PlatformMembership,
    Project,
    Role,
    RoleAction,
    Tenant,
    User,
)

ADMIN_ROLE = "admin"
MLFLOW_USERS_KEY = "mlflow_users"  # config document {mlflow user name: platform user id}, explicit names only
CONFIG_SECTIONS = (
    "governance_policy",
    "operating_rhythm",
    "separation_of_duties",
    "system_actor",
    "notifications",
)
OVERRIDE_SECTIONS = ("task_queues", "ui_panels")  # stored as {"overrides": {id: {field: value}}}
ORGANISATION_KEY = "organisation"  # the declared name, or {} when the spec declares none
# Config documents of sections the code provides now; a store that applied an older spec drops them.
RETIRED_SECTIONS = ("architecture", "apis")


@dataclass
class ApplyReport:
    created: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # in the store, not in the spec: never deleted by apply

    @property
    def is_noop(self) -> bool:
        return not self.created and not self.changed

    def as_dict(self) -> dict[str, list[str]]:
        return {"created": self.created, "changed": self.changed, "unchanged": self.unchanged, "kept": self.kept}


def _upsert(session: Session, model: type, key: Any, values: dict[str, Any], ref: str, report: ApplyReport) -> None:
    row = session.get(model, key)
    if row is None:
        session.add(model(**values))
        report.created.append(ref)
    elif any(getattr(row, name) != value for name, value in values.items()):
        for name, value in values.items():
            setattr(row, name, value)
        report.changed.append(ref)
    else:
        report.unchanged.append(ref)


def _sync_role(session: Session, name: str, description: str, actions: list[str], is_system: bool, report: ApplyReport) -> None:
    ref = f"role:{name}"
    row = session.get(Role, name)
    current = set(session.scalars(select(RoleAction.action).where(RoleAction.role == name)))
    wanted = set(actions)
    if row is None:
        session.add(Role(name=name, description=description, is_system=is_system))
        report.created.append(ref)
    elif row.description != description or row.is_system != is_system or current != wanted:
        row.description, row.is_system = description, is_system
        report.changed.append(ref)
    else:
        report.unchanged.append(ref)
    session.flush()
    for action in current - wanted:
        session.delete(session.get(RoleAction, (name, action)))
    for action in wanted - current:
        session.add(RoleAction(role=name, action=action))


def _sync_members(session: Session, project_id: str, wanted: dict[str, str], report: ApplyReport) -> None:
    current = {m.user_id: m for m in session.scalars(select(Membership).where(Membership.project_id == project_id))}
    for user_id, membership in current.items():
        if user_id not in wanted:
            session.delete(membership)
            report.changed.append(f"membership:{user_id}@{project_id} (removed)")
    for user_id, role in wanted.items():
        _upsert(
            session,
            Membership,
            (user_id, project_id),
            {"user_id": user_id, "project_id": project_id, "role": role},
            f"membership:{user_id}@{project_id}",
            report,
        )


def apply_spec_rows(session: Session, spec: PlatformSpec) -> ApplyReport:
    """Bring the store in line with the spec inside the caller's transaction."""
    report = ApplyReport()
    for name, role in spec.roles.items():
        _sync_role(session, name, role.description, role.actions, False, report)
    _sync_role(session, SYSTEM_ROLE, "automation (sensors, sync)", spec.system_actor.actions, True, report)
    for user in spec.users:
        _upsert(session, User, user.id, {"id": user.id, "display_name": user.name, "is_system": False}, f"user:{user.id}", report)
    actor = spec.system_actor
    _upsert(session, User, actor.id, {"id": actor.id, "display_name": actor.name, "is_system": True}, f"user:{actor.id}", report)
    for tenant in spec.tenants:
        _upsert(
            session,
            Tenant,
            tenant.id,
            {
                "id": tenant.id,
                "name": tenant.name,
                "max_projects": tenant.quota.max_projects,
                "max_dataset_versions": tenant.quota.max_dataset_versions,
            },
            f"tenant:{tenant.id}",
            report,
        )
    session.flush()
    for i, project in enumerate(spec.projects):
        existing = session.get(Project, project.id)
        if existing is not None and existing.tenant_id != project.tenant:
            raise InvalidInput(
                f"projects[{i}].tenant = {project.tenant!r}: project {project.id!r} belongs to tenant {existing.tenant_id!r}; "
                "moving a project between tenants is not supported (create a new project instead)",
                field=f"projects[{i}].tenant",
                value=project.tenant,
            )
        _upsert(
            session,
            Project,
            project.id,
            {
                "id": project.id,
                "tenant_id": project.tenant,
                "name": project.name,
                "domain": project.domain,
                "owner": project.owner,
            },
            f"project:{project.id}",
            report,
        )
    _check_tenant_quotas(session, spec)
    session.flush()
    for project in spec.projects:
        _sync_members(session, project.id, {**project.members, actor.id: SYSTEM_ROLE}, report)
    if spec.platform_admins is not None:  # left out: the admins stay who they are
        _sync_platform_admins(session, spec.platform_admins, report)
    documents: dict[str, Any] = {}
    for section in CONFIG_SECTIONS:
        value = getattr(spec, section)
        documents[section] = (
            {"items": [v.model_dump(mode="json") for v in value]} if isinstance(value, list) else value.model_dump(mode="json")
        )
    documents |= {section: overrides_document(spec, section) for section in OVERRIDE_SECTIONS}
    documents[ORGANISATION_KEY] = spec.organisation.model_dump(mode="json") if spec.organisation else {}
    for key, document in documents.items():
        _upsert(session, PlatformConfig, key, {"key": key, "value": document}, f"config:{key}", report)
    for key in RETIRED_SECTIONS:
        stale = session.get(PlatformConfig, key)
        if stale is not None:
            session.delete(stale)
            report.changed.append(f"config:{key} (removed: it comes from the platform's code now)")
    mlflow_users = _checked_mlflow_users(session, spec)
    key = MLFLOW_USERS_KEY
    _upsert(session, PlatformConfig, key, {"key": key, "value": mlflow_users}, f"config:{key}", report)
    # A tenant, project or user the spec no longer names keeps its history (versions, audit records
    # and lineage refer to it); apply says so instead of leaving it silently in place.
    platform_team = {spec.system_actor.id, *session.scalars(select(PlatformMembership.user_id))}
    for kind, model, declared in (
        ("tenant", Tenant, {t.id for t in spec.tenants}),
        ("project", Project, {p.id for p in spec.projects}),
        ("user", User, {u.id for u in spec.users} | platform_team),
    ):
        key_column = model.__mapper__.primary_key[0]
        report.kept += [f"{kind}:{i}" for i in session.scalars(select(key_column).order_by(key_column)) if i not in declared]
    session.flush()
    return report


def _sync_platform_admins(session: Session, wanted: list[str], report: ApplyReport) -> None:
    """Exactly the listed users are platform admins afterwards; at least one always remains."""
    current = {m.user_id: m for m in session.scalars(select(PlatformMembership).order_by(PlatformMembership.user_id))}
    for user_id, membership in current.items():
        if user_id not in wanted:
            session.delete(membership)
            report.changed.append(f"platform_admin:{user_id} revoked")
    for admin in dict.fromkeys(wanted):
        values = {"user_id": admin, "role": ADMIN_ROLE}
        _upsert(session, PlatformMembership, admin, values, f"platform_admin:{admin}", report)
    session.flush()
    if session.scalar(select(PlatformMembership.user_id).limit(1)) is None:
        # parse_spec refuses such a file already; this holds for specs built in code too.
        revoked = ", ".join(repr(u) for u in current) or "none"
        raise InvalidInput(
            f"platform_admins = {list(wanted)!r}: the spec would leave the platform without an admin "
            f"(it revokes {revoked}); list at least one declared user under platform_admins",
            field="platform_admins",
            value=list(wanted),
        )


def _checked_mlflow_users(session: Session, spec: PlatformSpec) -> dict[str, str]:
    """The spec's MLflow user map; a name that is the id of another user already in the store
    (declared by an earlier spec, or `dataops init`'s admin) would hand that user's runs over."""
    mapping = mlflow_user_map(spec)
    for i, user in enumerate(spec.users):
        for j, name in enumerate(user.mlflow_users):
            if name != user.id and session.get(User, name) is not None:
                raise InvalidInput(
                    f"users[{i}].mlflow_users[{j}] = {name!r}: is the id of platform user {name!r} in the store, "
                    "whose MLflow runs map to it by id; pick another MLflow user name",
                    field=f"users[{i}].mlflow_users[{j}]",
                    value=name,
                )
    return mapping


def _check_tenant_quotas(session: Session, spec: PlatformSpec) -> None:
    # The file alone passed its quota check; projects created earlier by other files count too.
    session.flush()
    for i, tenant in enumerate(spec.tenants):
        count = len(session.scalars(select(Project.id).where(Project.tenant_id == tenant.id)).all())
        if count > tenant.quota.max_projects:
            raise InvalidInput(
                f"tenants[{i}].quota.max_projects = {tenant.quota.max_projects}: tenant {tenant.id!r} would have "
                f"{count} projects in the store; raise the quota",
                field=f"tenants[{i}].quota.max_projects",
                value=tenant.quota.max_projects,
            )


def apply_spec(platform: Platform, actor: str, spec: PlatformSpec, source: str) -> ApplyReport:
    """Apply `spec` as `actor` (needs spec.apply at platform scope); audited with what changed."""
    with platform.act(actor, "spec.apply", project=None, object_ref=f"spec:{source}") as op:
        report = apply_spec_rows(op.session, spec)
        op.details = {
            "source": source,
            "created": report.created,
            "changed": report.changed,
            "unchanged_count": len(report.unchanged),
            "kept_not_in_spec": report.kept,
        }
    return report
