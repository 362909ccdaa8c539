"""The routes issue 14 added, over HTTP against a real server: tokens (the CLI's rules exactly), a
version's source and data, lineage export and a project's rollbacks.

Two tenants with a full crew each (conftest.two_tenant_spec_text), both projects seeded. What must
hold: another tenant's token or object reads as not found (and nothing leaks or changes); a user
who is not a platform admin mints and revokes only their own tokens; a user with no role sees
nothing (deny by default); every token mutation, allowed or denied, leaves its audit record; the
data route serves the registered bytes only, decided before any byte is read; hostile input
answers 400 problem details naming the field (413 for a body over the limit).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from dataops_platform.clock import FixedClock
from dataops_platform.governance.tokens import create_token
from dataops_platform_tests.api.conftest import (
    BACKENDS,
    CREW_A,
    CREW_B,
    TWO_TENANT_ADMIN,
    LiveApi,
    ProjectIds,
    backend_settings,
    data_file,
    live_server,
    seed_project,
    two_tenant_spec_text,
)
from dataops_platform_tests.conftest import T0, make_platform
from dataops_platform_tests.helpers import audit_after, head_seq, objects_snapshot

NOBODY = "u_nobody"  # a user of the organisation without any role


@dataclasses.dataclass
class Org:
    live: LiveApi
    a: ProjectIds
    b: ProjectIds
    root: Path


@pytest.fixture(scope="module", params=BACKENDS)
def org(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Org]:
    root = tmp_path_factory.mktemp(f"tokens_data_{request.param}")
    spec = root / "two_tenants.yaml"
    spec.write_text(two_tenant_spec_text().replace("users:\n", f"users:\n  - {{id: {NOBODY}, name: Nobody}}\n", 1))
    with backend_settings(request, root / "home", request.param) as settings:
        platform = make_platform(settings, FixedClock(T0), spec)
        a, b = seed_project(platform, root, "pa", CREW_A), seed_project(platform, root, "pb", CREW_B)
        with live_server(platform, TWO_TENANT_ADMIN) as live:
            for user in [*dataclasses.astuple(CREW_A), *dataclasses.astuple(CREW_B), NOBODY, TWO_TENANT_ADMIN]:
                live.token(user)
            yield Org(live, a, b, root)
        platform.close()


def records(live: LiveApi, since: int) -> list[tuple[str, str, str, str | None]]:
    return [(r.actor, r.action, r.outcome, r.object_ref) for r in audit_after(live.platform, since)]


# -- tokens ---------------------------------------------------------------------------------------
def test_token_create_list_revoke_own(org: Org) -> None:
    live, user = org.live, CREW_A.qa
    seq = head_seq(live.platform)
    created = live.call("POST", "tokens", user, json={"user": user, "expires_at": (T0 + timedelta(days=1)).isoformat()})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["token"].startswith(f"dop_{body['token_id']}_") and body["user_id"] == user and "token_hash" not in body
    assert body["expires_at"] == "2026-11-03T09:00:00+00:00"
    fresh = {"Authorization": f"Bearer {body['token']}"}
    assert live.call("GET", "versions", headers=fresh).status_code == 200  # the minted token works
    listed = live.call("GET", "tokens", user).json()["items"]
    assert body["token_id"] in {t["token_id"] for t in listed} and {t["user_id"] for t in listed} == {user}
    assert not any("token_hash" in t or "token" in t for t in listed)  # never a secret, never a hash
    revoked = live.call("DELETE", f"tokens/{body['token_id']}", user)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] == T0.isoformat()
    refused = live.call("GET", "versions", headers=fresh)
    assert (refused.status_code, refused.json()["title"]) == (401, "unauthenticated") and "revoked" in refused.json()["detail"]
    assert records(live, seq) == [
        (user, "token.create", "allowed", f"user:{user}"),
        (user, "token.revoke", "allowed", f"token:{body['token_id']}"),
    ]


@pytest.mark.parametrize("user", [CREW_A.de, CREW_A.pm, NOBODY])
def test_only_a_platform_admin_mints_for_someone_else(org: Org, user: str) -> None:
    live = org.live
    objects, seq = objects_snapshot(live.platform), head_seq(live.platform)
    response = live.call("POST", "tokens", user, json={"user": CREW_B.pm})
    body = response.json()
    assert (response.status_code, body["title"], body["action"]) == (403, "permission_denied", "token.create"), body
    assert "token" not in body
    assert objects_snapshot(live.platform) == objects  # no token was made
    assert records(live, seq) == [(user, "token.create", "denied", f"user:{CREW_B.pm}")]
    seq = head_seq(live.platform)
    minted = live.call("POST", "tokens", TWO_TENANT_ADMIN, json={"user": CREW_B.pm})  # the admin may
    assert minted.status_code == 201 and minted.json()["created_by"] == TWO_TENANT_ADMIN
    assert records(live, seq) == [(TWO_TENANT_ADMIN, "token.create", "allowed", f"user:{CREW_B.pm}")]


def test_minting_for_a_missing_user_tells_a_stranger_nothing(org: Org) -> None:
    """Whether a user id exists is not something a non-admin learns by asking for its token: a
    missing and an existing stranger are both denied alike (403, audited); only a platform admin,
    who may mint for anyone, hears that the user does not exist (400, nothing written)."""
    live = org.live
    seq = head_seq(live.platform)
    existing = live.call("POST", "tokens", CREW_A.de, json={"user": CREW_B.pm})
    missing = live.call("POST", "tokens", CREW_A.de, json={"user": "u_no_such_person"})
    assert existing.status_code == missing.status_code == 403
    assert existing.json()["detail"].replace(CREW_B.pm, "X") == missing.json()["detail"].replace("u_no_such_person", "X")
    assert [(act, out) for _, act, out, _ in records(live, seq)] == [("token.create", "denied")] * 2
    objects, seq = objects_snapshot(live.platform), head_seq(live.platform)
    admin = live.call("POST", "tokens", TWO_TENANT_ADMIN, json={"user": "u_no_such_person"})
    assert (admin.status_code, admin.json()["field"]) == (400, "user")
    assert objects_snapshot(live.platform) == objects


def test_someone_elses_token_reads_as_missing(org: Org) -> None:
    """Another tenant's (or just another user's) token: revoke answers 404 worded like an id that
    exists nowhere, the token keeps working, and both refusals are audited as denied."""
    live = org.live
    row, secret = create_token(live.platform, TWO_TENANT_ADMIN, CREW_B.de)
    objects, seq = objects_snapshot(live.platform), head_seq(live.platform)
    foreign = live.call("DELETE", f"tokens/{row.token_id}", CREW_A.de)
    ghost = live.call("DELETE", "tokens/tok_999", CREW_A.de)
    assert foreign.status_code == ghost.status_code == 404
    assert foreign.json()["detail"].replace(row.token_id, "tok_999") == ghost.json()["detail"]
    assert objects_snapshot(live.platform) == objects
    assert live.call("GET", "versions", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    assert [(a, act, out) for a, act, out, _ in records(live, seq)] == [(CREW_A.de, "token.revoke", "denied")] * 2
    assert row.token_id not in {t["token_id"] for t in live.call("GET", "tokens", CREW_A.de).json()["items"]}
    everyone = {t["user_id"] for t in live.call("GET", "tokens", TWO_TENANT_ADMIN).json()["items"]}
    assert {CREW_A.de, CREW_B.de, TWO_TENANT_ADMIN} <= everyone  # a platform admin lists every token


# -- deny by default --------------------------------------------------------------------------------
def test_a_user_without_a_role_sees_nothing(org: Org) -> None:
    live, a = org.live, org.a
    for path in (f"versions/{a.v_r2}/source", f"versions/{a.v_r2}/data", f"projects/{a.project}/rollbacks"):
        response = live.call("GET", path, NOBODY)
        assert (response.status_code, response.json()["title"]) == (404, "not_found"), (path, response.text)
    export = live.call("GET", "lineage/export", NOBODY, params={"openlineage": "true"}).json()
    assert (export["format"], export["projects"], export["events"]) == ("openlineage", [], [])
    graph = live.call("GET", "lineage/export", NOBODY).json()
    assert (graph["projects"], graph["nodes"], graph["edges"]) == ([], [], [])
    assert [t["user_id"] for t in live.call("GET", "tokens", NOBODY).json()["items"]] == [NOBODY]


# -- a version's source and data --------------------------------------------------------------------
def test_source_and_data_of_a_local_file(org: Org) -> None:
    live, a = org.live, org.a
    source = live.call("GET", f"versions/{a.v_r1}/source", CREW_A.qa).json()
    assert (source["source_kind"], source["kept_copy"], source["download"]) == ("local", False, f"/api/v1/versions/{a.v_r1}/data")
    assert source["source_pin"]["files"][0]["sha256"] and source["content_digest"]
    data = live.call("GET", f"versions/{a.v_r1}/data", CREW_A.qa)
    assert data.status_code == 200 and data.headers["content-type"] == "application/octet-stream"
    pinned = source["source_pin"]["files"][0]
    assert len(data.content) == pinned["size"] and data.headers["content-disposition"].endswith(f'"{pinned["name"]}"')
    import hashlib

    assert hashlib.sha256(data.content).hexdigest() == pinned["sha256"]  # the registered bytes


def test_data_of_a_changed_file_or_several_files_is_not_served(org: Org) -> None:
    live, settings = org.live, org.live.settings
    inbox = settings.inbox_dir / "t_a"  # pa's tenant's part of the inbox
    inbox.mkdir(parents=True, exist_ok=True)
    single = data_file(inbox)
    changed = live.call("POST", "versions", CREW_A.de, json={"project": "pa", "path": single.name}).json()["version_id"]
    single.write_bytes(single.read_bytes() + b"\n")  # the file under the version changed since registration
    folder = inbox / "parts"
    folder.mkdir()
    data_file(org.root).rename(folder / "part-1.jsonl")
    second = data_file(org.root).read_text().replace('"id": "r', '"id": "s')  # ids unique across the two files
    (folder / "part-2.jsonl").write_text(second)
    several = live.call("POST", "versions", CREW_A.de, json={"project": "pa", "path": "parts"})
    assert several.status_code == 201, several.text
    for version_id, says in ((changed, "changed since it was registered"), (several.json()["version_id"], "holds 2 files")):
        source = live.call("GET", f"versions/{version_id}/source", CREW_A.de).json()
        assert source["download"] is None and says in source["note"], source
        refused = live.call("GET", f"versions/{version_id}/data", CREW_A.de)
        body = refused.json()
        assert (refused.status_code, body["field"], body["value"]) == (400, "version_id", version_id) and says in body["detail"]


def test_data_over_the_limit_is_413_before_a_byte(org: Org) -> None:
    live, a = org.live, org.a
    settings = live.platform.settings
    before = settings.max_dataset_bytes
    settings.max_dataset_bytes = 100
    try:
        response = live.call("GET", f"versions/{a.v_r2}/data", CREW_A.de)
    finally:
        settings.max_dataset_bytes = before
    body = response.json()
    assert (response.status_code, body["title"], body["field"]) == (413, "too_large", "version_id") and "over the" in body[
        "detail"
    ]


def test_uploaded_bytes_come_back_from_the_kept_copy(org: Org) -> None:
    live = org.live
    payload = data_file(org.root).read_bytes()
    uploaded = live.call("PUT", "projects/pa/versions/upload", CREW_A.de, params={"filename": "mine.jsonl"}, data=payload,
                         headers={"Content-Type": "application/octet-stream"}).json()  # fmt: skip
    source = live.call("GET", f"versions/{uploaded['version_id']}/source", CREW_A.ops).json()
    assert source["kept_copy"] is True and source["note"] == "served: mine.jsonl"
    assert live.call("GET", f"versions/{uploaded['version_id']}/data", CREW_A.ops).content == payload


# -- lineage export and rollbacks --------------------------------------------------------------------
def test_lineage_export_and_rollbacks_of_own_projects(org: Org) -> None:
    live, a = org.live, org.a
    graph = live.call("GET", "lineage/export", CREW_A.de).json()
    assert graph["format"] == "graph" and graph["projects"] == ["pa"]
    assert {n["project_id"] for n in graph["nodes"]} == {"pa"} and f"version:{a.v_r2}" in {n["ref"] for n in graph["nodes"]}
    events = live.call("GET", "lineage/export", CREW_A.de, params={"openlineage": "true", "project": "pa"}).json()
    assert events["events"] and {e["eventType"] for e in events["events"]} <= {"START", "COMPLETE", "FAIL", "ABORT", "OTHER"}
    assert {e["job"]["namespace"] for e in events["events"]} == {"dataops://t_a/pa"}
    seq = head_seq(live.platform)
    assert live.call("GET", "projects/pa/rollbacks", CREW_A.qa).json()["total"] == 0
    done = live.call("POST", "projects/pa/rollback", CREW_A.ops, json={"to": a.v_r1, "reason": "bad release"})
    assert done.status_code == 200, done.text
    listed = live.call("GET", "projects/pa/rollbacks", CREW_A.qa).json()
    assert [r["rollback_id"] for r in listed["items"]] == [done.json()["rollback"]["rollback_id"]]
    assert listed["items"][0]["executed_at"] == T0.isoformat()
    assert [(act, out) for _, act, out, _ in records(live, seq)] == [("rollback.execute", "allowed")]  # listings: not audited


# -- hostile input ------------------------------------------------------------------------------------
HOSTILE = {
    "long_token_id": ("DELETE", "tokens/" + "t" * 65, {}, 400, "token_id"),
    "nul_token_id": ("DELETE", "tokens/tok_001%00", {}, 400, "path"),
    "nul_in_user": ("POST", "tokens", {"json": {"user": "a_de\x00"}}, 400, "body.user"),
    "long_user": ("POST", "tokens", {"json": {"user": "u" * 65}}, 400, "user"),
    "expiry_in_the_past": ("POST", "tokens", {"json": {"user": "a_de", "expires_at": "2020-01-01T00:00:00Z"}}, 400, "expires"),
    "expiry_not_a_time": ("POST", "tokens", {"json": {"user": "a_de", "expires_at": "soon"}}, 400, "expires_at"),
    "body_not_json": ("POST", "tokens", {"data": b"{user", "headers": {"Content-Type": "application/json"}}, 400, "body"),
    "huge_body": ("POST", "tokens", {"json": {"user": "a_de", "pad": "x" * (1 << 20)}}, 413, None),
    "long_version_id_source": ("GET", "versions/" + "v" * 65 + "/source", {}, 400, "version_id"),
    "nul_version_id_data": ("GET", "versions/ds_v001%00/data", {}, 400, "path"),
    "long_project_rollbacks": ("GET", "projects/" + "p" * 65 + "/rollbacks", {}, 400, "project"),
    "openlineage_not_a_bool": ("GET", "lineage/export", {"params": {"openlineage": "maybe"}}, 400, "openlineage"),
    "nul_export_project": ("GET", "lineage/export", {"params": {"project": "pa\x00"}}, 400, "project"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_input_is_a_problem_naming_the_field(org: Org, case: str) -> None:
    method, path, kwargs, status, field = HOSTILE[case]
    live = org.live
    objects, seq = objects_snapshot(live.platform), head_seq(live.platform)
    response = live.call(method, path, CREW_A.de, **kwargs)
    body = response.json()
    assert (response.status_code, response.headers["content-type"]) == (status, "application/problem+json"), response.text
    assert body["status"] == status and body.get("field") == field, body
    assert "\x00" not in response.text and len(response.text) < 4000  # never the input echoed back
    assert objects_snapshot(live.platform) == objects and head_seq(live.platform) == seq
