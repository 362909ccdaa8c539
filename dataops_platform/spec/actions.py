"""The platform's actions and the default role matrix (SPEC §4)."""

from __future__ import annotations

ACTIONS: tuple[str, ...] = (
    "spec.apply",
    "project.manage",
    "version.create",
    "version.validate",
    "version.release",
    "version.deprecate",
    "rollback.execute",
    "experiment.log",
    "alert.open",
    "alert.ack",
    "alert.resolve",
    "exception.request",
    "exception.approve",
    "review.write",
    "audit.read",
    "read",
)

# Actions that act on the platform as a whole rather than inside one project.
PLATFORM_ACTIONS: frozenset[str] = frozenset({"spec.apply"})

DEFAULT_ROLES: dict[str, tuple[str, ...]] = {
    "admin": ("spec.apply", "project.manage", "exception.approve", "audit.read", "read"),
    "platform_pm": (
        "version.release",
        "version.deprecate",
        "rollback.execute",
        "exception.request",
        "exception.approve",
        "review.write",
        "read",
    ),
    "data_engineer": ("version.create", "experiment.log", "exception.request", "read"),
    "qa": ("version.validate", "experiment.log", "review.write", "audit.read", "read"),
    "ops": ("rollback.execute", "alert.open", "alert.ack", "alert.resolve", "review.write", "audit.read", "read"),
}

# The named actor automation (sensors, sync) acts as, with its own narrow role.
SYSTEM_ROLE = "system"
DEFAULT_SYSTEM_ACTIONS: tuple[str, ...] = ("experiment.log", "alert.open", "read")
