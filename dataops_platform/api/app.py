"""FastAPI application. Every route authenticates a bearer token (`guard.RequestGuard`, before the
body is read), then calls the same service functions as the CLI, so permissions and audit have
exactly one path. One router per noun (`api/versions.py`, `api/alerts.py`, ...); errors are RFC 9457
problem details (`api/problems.py`) carrying the same facts as the CLI's messages.

The OpenAPI document (/openapi.json) is the contract: a response model on every route, the bearer
scheme, problem-details responses for every error a route can answer, operation ids named after
the CLI's verbs (`version_show`, `spec_apply`), and real request bodies for upload and spec.
"""

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from dataops_platform.api import (
    alerts,
    audit,
    exceptions,
    experiments,
    lineage,
    notify_routes,
    platform_routes,
    reviews,
    rollbacks,
    tokens,
    versions,
)
from dataops_platform.api.guard import API_PREFIX, MAX_BODY_BYTES, MAX_UPLOAD_BYTES, RequestGuard
from dataops_platform.api.problems import (
    STATUS,
    TITLES,
    SafeJSONResponse,
    problem,
    problem_media_types,
    status_of,
    validation_problem,
)
from dataops_platform.artifacts.interfaces import InterfaceTables
from dataops_platform.errors import DataOpsError
from dataops_platform.governance.platform import Platform
from dataops_platform.settings import Settings, load_settings

__all__ = ["API_PREFIX", "MAX_BODY_BYTES", "MAX_UPLOAD_BYTES", "STATUS", "create_app", "interface_tables", "route_table"]

ROUTERS = (versions, experiments, rollbacks, alerts, exceptions, reviews, lineage, audit, platform_routes, tokens, notify_routes)


def create_app(settings: Settings, platform: Platform | None = None) -> FastAPI:
    plat = platform or Platform(settings)
    app = FastAPI(title="dataops_platform", version="1", description=__doc__, default_response_class=SafeJSONResponse)
    app.state.platform, app.state.settings = plat, settings

    @app.exception_handler(DataOpsError)
    async def _typed(_: Request, exc: DataOpsError) -> JSONResponse:
        return problem(status_of(exc), exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_problem(exc)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        return problem(exc.status_code, None, str(exc.detail), title=TITLES.get(exc.status_code, "error"))

    app.add_middleware(RequestGuard, platform=plat)
    for module in ROUTERS:
        app.include_router(module.router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            app.openapi_schema = problem_media_types(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _flat_routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(path, route) of every route, included routers expanded (FastAPI keeps an included router as
    one entry holding its own routes and the prefix it was included with)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _flat_routes(included.routes, prefix + getattr(route.include_context, "prefix", ""))
        elif hasattr(route, "path"):
            yield prefix + route.path, route


def route_table(app: FastAPI) -> list[dict[str, str]]:
    """The real routes, for the api_catalog asset and consistency rule 4."""
    out = []
    for path, route in _flat_routes(app.routes):
        methods = sorted(getattr(route, "methods", None) or [])
        if path.startswith(API_PREFIX):
            out += [{"method": m, "path": path, "endpoint": route.name} for m in methods]
    return sorted(out, key=lambda r: (r["path"], r["method"]))


def interface_tables() -> InterfaceTables:
    """The REST API's route table for the API catalog (entry point `dataops_platform.interface_tables`:
    the artifacts never import this module). Building the app to read its routes needs no database."""
    return InterfaceTables(routes=route_table(create_app(load_settings(), platform=_NoPlatform())))  # type: ignore[arg-type]


class _NoPlatform:
    """Stands in for the Platform while only the routes are read (no route runs)."""
