"""FastAPI application. Every route authenticates a bearer token, then calls the same service
functions as the CLI, so permissions and audit have exactly one path.

Errors are RFC 9457 problem details carrying the same facts as the CLI's messages:
400 invalid input, 401 no or bad token, 403 forbidden in a project the caller belongs to,
404 anything outside the caller's tenants (or absent: the two are indistinguishable), 409 refused
by a gate or an illegal transition, 413 request too large.
"""

import json
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import Body, Depends, FastAPI, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, model_validator
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dataops_platform.artifacts.build import row
from dataops_platform.artifacts.interfaces import InterfaceTables
from dataops_platform.errors import (
    AuditIntegrityError,
    DataOpsError,
    GateRefused,
    InvalidInput,
    NotFound,
    PermissionDenied,
    TooLarge,
)
from dataops_platform.governance import alerts, exceptions, experiments, lineage, reviews, rollback, versions
from dataops_platform.governance.audit_service import AuditFilter, count_records, list_records, verify_chain
from dataops_platform.governance.authz import decide
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.tokens import Unauthenticated, authenticate
from dataops_platform.settings import Settings, load_settings
from dataops_platform.text import check_text

API_PREFIX = "/api/v1"
MAX_BODY_BYTES = 1 << 20  # JSON bodies
MAX_UPLOAD_BYTES = 64 << 20  # dataset uploads
MAX_OFFSET = 1_000_000_000  # paging offsets reach SQL (audit: LIMIT ... OFFSET ...), which holds 64-bit integers only
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


class SafeJSONResponse(JSONResponse):
    """Every response body: text the store holds from before the text rule (a lone surrogate) or a
    value an error quotes stays escaped instead of failing the response with a 500, so no stored
    value can break a listing."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, default=str, separators=(",", ":"))
        return text.encode("utf-8", "backslashreplace")  # only surrogates fail; they become \udXXX escapes


class ProblemResponse(SafeJSONResponse):
    """RFC 9457 problem details. Error bodies never echo the request body."""

    media_type = "application/problem+json"


def problem(status: int, exc: DataOpsError | None, detail: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "status": status, "title": exc.kind if exc else "error",
                            "detail": detail or (exc.message if exc else "")}  # fmt: skip
    if exc is not None:
        body.update({k: v for k, v in exc.facts.items() if v is not None and k not in body})
    body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return ProblemResponse(body, status_code=status, headers=headers)


class BodyTooLarge(HTTPException):
    """Raised from the guarded `receive` as soon as a body passes its limit, chunked or not."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"request body over {limit} bytes")


def body_limit(path: str) -> int:
    return MAX_UPLOAD_BYTES if path.endswith("/upload") else MAX_BODY_BYTES


class RequestGuard:
    """Before any route runs (and before FastAPI reads a byte of the body): authenticate the bearer
    token (401 first, whatever the body holds), then enforce the body limit on the stream itself,
    so a chunked body without Content-Length is cut off at the limit instead of being buffered."""

    def __init__(self, app: ASGIApp, platform: Platform) -> None:
        self.app = app
        self.platform = platform

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            user = await anyio.to_thread.run_sync(authenticate, self.platform, headers.get("authorization"))
        except Unauthenticated as exc:
            await problem(401, exc)(scope, receive, send)
            return
        scope.setdefault("state", {})["dataops_user"] = user
        limit = body_limit(scope["path"])
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await problem(413, None, f"request body over {limit} bytes")(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)


def _validation_problem(exc: RequestValidationError) -> JSONResponse:
    """400 with where and what, never the rejected input itself (it may be megabytes, or a secret)."""
    errors = []
    for err in exc.errors()[:20]:
        item = {"loc": [str(part) for part in err.get("loc", ())], "msg": str(err.get("msg", ""))[:300], "type": err.get("type")}
        if err.get("type") == "json_invalid" and isinstance(err.get("ctx"), dict):
            item["msg"] = f"JSON decode error: {err['ctx'].get('error', '')}"[:300]
        errors.append(item)
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    field = ".".join(part for part in first["loc"] if part not in ("body", "query", "path")) or None
    detail = f"invalid request: {'.'.join(first['loc']) or 'body'}: {first['msg']}"
    return problem(400, None, detail, title="invalid_input", field=field, errors=errors)


class Page(BaseModel):
    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


def page(rows: list[Any], limit: int, offset: int, total: int | None = None) -> Page:
    """A page of `rows` (all rows, or already the page when `total` is given)."""
    if total is not None:
        return Page(items=[row(r) for r in rows], total=total, limit=limit, offset=offset)
    return Page(items=[row(r) for r in rows[offset : offset + limit]], total=len(rows), limit=limit, offset=offset)


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


class RegisterByPath(Input):
    project: str = Field(max_length=64)
    path: str = Field(max_length=500, description="relative to $DATAOPS_HOME/inbox")
    parent: str | None = Field(default=None, max_length=64)
    summary: list[str] = Field(default_factory=list, max_length=50)
    copy_data: bool | None = Field(
        default=None,
        alias="copy",
        description="keep a content-addressed copy of the original bytes (the CLI's --copy); default: the project's policy",
    )


class RollbackRequest(Input):
    to: str = Field(max_length=64)
    reason: str = Field(max_length=2000)
    trigger: str | None = Field(default=None, max_length=128)
    dry_run: bool = False


class AlertOpen(Input):
    related_object: str = Field(max_length=128)
    severity: str = Field(max_length=16)
    category: str = Field(max_length=32)
    title: str = Field(max_length=400)


class Note(Input):
    note: str = Field(max_length=4000)


class ExceptionRequest(Input):
    version: str = Field(max_length=64)
    rule: str = Field(max_length=64)
    reason: str = Field(max_length=4000)
    expires_at: datetime
    follow_up: str | None = Field(default=None, max_length=4000)


class FixItemBody(Input):
    description: str = Field(max_length=1000)
    owner: str = Field(max_length=64)
    due: str = Field(max_length=10, description="YYYY-MM-DD")


class ReviewBody(Input):
    related: list[Annotated[str, Field(max_length=128)]] = Field(max_length=50)
    symptom: str = Field(max_length=4000)
    impact_scope: str = Field(default="", max_length=4000)
    root_cause: str = Field(default="", max_length=4000)
    mitigation: str = Field(default="", max_length=4000)
    fix_items: list[FixItemBody] = Field(default_factory=list, max_length=50)


def create_app(settings: Settings, platform: Platform | None = None) -> FastAPI:
    plat = platform or Platform(settings)
    app = FastAPI(title="dataops_platform", version="1", description=__doc__, default_response_class=SafeJSONResponse)

    @app.exception_handler(DataOpsError)
    async def _typed(_: Request, exc: DataOpsError) -> JSONResponse:
        status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 500)
        return problem(status, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_problem(exc)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        title = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status_code, "error")
        return problem(exc.status_code, None, str(exc.detail), title=title)

    app.add_middleware(RequestGuard, platform=plat)

    def actor(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
        # RequestGuard authenticated the token before the body was read; the header parameter
        # only documents the scheme in the OpenAPI document.
        user = request.scope.get("state", {}).get("dataops_user") or authenticate(plat, authorization)
        check_text(request.url.path, "path")  # ids reach SQL and file paths: refuse bad text before any lookup
        for name, value in request.query_params.multi_items():
            check_text(value, name)
        return user

    Actor = Annotated[str, Depends(actor)]

    def require_platform(user: str, action: str, why: str) -> None:
        """The caller holds `action` through their platform role (platform admins)."""
        with plat.store.read() as session:
            decision = decide(session, user, action, None)
        if not decision.allowed:
            raise PermissionDenied(user, decision.role, action, None, why)

    # -- versions ---------------------------------------------------------------------------
    @app.get(f"{API_PREFIX}/versions", response_model=Page, tags=["versions"])
    def list_versions(user: Actor, project: ProjectFilter = None, limit: Limit = 100, offset: Offset = 0) -> Page:
        return page(versions.list_versions(plat, user, project), limit, offset)

    @app.get(f"{API_PREFIX}/versions/{{version_id}}", tags=["versions"])
    def show_version(user: Actor, version_id: ObjectId) -> dict[str, Any]:
        version, current = versions.show_version(plat, user, version_id)
        return row(version) | {"is_current_release": current}

    @app.post(f"{API_PREFIX}/versions", status_code=201, tags=["versions"])
    def register_by_path(user: Actor, body: RegisterByPath) -> dict[str, Any]:
        # Permission first, then the path (confined to the inbox, named relative to it), then the file.
        registered = versions.register_version(plat, user, body.project, body.path, body.parent, body.summary,
                                               root=settings.inbox_dir, copy=body.copy_data)  # fmt: skip
        return row(registered) | {"same_content_as": versions.same_content_as(plat, registered)}

    @app.put(f"{API_PREFIX}/projects/{{project}}/versions/upload", status_code=201, tags=["versions"])
    async def register_by_upload(
        user: Actor, project: ObjectId, request: Request,
        filename: Annotated[str, Query(max_length=200, pattern=r"^[\w.-]+\.(jsonl|ndjson|csv|parquet)$")],
        parent: Annotated[str | None, Query(max_length=64)] = None,
    ) -> dict[str, Any]:  # fmt: skip
        # Permission and visibility first: a caller who may not create versions there (or cannot
        # see the project) is answered before one byte of the upload is read.
        await anyio.to_thread.run_sync(versions.check_can_register, plat, user, project, parent)
        uploads = settings.home_dir / "uploads"
        uploads.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=uploads) as tmp:
            path = Path(tmp) / filename
            with path.open("wb") as out:  # streamed: RequestGuard cuts the stream at MAX_UPLOAD_BYTES
                async for chunk in request.stream():
                    out.write(chunk)
            registered = await anyio.to_thread.run_sync(
                # An upload has no place of its own to live: its original bytes are always kept (copy).
                lambda: versions.register_version(
                    plat, user, project, path, parent, ["uploaded through the API"], label=filename, copy=True
                )
            )
            return row(registered) | {"same_content_as": versions.same_content_as(plat, registered)}

    @app.post(f"{API_PREFIX}/versions/{{version_id}}/validate", tags=["versions"])
    def validate(user: Actor, version_id: ObjectId) -> dict[str, Any]:
        return row(versions.validate_version(plat, user, version_id))

    @app.post(f"{API_PREFIX}/versions/{{version_id}}/release", tags=["versions"])
    def release(user: Actor, version_id: ObjectId) -> dict[str, Any]:
        return row(versions.release_version(plat, user, version_id))

    @app.post(f"{API_PREFIX}/versions/{{version_id}}/deprecate", tags=["versions"])
    def deprecate(user: Actor, version_id: ObjectId) -> dict[str, Any]:
        return row(versions.deprecate_version(plat, user, version_id))

    @app.get(f"{API_PREFIX}/versions/{{version_id}}/diff/{{other_id}}", tags=["versions"])
    def diff(user: Actor, version_id: ObjectId, other_id: ObjectId) -> dict[str, Any]:
        """What changed from `version_id` to `other_id`: rows_added / rows_removed / rows_changed (with
        example ids under `examples`), columns_added / columns_removed / columns_type_changed."""
        return versions.diff_versions(plat, user, version_id, other_id)

    @app.post(f"{API_PREFIX}/versions/{{version_id}}/verify", tags=["versions"])
    def verify(user: Actor, version_id: ObjectId) -> dict[str, Any]:
        """Re-read the version's source and compare pin and digest (`status`: ok, drifted, unreadable)."""
        return versions.verify_version(plat, user, version_id)

    # -- experiments --------------------------------------------------------------------------
    @app.get(f"{API_PREFIX}/experiments", response_model=Page, tags=["experiments"])
    def list_experiments(user: Actor, project: ProjectFilter = None, limit: Limit = 100, offset: Offset = 0) -> Page:
        return page(experiments.list_experiments(plat, user, project), limit, offset)

    @app.post(f"{API_PREFIX}/experiments/sync", tags=["experiments"])
    def sync(user: Actor) -> dict[str, Any]:
        from dataops_platform.tracking.client import Tracking
        from dataops_platform.tracking.sync import sync_for_caller

        # Decides and audits "experiment.log in some project" itself, records each run as the platform
        # user its MLflow user maps to, and answers with only what `user` may read (SPEC §9).
        return sync_for_caller(plat, Tracking(settings.tracking_uri, settings.mlflow_artifact_root), user)

    # -- rollback -------------------------------------------------------------------------------
    @app.post(f"{API_PREFIX}/projects/{{project}}/rollback", tags=["rollback"])
    def rollback_project(user: Actor, project: ObjectId, body: RollbackRequest) -> dict[str, Any]:
        if body.dry_run:
            return {"dry_run": True} | rollback.preview_rollback(plat, user, project, body.to).as_dict()
        event, plan = rollback.execute_rollback(plat, user, project, body.to, body.reason, body.trigger)
        return {"dry_run": False, "rollback": row(event)} | plan.as_dict()

    # -- alerts ---------------------------------------------------------------------------------
    @app.get(f"{API_PREFIX}/alerts", response_model=Page, tags=["alerts"])
    def list_alerts(
        user: Actor, project: ProjectFilter = None, status: Annotated[str | None, Query(max_length=16)] = None,
        limit: Limit = 100, offset: Offset = 0,
    ) -> Page:  # fmt: skip
        return page(alerts.list_alerts(plat, user, project, status), limit, offset)

    @app.post(f"{API_PREFIX}/alerts", status_code=201, tags=["alerts"])
    def open_alert(user: Actor, body: AlertOpen) -> dict[str, Any]:
        return row(alerts.open_alert(plat, user, body.related_object, body.severity, body.category, body.title))

    @app.post(f"{API_PREFIX}/alerts/{{alert_id}}/ack", tags=["alerts"])
    def ack(user: Actor, alert_id: ObjectId) -> dict[str, Any]:
        return row(alerts.acknowledge_alert(plat, user, alert_id))

    @app.post(f"{API_PREFIX}/alerts/{{alert_id}}/resolve", tags=["alerts"])
    def resolve(user: Actor, alert_id: ObjectId, body: Note) -> dict[str, Any]:
        return row(alerts.resolve_alert(plat, user, alert_id, body.note))

    @app.get(f"{API_PREFIX}/sla", tags=["alerts"])
    def sla(user: Actor, project: ProjectFilter = None) -> dict[str, Any]:
        return alerts.sla_status(plat, user, project)

    # -- exceptions -------------------------------------------------------------------------------
    @app.get(f"{API_PREFIX}/exceptions", response_model=Page, tags=["exceptions"])
    def list_exceptions(user: Actor, project: ProjectFilter = None, limit: Limit = 100, offset: Offset = 0) -> Page:
        return page(exceptions.list_exceptions(plat, user, project), limit, offset)

    @app.post(f"{API_PREFIX}/exceptions", status_code=201, tags=["exceptions"])
    def request_exception(user: Actor, body: ExceptionRequest) -> dict[str, Any]:
        return row(exceptions.request_exception(plat, user, body.version, body.rule, body.reason, body.expires_at,
                                                body.follow_up))  # fmt: skip

    @app.post(f"{API_PREFIX}/exceptions/{{exception_id}}/approve", tags=["exceptions"])
    def approve(user: Actor, exception_id: ObjectId) -> dict[str, Any]:
        return row(exceptions.approve_exception(plat, user, exception_id))

    # -- reviews ----------------------------------------------------------------------------------
    @app.get(f"{API_PREFIX}/reviews", response_model=Page, tags=["reviews"])
    def list_reviews(user: Actor, project: ProjectFilter = None, limit: Limit = 100, offset: Offset = 0) -> Page:
        return page(reviews.list_reviews(plat, user, project), limit, offset)

    @app.post(f"{API_PREFIX}/reviews", status_code=201, tags=["reviews"])
    def add_review(user: Actor, body: ReviewBody) -> dict[str, Any]:
        items = tuple(reviews.FixItem.parse(f"{i.description}|{i.owner}|{i.due}") for i in body.fix_items)
        review = reviews.ReviewInput(body.related, body.symptom, body.impact_scope, body.root_cause, body.mitigation, items)
        return row(reviews.add_review(plat, user, review))

    # -- lineage, audit, metrics ------------------------------------------------------------------
    @app.get(f"{API_PREFIX}/lineage/impact", tags=["lineage"])
    def impact(
        user: Actor, ref: Annotated[str, Query(max_length=128)], depth: Annotated[int | None, Query(ge=1, le=100)] = None,
        upstream: bool = False,
    ) -> dict[str, Any]:  # fmt: skip
        rows = lineage.impact(plat, user, ref, depth, upstream)
        return {"ref": ref, "upstream": upstream, "items": [{"ref": r.ref, "depth": r.depth} for r in rows]}

    @app.get(f"{API_PREFIX}/audit", response_model=Page, tags=["audit"])
    def audit_list(
        user: Actor,
        project: ProjectFilter = None,
        actor_filter: Annotated[str | None, Query(alias="actor", max_length=64)] = None,
        action: Annotated[str | None, Query(max_length=64)] = None, since: datetime | None = None,
        until: datetime | None = None, limit: Limit = 100, offset: Offset = 0,
    ) -> Page:  # fmt: skip
        flt = AuditFilter(project, actor_filter, action, since, until, limit, offset)
        return page(list_records(plat, user, flt), limit, offset, total=count_records(plat, user, flt))

    @app.get(f"{API_PREFIX}/audit/verify", tags=["audit"])
    def audit_verify(user: Actor) -> dict[str, Any]:
        result = verify_chain(plat, user)
        return {"ok": result.ok, "checked": result.checked, "head_seq": result.head.seq, "bad_seq": result.bad_seq,
                "reason": result.reason}  # fmt: skip

    @app.get(f"{API_PREFIX}/metrics", tags=["metrics"])
    def metrics(user: Actor) -> dict[str, Any]:
        # p8_metrics.json counts every tenant's objects: platform-wide figures are for the people
        # who read the whole platform (its admins). Tenants read their own projects' routes.
        require_platform(user, "read", "platform-wide metrics count every tenant; read your projects' "
                         "versions, experiments, alerts and SLA through their routes")  # fmt: skip
        path = settings.artifacts_dir / "reports" / "p8_metrics.json"
        if not path.exists():
            raise NotFound("p8_metrics.json has not been materialised yet", field="metrics", value="p8_metrics.json")
        return json.loads(path.read_text())

    @app.post(f"{API_PREFIX}/spec/validate", tags=["spec"])
    def spec_validate(
        user: Actor, body: Annotated[str, Body(media_type="text/plain", max_length=MAX_BODY_BYTES)]
    ) -> dict[str, Any]:
        from dataops_platform.spec.loader import parse_spec

        # Validating a spec costs CPU and answers questions about the platform's own rules: only
        # those who may apply one (platform admins) may ask, decided before the body is parsed.
        require_platform(user, "spec.apply", "only a platform admin may validate or apply a spec")
        spec = parse_spec(body, "request body")
        return {"valid": True, "tenants": len(spec.tenants), "projects": len(spec.projects)}

    @app.post(f"{API_PREFIX}/spec/apply", tags=["spec"])
    def spec_apply(user: Actor, body: Annotated[str, Body(media_type="text/plain", max_length=MAX_BODY_BYTES)]) -> dict[str, Any]:
        from dataops_platform.governance.spec_apply import apply_spec
        from dataops_platform.spec.loader import parse_spec

        with plat.store.read() as session:
            allowed = decide(session, user, "spec.apply", None).allowed
        if not allowed:  # decided (and the denial audited) before the body is parsed
            with plat.act(user, "spec.apply", project=None, object_ref="spec:api"):
                pass
        spec = parse_spec(body, "request body")
        report = apply_spec(plat, user, spec, "api")
        return report.as_dict() | {"noop": report.is_noop}

    from dataops_platform.api.notify_routes import notify_router

    app.include_router(notify_router(plat, actor))
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
