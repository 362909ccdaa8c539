"""Errors as RFC 9457 problem details: one `Problem` model, the status each platform error maps to,
and the error responses every route declares (computed here, once, from the route's methods).

400 invalid input (request validation included: never FastAPI's 422 shape), 401 no or bad token,
403 forbidden in a project the caller belongs to, 404 anything outside the caller's tenants (or
absent: the two are indistinguishable), 409 refused by a gate or an illegal transition, 413 request
too large, 503 writes refused while the audit chain is in doubt.
"""

import json
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from dataops_platform.errors import (
    AuditIntegrityError,
    DataOpsError,
    GateRefused,
    InvalidInput,
    NotFound,
    PermissionDenied,
    TooLarge,
)
from dataops_platform.governance.tokens import Unauthenticated

PROBLEM_MEDIA_TYPE = "application/problem+json"
# The first matching class wins: subclasses (NotFound, TooLarge) come before InvalidInput.
STATUS = {
    AuditIntegrityError: 503,  # writes refused while the audit chain is in doubt (docs/audit.md)
    Unauthenticated: 401,
    NotFound: 404,
    TooLarge: 413,
    PermissionDenied: 403,
    GateRefused: 409,
    InvalidInput: 400,
}
TITLES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}  # errors raised by Starlette itself


class SafeJSONResponse(JSONResponse):
    """Every response body: text the store holds from before the text rule (a lone surrogate) or a
    value an error quotes stays escaped instead of failing the response with a 500, so no stored
    value can break a listing."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, default=str, separators=(",", ":"))
        return text.encode("utf-8", "backslashreplace")  # only surrogates fail; they become \udXXX escapes


class ProblemResponse(SafeJSONResponse):
    """RFC 9457 problem details. Error bodies never echo the request body."""

    media_type = PROBLEM_MEDIA_TYPE


class ProblemError(BaseModel):
    """One request-validation error: where (`loc`), what (`msg`), which check (`type`)."""

    loc: list[str]
    msg: str
    type: str | None = None


class Problem(BaseModel):
    """RFC 9457 problem details with the facts of the platform's typed error (the CLI's message)."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    status: int
    title: str = Field(description="the error's kind: invalid_input, unauthenticated, permission_denied, not_found, refused, ...")
    detail: str
    field: str | None = Field(default=None, description="the input field at fault (invalid input)")
    value: Any = Field(default=None, description="the rejected value, when it is safe to quote")
    actor: str | None = None
    role: str | None = None
    action: str | None = None
    project: str | None = None
    reason: str | None = None
    conditions: list[str] | None = Field(default=None, description="every failed condition (409)")
    errors: list[ProblemError] | None = Field(default=None, description="request validation errors (400)")


def status_of(exc: DataOpsError) -> int:
    return next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 500)


def problem(status: int, exc: DataOpsError | None, detail: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "status": status, "title": exc.kind if exc else "error",
                            "detail": detail or (exc.message if exc else "")}  # fmt: skip
    if exc is not None:
        body.update({k: v for k, v in exc.facts.items() if v is not None and k not in body})
    body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return ProblemResponse(body, status_code=status, headers=headers)


def validation_problem(exc: RequestValidationError) -> JSONResponse:
    """400 with where and what, never the rejected input itself (it may be megabytes, or a secret)."""
    errors = []
    for err in exc.errors()[:20]:
        item = {"loc": [str(part) for part in err.get("loc", ())], "msg": str(err.get("msg", ""))[:300], "type": err.get("type")}
        if err.get("type") == "json_invalid" and isinstance(err.get("ctx"), dict):
            # FastAPI puts the character position where a field name goes: the field is the body
            item["msg"] = f"JSON decode error at character {item['loc'][-1]}: {err['ctx'].get('error', '')}"[:300]
            item["loc"] = ["body"]
        errors.append(item)
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    field = ".".join(part for part in first["loc"] if part not in ("body", "query", "path")) or None
    if field is None and first["loc"] == ["body"]:
        field = "body"  # the body as a whole (not JSON, or missing)
    detail = f"invalid request: {'.'.join(first['loc']) or 'body'}: {first['msg']}"
    return problem(400, None, detail, title="invalid_input", field=field, errors=errors)


# -- what the OpenAPI document declares ---------------------------------------------------------------
_MEANING = {
    400: "Invalid input (request validation included): `field` names the input at fault",
    401: "No, a malformed, an unknown, an expired or a revoked bearer token",
    403: "Forbidden: the caller's role in that project does not grant the action",
    404: "Not found, or outside the caller's tenants (the two read the same)",
    409: "Refused by a gate or an illegal transition: `conditions` lists every failed one",
    413: "Request body over the route's limit",
    503: "Writes refused while the audit chain is in doubt",
}
READ_ERRORS = (400, 401, 403, 404, 413)
WRITE_ERRORS = (*READ_ERRORS, 409, 503)


def error_responses(methods: set[str]) -> dict[int | str, dict[str, Any]]:
    """The problem-details responses of a route: every route may answer the read errors; a route
    that acts (POST, PUT, DELETE) may also be refused by a gate (409) or by the audit guard (503)."""
    codes = READ_ERRORS if methods <= {"GET", "HEAD"} else WRITE_ERRORS
    return {code: {"model": Problem, "description": _MEANING[code]} for code in codes}


def problem_media_types(document: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document as the server answers: error responses in `application/problem+json`
    (FastAPI files every declared model under the route's JSON media type), and no 422 (validation
    errors answer 400 problem details)."""
    for operation in (op for item in document.get("paths", {}).values() for op in item.values()):
        responses = operation.get("responses", {})
        responses.pop("422", None)
        for code, response in responses.items():
            content = response.get("content", {})
            if code[0] in "45" and "application/json" in content:
                content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
    schemas = document.get("components", {}).get("schemas", {})
    text = json.dumps(document["paths"])
    for name in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{name}" not in text:
            schemas.pop(name, None)
    return document
