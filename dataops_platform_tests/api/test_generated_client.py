"""The OpenAPI document as a contract, proved by a client generated from it.

`openapi-python-client` generates a package from the served /openapi.json of the real app (once per
module, into a temporary directory); the test imports it and calls every operation through it
against a real uvicorn server on loopback with real tokens: a copy of the session's demo home (the
reference scenario, materialised: real metrics) plus a webhook channel (a real receiver on
loopback), p01 and p02 seeded with objects in every state. Results must be the generated typed
models (timestamps as datetimes), errors must parse as `Problem` (not None), the upload goes
through the generated binary body and spec validate / apply through theirs (not skipped).

A second test walks the document itself: every operation has an operationId, a non-empty 2xx
schema, the bearer scheme, and problem-details error responses.
"""

from __future__ import annotations

import importlib
import inspect
import json
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from io import BytesIO
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests

from dataops_platform.governance.platform import Platform
from dataops_platform.governance.spec_apply import apply_spec
from dataops_platform.settings import Settings, load_settings
from dataops_platform.spec.loader import parse_spec
from dataops_platform_tests.api.conftest import Crew, LiveApi, ProjectIds, data_bytes, inbox_file, live_server, seed_project
from dataops_platform_tests.conftest import ADMIN
from dataops_platform_tests.notify.receivers import (
    SECRET,
    SECRET_ENV,
    HttpReceiver,
    spec_with_notifications,
    webhook_notifications,
)

PACKAGE = "dataops_generated_client"
P01_CREW = Crew(de="dan", qa="quinn", pm="priya", ops="omar")
P02_CREW = Crew(de="lena", qa="quinn", pm="priya", ops="omar")


@dataclass
class Generated:
    live: LiveApi
    client: ModuleType  # the generated package
    document: dict[str, Any]
    p01: ProjectIds
    p02: ProjectIds
    spec_text: str
    upload: bytes
    inbox: str
    warnings: list[str]

    def op(self, operation_id: str) -> ModuleType:
        """The generated module of one operation (api/<tag>/<operation id>.py)."""
        tag = self.operations()[operation_id]["tags"][0]
        return importlib.import_module(f"{PACKAGE}.api.{tag}.{operation_id}")

    def operations(self) -> dict[str, dict[str, Any]]:
        return {op["operationId"]: op for item in self.document["paths"].values() for op in item.values()}

    def as_user(self, user: str) -> Any:
        return self.client.AuthenticatedClient(
            base_url=self.live.base_url, token=self.live.token(user), raise_on_unexpected_status=True
        )

    @property
    def models(self) -> ModuleType:
        return importlib.import_module(f"{PACKAGE}.models")

    @property
    def types(self) -> ModuleType:
        return importlib.import_module(f"{PACKAGE}.types")


def generate_client(document: dict[str, Any], where: Path) -> tuple[ModuleType, list[str]]:
    """Run openapi-python-client on `document`; import the package it wrote. Warnings are returned."""
    from openapi_python_client import generate
    from openapi_python_client.config import Config, ConfigFile, MetaType

    where.mkdir(parents=True, exist_ok=True)
    source = where / "openapi.json"
    source.write_text(json.dumps(document))
    config = Config.from_sources(
        ConfigFile(post_hooks=[], package_name_override=PACKAGE), MetaType.NONE, source, "utf-8", True, where / PACKAGE
    )
    problems = generate(config=config)
    errors = [f"{p.header}: {p.detail}" for p in problems if p.level.name == "ERROR"]
    assert not errors, errors
    sys.path.insert(0, str(where))
    try:
        return importlib.import_module(PACKAGE), [f"{p.header}: {p.detail}" for p in problems]
    finally:
        sys.path.remove(str(where))


@pytest.fixture(scope="module")
def gen(demo_home: tuple[Settings, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Generated]:
    root = tmp_path_factory.mktemp("generated_client")
    shutil.copytree(demo_home[0].home_dir, root / "home")  # the session's demo, materialised: real metrics
    settings = load_settings(root / "home")
    receiver = HttpReceiver().start()
    with pytest.MonkeyPatch.context() as env:
        env.setenv(SECRET_ENV, SECRET)
        platform = Platform(settings)
        spec = spec_with_notifications(root, webhook_notifications(f"{receiver.url}/hook"))  # the demo's organisation + a webhook
        apply_spec(platform, ADMIN, parse_spec(spec.read_text(), spec.name), spec.name)
        p01 = seed_project(platform, root, "p01_retail_search", P01_CREW)
        p02 = seed_project(platform, root, "p02_legal_sft", P02_CREW)
        with live_server(platform, ADMIN) as live:
            document = requests.get(f"{live.base_url}/openapi.json", timeout=30).json()
            client, warnings = generate_client(document, root / "client")
            sys.path.insert(0, str(root / "client"))
            try:
                yield Generated(
                    live, client, document, p01, p02, spec.read_text(), data_bytes(root), inbox_file(settings), warnings
                )
            finally:
                sys.path.remove(str(root / "client"))
                for name in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
                    del sys.modules[name]
        platform.close()
    receiver.stop()


def typed(response: Any, model: str, status: int = 200) -> Any:
    """The parsed result of a generated call: the generated model `model`, never a dict or None."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    parsed = response.parsed
    assert type(parsed).__name__ == model and type(parsed).__module__.startswith(PACKAGE), type(parsed)
    return parsed


def test_every_operation_through_the_generated_client(gen: Generated) -> None:
    m, a, b = gen.models, gen.p01, gen.p02
    de, qa, pm, ops, admin = (gen.as_user(u) for u in ("dan", "quinn", "priya", "omar", ADMIN))
    called: set[str] = set()

    def call(operation_id: str, client: Any, model: str, status: int = 200, **kwargs: Any) -> Any:
        called.add(operation_id)
        return typed(gen.op(operation_id).sync_detailed(client=client, **kwargs), model, status)

    # -- versions: read, register (inbox path and upload), lifecycle, diff, verify, source and data
    page = call("version_list", de, "VersionPage", project=a.project)
    assert {v.version_id for v in page.items} >= {a.v_draft, a.v_r2} and page.total == len(page.items)
    shown = call("version_show", de, "VersionDetail", version_id=a.v_r2)
    assert (shown.version_id, shown.is_current_release, shown.status) == (a.v_r2, True, "released")
    assert isinstance(shown.created_at, datetime) and isinstance(shown.released_at, datetime)
    registered = call("version_register", de, "RegisteredVersion", 201, body=m.RegisterByPath(project=a.project, path=gen.inbox))
    assert (registered.status, registered.project_id, registered.same_content_as) == ("draft", a.project, [])
    upload = gen.types.File(payload=BytesIO(gen.upload), file_name="probe.jsonl", mime_type="application/octet-stream")
    uploaded = call("version_upload", de, "RegisteredVersion", 201, project=a.project, filename="probe.jsonl", body=upload)
    assert uploaded.copy_location and uploaded.row_count == 30
    assert call("version_validate", qa, "Version", version_id=a.v_draft).status == "validated"
    assert call("version_deprecate", pm, "Version", version_id=a.v_r0).status == "deprecated"
    diff = call("version_diff", de, "VersionDiff", version_id=a.v_r1, other_id=a.v_r2)
    assert (diff.from_, diff.to) == (a.v_r1, a.v_r2) and diff.rows_changed > 0
    verified = call("version_verify", de, "VerifyResult", version_id=a.v_r2)
    assert (verified.status, verified.found_digest) == ("ok", shown.content_digest)
    source = call("version_source", de, "VersionSource", version_id=uploaded.version_id)
    assert source.kept_copy and source.download == f"/api/v1/versions/{uploaded.version_id}/data"
    data = gen.op("version_data").sync_detailed(client=de, version_id=uploaded.version_id)
    called.add("version_data")
    assert data.status_code == 200 and data.parsed.payload.read() == gen.upload  # the original bytes, not a re-serialisation
    # -- exceptions (before the validated version is released)
    expires = gen.live.platform.clock.now() + timedelta(days=3)
    requested = call("exception_request", de, "ExceptionRecord", 201, body=m.ExceptionRequest(
        version=a.v_valid, rule="experiment_status", reason="probe", expires_at=expires))  # fmt: skip
    assert (requested.status, requested.requested_by) == ("requested", "dan")
    assert call("exception_approve", pm, "ExceptionRecord", exception_id=a.exception).approved_by == "priya"
    assert {e.exception_id for e in call("exception_list", de, "ExceptionPage", project=a.project).items} >= {a.exception}
    assert call("version_release", pm, "Version", version_id=a.v_valid).status == "released"
    # -- experiments
    assert a.experiment in {e.experiment_id for e in call("experiment_list", de, "ExperimentPage", project=a.project).items}
    assert call("experiment_sync", de, "SyncReport").caller == "dan"
    # -- alerts and SLA
    opened = call("alert_open", ops, "Alert", 201, body=m.AlertOpen(
        related_object=f"version:{a.v_r2}", severity="high", category="operational", title="probe"))  # fmt: skip
    assert isinstance(opened.opened_at, datetime)
    assert call("alert_ack", ops, "Alert", alert_id=a.alert_ack).status == "acknowledged"
    assert call("alert_resolve", ops, "Alert", alert_id=a.alert_resolve, body=m.Note(note="probe")).resolution_note == "probe"
    assert opened.alert_id in {x.alert_id for x in call("alert_list", de, "AlertPage", project=a.project).items}
    assert opened.alert_id in {x.alert_id for x in call("alert_sla", de, "SlaReport", project=a.project).alerts}
    # -- reviews, lineage
    review = call("review_add", ops, "Review", 201, body=m.ReviewBody(related=[f"version:{a.v_r2}"], symptom="probe"))
    assert review.review_id in {r.review_id for r in call("review_list", de, "ReviewPage", project=a.project).items}
    impact = call("lineage_impact", de, "Impact", ref=f"version:{a.v_r2}")
    assert f"alert:{opened.alert_id}" in {i.ref for i in impact.items}
    graph = call("lineage_export", de, "LineageGraph", project=a.project)
    assert graph.projects == [a.project] and f"version:{a.v_r2}" in {n.ref for n in graph.nodes}
    events = call("lineage_export", de, "OpenLineageExport", project=a.project, openlineage=True)
    assert events.events and all(e.additional_properties["eventType"] for e in events.events)
    # -- rollback
    rolled = call("rollback_execute", ops, "RollbackResult", project=a.project, body=m.RollbackRequest(to=a.v_r1, reason="probe"))
    assert (rolled.dry_run, rolled.to_version, rolled.rollback.executed_by) == (False, a.v_r1, "omar")
    rollbacks = call("rollback_list", de, "RollbackPage", project=a.project)
    assert rollbacks.items[-1].rollback_id == rolled.rollback.rollback_id  # oldest first
    # -- audit, metrics
    audit = call("audit_list", ops, "AuditPage", project=a.project, limit=5)
    assert ("omar", "rollback.execute", "allowed") in {(r.actor, r.action, r.outcome) for r in audit.items}
    assert call("audit_verify", ops, "AuditVerification").ok is True
    metrics = call("metrics", admin, "Metrics")
    assert metrics.tenants == 3 and metrics.additional_properties["generated_at"]
    # -- spec: the YAML text as the generated binary body
    spec = gen.types.File(payload=BytesIO(gen.spec_text.encode()), mime_type="application/octet-stream")
    validation = call("spec_validate", admin, "SpecValidation", body=spec)
    assert (validation.valid, validation.tenants, validation.projects) == (True, 3, 3)
    spec.payload.seek(0)
    assert call("spec_apply", admin, "SpecApplyReport", body=spec).noop is True
    # -- tokens: mint one for yourself, see it, revoke it; the revoked token is refused at once
    minted = call("token_create", de, "TokenCreated", 201, body=m.TokenCreate(user="dan"))
    assert minted.token.startswith("dop_") and minted.created_by == "dan"
    assert minted.token_id in {t.token_id for t in call("token_list", de, "TokenList").items}
    assert call("token_revoke", de, "Token", token_id=minted.token_id).revoked_at is not None
    refused = gen.client.AuthenticatedClient(base_url=gen.live.base_url, token=minted.token)
    problem = typed(gen.op("token_list").sync_detailed(client=refused), "Problem", 401)
    assert "revoked" in problem.detail
    # -- notifications: the seeded alerts' deliveries to the webhook channel
    deliveries = call("notify_list", admin, "DeliveryList")
    assert deliveries.count >= 1 and {d.channel for d in deliveries.items} == {"ops_hook"}
    pending = next(d for d in deliveries.items if d.status == "pending")
    assert call("notify_retry", admin, "Delivery", delivery_id=pending.id).id == pending.id
    assert call("notify_test", admin, "Delivery", channel_id="ops_hook").channel == "ops_hook"

    assert called == set(gen.operations()), set(gen.operations()) ^ called
    # other tenants' objects are still out of reach through the same client
    assert b.project not in {v.project_id for v in call("version_list", de, "VersionPage").items}


def test_errors_parse_as_problem_details(gen: Generated) -> None:
    de, ops = gen.as_user("dan"), gen.as_user("omar")
    hidden = typed(gen.op("version_show").sync_detailed(client=de, version_id=gen.p02.v_r2), "Problem", 404)
    assert (hidden.status, hidden.title) == (404, "not_found") and "not found" in hidden.detail
    forbidden = typed(gen.op("version_validate").sync_detailed(client=ops, version_id=gen.p01.v_r2), "Problem", 403)
    assert (forbidden.title, forbidden.action, forbidden.actor) == ("permission_denied", "version.validate", "omar")
    invalid = typed(gen.op("version_list").sync_detailed(client=de, limit=0), "Problem", 400)
    assert invalid.field == "limit" and invalid.errors and invalid.errors[0].loc == ["query", "limit"]
    refused = typed(gen.op("version_release").sync_detailed(client=gen.as_user("priya"), version_id=gen.p01.v_r2), "Problem", 409)
    assert refused.title == "refused" and refused.conditions


def test_upload_and_spec_bodies_are_generated(gen: Generated) -> None:
    """The generator skipped nothing that carries a body: upload and spec take the binary `body`."""
    for operation_id in ("version_upload", "spec_validate", "spec_apply"):
        parameter = inspect.signature(gen.op(operation_id).sync_detailed).parameters["body"]
        assert "File" in str(parameter.annotation), (operation_id, parameter)
    # Only the YAML / text alternatives of the spec body are beyond the generator (it sends bytes).
    assert all("spec/" in w and ("application/yaml" in w or "text/plain" in w) for w in gen.warnings), gen.warnings


def test_the_document_is_a_contract(gen: Generated) -> None:
    document = gen.document
    schemes = document["components"]["securitySchemes"]
    assert schemes == {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "dop_<token id>_<secret>",
                                  "description": schemes["bearer"]["description"]}}  # fmt: skip
    assert "Problem" in document["components"]["schemas"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    seen, failures = set(), []
    for path, item in document["paths"].items():
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            operation_id = op.get("operationId", "")
            if not operation_id or operation_id in seen or not operation_id.replace("_", "").isalpha():
                failures.append(f"{where}: operationId {operation_id!r}")
            seen.add(operation_id)
            if op.get("security") != [{"bearer": []}]:
                failures.append(f"{where}: security {op.get('security')}")
            responses = op["responses"]
            ok = [code for code in responses if code.startswith("2")]
            if len(ok) != 1 or not any(c.get("schema") for c in responses[ok[0]].get("content", {}).values()):
                failures.append(f"{where}: 2xx {ok} without a schema")
            errors = {"400", "401", "403", "404", "413"} | ({"409", "503"} if method != "get" else set())
            if set(responses) - set(ok) != errors or "422" in responses:
                failures.append(f"{where}: error responses {sorted(set(responses) - set(ok))}")
            for code in errors & set(responses):
                if responses[code].get("content") != {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                }:
                    failures.append(f"{where}: {code} is not problem details")
            if method in ("post", "put") and op["operationId"] in ("version_upload", "spec_validate", "spec_apply"):
                if "application/octet-stream" not in op.get("requestBody", {}).get("content", {}):
                    failures.append(f"{where}: no binary request body")
    assert not failures, "\n".join(failures)
    assert {"version_show", "version_register", "spec_apply", "token_create", "lineage_export", "rollback_list"} <= seen
