"""A real uvicorn server on 127.0.0.1 for the REST API tests, over a platform built like every other test's.

`live_server(platform)` serves `create_app(settings, platform)` from a background thread on a free
loopback port and stops it with `server.should_exit = True`. Clients are plain `requests`; nothing is
mocked. The server shares the test's Platform object (and so its FixedClock), so a test can move time
or inspect the store directly while the server runs.

Modules share one server each (module-scoped fixtures); `backend_settings` gives such a fixture a
home on SQLite or on a scratch database of the PostgreSQL test server (DATAOPS_TEST_PG_URL).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import uvicorn
from fastapi import FastAPI

from dataops_platform.api.app import API_PREFIX, create_app, route_table
from dataops_platform.demo.sample_data import sample_records, write_records
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.tokens import create_token
from dataops_platform.settings import Settings, load_settings
from dataops_platform_tests.helpers import pg_scratch_database

BACKENDS = ["sqlite", "postgresql"]


@dataclass
class LiveApi:
    """A running server and what a test needs to talk to it."""

    base_url: str
    app: FastAPI
    platform: Platform
    admin: str
    tokens: dict[str, str] = field(default_factory=dict)
    _local: threading.local = field(default_factory=threading.local)

    @property
    def settings(self) -> Settings:
        return self.platform.settings

    def routes(self) -> list[tuple[str, str]]:
        """(method, path template) of every /api/v1 route, from the app's real route table."""
        return [(r["method"], r["path"]) for r in route_table(self.app)]

    def token(self, user: str) -> str:
        """A bearer token of `user`, created once by the platform admin through the real service."""
        if user not in self.tokens:
            self.tokens[user] = create_token(self.platform, self.admin, user)[1]
        return self.tokens[user]

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user)}"}

    def session(self) -> requests.Session:
        """One keep-alive session per client thread."""
        if getattr(self._local, "session", None) is None:
            self._local.session = requests.Session()
        return self._local.session

    def call(
        self, method: str, path: str, user: str | None = None, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> requests.Response:
        """`method path` (relative to /api/v1 unless it starts with '/') as `user` (no token when None)."""
        url = self.base_url + (path if path.startswith("/") else f"{API_PREFIX}/{path}")
        sent = dict(self.auth(user)) if user else {}
        sent.update(headers or {})
        return self.session().request(method, url, headers=sent, timeout=60, **kwargs)


@contextlib.contextmanager
def live_server(platform: Platform, admin: str) -> Iterator[LiveApi]:
    """Serve the platform's API over loopback from a thread; stopped and joined on exit."""
    app = create_app(platform.settings, platform)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # a free port, held from here on: no race with other processes
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield LiveApi(f"http://127.0.0.1:{port}", app, platform, admin)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@contextlib.contextmanager
def backend_settings(request: pytest.FixtureRequest, home: Path, backend: str) -> Iterator[Settings]:
    """Settings for `home`, the governance store on SQLite or on a fresh PostgreSQL database."""
    if backend == "sqlite":
        yield load_settings(home)
        return
    server = request.getfixturevalue("pg_server")  # skips (or fails in CI) when there is no server
    with pg_scratch_database(server) as url:
        yield load_settings(home, database_url=url)


_data_seed = iter(range(10_000, 1_000_000))


def data_file(directory: Path, n: int = 30, suffix: str = "jsonl") -> Path:
    """A fresh sample data file (distinct content each call) that passes the example quality gate."""
    seed = next(_data_seed)
    return write_records(sample_records(n, seed=seed), directory / f"data_{seed}.{suffix}")


def data_bytes(directory: Path) -> bytes:
    return data_file(directory).read_bytes()


# --------------------------------------------------------------------------------------------
# Seeded objects and one well-formed request per route
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Crew:
    """The users acting in one project: data engineer, QA, platform PM, ops."""

    de: str
    qa: str
    pm: str
    ops: str


@dataclass(frozen=True)
class ProjectIds:
    """Objects of one project in every state a route needs, made through the services by the right users."""

    project: str
    v_draft: str  # draft: validate
    v_valid: str  # validated: release, exception request
    v_r0: str  # released, superseded twice: deprecate
    v_r1: str  # released, superseded once: rollback target
    v_r2: str  # released, the current release
    alert_ack: str  # open: ack
    alert_resolve: str  # open: resolve
    exception: str  # requested: approve
    experiment: str  # on v_r2
    review: str  # on version v_r2


def seed_project(platform: Platform, directory: Path, project: str, crew: Crew, severity: str = "low") -> ProjectIds:
    """Objects of `project` in every state the routes act on, each made by the role that may make it.

    The two alerts get `severity`; the SLA report needs a policy target for it."""
    from datetime import timedelta

    from dataops_platform.governance import alerts, exceptions, experiments, reviews
    from dataops_platform.governance.versions import register_version, release_version, validate_version

    def register() -> str:
        return register_version(platform, crew.de, project, data_file(directory), change_summary=["seed"]).version_id

    v = {name: register() for name in ("draft", "valid", "r0", "r1", "r2")}
    for name in ("valid", "r0", "r1", "r2"):
        validate_version(platform, crew.qa, v[name])
    for name in ("r0", "r1", "r2"):
        release_version(platform, crew.pm, v[name])
    on = f"version:{v['r2']}"
    alert_ack = alerts.open_alert(platform, crew.ops, on, severity, "operational", "seed: to acknowledge").alert_id
    alert_resolve = alerts.open_alert(platform, crew.ops, on, severity, "operational", "seed: to resolve").alert_id
    expires = platform.clock.now() + timedelta(days=7)
    exc = exceptions.request_exception(platform, crew.de, v["valid"], "experiment_status", "seed", expires).exception_id
    exp = experiments.record_experiment(platform, crew.de, project, v["r2"], "completed", metrics={"f1": 0.9}).experiment_id
    review = reviews.add_review(platform, crew.ops, reviews.ReviewInput([on], "seed symptom")).review_id
    return ProjectIds(project, v["draft"], v["valid"], v["r0"], v["r1"], v["r2"], alert_ack, alert_resolve, exc, exp, review)


@dataclass(frozen=True)
class Req:
    """One HTTP request: method, path relative to /api/v1, and requests keyword arguments."""

    method: str
    path: str
    kwargs: dict[str, Any] = field(default_factory=dict)


def route_cases(
    ids: ProjectIds, *, inbox_file: str, upload: bytes, spec_text: str, expires_at: str, token_user: str = "omar"
) -> dict[tuple[str, str], Req]:
    """A well-formed request for every route, aimed at the objects of `ids.project`.

    Keyed by (method, path template) exactly as `route_table` lists them, so a test can prove it
    covers every route the app serves. Token routes are about identity, not a project: `token_user`
    is whom the create request names (tokens/test_tokens_http.py tests their rules).
    """
    p = ids.project
    octet = {"Content-Type": "application/octet-stream"}
    text = {"Content-Type": "application/yaml"}
    cases = {
        ("GET", "alerts"): Req("GET", "alerts", {"params": {"project": p}}),
        ("POST", "alerts"): Req(
            "POST",
            "alerts",
            {
                "json": {
                    "related_object": f"version:{ids.v_r2}",
                    "severity": "critical",
                    "category": "operational",
                    "title": "probe",
                }
            },
        ),
        ("POST", "alerts/{alert_id}/ack"): Req("POST", f"alerts/{ids.alert_ack}/ack"),
        ("POST", "alerts/{alert_id}/resolve"): Req("POST", f"alerts/{ids.alert_resolve}/resolve", {"json": {"note": "probe"}}),
        ("GET", "audit"): Req("GET", "audit", {"params": {"project": p}}),
        ("GET", "audit/verify"): Req("GET", "audit/verify"),
        ("GET", "exceptions"): Req("GET", "exceptions", {"params": {"project": p}}),
        ("POST", "exceptions"): Req(
            "POST",
            "exceptions",
            {"json": {"version": ids.v_valid, "rule": "experiment_status", "reason": "probe", "expires_at": expires_at}},
        ),
        ("POST", "exceptions/{exception_id}/approve"): Req("POST", f"exceptions/{ids.exception}/approve"),
        ("GET", "experiments"): Req("GET", "experiments", {"params": {"project": p}}),
        ("POST", "experiments/sync"): Req("POST", "experiments/sync"),
        ("GET", "lineage/impact"): Req("GET", "lineage/impact", {"params": {"ref": f"version:{ids.v_r2}"}}),
        ("GET", "lineage/export"): Req("GET", "lineage/export", {"params": {"project": p, "openlineage": "true"}}),
        ("GET", "projects/{project}/rollbacks"): Req("GET", f"projects/{p}/rollbacks"),
        ("GET", "versions/{version_id}/source"): Req("GET", f"versions/{ids.v_r2}/source"),
        ("GET", "versions/{version_id}/data"): Req("GET", f"versions/{ids.v_r2}/data"),
        ("POST", "tokens"): Req("POST", "tokens", {"json": {"user": token_user}}),
        ("GET", "tokens"): Req("GET", "tokens"),
        ("DELETE", "tokens/{token_id}"): Req("DELETE", "tokens/tok_999"),
        ("GET", "metrics"): Req("GET", "metrics"),
        ("POST", "projects/{project}/rollback"): Req(
            "POST", f"projects/{p}/rollback", {"json": {"to": ids.v_r1, "reason": "probe"}}
        ),
        ("PUT", "projects/{project}/versions/upload"): Req(
            "PUT", f"projects/{p}/versions/upload", {"params": {"filename": "probe.jsonl"}, "data": upload, "headers": octet}
        ),
        ("GET", "reviews"): Req("GET", "reviews", {"params": {"project": p}}),
        ("POST", "reviews"): Req("POST", "reviews", {"json": {"related": [f"version:{ids.v_r2}"], "symptom": "probe"}}),
        ("GET", "sla"): Req("GET", "sla", {"params": {"project": p}}),
        ("POST", "spec/apply"): Req("POST", "spec/apply", {"data": spec_text.encode(), "headers": text}),
        ("POST", "spec/validate"): Req("POST", "spec/validate", {"data": spec_text.encode(), "headers": text}),
        ("GET", "versions"): Req("GET", "versions", {"params": {"project": p}}),
        ("POST", "versions"): Req("POST", "versions", {"json": {"project": p, "path": inbox_file}}),
        ("GET", "versions/{version_id}"): Req("GET", f"versions/{ids.v_r2}"),
        ("POST", "versions/{version_id}/deprecate"): Req("POST", f"versions/{ids.v_r0}/deprecate"),
        ("GET", "versions/{version_id}/diff/{other_id}"): Req("GET", f"versions/{ids.v_r1}/diff/{ids.v_r2}"),
        ("POST", "versions/{version_id}/verify"): Req("POST", f"versions/{ids.v_r2}/verify"),
        ("POST", "versions/{version_id}/release"): Req("POST", f"versions/{ids.v_valid}/release"),
        ("POST", "versions/{version_id}/validate"): Req("POST", f"versions/{ids.v_draft}/validate"),
        # Notification routes (issue 16); their permission and cross-tenant answers are tested with real
        # deliveries in dataops_platform_tests/notify/test_interfaces.py::test_rest_routes.
        ("GET", "notifications/deliveries"): Req("GET", "notifications/deliveries"),
        ("POST", "notifications/deliveries/{delivery_id}/retry"): Req("POST", "notifications/deliveries/999999/retry"),
        ("POST", "notifications/channels/{channel_id}/test"): Req("POST", "notifications/channels/probe/test"),
    }
    return {(method, f"{API_PREFIX}/{path}"): req for (method, path), req in cases.items()}


def send(api: LiveApi, req: Req, user: str | None, headers: dict[str, str] | None = None) -> requests.Response:
    """Send `req` as `user` (no token when None); `headers` are added last (e.g. a bad Authorization)."""
    kwargs = dict(req.kwargs)
    merged = {**kwargs.pop("headers", {}), **(headers or {})}
    return api.call(req.method, req.path, user, headers=merged, **kwargs)


def inbox_file(settings: Settings) -> str:
    """A fresh data file in every tenant's part of $DATAOPS_HOME/inbox (`inbox/<tenant>/`), named
    relative to it (what POST /versions takes: a caller's path is relative to their tenant's inbox)."""
    from sqlalchemy import create_engine, select

    from dataops_platform.store.models import Tenant

    engine = create_engine(settings.store_url)
    try:
        with engine.connect() as conn:
            tenants = list(conn.scalars(select(Tenant.id)))
    finally:
        engine.dispose()
    assert tenants, "no tenant: apply a spec first"
    for tenant in tenants:
        (settings.inbox_dir / tenant).mkdir(parents=True, exist_ok=True)
    first = data_file(settings.inbox_dir / tenants[0])
    for tenant in tenants[1:]:
        (settings.inbox_dir / tenant / first.name).write_bytes(first.read_bytes())
    return first.name


# --------------------------------------------------------------------------------------------
# A two-tenant organisation with a full crew in each tenant (IDOR, concurrency)
# --------------------------------------------------------------------------------------------
TWO_TENANT_ADMIN = "alice"
CREW_A = Crew(de="a_de", qa="a_qa", pm="a_pm", ops="a_ops")
CREW_B = Crew(de="b_de", qa="b_qa", pm="b_pm", ops="b_ops")


def two_tenant_spec_text() -> str:
    """Tenant t_a with project pa and tenant t_b with pb; each has its own admin, PM, engineer, QA and ops."""

    def members(x: str) -> str:
        return f"{{{x}_admin: admin, {x}_pm: platform_pm, {x}_de: data_engineer, {x}_qa: qa, {x}_ops: ops}}"

    users = [TWO_TENANT_ADMIN] + [f"{x}_{r}" for x in "ab" for r in ("admin", "pm", "de", "qa", "ops")]
    sla = ", ".join(f"{s}: {{acknowledge_minutes: 60, resolve_minutes: 240}}" for s in ("critical", "high", "medium", "low"))
    return f"""\
version: 1
tenants:
  - {{id: t_a, name: Tenant A, quota: {{max_projects: 3, max_dataset_versions: 500}}}}
  - {{id: t_b, name: Tenant B, quota: {{max_projects: 3, max_dataset_versions: 500}}}}
users:
{chr(10).join(f"  - {{id: {u}, name: {u}}}" for u in users)}
platform_admins: [{TWO_TENANT_ADMIN}]
projects:
  - {{id: pa, tenant: t_a, name: Project A, domain: a, owner: a_de, members: {members("a")}}}
  - {{id: pb, tenant: t_b, name: Project B, domain: b, owner: b_de, members: {members("b")}}}
governance_policy:
  quality_gate: {{min_rows: 20, max_duplicate_id_rate: 0.01, max_null_rate: 0.02, required_splits: [train, test]}}
  sla: {{{sla}}}
  exceptions: {{max_days: 14, waivable_rules: [experiment_status]}}
"""
