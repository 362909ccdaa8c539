"""Typed errors. Each carries the facts a person needs and maps to one CLI exit code (SPEC §13)."""

from __future__ import annotations


class DataOpsError(Exception):
    """Base of every error the platform raises on purpose."""

    exit_code = 1
    kind = "error"

    def __init__(self, message: str, **facts: object) -> None:
        super().__init__(message)
        self.message = message
        self.facts = facts


class InvalidInput(DataOpsError):
    """Bad input: the message names the field, the value and the fix."""

    exit_code = 2
    kind = "invalid_input"

    def __init__(self, message: str, *, field: str | None = None, value: object = None, **facts: object):
        super().__init__(message, field=field, value=value, **facts)
        self.field = field
        self.value = value


class NotFound(InvalidInput):
    """An id that does not exist *for the caller*: other tenants' objects answer the same way."""

    kind = "not_found"


class TooLarge(InvalidInput):
    """Input over a configured limit (bytes, rows, nesting, decompressed size): exit 2, HTTP 413.
    The message names the limit, the value seen and the setting that raises it."""

    kind = "too_large"


class AlreadyRecorded(InvalidInput):
    """The object this input would create exists already (e.g. an MLflow run synced twice)."""

    kind = "already_recorded"


class PermissionDenied(DataOpsError):
    """The actor holds no role granting the action in that project."""

    exit_code = 3
    kind = "permission_denied"

    def __init__(self, actor: str, role: str | None, action: str, project: str | None, reason: str):
        scope = f"project {project!r}" if project else "the platform"
        super().__init__(
            f"permission denied: {actor!r} (role {role or 'none'}) may not {action} in {scope}: {reason}",
            actor=actor,
            role=role,
            action=action,
            project=project,
            reason=reason,
        )
        self.actor, self.role, self.action, self.project, self.reason = actor, role, action, project, reason


class GateRefused(DataOpsError):
    """A gate or an illegal transition refused the action; `conditions` names every failed one."""

    exit_code = 4
    kind = "refused"

    def __init__(self, summary: str, conditions: list[str]):
        lines = "\n".join(f"  - {c}" for c in conditions)
        super().__init__(f"{summary}:\n{lines}", conditions=conditions)
        self.conditions = conditions


class AuditIntegrityError(DataOpsError):
    """The audit chain no longer reaches what its anchors witnessed (newest records removed, the
    chain rewritten) or an anchor is missing: every write is refused, and an alarm recorded outside
    the store, until a platform admin has investigated and re-anchored (`dataops audit reanchor`).
    The message names the anchored seq and the store's head."""

    exit_code = 1
    kind = "audit_integrity"
