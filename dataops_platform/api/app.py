"""FastAPI application. Every route authenticates a bearer token, then calls the same service
functions as the CLI, so permissions and audit have exactly one path.

Errors are RFC 9457 problem details carrying the same facts as the CLI's messages:
400 invalid input, 401 no or bad token, 403 forbidden in a project the caller belongs to,
404 anything outside the caller's tenants (or absent: the two are indistinguishable), 409 refused
by a gate or an illegal transition, 413 request too large.
"""

import json
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Header, Query, Request
from fastapi import Path as PathParam
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, model_validator

from dataops_platform.artifacts.build import row
from dataops_platform.errors import DataOpsError, GateRefused, InvalidInput, NotFound, PermissionDenied
from dataops_platform.governance import alerts, audit, exceptions, experiments, lineage, reviews, rollback, versions
from dataops_platform.governance.audit_service import AuditFilter, list_records, verify_chain
from dataops_platform.governance.authz import projects_granting
from dataops_platform.governance.platform import Platform, iso
from dataops_platform.governance.tokens import Unauthenticated, authenticate
from dataops_platform.settings import Settings

API_PREFIX = "/api/v1"
MAX_BODY_BYTES = 1 << 20  # JSON bodies
MAX_UPLOAD_BYTES = 64 << 20  # dataset uploads
MAX_OFFSET = 1_000_000_000  # paging offsets reach SQL (audit: LIMIT offset + limit), which holds 64-bit integers only
STATUS = {Unauthenticated: 401, NotFound: 404, PermissionDenied: 403, GateRefused: 409, InvalidInput: 400}


class EchoSafeJSONResponse(JSONResponse):
    """JSON for error bodies, which echo the caller's input. That input may hold lone surrogates (legal
    in a JSON escape such as "\\ud800", not encodable as UTF-8): they stay escaped exactly as
    `ensure_ascii` would write them, instead of failing the response with a 500."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, default=str, separators=(",", ":"))
        return text.encode("utf-8", "backslashreplace")  # only surrogates fail; they become \udXXX escapes


class ProblemResponse(EchoSafeJSONResponse):
    media_type = "application/problem+json"


def problem(status: int, exc: DataOpsError | None, detail: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "status": status, "title": exc.kind if exc else "error",
                            "detail": detail or (exc.message if exc else "")}  # fmt: skip
    if exc is not None:
        body.update({k: v for k, v in exc.facts.items() if v is not None and k not in body})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return ProblemResponse(body, status_code=status, headers=headers)


class Page(BaseModel):
    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


def page(rows: list[Any], limit: int, offset: int) -> Page:
    return Page(items=[row(r) for r in rows[offset : offset + limit]], total=len(rows), limit=limit, offset=offset)


def nul_at(value: Any, where: str) -> str | None:
    """Where a NUL character (U+0000) sits in `value` (text, or lists and dicts of it), or None.
    No text field may hold one: PostgreSQL refuses it in text, and file paths cannot contain it."""
    if isinstance(value, str):
        return where if "\x00" in value else None
    pairs = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, (list, tuple)) else ()
    for key, item in pairs:
        found = (nul_at(key, f"{where} key") if isinstance(key, str) else None) or nul_at(item, f"{where}.{key}")
        if found:
            return found
    return None


def reject_nul(value: Any, where: str) -> None:
    if (found := nul_at(value, where)) is not None:
        raise InvalidInput(f"{found} contains a NUL character (U+0000), which no text field may hold", field=found,
                           value=None)  # fmt: skip


class Input(BaseModel):
    """A JSON request body: NUL characters are refused like any other invalid value (422)."""

    @model_validator(mode="after")
    def _no_nul(self) -> "Input":
        if (found := nul_at(self.model_dump(mode="json"), "body")) is not None:
            raise ValueError(f"{found} contains a NUL character (U+0000)")
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


def inside(root: Path, relative: str) -> Path:
    """`relative` resolved inside `root`, or InvalidInput: no traversal, no absolute paths, no links out."""
    candidate = (root / relative).resolve()
    if Path(relative).is_absolute() or not candidate.is_relative_to(root.resolve()):
        raise InvalidInput(f"path {relative!r} leaves the data inbox {root}", field="path", value=relative)
    return candidate


def create_app(settings: Settings, platform: Platform | None = None) -> FastAPI:
    plat = platform or Platform(settings)
    app = FastAPI(title="dataops_platform", version="1", description=__doc__)

    @app.exception_handler(DataOpsError)
    async def _typed(_: Request, exc: DataOpsError) -> JSONResponse:
        status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 500)
        return problem(status, exc)

    @app.exception_handler(RequestValidationError)
    async def _unprocessable(_: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own 422 body (as documented in the OpenAPI schema), rendered echo-safe.
        return EchoSafeJSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)

    @app.middleware("http")
    async def _size_limit(request: Request, call_next):  # noqa: ANN001, ANN202
        limit = MAX_UPLOAD_BYTES if request.url.path.endswith("/upload") else MAX_BODY_BYTES
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return problem(413, None, f"request body over {limit} bytes")
        return await call_next(request)

    def actor(request: Request, authorization: Annotated[str | None, Header()] = None) -> str:
        user = authenticate(plat, authorization)
        reject_nul(request.url.path, "path")  # ids reach SQL and file paths: refuse NUL before any lookup
        for name, value in request.query_params.multi_items():
            reject_nul(value, name)
        return user

    Actor = Annotated[str, Depends(actor)]

    def require_somewhere(user: str, action: str, *, audited: bool = False) -> None:
        """The caller holds `action` in some project. With `audited` (a mutating action) the decision
        itself is written to the audit log, allowed or denied (SPEC §4), before anything runs."""
        with plat.store.read() as session:
            granted = projects_granting(session, user, action)
        reason = f"granted by a project role in {', '.join(granted)}" if granted else f"no project role grants {action}"
        if audited:
            plat.record([audit.AuditEntry(at=iso(plat.clock.now()), actor=user, action=action,
                                          outcome="allowed" if granted else "denied", details={"reason": reason})])  # fmt: skip
        if not granted:
            raise PermissionDenied(user, None, action, None, reason)

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
        try:
            path = inside(settings.inbox_dir, body.path)
        except InvalidInput as bad:  # decided and audited like any other refused attempt
            plat.refuse(user, "version.create", project=body.project, error=bad)
        return row(versions.register_version(plat, user, body.project, path, body.parent, body.summary))

    @app.put(f"{API_PREFIX}/projects/{{project}}/versions/upload", status_code=201, tags=["versions"])
    async def register_by_upload(
        user: Actor, project: ObjectId, request: Request,
        filename: Annotated[str, Query(max_length=200, pattern=r"^[\w.-]+\.(jsonl|ndjson|csv|parquet)$")],
        parent: Annotated[str | None, Query(max_length=64)] = None,
    ) -> dict[str, Any]:  # fmt: skip
        data = await request.body()
        if len(data) > MAX_UPLOAD_BYTES:
            return problem(413, None, f"upload over {MAX_UPLOAD_BYTES} bytes")  # type: ignore[return-value]
        with tempfile.TemporaryDirectory(dir=settings.home_dir) as tmp:
            path = Path(tmp) / filename
            path.write_bytes(data)
            return row(versions.register_version(plat, user, project, path, parent, ["uploaded through the API"]))

    @app.post(f"{API_PREFIX}/versions/{{version_id}}/validate", tags=["versions"])
    def validate(user: Actor, version_id: ObjectId) -> dict[str, Any]:
        return row(versions.validate_version(plat, user, version_id))

    @app.post(f"{API_PREFIX}/versions/{{version_id}}/release", tags=["versions"])
    def release(user: Actor, version_id: ObjectId) -> dict[str, Any]:
        return row(versions.release_version(plat, user, version_id))

    @app.post(f"{API_PREFIX}/versions/{{version_id}}/deprecate", tags=["versions"])
    def deprecate(user: Actor, version_id: ObjectId) -> dict[str, Any]:
        return row(versions.deprecate_version(plat, user, version_id))

    # -- experiments --------------------------------------------------------------------------
    @app.get(f"{API_PREFIX}/experiments", response_model=Page, tags=["experiments"])
    def list_experiments(user: Actor, project: ProjectFilter = None, limit: Limit = 100, offset: Offset = 0) -> Page:
        return page(experiments.list_experiments(plat, user, project), limit, offset)

    @app.post(f"{API_PREFIX}/experiments/sync", tags=["experiments"])
    def sync(user: Actor) -> dict[str, Any]:
        from dataops_platform.tracking.client import Tracking
        from dataops_platform.tracking.sync import sync_runs

        require_somewhere(user, "experiment.log", audited=True)  # sync records as the system actor, for callers who may log
        report = sync_runs(plat, Tracking(settings.tracking_uri, settings.mlflow_artifact_root))
        return report.__dict__

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
        records = list_records(plat, user, AuditFilter(project, actor_filter, action, since, until, limit + offset))
        return page(records, limit, offset)

    @app.get(f"{API_PREFIX}/audit/verify", tags=["audit"])
    def audit_verify(user: Actor) -> dict[str, Any]:
        result = verify_chain(plat, user)
        return {"ok": result.ok, "checked": result.checked, "head_seq": result.head.seq, "bad_seq": result.bad_seq,
                "reason": result.reason}  # fmt: skip

    @app.get(f"{API_PREFIX}/metrics", tags=["metrics"])
    def metrics(user: Actor) -> dict[str, Any]:
        require_somewhere(user, "read")
        path = settings.artifacts_dir / "reports" / "p8_metrics.json"
        if not path.exists():
            raise NotFound("p8_metrics.json has not been materialised yet", field="metrics", value=str(path))
        return json.loads(path.read_text())

    @app.post(f"{API_PREFIX}/spec/validate", tags=["spec"])
    def spec_validate(
        user: Actor, body: Annotated[str, Body(media_type="text/plain", max_length=MAX_BODY_BYTES)]
    ) -> dict[str, Any]:
        from dataops_platform.spec.loader import parse_spec

        spec = parse_spec(body, "request body")
        reject_nul(spec.model_dump(mode="json"), "spec")
        return {"valid": True, "tenants": len(spec.tenants), "projects": len(spec.projects)}

    @app.post(f"{API_PREFIX}/spec/apply", tags=["spec"])
    def spec_apply(user: Actor, body: Annotated[str, Body(media_type="text/plain", max_length=MAX_BODY_BYTES)]) -> dict[str, Any]:
        from dataops_platform.governance.spec_apply import apply_spec
        from dataops_platform.spec.loader import parse_spec

        spec = parse_spec(body, "request body")
        reject_nul(spec.model_dump(mode="json"), "spec")
        report = apply_spec(plat, user, spec, "api")
        return report.as_dict() | {"noop": report.is_noop}

    return app


def route_table(app: FastAPI) -> list[dict[str, str]]:
    """The real routes, for the api_catalog asset and consistency rule 4."""
    out = []
    for route in app.routes:
        methods = sorted(getattr(route, "methods", None) or [])
        if route.path.startswith(API_PREFIX):
            out += [{"method": m, "path": route.path, "endpoint": route.name} for m in methods]
    return sorted(out, key=lambda r: (r["path"], r["method"]))
