"""Platform-wide routes: the materialised metrics, and validating / applying a spec (platform admins)."""

import json
from typing import Any

import anyio
from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field

from dataops_platform.api.common import Actor, Conf, Plat, noun_router, require_platform
from dataops_platform.api.guard import MAX_BODY_BYTES
from dataops_platform.errors import InvalidInput, NotFound
from dataops_platform.governance.authz import decide

router = noun_router("platform")

SPEC_BODY = {
    "requestBody": {
        "required": True,
        "description": f"The spec's YAML text (UTF-8), at most {MAX_BODY_BYTES} bytes; JSON is YAML too.",
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "text/plain": {"schema": {"type": "string"}},
            # The same text as bytes: the content type generated clients (openapi-python-client) can send.
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


class Metrics(BaseModel):
    """p8_metrics.json as the last materialisation wrote it (docs: SPEC §10); more keys may follow."""

    model_config = ConfigDict(extra="allow")

    tenants: int | None = None
    projects: int | None = None
    dataset_versions: int | None = None
    released_versions: int | None = None
    experiments: int | None = None
    rollbacks: int | None = None
    alerts: int | None = None
    version_traceability: float | None = None
    experiment_record_completeness: float | None = None
    lineage_coverage: float | None = None
    alert_closure_rate: float | None = None
    rollback_usability: float | None = None
    check_pass_rate: float | None = None
    integrity_pass_rate: float | None = None
    checks_failed: list[str] | None = None
    sla_compliance_rate: float | None = None


class SpecValidation(BaseModel):
    valid: bool
    tenants: int
    projects: int


class SpecApplyReport(BaseModel):
    """What applying changed, by ref (`project:p01`, `membership:dan@p01`, ...); `noop` when nothing did."""

    created: list[str]
    changed: list[str]
    unchanged: list[str]
    kept: list[str] = Field(default_factory=list, description="in the store, not in the spec: kept (apply never deletes)")
    noop: bool


async def _spec_text(request: Request) -> str:
    """The body as text (RequestGuard has bounded it); not UTF-8 is invalid input naming the body."""
    raw = await request.body()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"request body: the spec is not UTF-8 text (byte {exc.start}); send YAML as UTF-8",
                           field="body", value=None) from None  # fmt: skip


@router.get("/metrics", response_model=Metrics)
def metrics(plat: Plat, settings: Conf, user: Actor) -> Any:
    # p8_metrics.json counts every tenant's objects: platform-wide figures are for the people
    # who read the whole platform (its admins). Tenants read their own projects' routes.
    require_platform(plat, user, "read", "platform-wide metrics count every tenant; read your projects' "
                     "versions, experiments, alerts and SLA through their routes")  # fmt: skip
    path = settings.artifacts_dir / "reports" / "p8_metrics.json"
    if not path.exists():
        raise NotFound("p8_metrics.json has not been materialised yet", field="metrics", value="p8_metrics.json")
    return json.loads(path.read_text())


@router.post("/spec/validate", response_model=SpecValidation, openapi_extra=SPEC_BODY)
async def spec_validate(plat: Plat, user: Actor, request: Request) -> Any:
    """Check a spec without applying it (platform admins: it answers questions about the platform's rules)."""
    from dataops_platform.spec.loader import parse_spec

    # Validating a spec costs CPU: only those who may apply one may ask, decided before the body is read.
    why = "only a platform admin may validate or apply a spec"
    await anyio.to_thread.run_sync(require_platform, plat, user, "spec.apply", why)
    spec = await anyio.to_thread.run_sync(parse_spec, await _spec_text(request), "request body")
    return {"valid": True, "tenants": len(spec.tenants), "projects": len(spec.projects)}


@router.post("/spec/apply", response_model=SpecApplyReport, openapi_extra=SPEC_BODY)
async def spec_apply(plat: Plat, user: Actor, request: Request) -> Any:
    """Apply a spec (platform admins); audited as `spec.apply`, a refusal too."""
    from dataops_platform.governance.spec_apply import apply_spec
    from dataops_platform.spec.loader import parse_spec

    def refuse_unless_allowed() -> None:
        with plat.store.read() as session:
            allowed = decide(session, user, "spec.apply", None).allowed
        if not allowed:  # decided (and the denial audited) before the body is read
            with plat.act(user, "spec.apply", project=None, object_ref="spec:api"):
                pass

    await anyio.to_thread.run_sync(refuse_unless_allowed)
    text = await _spec_text(request)

    def apply() -> dict[str, Any]:
        report = apply_spec(plat, user, parse_spec(text, "request body"), "api")
        return report.as_dict() | {"noop": report.is_noop}

    return await anyio.to_thread.run_sync(apply)
