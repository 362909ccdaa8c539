"""Provenance over HTTP against a real server (issue 14): a team's Dagster run registers a version
through `POST /versions` (JSON body) or `PUT .../versions/upload` (query parameters), the response
carries the typed provenance, `GET /lineage/impact?ref=dagster_run:<id>` finds the version, and
another tenant's token reads that run as missing. Hostile provenance answers 400 problem details
naming the field, with nothing written and the refusal audited; permission is decided first.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from dataops_platform.clock import FixedClock
from dataops_platform_tests.api.conftest import (
    BACKENDS,
    CREW_A,
    CREW_B,
    TWO_TENANT_ADMIN,
    LiveApi,
    backend_settings,
    data_bytes,
    inbox_file,
    live_server,
    two_tenant_spec_text,
)
from dataops_platform_tests.conftest import T0, make_platform
from dataops_platform_tests.helpers import audit_after, head_seq, objects_snapshot

RUN = "6d1e0b8a-57c4-4f1f-8d7e-2b9a0c3f4e51"
PROVENANCE = {"dagster_run_id": RUN, "dagster_asset_key": "team_a/raw/orders", "dagster_code_location": "team_a_pipelines"}
PROBLEM = "application/problem+json"


@dataclasses.dataclass
class Org:
    live: LiveApi
    root: Path


@pytest.fixture(scope="module", params=BACKENDS)
def org(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Org]:
    root = tmp_path_factory.mktemp(f"provenance_{request.param}")
    spec = root / "two_tenants.yaml"
    spec.write_text(two_tenant_spec_text())
    with backend_settings(request, root / "home", request.param) as settings:
        platform = make_platform(settings, FixedClock(T0), spec)
        with live_server(platform, TWO_TENANT_ADMIN) as live:
            yield Org(live, root)
        platform.close()


def register(live: LiveApi, user: str, provenance: object, project: str = "pa") -> object:
    body = {"project": project, "path": inbox_file(live.settings), "provenance": provenance}
    return live.call("POST", "versions", user, json=body)


def impact(live: LiveApi, user: str, ref: str, **params: object) -> object:
    return live.call("GET", "lineage/impact", user, params={"ref": ref, **params})


def test_register_with_provenance_links_the_run(org: Org) -> None:
    live = org.live
    created = register(live, CREW_A.de, PROVENANCE)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["provenance"] == PROVENANCE
    vid = body["version_id"]
    shown = live.call("GET", f"versions/{vid}", CREW_A.qa).json()
    assert shown["provenance"] == PROVENANCE
    found = impact(live, CREW_A.qa, f"dagster_run:{RUN}")
    assert found.status_code == 200, found.text
    assert found.json() == {"ref": f"dagster_run:{RUN}", "upstream": False, "items": [{"ref": f"version:{vid}", "depth": 1}]}
    above = impact(live, CREW_A.qa, f"version:{vid}", upstream="true").json()["items"]
    assert {"ref": f"dagster_run:{RUN}", "depth": 1} in above
    graph = live.call("GET", "lineage/export", CREW_A.qa, params={"project": "pa"}).json()
    assert {"source": f"dagster_run:{RUN}", "target": f"version:{vid}", "type": "produced"}.items() <= next(
        e for e in graph["edges"] if e["type"] == "produced"
    ).items()
    assert {"ref": f"dagster_run:{RUN}", "kind": "dagster_run", "project_id": "pa"} in graph["nodes"]


def test_another_tenant_reads_the_run_as_missing(org: Org) -> None:
    live = org.live
    assert register(live, CREW_A.de, PROVENANCE).status_code == 201
    foreign = impact(live, CREW_B.de, f"dagster_run:{RUN}")
    missing = impact(live, CREW_B.de, "dagster_run:never-ran")
    assert (foreign.status_code, missing.status_code) == (404, 404)
    assert foreign.headers["content-type"].startswith(PROBLEM)
    assert foreign.json()["detail"].replace(RUN, "X") == missing.json()["detail"].replace("never-ran", "X")
    assert RUN not in json.dumps(live.call("GET", "lineage/export", CREW_B.de).json())


def test_upload_with_summary_and_provenance(org: Org) -> None:
    live = org.live
    params = {
        "filename": "orders.jsonl", "summary": ["orders of 2026-11-30", "late rows dropped"],
        "dagster_run_id": "run_upload_1", "dagster_asset_key": "team_a/orders",
    }  # fmt: skip
    octet = {"Content-Type": "application/octet-stream"}
    up = live.call("PUT", "projects/pa/versions/upload", CREW_A.de, params=params, data=data_bytes(org.root), headers=octet)
    assert up.status_code == 201, up.text
    body = up.json()
    assert body["change_summary"] == ["orders of 2026-11-30", "late rows dropped"]
    assert body["provenance"] == {"dagster_run_id": "run_upload_1", "dagster_asset_key": "team_a/orders",
                                  "dagster_code_location": None}  # fmt: skip
    items = impact(live, CREW_A.pm, "dagster_run:run_upload_1").json()["items"]
    assert items == [{"ref": f"version:{body['version_id']}", "depth": 1}]
    plain = live.call(
        "PUT", "projects/pa/versions/upload", CREW_A.de, params={"filename": "p.jsonl"}, data=data_bytes(org.root), headers=octet
    )
    assert plain.status_code == 201 and plain.json()["change_summary"] == ["uploaded through the API"]
    assert plain.json()["provenance"] is None


HOSTILE = [
    ({"dagster_run_id": "r" * 65, "dagster_asset_key": "a"}, "provenance.dagster_run_id"),
    ({"dagster_run_id": 12, "dagster_asset_key": "a"}, "provenance.dagster_run_id"),
    ({"dagster_run_id": "r1", "dagster_asset_key": "a" * 201}, "provenance.dagster_asset_key"),
    ({"dagster_run_id": "r1", "dagster_asset_key": "a", "extra": "x"}, "provenance"),
    ({"dagster_run_id": "r1"}, "provenance.dagster_asset_key"),
    ("run-1", "provenance"),
]


@pytest.mark.parametrize(("bad", "field"), HOSTILE, ids=[f"{i}:{h[1]}" for i, h in enumerate(HOSTILE)])
def test_hostile_provenance_answers_400_naming_the_field(org: Org, bad: object, field: str) -> None:
    live = org.live
    path = inbox_file(live.settings)
    seq, before = head_seq(live.platform), objects_snapshot(live.platform)
    answer = live.call("POST", "versions", CREW_A.de, json={"project": "pa", "path": path, "provenance": bad})
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    problem = answer.json()
    assert (problem["title"], problem["field"]) == ("invalid_input", field)
    assert objects_snapshot(live.platform) == before  # no version, no edge
    assert [(r.actor, r.action, r.outcome) for r in audit_after(live.platform, seq)] == [(CREW_A.de, "version.create", "failed")]


def test_nul_in_provenance_is_refused_before_anything(org: Org) -> None:
    live = org.live
    before = objects_snapshot(live.platform)
    nul = {"dagster_run_id": "r1", "dagster_asset_key": "a\u0000"}
    body = {"project": "pa", "path": inbox_file(live.settings), "provenance": nul}
    answer = live.call("POST", "versions", CREW_A.de, json=body)
    assert answer.status_code == 400 and answer.json()["field"] == "body.provenance.dagster_asset_key", answer.text
    octet = {"Content-Type": "application/octet-stream"}
    params = {"filename": "x.jsonl", "dagster_run_id": "r1", "dagster_asset_key": "a\x00"}
    up = live.call("PUT", "projects/pa/versions/upload", CREW_A.de, params=params, data=b"{}", headers=octet)
    assert up.status_code == 400 and up.json()["field"] == "dagster_asset_key", up.text
    assert objects_snapshot(live.platform) == before


def test_bad_upload_provenance_is_refused_before_the_body_is_read(org: Org) -> None:
    live = org.live
    seq, before = head_seq(live.platform), objects_snapshot(live.platform)
    octet = {"Content-Type": "application/octet-stream"}
    params = {"filename": "x.jsonl", "dagster_run_id": "not a run id", "dagster_asset_key": "a"}
    up = live.call("PUT", "projects/pa/versions/upload", CREW_A.de, params=params, data=b"not even data", headers=octet)
    assert up.status_code == 400 and up.json()["field"] == "provenance.dagster_run_id", up.text
    lonely = live.call("PUT", "projects/pa/versions/upload", CREW_A.de, params={"filename": "x.jsonl", "dagster_run_id": "r1"},
                       data=b"{}", headers=octet)  # fmt: skip
    assert lonely.status_code == 400 and lonely.json()["field"] == "provenance.dagster_asset_key", lonely.text
    assert objects_snapshot(live.platform) == before
    outcomes = [(r.action, r.outcome) for r in audit_after(live.platform, seq)]
    assert outcomes == [("version.create", "failed"), ("version.create", "failed")]
    assert not list((live.settings.home_dir / "uploads").glob("*/*"))  # nothing of the body was kept


def test_permission_is_decided_before_the_provenance(org: Org) -> None:
    live = org.live
    bad = {"dagster_run_id": "r" * 500, "dagster_asset_key": 5}
    assert register(live, CREW_B.de, bad).status_code == 404  # another tenant's project: not found, whatever the body
    assert register(live, CREW_A.qa, bad).status_code == 403  # QA may not register


def test_the_contract_types_provenance(org: Org) -> None:
    document = org.live.call("GET", "/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert set(schemas["Provenance"]["properties"]) == {"dagster_run_id", "dagster_asset_key", "dagster_code_location"}
    assert schemas["Provenance"]["additionalProperties"] is False
    ref = {"$ref": "#/components/schemas/Provenance"}
    assert ref in schemas["RegisterByPath"]["properties"]["provenance"]["anyOf"]
    assert ref in schemas["Version"]["properties"]["provenance"]["anyOf"]
    upload = document["paths"]["/api/v1/projects/{project}/versions/upload"]["put"]
    names = {p["name"] for p in upload["parameters"]}
    assert {"summary", "dagster_run_id", "dagster_asset_key", "dagster_code_location"} <= names
