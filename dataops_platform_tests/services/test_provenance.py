"""Provenance of a version a team's Dagster run produced (issue 14), through the real services:
kept on the version and in its audit record, linked in lineage as `dagster_run:<id> -produced->
version:<id>`; `lineage impact` from a Dagster or MLflow run finds what hangs below it, only within
the projects the caller reads (another tenant reads it as missing); hostile provenance is refused
naming the field, after the permission check, with nothing written and the refusal audited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from dataops_platform.errors import InvalidInput, NotFound, PermissionDenied
from dataops_platform.governance import experiments, lineage
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.versions import register_version
from dataops_platform.store.models import DatasetVersion, LineageEdge
from dataops_platform_tests.services.steps import data_file, last_audit, snapshot

RUN = "4f9c0e2a-1b7d-4c1e-9a55-0d7f3b1c2e11"
PROVENANCE = {"dagster_run_id": RUN, "dagster_asset_key": "legal/raw/contracts", "dagster_code_location": "legal_pipelines"}


def edges(platform: Platform) -> set[tuple[str, str, str, str]]:
    with platform.store.read() as session:
        return {(e.source_ref, e.edge_type, e.target_ref, e.project_id) for e in session.scalars(select(LineageEdge))}


def test_provenance_is_recorded_audited_and_linked(sqlite_platform: Platform, tmp_path: Path) -> None:
    version = register_version(sqlite_platform, "lena", "p02_legal_sft", data_file(tmp_path), provenance=PROVENANCE)
    with sqlite_platform.store.read() as session:
        assert session.get(DatasetVersion, version.version_id).provenance == PROVENANCE
    record = last_audit(sqlite_platform)
    assert (record.action, record.outcome, record.object_ref) == ("version.create", "allowed", f"version:{version.version_id}")
    assert json.loads(record.details)["provenance"] == PROVENANCE
    assert (f"dagster_run:{RUN}", "produced", f"version:{version.version_id}", "p02_legal_sft") in edges(sqlite_platform)
    assert lineage.read_edge(f"dagster_run:{RUN}", "produced", f"version:{version.version_id}") == (
        f"dagster_run:{RUN}", "produced", f"version:{version.version_id}",
    )  # fmt: skip


def test_code_location_is_optional_and_a_version_without_provenance_has_none(sqlite_platform: Platform, tmp_path: Path) -> None:
    given = {"dagster_run_id": "run_2", "dagster_asset_key": "contracts"}
    version = register_version(sqlite_platform, "lena", "p02_legal_sft", data_file(tmp_path), provenance=given)
    assert version.provenance == given | {"dagster_code_location": None}
    plain = register_version(sqlite_platform, "lena", "p02_legal_sft", data_file(tmp_path))
    assert plain.provenance is None
    assert "provenance" not in json.loads(last_audit(sqlite_platform).details)
    assert not [e for e in edges(sqlite_platform) if e[2] == f"version:{plain.version_id}" and e[1] == "produced"]


def test_impact_of_a_dagster_run_reaches_the_version_and_below(sqlite_platform: Platform, tmp_path: Path) -> None:
    produced = register_version(sqlite_platform, "lena", "p02_legal_sft", data_file(tmp_path), provenance=PROVENANCE)
    child = register_version(sqlite_platform, "lena", "p02_legal_sft", data_file(tmp_path), parent=produced.version_id)
    exp = experiments.record_experiment(
        sqlite_platform, "lena", "p02_legal_sft", child.version_id, "completed", metrics={"f1": 1}
    )
    rows = lineage.impact(sqlite_platform, "lena", f"dagster_run:{RUN}")
    assert [(r.ref, r.depth) for r in rows] == [
        (f"version:{produced.version_id}", 1),
        (f"version:{child.version_id}", 2),
        (f"experiment:{exp.experiment_id}", 3),
    ]
    assert [r.ref for r in lineage.impact(sqlite_platform, "lena", f"dagster_run:{RUN}", depth=1)] == [
        f"version:{produced.version_id}"
    ]
    # Upstream from the experiment ends at the run that produced the data.
    above = [r.ref for r in lineage.impact(sqlite_platform, "lena", f"experiment:{exp.experiment_id}", upstream=True)]
    assert above == [f"version:{child.version_id}", f"version:{produced.version_id}", f"dagster_run:{RUN}"]
    # Reading is enough: QA of the project (who may not register) sees the same.
    assert [r.ref for r in lineage.impact(sqlite_platform, "quinn", f"dagster_run:{RUN}")] == [r.ref for r in rows]


def test_a_run_id_two_tenants_use_shows_each_only_its_own(sqlite_platform: Platform, tmp_path: Path) -> None:
    legal = register_version(sqlite_platform, "lena", "p02_legal_sft", data_file(tmp_path), provenance=PROVENANCE)
    # dan (tenant t01_retail) names the same run id: a coincidence or a probe, never a bridge.
    retail = register_version(sqlite_platform, "dan", "p01_retail_search", data_file(tmp_path), provenance=PROVENANCE)
    assert [r.ref for r in lineage.impact(sqlite_platform, "lena", f"dagster_run:{RUN}")] == [f"version:{legal.version_id}"]
    assert [r.ref for r in lineage.impact(sqlite_platform, "dan", f"dagster_run:{RUN}")] == [f"version:{retail.version_id}"]


def test_another_tenant_reads_a_run_as_missing(sqlite_platform: Platform, tmp_path: Path) -> None:
    register_version(sqlite_platform, "lena", "p02_legal_sft", data_file(tmp_path), provenance=PROVENANCE)
    before = snapshot(sqlite_platform)
    with pytest.raises(NotFound) as foreign:
        lineage.impact(sqlite_platform, "hugo", f"dagster_run:{RUN}")  # tenant t03_health
    with pytest.raises(NotFound) as missing:
        lineage.impact(sqlite_platform, "hugo", "dagster_run:no-such-run")
    with pytest.raises(NotFound) as missing_version:
        lineage.impact(sqlite_platform, "hugo", "version:t03_health.ds_v999")
    assert foreign.value.message.replace(RUN, "X") == missing.value.message.replace("no-such-run", "X")
    assert foreign.value.message.replace(f"dagster_run:{RUN}", "X") == missing_version.value.message.replace(
        "version:t03_health.ds_v999", "X"
    )
    assert (foreign.value.field, foreign.value.value) == ("id", f"dagster_run:{RUN}")
    with pytest.raises(NotFound):
        lineage.impact(sqlite_platform, "hugo", f"dagster_run:{RUN}", upstream=True, depth=2)
    assert snapshot(sqlite_platform) == before


def test_mlflow_run_ref_reaches_the_experiment(sqlite_platform: Platform, tmp_path: Path) -> None:
    version = register_version(sqlite_platform, "lena", "p02_legal_sft", data_file(tmp_path), provenance=PROVENANCE)
    run_id = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
    exp = experiments.record_experiment(
        sqlite_platform, "lena", "p02_legal_sft", version.version_id, "completed", metrics={"f1": 1}, mlflow_run_id=run_id
    )
    assert (f"mlflow_run:{run_id}", "recorded", f"experiment:{exp.experiment_id}", "p02_legal_sft") in edges(sqlite_platform)
    assert lineage.read_edge(f"mlflow_run:{run_id}", "recorded", f"experiment:{exp.experiment_id}") == (
        f"experiment:{exp.experiment_id}", "recorded from", f"mlflow_run:{run_id}",
    )  # fmt: skip
    assert [r.ref for r in lineage.impact(sqlite_platform, "lena", f"mlflow_run:{run_id}")] == [f"experiment:{exp.experiment_id}"]
    # The Dagster run, the version and the MLflow run are linked: upstream from the MLflow run's experiment.
    above = {r.ref for r in lineage.impact(sqlite_platform, "quinn", f"experiment:{exp.experiment_id}", upstream=True)}
    assert above == {f"version:{version.version_id}", f"dagster_run:{RUN}", f"mlflow_run:{run_id}"}
    with pytest.raises(NotFound):
        lineage.impact(sqlite_platform, "dan", f"mlflow_run:{run_id}")


@pytest.mark.parametrize("bad", ["dagster_run:", "dagster_run:has space", "mlflow_run:" + "x" * 65, "dagster_run:a\x00b"])
def test_malformed_external_refs_are_refused_naming_the_ref(sqlite_platform: Platform, bad: str) -> None:
    with pytest.raises(InvalidInput) as err:
        lineage.impact(sqlite_platform, "lena", bad)
    assert not isinstance(err.value, NotFound) and err.value.field == "REF"
    assert "1-64 letters, digits" in err.value.message


HOSTILE = [
    ({"dagster_run_id": "r" * 65, "dagster_asset_key": "a"}, "provenance.dagster_run_id", "at most 64"),
    ({"dagster_run_id": "run 1", "dagster_asset_key": "a"}, "provenance.dagster_run_id", "does not match"),
    ({"dagster_run_id": 7, "dagster_asset_key": "a"}, "provenance.dagster_run_id", "must be text, not int"),
    ({"dagster_asset_key": "a"}, "provenance.dagster_run_id", "is required"),
    ({"dagster_run_id": "r1", "dagster_asset_key": "a" * 201}, "provenance.dagster_asset_key", "at most 200 characters"),
    ({"dagster_run_id": "r1", "dagster_asset_key": "a\x00b"}, "provenance.dagster_asset_key", "NUL"),
    ({"dagster_run_id": "r1", "dagster_asset_key": "a\ud800"}, "provenance.dagster_asset_key", "lone surrogate"),
    ({"dagster_run_id": "r1", "dagster_asset_key": "a\nb"}, "provenance.dagster_asset_key", "non-printable"),
    ({"dagster_run_id": "r1", "dagster_asset_key": "a//b"}, "provenance.dagster_asset_key", "empty component"),
    ({"dagster_run_id": "r1", "dagster_asset_key": ["a"]}, "provenance.dagster_asset_key", "must be text, not list"),
    ({"dagster_run_id": "r1", "dagster_asset_key": "a", "dagster_code_location": ""}, "provenance.dagster_code_location", "1"),
    ({"dagster_run_id": "r1", "dagster_asset_key": "a", "git_sha": "abc"}, "provenance", "unknown key 'git_sha'"),
    (["r1", "a"], "provenance", "must be an object, not list"),
]


@pytest.mark.parametrize(("bad", "field", "says"), HOSTILE, ids=[f"{h[1]}:{h[2]}" for h in HOSTILE])
def test_hostile_provenance_is_refused_naming_the_field(
    sqlite_platform: Platform, tmp_path: Path, bad: object, field: str, says: str
) -> None:
    path = data_file(tmp_path)
    before = snapshot(sqlite_platform)
    with pytest.raises(InvalidInput) as err:
        register_version(sqlite_platform, "lena", "p02_legal_sft", path, provenance=bad)
    assert err.value.field == field and says in err.value.message
    assert "send" in err.value.message or "allowed:" in err.value.message  # the fix
    assert snapshot(sqlite_platform) == before  # no version, no edge
    record = last_audit(sqlite_platform)
    assert (record.actor, record.action, record.outcome) == ("lena", "version.create", "failed")
    details = json.loads(record.details)
    assert details["error"] == "invalid_input" and details["field"] == field


def test_permission_is_decided_before_the_provenance(sqlite_platform: Platform, tmp_path: Path) -> None:
    bad = {"dagster_run_id": "r" * 500, "dagster_asset_key": "a"}
    with pytest.raises(NotFound):  # another tenant: the project reads as missing, whatever the body
        register_version(sqlite_platform, "hugo", "p02_legal_sft", data_file(tmp_path), provenance=bad)
    assert (last_audit(sqlite_platform).actor, last_audit(sqlite_platform).outcome) == ("hugo", "denied")
    with pytest.raises(PermissionDenied):  # quinn is QA there: may read, may not register
        register_version(sqlite_platform, "quinn", "p02_legal_sft", data_file(tmp_path), provenance=bad)
    assert (last_audit(sqlite_platform).actor, last_audit(sqlite_platform).outcome) == ("quinn", "denied")


def test_openlineage_names_the_dagster_run_as_the_parent(sqlite_platform: Platform, tmp_path: Path) -> None:
    from dataops_platform.openlineage.events import export_run_events

    produced = register_version(sqlite_platform, "lena", "p02_legal_sft", data_file(tmp_path), provenance=PROVENANCE)
    short = {"dagster_run_id": "run_7", "dagster_asset_key": "contracts"}
    other = register_version(sqlite_platform, "lena", "p02_legal_sft", data_file(tmp_path), provenance=short)
    events = [json.loads(line) for line in export_run_events(sqlite_platform, "quinn", "p02_legal_sft").json_lines().splitlines()]

    def of(version: str) -> list[dict]:
        return [e for e in events if e["job"]["name"] == f"version.create:{version}"]

    assert [e["eventType"] for e in of(produced.version_id)] == ["START", "COMPLETE"]
    for event in of(produced.version_id):
        parent = event["run"]["facets"]["parent"]
        found = (parent["run"]["runId"], parent["job"]["namespace"], parent["job"]["name"])
        assert found == (RUN, "dagster", "legal/raw/contracts")
        assert event["run"]["facets"]["dataops_operation"]["details"]["provenance"] == PROVENANCE
    for event in of(other.version_id):  # not a UUID: no OpenLineage parent, the details still say it
        assert "parent" not in event["run"]["facets"]
        assert event["run"]["facets"]["dataops_operation"]["details"]["provenance"]["dagster_run_id"] == "run_7"
