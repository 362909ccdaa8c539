"""The platform's typed errors as the client raises them, made once from the RFC 9457 problem
details every REST error answers (`api/problems.py`).

Each class is the platform's own error (so `except dataops_platform.errors.NotFound` and the CLI's
exit codes work the same in local and remote mode) and, like the lakeFS SDK's, also the builtin
that fits: `NotFound` is a `LookupError`, `PermissionDenied` and `Unauthenticated` are
`PermissionError`s, `InvalidInput` is a `ValueError`. `problem` keeps the whole body.
"""

from __future__ import annotations

from typing import Any

from dataops_platform import errors
from dataops_platform.errors import DataOpsError


class _FromProblem:
    """Built from a problem body: the message is the server's `detail`, the facts its other fields."""

    problem: dict[str, Any]
    status: int

    def _init_from(self, status: int, problem: dict[str, Any]) -> None:
        facts = {k: v for k, v in problem.items() if k not in ("type", "status", "title", "detail")}
        DataOpsError.__init__(self, str(problem.get("detail") or problem.get("title") or f"HTTP {status}"), **facts)  # type: ignore[arg-type]
        self.status, self.problem = status, problem


class _FieldProblem(_FromProblem):
    """A problem about one input: `field` and (when it is safe to quote) `value`."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self._init_from(status, problem)
        self.field, self.value = problem.get("field"), problem.get("value")


class InvalidInput(_FieldProblem, errors.InvalidInput, ValueError):
    """400: the input at fault is `field` (and `value`, when it is safe to quote)."""


class NotFound(_FieldProblem, errors.NotFound, LookupError):
    """404: no such object, or one outside your tenants (the two read the same)."""


class TooLarge(_FieldProblem, errors.TooLarge, ValueError):
    """413: the request is over a limit of the server."""


class PermissionDenied(_FromProblem, errors.PermissionDenied, PermissionError):
    """403: your role in that project does not grant the action (`actor`, `role`, `action`, `project`)."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self._init_from(status, problem)
        self.actor, self.role, self.action = problem.get("actor"), problem.get("role"), problem.get("action")
        self.project, self.reason = problem.get("project"), problem.get("reason")


class GateRefused(_FromProblem, errors.GateRefused):
    """409: a gate or an illegal transition refused the action; `conditions` names every failed one."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self._init_from(status, problem)
        self.conditions = list(problem.get("conditions") or [])


class Unauthenticated(_FromProblem, DataOpsError, PermissionError):
    """401: no token, or a malformed, unknown, expired or revoked one (`dataops login URL` stores a new one)."""

    exit_code = 3
    kind = "unauthenticated"

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self._init_from(status, problem)


class ServerError(_FromProblem, DataOpsError):
    """Any other answer (5xx, a proxy's HTML page, a body that is not the platform's contract)."""

    kind = "server_error"

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        self._init_from(status, problem)


class AuditIntegrity(ServerError):
    """503: the server refuses writes while its audit chain is in doubt (an admin must investigate)."""

    kind = "audit_integrity"


class ServerUnreachable(DataOpsError, ConnectionError):
    """The server did not answer (refused, timed out, bad TLS): the message names the URL and the cause."""

    kind = "server_unreachable"


BY_STATUS: dict[int, type[_FromProblem]] = {
    400: InvalidInput,
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: GateRefused,
    413: TooLarge,
    503: AuditIntegrity,
}


def from_response(status: int, body: Any, text: str) -> DataOpsError:
    """The typed error of an error response: a problem body by its status; anything else a ServerError
    quoting the start of what came back."""
    if not isinstance(body, dict) or "detail" not in body:
        body = {"status": status, "title": "error", "detail": f"HTTP {status} from the server: {text[:300]!r}"}
    return BY_STATUS.get(status, ServerError)(status, body)  # type: ignore[return-value]
