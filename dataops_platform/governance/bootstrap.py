"""`dataops init`: create or upgrade the store and its first admin, recorded as the bootstrap audit record."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from dataops_platform.errors import GateRefused, InvalidInput
from dataops_platform.governance import audit
from dataops_platform.governance.platform import Platform, iso
from dataops_platform.spec.actions import DEFAULT_ROLES, DEFAULT_SYSTEM_ACTIONS, SYSTEM_ROLE
from dataops_platform.store import feed, migrate
from dataops_platform.store.models import PlatformMembership, Role, RoleAction, User

ADMIN_ROLE = "admin"


@dataclass(frozen=True)
class InitResult:
    admin: str
    created: bool
    schema_revision: str


def initialize(platform: Platform, admin: str) -> InitResult:
    """Idempotent: a second `init` with the same admin only upgrades the schema.

    A different admin on an initialised store is refused: admins are added through the spec,
    by someone already holding spec.apply, so `init` is no back door.

    The bootstrap record is also where the audit anchor starts: `init` on an empty store without
    any anchor is the only write that may create the first one (`Platform.write(first_anchor=True)`).
    On a store that already has records it is an ordinary guarded write: an anchor removed there
    is not re-created by running `init` again (that takes an admin's `dataops audit reanchor`).
    """
    if not admin or not admin.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise InvalidInput(f"--admin {admin!r} is not a valid user id (letters, digits, - _ .)", field="admin", value=admin)
    platform.settings.ensure_home()
    migrate.upgrade(platform.store.url)
    feed.ensure_installed(platform.store.engine)  # triggers dropped or disabled since: the refresh would rebuild in full forever
    revision = migrate.head_revision()
    with platform.write(first_anchor=True, attempt={"actor": admin, "action": "platform.init"}) as session:
        admins = set(session.scalars(select(PlatformMembership.user_id).where(PlatformMembership.role == ADMIN_ROLE)))
        if admin in admins:
            return InitResult(admin, False, revision)
        if admins:
            raise GateRefused(
                "store already initialised",
                [f"platform admins are {sorted(admins)}; add {admin!r} through `dataops spec apply` (platform_admins)"],
            )
        for name, actions in DEFAULT_ROLES.items():
            if session.get(Role, name) is None:
                session.add(Role(name=name, description=f"default {name} role (SPEC §4)"))
                session.add_all(RoleAction(role=name, action=a) for a in actions)
        if session.get(Role, SYSTEM_ROLE) is None:
            session.add(Role(name=SYSTEM_ROLE, description="automation (sensors, sync)", is_system=True))
            session.add_all(RoleAction(role=SYSTEM_ROLE, action=a) for a in DEFAULT_SYSTEM_ACTIONS)
        if session.get(User, admin) is None:
            session.add(User(id=admin, display_name=admin))
        session.flush()
        session.add(PlatformMembership(user_id=admin, role=ADMIN_ROLE))
        audit.append(
            session,
            [
                audit.AuditEntry(
                    at=iso(platform.clock.now()),
                    actor=admin,
                    role=ADMIN_ROLE,
                    action="platform.init",
                    outcome="allowed",
                    object_ref="platform",
                    details={"bootstrap": True, "schema_revision": revision},
                )
            ],
        )
    return InitResult(admin, True, revision)
