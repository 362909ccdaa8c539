"""`dataops lineage export [--openlineage] [--out FILE] [--push URL] [--project P]` (SPEC §13) on the
reference scenario.

The main path runs through Typer's CliRunner on `dataops_platform.cli.app`. The error paths run
through the real entry point `main` in this process (`run_cli_inprocess`, as in
cli/test_cli_core.py): only `main` maps a DataOpsError to its exit code and a one-line message, and
that mapping (exit 1 / 2, no traceback) is what those tests check.
"""

from __future__ import annotations

import difflib
import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from openlineage.client.event_v2 import RunEvent
from openlineage.client.serde import Serde
from sqlalchemy import select
from typer.testing import CliRunner

from dataops_platform.artifacts.build import lineage_graph as artifact_lineage_graph
from dataops_platform.cli.app import app
from dataops_platform.clock import FixedClock, as_utc
from dataops_platform.demo.materialize import MaterializeOutcome
from dataops_platform.governance.experiments import record_experiment
from dataops_platform.governance.lineage import EDGE_TYPES
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.versions import deprecate_version, register_version
from dataops_platform.openlineage.events import RUN_ID_NAMESPACE, export_run_events
from dataops_platform.settings import Settings
from dataops_platform.store.models import DatasetVersion, Experiment, Project, RollbackEvent
from dataops_platform_tests.helpers import CliResult, run_cli_inprocess
from dataops_platform_tests.openlineage.support import StubLineageServer, closed_port, rebuild
from dataops_platform_tests.services.steps import data_file, registered, released

P01, P02, P03 = "p01_retail_search", "p02_legal_sft", "p03_clinical_qa"
ADMIN = "alice"  # admin in all three projects: reads everything
LENA = "lena"  # data_engineer in p02 only (tenant t02_legal)
TERMINAL = {"COMPLETE", "FAIL"}


# --------------------------------------------------------------------------------------------
# Running the command
# --------------------------------------------------------------------------------------------
def export_cli(home: Path, *args: str, user: str = ADMIN, as_json: bool = False) -> CliResult:
    """The command through Typer's CliRunner on the app (no DATAOPS_* variables of the test run)."""
    argv = ["--home", str(home), "--as", user, *(["--json"] if as_json else []), "lineage", "export", *args]
    env: dict[str, str | None] = {key: None for key in os.environ if key.startswith("DATAOPS_")}
    result = CliRunner().invoke(app, argv, env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return CliResult(result.exit_code, result.stdout, result.stderr)


def export_main(home: Path, *args: str, user: str = ADMIN, as_json: bool = False) -> CliResult:
    """The command through the real entry point, which maps errors to exit codes."""
    return run_cli_inprocess(home, "lineage", "export", *args, user=user, as_json=as_json)


def events_of(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def assert_no_traceback(result: CliResult) -> None:
    assert "Traceback" not in result.stdout + result.stderr, result.stderr


@pytest.fixture(scope="module")
def home(demo_home: tuple[Settings, MaterializeOutcome]) -> Path:
    return demo_home[0].home_dir


@pytest.fixture(scope="module")
def admin_export(home: Path) -> str:
    result = export_cli(home, "--openlineage")
    assert result.code == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def store(demo_home: tuple[Settings, MaterializeOutcome]) -> dict[str, Any]:
    """The facts of the demo store the export must show, read straight from the tables."""
    platform = Platform(demo_home[0])
    try:
        with platform.store.read() as session:
            tenants = {p.id: p.tenant_id for p in session.scalars(select(Project))}
            versions = list(session.scalars(select(DatasetVersion)))
            experiments = list(session.scalars(select(Experiment)))
            rollbacks = list(session.scalars(select(RollbackEvent)))
            moments = set()
            for v in versions:
                moments |= {v.created_at, v.validated_at, v.released_at, v.retired_at}
            moments |= {e.recorded_at for e in experiments} | {r.executed_at for r in rollbacks}
            times = {as_utc(m).isoformat(timespec="microseconds") for m in moments if m is not None}
            return {"tenants": tenants, "versions": versions, "experiments": experiments, "rollbacks": rollbacks, "times": times}
    finally:
        platform.close()


def namespace_of(store: dict[str, Any], project: str) -> str:
    return f"dataops://{store['tenants'][project]}/{project}"


# --------------------------------------------------------------------------------------------
# The events
# --------------------------------------------------------------------------------------------
def test_every_event_parses_back_with_the_client_models(admin_export: str) -> None:
    lines = admin_export.splitlines()
    assert len(lines) >= 2
    for line in lines:
        event = rebuild(RunEvent, json.loads(line))  # the client's validators run: UUID run id, ISO time
        assert isinstance(event, RunEvent)
        assert Serde.to_json(event) == line  # nothing lost, nothing filed under a wrong facet key
        assert uuid.UUID(event.run.runId).version == 5
        assert event.eventType is not None and event.eventType.value in {"START", *TERMINAL}


def test_every_version_and_experiment_of_the_store_appears(admin_export: str, store: dict[str, Any]) -> None:
    events = events_of(admin_export)
    by_job: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_job.setdefault(event["job"]["name"], []).append(event)

    for v in store["versions"]:
        created = by_job[f"version.create:{v.version_id}"]
        assert [e["eventType"] for e in created] == ["START", "COMPLETE"]
        (output,) = created[-1]["outputs"]
        assert (output["namespace"], output["name"]) == (namespace_of(store, v.project_id), v.version_id)
        assert [f["name"] for f in output["facets"]["schema"]["fields"]] == v.schema_fields
        assert output["facets"]["version"]["datasetVersion"] == v.content_digest
        assert output["facets"]["dataops_datasetVersion"]["contentDigest"] == v.content_digest
        assert output["facets"]["dataops_lifecycle"]["status"] == "draft"
        assert [i["name"] for i in created[-1]["inputs"]] == ([v.parent_version] if v.parent_version else [])
        # the version's current status is the one its latest lifecycle event carries
        moves = [
            d["facets"]["dataops_lifecycle"]
            for e in events
            if e["eventType"] in TERMINAL
            for d in e["inputs"] + e["outputs"]
            if d["name"] == v.version_id and "dataops_lifecycle" in d["facets"]
        ]
        assert moves[-1]["status"] == v.status

    for exp in store["experiments"]:
        runs = by_job[f"experiment.log:{exp.experiment_id}"]
        assert [e["eventType"] for e in runs] == ["START", "FAIL" if exp.status == "failed" else "COMPLETE"]
        assert [(i["namespace"], i["name"]) for i in runs[-1]["inputs"]] == [
            (namespace_of(store, exp.project_id), exp.dataset_version)
        ]
        verdict = runs[-1]["run"]["facets"]["dataops_experiment"]
        assert (verdict["verdict"], verdict["metrics"]) == (exp.status, exp.metric_summary)
        assert ("errorMessage" in runs[-1]["run"]["facets"]) == (exp.status == "failed")

    for rb in store["rollbacks"]:
        (start, done) = by_job[f"rollback.execute:{rb.rollback_id}"]
        assert [i["name"] for i in done["inputs"]] == [rb.from_version]
        assert [o["name"] for o in done["outputs"]] == [rb.to_version]
        assert done["inputs"][0]["facets"]["dataops_lifecycle"]["status"] == "rolled_back"

    # one START and one terminal event per run, same time, START first; one run id per job
    for name, runs in by_job.items():
        assert [e["eventType"] for e in runs][0] == "START" and runs[-1]["eventType"] in TERMINAL and len(runs) == 2, name
        assert len({e["run"]["runId"] for e in runs}) == 1 and runs[0]["eventTime"] == runs[1]["eventTime"]
        ns = runs[0]["job"]["namespace"]
        assert runs[0]["run"]["runId"] == str(uuid.uuid5(RUN_ID_NAMESPACE, f"{ns}/{name}"))
    assert len({runs[0]["run"]["runId"] for runs in by_job.values()}) == len(by_job)


def test_event_times_come_from_the_store_in_order(admin_export: str, store: dict[str, Any]) -> None:
    times = [e["eventTime"] for e in events_of(admin_export)]
    assert set(times) <= store["times"]  # never the time of the export
    assert all(datetime.fromisoformat(t) < datetime(2026, 11, 3, tzinfo=UTC) for t in times)  # the demo's clock
    assert times == sorted(times, key=datetime.fromisoformat)


def test_exporting_twice_gives_the_same_bytes(home: Path, admin_export: str, tmp_path: Path) -> None:
    again = export_cli(home, "--openlineage")
    assert again.code == 0 and again.stdout == admin_export
    out = tmp_path / "events.jsonl"
    written = export_cli(home, "--openlineage", "--out", str(out))
    assert written.code == 0 and "written to" in written.stdout
    assert out.read_text(encoding="utf-8") == admin_export


@pytest.mark.parametrize("change", ["register_derived_version", "record_experiment", "deprecate_superseded_release"])
def test_one_change_adds_only_the_events_of_the_changed_object(demo_copy: Settings, tmp_path: Path, change: str) -> None:
    before = export_cli(demo_copy.home_dir, "--openlineage").stdout
    platform = Platform(demo_copy, FixedClock(datetime(2026, 11, 2, 9, 30, tzinfo=UTC)))  # between demo steps
    v2, v1 = "t02_legal.ds_v002", "t02_legal.ds_v001"  # the demo's legal versions (ids numbered per tenant)
    try:
        if change == "register_derived_version":
            version = register_version(platform, LENA, P02, data_file(tmp_path), parent=v2, change_summary=["ol test"])
            job, inputs, outputs = f"version.create:{version.version_id}", [v2], [version.version_id]
        elif change == "record_experiment":
            exp = record_experiment(platform, LENA, P02, v2, "completed", metrics={"f1": 0.97}, params={"C": "2.0"})
            job, inputs, outputs = f"experiment.log:{exp.experiment_id}", [v2], []
        else:  # changes a version that many existing events mention: they must stay as they were
            deprecate_version(platform, "priya", v1)
            job, inputs, outputs = f"version.deprecate:{v1}", [], [v1]
    finally:
        platform.close()
    after = export_cli(demo_copy.home_dir, "--openlineage").stdout

    old, new = before.splitlines(), after.splitlines()
    opcodes = [op for op in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes() if op[0] != "equal"]
    assert [op[0] for op in opcodes] == ["insert"]  # every old line kept, byte for byte, in order
    _, _, _, start, end = opcodes[0]
    added = events_of("\n".join(new[start:end]))
    assert [e["eventType"] for e in added] == ["START", "COMPLETE"]
    for event in added:
        assert event["job"]["name"] == job
        assert event["eventTime"] == "2026-11-02T09:30:00.000000+00:00"
        assert [i["name"] for i in event["inputs"]] == inputs and [o["name"] for o in event["outputs"]] == outputs
        assert event["run"]["facets"]["dataops_operation"]["actor"] == ("priya" if change.startswith("deprecate") else LENA)
    assert 0 < start < len(old)  # filed by its time, between the demo's events, not appended


# --------------------------------------------------------------------------------------------
# Who sees what
# --------------------------------------------------------------------------------------------
def test_a_user_gets_no_events_of_projects_they_cannot_read(home: Path, store: dict[str, Any]) -> None:
    result = export_cli(home, "--openlineage", user=LENA)
    assert result.code == 0, result.stderr
    events = events_of(result.stdout)
    assert events
    namespaces = {e["job"]["namespace"] for e in events} | {d["namespace"] for e in events for d in e["inputs"] + e["outputs"]}
    assert namespaces == {namespace_of(store, P02)}
    p02_versions = {v.version_id for v in store["versions"] if v.project_id == P02}
    assert {d["name"] for e in events for d in e["inputs"] + e["outputs"]} == p02_versions
    for other in (P01, P03):
        assert other not in result.stdout
        for v in store["versions"]:
            if v.project_id == other:
                assert f'"{v.version_id}"' not in result.stdout and v.content_digest not in result.stdout
        for exp in store["experiments"]:
            if exp.project_id == other:
                assert exp.experiment_id not in result.stdout

    # asking for another tenant's project by name answers like a missing one, and prints no event
    denied = export_main(home, "--openlineage", "--project", P01, user=LENA)
    assert denied.code == 2 and denied.stdout == ""
    assert "not found" in denied.error_text and P01 in denied.error_text
    assert_no_traceback(denied)


def test_project_option_limits_the_export(home: Path, store: dict[str, Any]) -> None:
    result = export_cli(home, "--openlineage", "--project", P03)
    events = events_of(result.stdout)
    assert result.code == 0 and events
    assert {e["job"]["namespace"] for e in events} == {namespace_of(store, P03)}
    assert {e["job"]["name"] for e in events} >= {
        f"version.create:{v.version_id}" for v in store["versions"] if v.project_id == P03
    }


def test_plain_graph_is_the_lineage_artifact_cut_to_readable_projects(home: Path, demo_home: tuple) -> None:
    platform = Platform(demo_home[0])
    try:
        with platform.store.read() as session:
            artifact = artifact_lineage_graph(session)
    finally:
        platform.close()
    everything = export_cli(home)
    graph = json.loads(everything.stdout)
    assert everything.code == 0 and graph["projects"] == [P01, P02, P03]
    assert graph["edges"] == artifact["edges"]
    assert [n["ref"] for n in graph["nodes"]] == [n["ref"] for n in artifact["nodes"]]

    mine = json.loads(export_cli(home, user=LENA).stdout)
    assert mine["projects"] == [P02]
    assert mine["edges"] == [e for e in artifact["edges"] if e["project_id"] == P02]
    assert mine["edges"] and {e["type"] for e in mine["edges"]} <= set(EDGE_TYPES)
    assert {n["project_id"] for n in mine["nodes"]} == {P02}


# --------------------------------------------------------------------------------------------
# Push
# --------------------------------------------------------------------------------------------
def test_push_delivers_exactly_the_exported_events(home: Path, admin_export: str, tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    with StubLineageServer(status=201) as server:
        result = export_cli(home, "--openlineage", "--push", server.url, "--out", str(out), as_json=True)
    assert result.code == 0, result.stderr
    lines = admin_export.splitlines()
    assert [r.body.decode() for r in server.received] == lines  # the same bytes, in export order
    assert {r.path for r in server.received} == {"/api/v1/lineage"}
    assert {r.content_type for r in server.received} == {"application/json"}
    assert out.read_text(encoding="utf-8") == admin_export
    summary = json.loads(result.stdout)
    assert summary["pushed"] == summary["events"] == len(lines)
    assert summary["endpoint"] == f"{server.url}/api/v1/lineage"


def test_push_without_out_prints_a_summary_not_the_events(home: Path) -> None:
    with StubLineageServer() as server:
        result = export_cli(home, "--openlineage", "--push", server.url + "/api/v1/lineage", user=LENA)
    assert result.code == 0, result.stderr
    assert len(server.received) > 0 and f"{len(server.received)} pushed to {server.url}/api/v1/lineage" in result.stdout
    assert "{" not in result.stdout


def test_push_to_a_closed_port_fails_clearly(home: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    result = export_main(home, "--openlineage", "--push", url)
    assert result.code == 1
    assert result.stdout == ""
    assert f"push to {url}/api/v1/lineage failed" in result.error_text
    assert "Connection refused" in result.error_text and "0 of" in result.error_text
    assert_no_traceback(result)


def test_push_refused_by_the_endpoint_names_the_status_and_sends_nothing_twice(home: Path) -> None:
    with StubLineageServer(status=500) as server:
        result = export_main(home, "--openlineage", "--push", server.url, as_json=True)
    assert result.code == 1 and result.stdout == ""
    error = json.loads(result.stderr)
    assert error["status"] == 500 and error["url"] == f"{server.url}/api/v1/lineage" and error["pushed"] == 0
    assert "HTTP 500" in error["message"]
    assert len(server.received) == 1  # the first refusal stops the push; no event is re-sent
    assert_no_traceback(result)


@pytest.mark.parametrize("url", ["localhost:5000", "ftp://lineage.example/x", "http://", "http://host:port", "http://a b"])
def test_an_invalid_push_url_is_invalid_input(home: Path, url: str) -> None:
    result = export_main(home, "--openlineage", "--push", url, as_json=True)
    assert result.code == 2 and result.stdout == ""
    error = json.loads(result.stderr)
    assert (error["error"], error["field"], error["value"]) == ("invalid_input", "push", url)
    assert "http://localhost:5000" in error["message"]  # the fix


def test_push_needs_openlineage(home: Path) -> None:
    result = export_main(home, "--push", "http://127.0.0.1:5000")
    assert result.code == 2 and result.stdout == ""
    assert "--openlineage" in result.error_text and "--push" in result.error_text
    assert_no_traceback(result)


def test_an_unwritable_out_file_is_invalid_input(home: Path, tmp_path: Path) -> None:
    target = tmp_path / "missing" / "events.jsonl"
    result = export_main(home, "--openlineage", "--out", str(target))
    assert result.code == 2 and not target.exists()
    assert "--out" in result.error_text and str(target) in result.error_text


# --------------------------------------------------------------------------------------------
# Both store backends
# --------------------------------------------------------------------------------------------
def test_export_reads_the_same_on_sqlite_and_postgresql(platform: Platform, clock: FixedClock, tmp_path: Path) -> None:
    """Times come back naive from SQLite and aware from PostgreSQL: the events must not tell."""
    first = released(platform, tmp_path)
    clock.advance(minutes=5)
    child = registered(platform, tmp_path, parent=first.version_id)
    export = export_run_events(platform, LENA)
    lines = export.json_lines()
    assert export_run_events(platform, LENA).json_lines() == lines
    assert export.projects == [P02]
    assert [(e.job.name, e.eventType.value, e.eventTime) for e in export.events] == [
        (f"{job}:{version}", state, at)
        for job, version, at in (
            ("version.create", first.version_id, "2026-11-02T09:00:00.000000+00:00"),
            ("version.validate", first.version_id, "2026-11-02T09:00:00.000000+00:00"),
            ("version.release", first.version_id, "2026-11-02T09:00:00.000000+00:00"),
            ("version.create", child.version_id, "2026-11-02T09:05:00.000000+00:00"),
        )
        for state in ("START", "COMPLETE")
    ]
    assert [i.name for i in export.events[-1].inputs] == [first.version_id]  # derived_from
