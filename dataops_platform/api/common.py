"""What every router shares: the caller (authenticated by `guard.RequestGuard`), the platform, the
route class that gives each operation its id and its problem-details responses, the request-body
base, the query and path types, and paging.

Routers are module-level `APIRouter`s; each request finds the platform on `request.app.state`, so
one router serves every app built by `create_app`.
"""

from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, model_validator

from dataops_platform.api.guard import API_PREFIX, USER_KEY
from dataops_platform.api.problems import error_responses
from dataops_platform.artifacts.build import row
from dataops_platform.errors import PermissionDenied
from dataops_platform.governance.authz import decide
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.tokens import Unauthenticated
from dataops_platform.settings import Settings
from dataops_platform.text import check_text

MAX_OFFSET = 1_000_000_000  # paging offsets reach SQL (audit: LIMIT ... OFFSET ...), which holds 64-bit integers only

# Documents the scheme in /openapi.json. auto_error=False: it never answers a request itself;
# RequestGuard has authenticated (or refused) the token before any route runs.
bearer = HTTPBearer(
    scheme_name="bearer",
    bearerFormat="dop_<token id>_<secret>",
    description="A platform token: `dataops token create USER` or `POST /api/v1/tokens`.",
    auto_error=False,
)


def actor(request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
    """The user RequestGuard authenticated; then no text that cannot be stored reaches a lookup."""
    user = request.scope.get("state", {}).get(USER_KEY)
    if user is None:  # only a route mounted outside API_PREFIX could get here: refuse, never re-authenticate
        raise Unauthenticated("missing Authorization header; send 'Authorization: Bearer <token>'")
    check_text(request.url.path, "path")  # ids reach SQL and file paths: refuse bad text before any lookup
    for name, value in request.query_params.multi_items():
        check_text(value, name)
    return user


def platform_of(request: Request) -> Platform:
    return request.app.state.platform


def settings_of(request: Request) -> Settings:
    return request.app.state.settings


Actor = Annotated[str, Depends(actor)]
Plat = Annotated[Platform, Depends(platform_of)]
Conf = Annotated[Settings, Depends(settings_of)]


class GovernedRoute(APIRoute):
    """Every route: its operation id is its function's name (`version_show`, `spec_apply`: the
    CLI's verbs, so generated clients read like the CLI), and it declares the problem-details
    responses it can answer (`problems.error_responses`)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        methods = {m.upper() for m in kwargs.get("methods") or ["GET"]}
        kwargs["responses"] = error_responses(methods) | (kwargs.get("responses") or {})
        kwargs["operation_id"] = kwargs.get("operation_id") or endpoint.__name__
        super().__init__(path, endpoint, **kwargs)


def noun_router(noun: str, prefix: str = "") -> APIRouter:
    return APIRouter(prefix=API_PREFIX + prefix, tags=[noun], route_class=GovernedRoute)


def require_platform(plat: Platform, user: str, action: str, why: str) -> None:
    """The caller holds `action` through their platform role (platform admins)."""
    with plat.store.read() as session:
        decision = decide(session, user, action, None)
    if not decision.allowed:
        raise PermissionDenied(user, decision.role, action, None, why)


class Input(BaseModel):
    """A JSON request body: text that is not UTF-8 or holds NUL is refused like any other invalid value."""

    @model_validator(mode="after")
    def _text_ok(self) -> "Input":
        check_text(self.model_dump(mode="python"), "body")
        return self


Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
ProjectFilter = Annotated[str | None, Query(max_length=64)]
# Ids in the path: the store holds ids of at most 64 characters, and the audit record of a refused
# attempt quotes them (PostgreSQL enforces the column lengths that SQLite ignores).
ObjectId = Annotated[str, PathParam(max_length=64)]

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A page of a listing: `items[offset : offset + limit]` of `total`."""

    items: list[T]
    total: int
    limit: int
    offset: int


def page(rows: list[Any], limit: int, offset: int, total: int | None = None) -> dict[str, Any]:
    """A page of `rows` (all rows, or already the page when `total` is given)."""
    if total is not None:
        return {"items": [row(r) for r in rows], "total": total, "limit": limit, "offset": offset}
    return {"items": [row(r) for r in rows[offset : offset + limit]], "total": len(rows), "limit": limit, "offset": offset}
