"""IDOR over HTTP: a user of tenant A who may do the action in A, using ids of tenant B, gets 404
worded exactly like an id that exists nowhere, and nothing changes (only the denial is audited).

The organisation has two tenants with a full crew each (conftest.two_tenant_spec_text): t_a/pa
(a_de, a_qa, a_pm, a_ops) and t_b/pb (b_*). Both projects are seeded with objects in every state.
Each route is tried three ways: with B's ids (the attack), with ids that do not exist (must read
the same), and with A's own ids (the control: the request is well-formed and A may do it).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests

from dataops_platform.api.app import API_PREFIX
from dataops_platform.clock import FixedClock
from dataops_platform_tests.api.conftest import (
    BACKENDS,
    CREW_A,
    CREW_B,
    TWO_TENANT_ADMIN,
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
    two_tenant_spec_text,
)
from dataops_platform_tests.conftest import T0, make_platform
from dataops_platform_tests.helpers import audit_after, head_seq, objects_snapshot

GHOST = ProjectIds(
    "p_ghost", "ds_v901", "ds_v902", "ds_v903", "ds_v904", "ds_v905", "alert_901", "alert_902", "exc_901", "exp_901", "ir_901"
)

# Routes that take an object or project id, and the user of tenant A whose role grants the action in A.
DIRECT: dict[tuple[str, str], str] = {
    ("GET", "versions/{version_id}"): CREW_A.de,
    ("POST", "versions/{version_id}/validate"): CREW_A.qa,
    ("POST", "versions/{version_id}/release"): CREW_A.pm,
    ("POST", "versions/{version_id}/deprecate"): CREW_A.pm,
    ("GET", "versions/{version_id}/diff/{other_id}"): CREW_A.de,
    ("POST", "versions/{version_id}/verify"): CREW_A.de,
    ("POST", "versions"): CREW_A.de,
    ("PUT", "projects/{project}/versions/upload"): CREW_A.de,
    ("POST", "projects/{project}/rollback"): CREW_A.ops,
    ("POST", "alerts"): CREW_A.ops,
    ("POST", "alerts/{alert_id}/ack"): CREW_A.ops,
    ("POST", "alerts/{alert_id}/resolve"): CREW_A.ops,
    ("POST", "exceptions"): CREW_A.de,
    ("POST", "exceptions/{exception_id}/approve"): CREW_A.pm,
    ("POST", "reviews"): CREW_A.ops,
    ("GET", "lineage/impact"): CREW_A.de,
    ("GET", "versions"): CREW_A.de,
    ("GET", "experiments"): CREW_A.de,
    ("GET", "alerts"): CREW_A.de,
    ("GET", "exceptions"): CREW_A.de,
    ("GET", "reviews"): CREW_A.de,
    ("GET", "sla"): CREW_A.de,
    ("GET", "audit"): CREW_A.ops,
    ("GET", "versions/{version_id}/source"): CREW_A.de,
    ("GET", "versions/{version_id}/data"): CREW_A.de,
    ("GET", "projects/{project}/rollbacks"): CREW_A.de,
    ("GET", "lineage/export"): CREW_A.de,
}
# Routes that take no object id at all.
NO_OBJECT_ID = {
    ("GET", "audit/verify"),
    ("GET", "metrics"),
    ("POST", "experiments/sync"),
    ("POST", "spec/apply"),
    ("POST", "spec/validate"),
}

# Notification routes (issue 16): permission and other tenants' deliveries (404) are tested with real
# deliveries in dataops_platform_tests/notify/test_interfaces.py::test_rest_routes.
NOTIFY_ROUTES = {
    ("GET", "notifications/deliveries"),
    ("POST", "notifications/deliveries/{delivery_id}/retry"),
    ("POST", "notifications/channels/{channel_id}/test"),
}


# Token routes are about identity, not a tenant's objects: another user's token reads like a missing
# one (404); tested in dataops_platform_tests/api/test_tokens_http.py.
TOKEN_ROUTES = {("POST", "tokens"), ("GET", "tokens"), ("DELETE", "tokens/{token_id}")}


def key(method: str, path: str) -> tuple[str, str]:
    return method, f"{API_PREFIX}/{path}"


@dataclasses.dataclass
class Org:
    live: LiveApi
    a: ProjectIds
    b: ProjectIds
    cases: Any  # ProjectIds -> {(method, path): Req}


@pytest.fixture(scope="module", params=BACKENDS)
def org(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Org]:
    root = tmp_path_factory.mktemp(f"idor_{request.param}")
    spec = root / "two_tenants.yaml"
    spec.write_text(two_tenant_spec_text())
    with backend_settings(request, root / "home", request.param) as settings:
        platform = make_platform(settings, FixedClock(T0), spec)
        a, b = seed_project(platform, root, "pa", CREW_A), seed_project(platform, root, "pb", CREW_B)
        upload, inbox = data_bytes(root), inbox_file(settings)

        def cases(ids: ProjectIds) -> dict[tuple[str, str], Req]:
            return route_cases(
                ids, inbox_file=inbox, upload=upload, spec_text=spec.read_text(), expires_at=(T0 + timedelta(days=3)).isoformat()
            )

        with live_server(platform, TWO_TENANT_ADMIN) as live:
            for crew in (CREW_A, CREW_B):
                for user in dataclasses.astuple(crew):
                    live.token(user)  # made up front, so a snapshot taken around an attack sees only the attack
            yield Org(live, a, b, cases)
        platform.close()


def as_ghost(response: requests.Response, ids: ProjectIds) -> dict[str, Any]:
    """The response body with every id of `ids` replaced by the matching GHOST id."""
    text = response.text
    for name, value in dataclasses.asdict(ids).items():
        text = re.sub(rf"\b{re.escape(value)}\b", getattr(GHOST, name), text)
    return {"status": response.status_code, **json.loads(text)}


def attack(org: Org, user: str, foreign: Req, ghost: Req, foreign_ids: ProjectIds) -> dict[str, Any]:
    """Send `foreign` as `user`; prove it changed nothing and audited only a refusal; return the body."""
    platform = org.live.platform
    objects, seq = objects_snapshot(platform), head_seq(platform)
    response = send(org.live, foreign, user)
    assert objects_snapshot(platform) == objects, f"{foreign} changed the store"
    outcomes = {(r.actor, r.outcome) for r in audit_after(platform, seq)}
    assert outcomes <= {(user, "denied"), (user, "failed")}, outcomes
    missing = send(org.live, ghost, user)  # an id that exists nowhere reads the same, so nothing leaks
    assert as_ghost(response, foreign_ids) == as_ghost(missing, GHOST)
    assert objects_snapshot(platform) == objects
    return as_ghost(response, foreign_ids)


def test_every_route_is_classified(org: Org) -> None:
    classified = {key(m, p) for m, p in [*DIRECT, *NO_OBJECT_ID, *NOTIFY_ROUTES, *TOKEN_ROUTES]}
    assert classified == set(org.live.routes())


@pytest.mark.parametrize("route", list(DIRECT), ids=[f"{m} {p}" for m, p in DIRECT])
def test_other_tenant_ids_answer_404_and_change_nothing(org: Org, route: tuple[str, str]) -> None:
    user, k = DIRECT[route], key(*route)
    body = attack(org, user, org.cases(org.b)[k], org.cases(GHOST)[k], org.b)
    assert (body["status"], body["title"]) == (404, "not_found"), body
    assert "not found" in body["detail"] and user in body["detail"]
    assert not {"role", "tenant", "project"} & set(body), body  # no hint about the foreign object
    control = org.cases(org.a)[k]
    if route == ("POST", "projects/{project}/rollback"):  # the real rollback control runs in the test below
        control = Req(control.method, control.path, {"json": {**control.kwargs["json"], "dry_run": True}})
    response = send(org.live, control, user)
    assert 200 <= response.status_code < 300, (route, response.status_code, response.text)


def test_rollback_dry_run_of_other_tenant_is_404(org: Org) -> None:
    def dry(ids: ProjectIds) -> Req:
        return Req("POST", f"projects/{ids.project}/rollback", {"json": {"to": ids.v_r1, "reason": "x", "dry_run": True}})

    body = attack(org, CREW_A.ops, dry(org.b), dry(GHOST), org.b)
    assert body["status"] == 404


@pytest.mark.parametrize("kind", ["version", "experiment", "alert", "exception", "review"])
def test_lineage_of_any_foreign_object_is_404(org: Org, kind: str) -> None:
    field = {"version": "v_r2", "experiment": "experiment", "alert": "alert_ack", "exception": "exception", "review": "review"}

    def impact(ids: ProjectIds) -> Req:
        return Req("GET", "lineage/impact", {"params": {"ref": f"{kind}:{getattr(ids, field[kind])}", "upstream": "true"}})

    assert attack(org, CREW_A.de, impact(org.b), impact(GHOST), org.b)["status"] == 404
    assert send(org.live, impact(org.a), CREW_A.de).status_code == 200


def test_foreign_ids_inside_an_own_project_request(org: Org) -> None:
    """B's ids as parent, rollback target, trigger or review subject of a request on A's project are
    refused exactly like ids that do not exist (400 naming the field), and nothing changes."""
    a, b, de, ops = org.a, org.b, CREW_A.de, CREW_A.ops
    inbox = org.cases(a)[key("POST", "versions")].kwargs["json"]["path"]
    upload = org.cases(a)[key("PUT", "projects/{project}/versions/upload")]

    def register(parent: str) -> Req:
        return Req("POST", "versions", {"json": {"project": a.project, "path": inbox, "parent": parent}})

    def upload_with(parent: str) -> Req:
        return Req("PUT", upload.path, {**upload.kwargs, "params": {"filename": "probe.jsonl", "parent": parent}})

    def rollback(to: str, trigger: str | None = None) -> Req:
        return Req("POST", f"projects/{a.project}/rollback", {"json": {"to": to, "reason": "probe", "trigger": trigger}})

    def review(alert: str) -> Req:
        return Req("POST", "reviews", {"json": {"related": [f"version:{a.v_r2}", f"alert:{alert}"], "symptom": "probe"}})

    attempts = [
        (de, register(b.v_r2), register(GHOST.v_r2), "parent"),
        (de, upload_with(b.v_r2), upload_with(GHOST.v_r2), "parent"),
        (ops, rollback(b.v_r1), rollback(GHOST.v_r1), "to"),
        (ops, rollback(a.v_r1, f"alert:{b.alert_ack}"), rollback(a.v_r1, f"alert:{GHOST.alert_ack}"), "trigger"),
        (ops, review(b.alert_ack), review(GHOST.alert_ack), "related"),
    ]
    for user, foreign, ghost, field in attempts:
        body = attack(org, user, foreign, ghost, b)
        assert (body["status"], body["field"]) == (400, field), body
    # Controls: the same requests with A's own ids go through.
    for user, req in [
        (de, register(a.v_r2)),
        (de, upload_with(a.v_r2)),
        (ops, rollback(a.v_r1, f"alert:{a.alert_ack}")),
        (ops, review(a.alert_ack)),
    ]:
        response = send(org.live, req, user)
        assert 200 <= response.status_code < 300, (req, response.text)


@pytest.mark.parametrize(
    ("path", "user"),
    [
        ("versions", CREW_A.de),
        ("experiments", CREW_A.de),
        ("alerts", CREW_A.ops),
        ("exceptions", CREW_A.pm),
        ("reviews", CREW_A.qa),
        ("audit", CREW_A.ops),
    ],
)
def test_unfiltered_listings_hold_only_own_tenant(org: Org, path: str, user: str) -> None:
    response = org.live.call("GET", path, user, params={"limit": 500})
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert items and {item["project" if path == "audit" else "project_id"] for item in items} == {"pa"}
    if path != "audit":  # A's own refused requests quote the foreign ids A sent; those records belong to A
        b_ids = {v for v in dataclasses.asdict(org.b).values() if v != "pb"}
        assert not b_ids & set(re.findall(r"\b[a-z_]+\d{3}\b", response.text))
    sla = org.live.call("GET", "sla", CREW_A.de).json()
    assert "pb" not in json.dumps(sla)
