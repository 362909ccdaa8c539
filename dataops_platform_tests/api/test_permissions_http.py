"""The permission matrix of the core tests (governance/test_permissions.py), replayed over HTTP.

Same organisation (helpers.matrix_spec_text: tenant ta with a1 and a2, tenant tb with b1, one user
per default role in a1 only, u_nobody without membership), plus seed crews in a2 and b1 so that
every project holds objects in every state. For each role x action x placement the API must give
the core's answer: 403 in a project of the caller's tenant (a1 without the grant, a2), 404 outside
it (b1, or any project for u_nobody), and when allowed a 2xx or a non-permission 4xx (400 bad input,
409 refused by a gate). Every mutating request leaves exactly one audit record of that decision;
reads leave none.

`project.manage` has no route (spec apply manages projects), so it is not replayed here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import yaml

from dataops_platform.api.app import API_PREFIX
from dataops_platform.clock import FixedClock
from dataops_platform.governance.authz import decide
from dataops_platform.governance.spec_apply import apply_spec
from dataops_platform.spec.actions import DEFAULT_ROLES
from dataops_platform.spec.loader import parse_spec
from dataops_platform_tests.api.conftest import (
    BACKENDS,
    Crew,
    LiveApi,
    ProjectIds,
    Req,
    backend_settings,
    data_bytes,
    inbox_file,
    live_server,
    route_cases,
    seed_project,
    send,
)
from dataops_platform_tests.conftest import T0
from dataops_platform_tests.governance.test_permissions import PLACEMENTS, expected_decision
from dataops_platform_tests.helpers import A1, A2, B1, NOBODY, ROLE_USERS, ROOT, audit_after, head_seq, matrix_platform

ROLES = [*DEFAULT_ROLES, None]
SEED_CREWS = {A2: Crew("s_a2_de", "s_a2_qa", "s_a2_pm", "s_a2_ops"), B1: Crew("s_b1_de", "s_b1_qa", "s_b1_pm", "s_b1_ops")}
A1_CREW = Crew(ROLE_USERS["data_engineer"], ROLE_USERS["qa"], ROLE_USERS["platform_pm"], ROLE_USERS["ops"])
SEED_ROLES = {"de": "data_engineer", "qa": "qa", "pm": "platform_pm", "ops": "ops"}


def seeded_spec_text() -> str:
    """The core matrix spec plus seed crews in a2 and b1 (role users stay members of a1 only)."""
    from dataops_platform_tests.helpers import matrix_spec_text

    spec = yaml.safe_load(matrix_spec_text())
    for project in spec["projects"]:
        crew = SEED_CREWS.get(project["id"])
        if crew is None:
            continue
        for short, role in SEED_ROLES.items():
            user = getattr(crew, short)
            spec["users"].append({"id": user, "name": user})
            project["members"][user] = role
    return yaml.safe_dump(spec, sort_keys=False)


@dataclasses.dataclass
class MatrixApi:
    live: LiveApi
    ids: dict[str, ProjectIds]  # project -> seeded ids
    cases: dict[str, dict[tuple[str, str], Req]]  # project -> route -> request
    spec_text: str


@pytest.fixture(scope="module", params=BACKENDS)
def matrix_api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MatrixApi]:
    root = tmp_path_factory.mktemp(f"matrix_http_{request.param}")
    with backend_settings(request, root / "home", request.param) as settings:
        platform = matrix_platform(settings, FixedClock(T0))
        spec_text = seeded_spec_text()
        apply_spec(platform, ROOT, parse_spec(spec_text, "matrix_seeded.yaml"), "matrix_seeded.yaml")
        # The matrix policy has an SLA target for critical alerts only (see test_sla_of_a_severity_without_target).
        ids = {A1: seed_project(platform, root, A1, A1_CREW, "critical")}
        ids |= {project: seed_project(platform, root, project, crew, "critical") for project, crew in SEED_CREWS.items()}
        upload, inbox = data_bytes(root), inbox_file(settings)
        cases = {
            project: route_cases(
                i, inbox_file=inbox, upload=upload, spec_text=spec_text, expires_at=(T0 + timedelta(days=3)).isoformat()
            )
            for project, i in ids.items()
        }
        with live_server(platform, ROOT) as live:
            for user in [*ROLE_USERS.values(), NOBODY, ROOT]:
                live.token(user)
            yield MatrixApi(live, ids, cases, spec_text)
        platform.close()


def route(method: str, path: str) -> tuple[str, str]:
    return method, f"{API_PREFIX}/{path}"


# action -> the routes that decide it in a project, and whether the route mutates (so must audit)
PROJECT_ROUTES: dict[str, list[tuple[tuple[str, str], bool]]] = {
    "version.create": [(route("POST", "versions"), True), (route("PUT", "projects/{project}/versions/upload"), True)],
    "version.validate": [(route("POST", "versions/{version_id}/validate"), True)],
    "version.release": [(route("POST", "versions/{version_id}/release"), True)],
    "version.deprecate": [(route("POST", "versions/{version_id}/deprecate"), True)],
    "rollback.execute": [(route("POST", "projects/{project}/rollback"), True), (("dry-run", "rollback"), False)],
    "alert.open": [(route("POST", "alerts"), True)],
    "alert.ack": [(route("POST", "alerts/{alert_id}/ack"), True)],
    "alert.resolve": [(route("POST", "alerts/{alert_id}/resolve"), True)],
    "exception.request": [(route("POST", "exceptions"), True)],
    "exception.approve": [(route("POST", "exceptions/{exception_id}/approve"), True)],
    "review.write": [(route("POST", "reviews"), True)],
    "audit.read": [(route("GET", "audit"), False)],
    "read": [
        (route("GET", "versions/{version_id}"), False),
        (route("GET", "versions/{version_id}/diff/{other_id}"), False),
        (route("POST", "versions/{version_id}/verify"), True),  # records the verification: audited
        (route("GET", "versions"), False),
        (route("GET", "experiments"), False),
        (route("GET", "alerts"), False),
        (route("GET", "exceptions"), False),
        (route("GET", "reviews"), False),
        (route("GET", "sla"), False),
        (route("GET", "lineage/impact"), False),
        (route("GET", "lineage/export"), False),
        (route("GET", "projects/{project}/rollbacks"), False),
        (route("GET", "versions/{version_id}/source"), False),
        (route("GET", "versions/{version_id}/data"), False),
    ],
}
# Routes without a project: decided on the caller's roles anywhere (or at platform scope).
PLATFORM_ROUTES: dict[tuple[str, str], tuple[str, bool]] = {
    route("POST", "spec/apply"): ("spec.apply", True),
    route("POST", "experiments/sync"): ("experiment.log", True),
    route("GET", "audit/verify"): ("audit.read", False),
    # Platform-wide figures and spec validation: a platform role only (issue 12, findings 5 and 10).
    route("GET", "metrics"): ("platform:read", False),
    route("POST", "spec/validate"): ("platform:spec.apply", False),
}

# Notification routes (issue 16): permission is tested with real deliveries in
# dataops_platform_tests/notify/test_interfaces.py::test_rest_routes.
NOTIFY_ROUTES = {
    route("GET", "notifications/deliveries"),
    route("POST", "notifications/deliveries/{delivery_id}/retry"),
    route("POST", "notifications/channels/{channel_id}/test"),
}


# Token routes: identity-based rules (self or platform admin), tested in test_tokens_http.py.
TOKEN_ROUTES = {route("POST", "tokens"), route("GET", "tokens"), route("DELETE", "tokens/{token_id}")}


def request_for(api: MatrixApi, key: tuple[str, str], project: str) -> Req:
    if key == ("dry-run", "rollback"):
        i = api.ids[project]
        return Req("POST", f"projects/{project}/rollback", {"json": {"to": i.v_r1, "reason": "probe", "dry_run": True}})
    return api.cases[project][key]


def answer(response: requests.Response) -> str:
    if response.status_code == 403:
        return "forbidden"
    if response.status_code == 404:
        return "hidden"
    if 200 <= response.status_code < 300 or response.status_code in (400, 409):
        return "allowed"
    return f"unexpected {response.status_code}: {response.text[:300]}"


def test_every_route_is_replayed(matrix_api: MatrixApi) -> None:
    replayed = {key for routes in PROJECT_ROUTES.values() for key, _ in routes} | set(PLATFORM_ROUTES)
    assert set(matrix_api.live.routes()) <= replayed | NOTIFY_ROUTES | TOKEN_ROUTES


@pytest.mark.parametrize("role", ROLES, ids=[r or "no_membership" for r in ROLES])
def test_matrix_over_http(matrix_api: MatrixApi, role: str | None) -> None:
    actor = ROLE_USERS[role] if role else NOBODY
    platform = matrix_api.live.platform
    observed: dict[tuple, tuple] = {}
    expected: dict[tuple, tuple] = {}
    for action, routes in PROJECT_ROUTES.items():
        for placement, project in PLACEMENTS.items():
            allowed, hidden, _ = expected_decision(role, action, placement)
            with platform.store.read() as session:  # the core's own decision on the same store agrees
                decision = decide(session, actor, action, project)
            assert (decision.allowed, decision.hidden) == (allowed, hidden)
            for key, mutating in routes:
                before = head_seq(platform)
                response = send(matrix_api.live, request_for(matrix_api, key, project), actor)
                records = [
                    (r.actor, r.action, r.project, "allowed" if r.outcome == "failed" else r.outcome)
                    for r in audit_after(platform, before)
                ]
                observed[(action, placement, *key)] = (answer(response), records)
                verdict = "allowed" if allowed else "hidden" if hidden else "forbidden"
                audit = [(actor, action, project, "allowed" if allowed else "denied")] if mutating else []
                expected[(action, placement, *key)] = (verdict, audit)
    assert observed == expected


@pytest.mark.parametrize("role", ROLES, ids=[r or "no_membership" for r in ROLES])
def test_platform_wide_routes(matrix_api: MatrixApi, role: str | None) -> None:
    """Routes without a project: spec apply/validate and metrics need a platform role (so every
    project role gets 403); sync and audit/verify need the action in some project of the caller."""
    actor = ROLE_USERS[role] if role else NOBODY
    platform = matrix_api.live.platform
    observed, expected = {}, {}
    for key, (action, mutating) in PLATFORM_ROUTES.items():
        before = head_seq(platform)
        req = matrix_api.cases[A1][key]
        response = send(matrix_api.live, req, actor)
        if key[1].endswith("/metrics") and response.status_code == 404:  # allowed; not materialised yet
            observed[key] = ("allowed", [])
        else:
            records = [(r.actor, r.action, r.outcome) for r in audit_after(platform, before)]
            observed[key] = (answer(response), records)
        if not action:
            grants = True
        elif action == "spec.apply" or action.startswith("platform:"):
            grants = False  # a project role never grants it (PLATFORM_ACTIONS, platform-wide routes)
        else:
            grants = role is not None and action in DEFAULT_ROLES[role]
        audit = [(actor, action, "allowed" if grants else "denied")] if mutating else []
        expected[key] = ("allowed" if grants else "forbidden", audit)
    assert observed == expected


def test_platform_admin_applies_the_spec(matrix_api: MatrixApi) -> None:
    platform = matrix_api.live.platform
    before = head_seq(platform)
    response = send(matrix_api.live, matrix_api.cases[A1][route("POST", "spec/apply")], ROOT)
    assert response.status_code == 200, response.text
    assert response.json()["noop"] is True
    assert [(r.actor, r.action, r.outcome) for r in audit_after(platform, before)] == [(ROOT, "spec.apply", "allowed")]


def test_sla_of_a_severity_without_target(tmp_path: Path) -> None:
    """The matrix spec sets an SLA target for `critical` only, but ops may open a `low` alert (the API
    accepts every severity); the SLA report must then still answer, not crash."""
    from dataops_platform.settings import load_settings

    platform = matrix_platform(load_settings(tmp_path / "home"), FixedClock(T0))
    apply_spec(platform, ROOT, parse_spec(seeded_spec_text(), "matrix_seeded.yaml"), "matrix_seeded.yaml")
    ids = seed_project(platform, tmp_path, A1, A1_CREW, "low")
    with live_server(platform, ROOT) as live:
        response = live.call("GET", "sla", ROLE_USERS["ops"], params={"project": ids.project})
    platform.close()
    assert response.status_code == 200, response.text
