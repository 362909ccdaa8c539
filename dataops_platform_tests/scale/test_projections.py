"""Projections of the JSONL artifacts (issue 17: each fact read once, where it lives).

A rule that needs three fields of a million audit records reads them as pyarrow columns instead of
a million dicts (`artifacts.columns`). The projection must be the records' exact view or not be
taken: only of a file the platform wrote and that is unchanged, only when pyarrow reads it as
Python's json would; otherwise the rule reads the parsed records as before. Rules judged on
projections give the verdicts they give on the parsed records, a violation included.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from dataops_platform.artifacts.columns import Projection, projected
from dataops_platform.artifacts.files import ARTIFACT_FILES, PARSED, Artifacts, read_artifact, write_artifact
from dataops_platform.demo.materialize import MaterializeOutcome, materialize_all
from dataops_platform.governance.chain import GENESIS_HASH as GENESIS
from dataops_platform.governance.chain import chain_hash
from dataops_platform.metrics import CONTENT_RULES, compute_metrics, content_rule_results
from dataops_platform.report.render import ReportView
from dataops_platform.rules import checks, evaluate
from dataops_platform.settings import Settings

FIELDS = (("seq", "int64"), ("action", "string"), ("object_ref", "string"), ("outcome", "string"))
RECORD_LISTS = ("dataset_versions", "experiment_runs", "alerts", "rollback_events", "incident_reviews", "audit_log")


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    PARSED.clear()


def own(root: Path, name: str) -> Path:
    """Tell the parse cache the platform wrote this file, as a refresh does (`PARSED.wrote_file`)."""
    path = root / ARTIFACT_FILES[name]
    PARSED.wrote_file(path)
    return path


def records(n: int = 5) -> list[dict]:
    return [
        {"seq": i, "action": "version.create", "object_ref": f"version:v{i}", "outcome": "allowed",
         "details": json.dumps({"é": i, "nested": [1, {"x": None}]}), "note": "ü \u2028 \\ \" tab\t"}
        for i in range(1, n + 1)
    ]  # fmt: skip


def test_a_projection_holds_the_records_fields_exactly(tmp_path: Path) -> None:
    rows = records(70_000)  # more than one batch of rows turned into dicts
    write_artifact(tmp_path, "audit_log", rows)
    own(tmp_path, "audit_log")
    view = Artifacts(tmp_path).projection("audit_log", FIELDS)
    assert isinstance(view, Projection)
    expected = [{k: r[k] for k, _ in FIELDS} for r in rows]
    assert len(view) == len(rows) and list(view) == expected
    assert view[0] == expected[0] and view[-1] == expected[-1]
    assert list(view[65_530:65_540]) == expected[65_530:65_540] and len(view[69_999:]) == 1
    assert view.column("object_ref") == [r["object_ref"] for r in rows]
    with pytest.raises(IndexError):
        view[len(rows)]
    assert tmp_path / ARTIFACT_FILES["audit_log"] not in PARSED, "nothing was parsed into dicts"
    assert Artifacts(tmp_path).projection("audit_log", FIELDS) is view, "kept while the file is unchanged"


def test_no_projection_of_a_file_the_platform_did_not_write_or_that_changed(tmp_path: Path) -> None:
    rows = records()
    path = write_artifact(tmp_path, "audit_log", rows)
    assert Artifacts(tmp_path).projection("audit_log", FIELDS) == rows, "not known as the platform's: parsed"
    PARSED.clear()
    own(tmp_path, "audit_log")
    text = path.read_text(encoding="utf-8").replace("version:v3", "version:v9")
    st = path.stat()
    path.write_text(text, encoding="utf-8")  # edited in place, its mtime put back: the ctime still moves
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    got = Artifacts(tmp_path).projection("audit_log", FIELDS)
    assert not isinstance(got, Projection) and got[2]["object_ref"] == "version:v9"
    path.write_text(text.replace('"seq": 3}', '"seq": 3;'), encoding="utf-8")  # and now broken
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert "does not parse" in Artifacts(tmp_path).problems["audit_log"], "an edited file is parsed to say so"


@pytest.mark.parametrize(
    "line",
    [
        b'{"seq": "4", "action": "a", "object_ref": "r", "outcome": "allowed"}',  # another type
        b'{"seq": 4, "action": "a", "action": "b", "object_ref": "r", "outcome": "allowed"}',  # a key twice
        b'{"seq": 4, "action": "a", "object_ref": "r\\ud800", "outcome": "allowed"}',  # a lone surrogate
        b'{"seq": 4, "action": "a", "object_ref": "r", "outcome": "allowed", "n": 1e999}',  # too large for arrow
        b'{"seq": 4.0, "action": "a", "object_ref": "r", "outcome": "allowed"}',  # a float where an int was
        b'{"seq": 4, "action": "a", "object_ref": "r", "outcome": "allowed"} {"seq": 5}',  # two records on a line
        b"",  # a blank line
    ],
)
def test_what_pyarrow_reads_otherwise_than_json_is_read_by_json(tmp_path: Path, line: bytes) -> None:
    path = tmp_path / ARTIFACT_FILES["audit_log"]
    path.parent.mkdir(parents=True)
    good = b"".join(json.dumps(r, sort_keys=True).encode() + b"\n" for r in records(3))
    path.write_bytes(good + line + b"\n" + good)
    own(tmp_path, "audit_log")
    a = Artifacts(tmp_path)
    try:
        exact = read_artifact(path)
    except ValueError:
        exact = None
    if exact is None:
        with pytest.raises(KeyError):  # parsed, and found not to parse
            a.projection("audit_log", FIELDS)
        assert "audit_log" not in a and "does not parse" in a.problems["audit_log"]
    else:
        assert a.projection("audit_log", FIELDS) == exact, "the parsed records, every field"


def test_invalid_utf8_is_never_projected(tmp_path: Path) -> None:
    path = tmp_path / ARTIFACT_FILES["audit_log"]
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"seq": 1, "action": "a\xff", "object_ref": "r", "outcome": "allowed"}\n')
    own(tmp_path, "audit_log")
    a = Artifacts(tmp_path)
    with pytest.raises(KeyError):
        a.projection("audit_log", FIELDS)
    assert "does not parse" in a.problems["audit_log"]


def test_a_plain_mapping_gives_its_records() -> None:
    rows = records()
    assert projected({"audit_log": rows}, "audit_log") is rows


# -- the rules on projections -------------------------------------------------------------------
@pytest.fixture
def owned_demo(demo_home: tuple[Settings, MaterializeOutcome], tmp_path: Path) -> Path:
    """A copy of the demo's artifacts whose record lists the parse cache knows as the platform's own."""
    settings, _ = demo_home
    root = tmp_path / "artifacts"
    shutil.copytree(settings.artifacts_dir, root, ignore=shutil.ignore_patterns(".state"))
    for name in RECORD_LISTS:
        own(root, name)
    own_lineage(root, settings.artifacts_dir)
    return root


def own_lineage(root: Path, source: Path) -> dict[str, Path]:
    """The lineage lists' items files beside the graph made of them, as a refresh leaves them."""
    items = {key: root / ".state" / f"lineage_graph.{key}.items" for key in ("edges", "nodes")}
    for path in items.values():
        path.parent.mkdir(exist_ok=True)
        shutil.copy2(source / ".state" / path.name, path)
    PARSED.wrote_lists(root / ARTIFACT_FILES["lineage_graph"], items)
    return items


def plain(root: Path) -> dict:
    return {name: read_artifact(root / rel) for name, rel in ARTIFACT_FILES.items() if (root / rel).exists()}


def test_the_rules_and_metrics_on_projections_equal_those_on_parsed_records(owned_demo: Path) -> None:
    a = Artifacts(owned_demo)
    results = content_rule_results(a)
    metrics = compute_metrics(a)
    audit = owned_demo / ARTIFACT_FILES["audit_log"]
    for name in ("audit_log", "dataset_versions", "alerts", "experiment_runs", "lineage_graph"):
        assert owned_demo / ARTIFACT_FILES[name] not in PARSED, f"{name}: read as columns, never as dicts"
    assert a.problems == {}, "the files read as projections are known to parse"
    assert audit not in PARSED
    assert content_rule_results(ReportView(Artifacts(owned_demo), "")) is results, "the report's view reuses them"
    assert audit not in PARSED
    fresh = plain(owned_demo)
    assert [r.as_dict() for r in results] == [r.as_dict() for r in evaluate(fresh, CONTENT_RULES)]
    PARSED.clear()
    assert compute_metrics(Artifacts(owned_demo)) == metrics == compute_metrics(fresh)


def _tamper(root: Path, edit: str) -> None:
    """Rewrite the audit log with one record changed, as the platform's own file (the worst case:
    a projection is taken of it)."""
    path = root / ARTIFACT_FILES["audit_log"]
    rows = read_artifact(path)
    victim = next(r for r in rows if r["action"] == "version.create")
    if edit == "hash":
        victim["details"] = victim["details"] + " "
    elif edit == "outcome":  # consistently re-hashed from here on: only the missing audit record is left
        victim["outcome"] = "denied"
        prev = rows[rows.index(victim) - 1]["hash"]
        for r in rows[rows.index(victim) :]:
            r["prev_hash"] = prev
            r["hash"] = prev = chain_hash(*(r[k] for k in checks._CHAIN_FIELDS))
    write_artifact(root, "audit_log", rows)
    own(root, "audit_log")


@pytest.mark.parametrize("edit", ["hash", "outcome"])
def test_a_violation_found_on_a_projection_is_the_parsed_records_verdict(owned_demo: Path, edit: str) -> None:
    _tamper(owned_demo, edit)
    fresh = plain(owned_demo)
    anchorless = dict(fresh, audit_anchor={})  # the anchor would flag the re-hashed head too
    (owned_demo / ARTIFACT_FILES["audit_anchor"]).write_text("{}\n", encoding="utf-8")
    got = checks.audit_trail_intact(Artifacts(owned_demo))
    want = checks.audit_trail_intact(anchorless)
    assert got.violations and got.as_dict() == want.as_dict()
    if edit == "outcome":
        assert any("has no allowed version.create audit record" in v for v in got.violations)
    else:
        assert any("content does not match its hash" in v for v in got.violations)


def test_a_materialisation_never_parses_the_audit_log(demo_copy: Settings) -> None:
    """In a real run, in one process: every check, the metrics, the report and the test report."""
    outcome = materialize_all(demo_copy)
    assert outcome.success
    for name in ("audit_log", "dataset_versions", "alerts", "experiment_runs", "lineage_graph"):
        assert demo_copy.artifacts_dir / ARTIFACT_FILES[name] not in PARSED, f"{name}: read as columns, never as dicts"
    reported = json.loads((demo_copy.artifacts_dir / ARTIFACT_FILES["test_results"]).read_text())["results"]
    PARSED.clear()
    again = [r.as_dict() for r in evaluate(plain(demo_copy.artifacts_dir), CONTENT_RULES)]
    content = [r for r in reported if r["rule"] in {x["rule"] for x in again}]
    assert content == json.loads(json.dumps(again)), "the test report's verdicts are the parsed records'"


def test_a_projection_that_disagreed_with_the_records_never_makes_a_violation(
    owned_demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were pyarrow ever to read a value otherwise than json (the guards say it cannot), the
    violation it would cause is judged again on the parsed records, and their verdict stands."""
    import pyarrow as pa

    from dataops_platform.artifacts import columns

    real = columns.read

    def garbling(path: Path, fields: columns.Fields, expected: tuple[int, ...]) -> Projection | None:
        view = real(path, fields, expected)
        if view is None:
            return None
        table = view.table
        for name in ("object_ref", "related_object", "parent_version"):
            if name in table.column_names:
                garbled = pa.array(["garbled:" + str(x) for x in table.column(name).to_pylist()], pa.string())
                table = table.set_column(table.column_names.index(name), name, garbled)
        return Projection(table, view.source)

    monkeypatch.setattr(columns, "read", garbling)
    a = Artifacts(owned_demo)
    got = {r.name: r.as_dict() for r in evaluate(a, CONTENT_RULES)}
    assert isinstance(a.projection("alerts"), Projection), "the rules did read garbled projections"
    want = {r.name: r.as_dict() for r in evaluate(plain(owned_demo), CONTENT_RULES)}
    assert got == want
    assert not any("garbled" in v for r in got.values() for v in r["violations"])


def test_the_lineage_lists_are_projected_only_from_the_items_they_were_made_of(
    demo_home: tuple[Settings, MaterializeOutcome], tmp_path: Path
) -> None:
    settings, _ = demo_home
    root = tmp_path / "artifacts"
    shutil.copytree(settings.artifacts_dir, root, ignore=shutil.ignore_patterns(".state"))
    items = own_lineage(root, settings.artifacts_dir)
    graph = read_artifact(root / ARTIFACT_FILES["lineage_graph"])
    lists = Artifacts(root).projection("lineage_graph")
    assert isinstance(lists["edges"], Projection) and isinstance(lists["nodes"], Projection)
    assert list(lists["edges"]) == graph["edges"] and list(lists["nodes"]) == graph["nodes"]
    items["edges"].write_bytes(items["edges"].read_bytes()[:-10] + b"\n")  # the items file changed since
    assert Artifacts(root).projection("lineage_graph") == graph, "the graph itself, parsed"
    PARSED.clear()
    own_lineage(root, settings.artifacts_dir)
    path = root / ARTIFACT_FILES["lineage_graph"]
    path.write_text(path.read_text(encoding="utf-8").replace('"derived_from"', '"derived_frum"'), encoding="utf-8")
    got = Artifacts(root).projection("lineage_graph")
    assert not isinstance(got["edges"], Projection) and "derived_frum" in {e["type"] for e in got["edges"]}


# -- hostile review (helper h1): each was a false pass or a crash ------------------------------
def chain(n: int) -> list[dict]:
    rows, prev = [], GENESIS
    for i in range(1, n + 1):
        r = {"seq": i, "at": "2026-01-01T00:00:00+00:00", "actor": "u", "role": "admin", "tenant": "t", "project": "p",
             "action": "tenant.create", "object_ref": f"tenant:t{i}", "outcome": "allowed", "details": "{}",
             "prev_hash": prev}  # fmt: skip
        r["hash"] = prev = chain_hash(*(r[k] for k in checks._CHAIN_FIELDS))
        rows.append(r)
    return rows


def test_a_projection_takes_only_integer_indexes_as_a_list_does(tmp_path: Path) -> None:
    write_artifact(tmp_path, "audit_log", chain(3))
    own(tmp_path, "audit_log")
    view = Artifacts(tmp_path).projection("audit_log")
    assert isinstance(view, Projection)
    for index in (2.0, 1.5, "1"):
        with pytest.raises(TypeError):
            view[index]
    # The anchor's seq a float: rule 11 cannot be evaluated, on the projection as on the records.
    write_artifact(tmp_path, "dataset_versions", [])
    (tmp_path / ARTIFACT_FILES["audit_anchor"]).write_text(json.dumps({"seq": 3.0, "hash": chain(3)[2]["hash"]}))
    got = checks.audit_trail_intact(Artifacts(tmp_path))
    assert not got.passed and "TypeError" in got.violations[0]
    for seq in (-1, -7):  # negative: not an index from the end, on the projection as on the records
        (tmp_path / ARTIFACT_FILES["audit_anchor"]).write_text(json.dumps({"seq": seq, "hash": chain(3)[2]["hash"]}))
        for a in (Artifacts(tmp_path), plain(tmp_path)):
            assert checks.audit_trail_intact(a).violations == [
                f"audit anchor seq {seq} names no record: the anchor is not one the platform wrote"
            ]


def test_what_an_artifacts_object_read_is_what_its_results_are_remembered_by(tmp_path: Path) -> None:
    write_artifact(tmp_path, "dataset_versions", [])
    rows = chain(3)
    write_artifact(tmp_path, "audit_log", rows)
    held = Artifacts(tmp_path)
    held["audit_log"]  # read before the platform rewrites the file with a tampered record
    bad = [dict(r) for r in rows]
    bad[1]["details"] = "tampered"
    write_artifact(tmp_path, "audit_log", bad)
    own(tmp_path, "audit_log")
    assert checks.audit_trail_intact(held).passed, "the object judges what it read"
    fresh = checks.audit_trail_intact(Artifacts(tmp_path))
    assert fresh.violations == ["audit seq 2 content does not match its hash"], "not the held object's verdict"
    early = Artifacts(tmp_path / "later")  # made before its audit log existed
    write_artifact(tmp_path / "later", "audit_log", rows)
    own(tmp_path / "later", "audit_log")
    write_artifact(tmp_path / "later", "dataset_versions", [])
    assert checks.audit_trail_intact(Artifacts(tmp_path / "later")).passed
    assert "cannot evaluate" in checks.audit_trail_intact(early).violations[0], "missing for that object"
    deleted = Artifacts(tmp_path / "later")
    del deleted["audit_log"]
    assert "cannot evaluate" in checks.audit_trail_intact(deleted).violations[0]


@pytest.mark.parametrize(
    "body",
    [
        b"\xef\xbb\xbf" + b'{"alert_id": "a1"}\n',  # a byte order mark, which json refuses
        b'{"alert_id": "a1", "note": "\xff"}\n',  # invalid UTF-8 in a field not projected
        b"null\n",  # a line that is no record (pyarrow crashed on it)
        b'{"alert_id": "a1"}\nnull\n',
        b'{"alert_id": "a1"}\n{}\n',  # a record without an id
        b'{"alert_id": "a1"}\r\n',
        b'{"alert_id": "a1",\r "note": 1}\n',  # a carriage return between tokens: read_artifact splits the line there
        b'{"alert_id": "a1"} \n',
    ],
)
def test_a_file_that_is_not_one_object_per_line_is_never_projected(tmp_path: Path, body: bytes) -> None:
    """Even a file the parse cache was told is the platform's (a refresh's state can vouch for a
    file someone else edited: the trust point of docs/refresh.md) is projected only when every line
    is one object, the whole file valid UTF-8, and every record has its id."""
    path = tmp_path / ARTIFACT_FILES["alerts"]
    path.parent.mkdir(parents=True)
    path.write_bytes(body)
    own(tmp_path, "alerts")
    got = Artifacts(tmp_path)
    try:
        exact = read_artifact(path)
    except ValueError:
        assert "does not parse" in got.problems["alerts"] or not isinstance(got.get("alerts"), Projection)
        return
    assert got.projection("alerts") == exact


def test_a_too_deeply_nested_artifact_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / ARTIFACT_FILES["alerts"]
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"alert_id": "a1", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n")
    a = Artifacts(tmp_path)
    assert "alerts" not in a and "does not parse" in a.problems["alerts"]


def test_a_review_of_an_object_without_a_project_is_reported_as_before() -> None:
    arts = {"incident_reviews": [{"review_id": "r1", "project_id": "p1", "related_refs": ["alert:a1"]}],
            "alerts": [{"alert_id": "a1", "project_id": None, "severity": "low", "status": "open"}],
            "rollback_events": [], "sla_report": {"breaches": []}, "dataset_versions": [], "experiment_runs": []}  # fmt: skip
    got = checks.incident_reviews_complete(arts)
    assert got.violations == ["review r1 of p1 relates alert:a1 of None"]


def test_another_process_projects_what_the_refresh_state_vouches_for(
    demo_home: tuple[Settings, MaterializeOutcome], tmp_path: Path
) -> None:
    """A Celery worker's check, or `dataops` on the home, did not run the refresh: the list's state,
    which names the identity of the file the refresh wrote, vouches for it, as it does for the
    refresh itself; a file changed since is parsed."""
    settings, _ = demo_home
    PARSED.clear()  # as a process of its own
    a = Artifacts(settings.artifacts_dir)
    assert isinstance(a.projection("audit_log"), Projection) and isinstance(a.projection("alerts"), Projection)
    home = tmp_path / "home"
    shutil.copytree(settings.artifacts_dir, home)  # copies: other inodes than the state names
    PARSED.clear()
    assert not isinstance(Artifacts(home).projection("audit_log"), Projection)


@pytest.mark.parametrize("shift", [-2, -1, 0, 1])
def test_lines_are_checked_across_read_chunks(tmp_path: Path, shift: int) -> None:
    """The file is scanned 4 MiB at a time: a line end just before, at or after a chunk's edge."""
    from dataops_platform.artifacts.columns import _object_lines

    line = b'{"alert_id": "' + b"x" * (64 - 17 + shift) + b'"}\n'
    count = (4 << 20) // len(line) + 3
    path = tmp_path / "a.jsonl"
    path.write_bytes(line * count)
    assert _object_lines(path) == count
    path.write_bytes(line * (count - 1) + line[:-2] + b" \n")  # the last line does not end with "}"
    assert _object_lines(path) is None
    broken = bytearray(line * count)
    at = (4 << 20) + shift
    broken[at] = ord("\n") if broken[at] != ord("\n") else ord("x")
    path.write_bytes(bytes(broken))
    assert _object_lines(path) is None


def experiments(n: int = 6) -> list[dict]:
    """Experiment records as the platform writes them: free-form metrics, deltas and params."""
    return [
        {"baseline_ref": None if i == 0 else "t.exp_000", "dataset_version": f"t.ds_{i % 3}",
         "deltas": {"f1": -0.01 * i} if i else {},
         "experiment_id": f"t.exp_{i:03}", "metric_summary": {"f1": 0.8, "ms": i} if i % 2 else {},
         "mlflow_run": {"experiment_id": "1", "lifecycle_stage": "deleted" if i == 4 else "active", "run_id": f"r{i}",
                        "status": "FINISHED"} if i % 3 else None,
         "mlflow_run_id": f"r{i}" if i % 3 else None, "params": {"C": i, "deep": [{"x": [i]}]} if i != 5 else {},
         "project_id": "p", "recorded_at": "2026-10-03 06:20:42.995223+00:00", "regression_kind": None,
         "status": ["completed", "regressed", "failed"][i % 3]}
        for i in range(n)
    ]  # fmt: skip


def test_the_free_form_fields_are_read_again_from_the_very_file_projected(tmp_path: Path) -> None:
    """Rules 5, 7 and 8 read an experiment's fixed fields as columns; the metrics and the report walk
    the free-form ones once from the file the projection was read from, held open, nothing kept."""
    from dataops_platform.artifacts.columns import whole_records

    rows = experiments(9)
    path = write_artifact(tmp_path, "experiment_runs", rows)
    own(tmp_path, "experiment_runs")
    view = projected(Artifacts(tmp_path), "experiment_runs")
    assert isinstance(view, Projection) and path not in PARSED
    assert list(whole_records(view)) == rows and list(view[2:5].whole()) == rows[2:5]
    assert view[1]["mlflow_run"] == rows[1]["mlflow_run"] and view[0]["mlflow_run"] is None
    write_artifact(tmp_path, "experiment_runs", experiments(2))  # replaced: the projection's file is still the one it read
    assert list(view.whole()) == rows
    PARSED.clear()
    own(tmp_path, "experiment_runs")
    fresh = projected(Artifacts(tmp_path), "experiment_runs")
    with path.open("r+b") as f:  # the same inode edited in place after the projection was taken
        f.write(b'{"alert_ids"')
    with pytest.raises(ValueError, match="changed while it was read"):
        list(fresh.whole())
    assert list(whole_records(rows)) == rows, "parsed records are their own whole records"


def test_a_run_object_without_its_id_is_never_projected(tmp_path: Path) -> None:
    """pyarrow reads `{}` as a run with every field null, which a reader would take for a run: such a
    file is read by json, and rule 7 says the run does not exist, as on the parsed records."""
    rows = experiments(4)
    rows[1]["mlflow_run"] = {}
    write_artifact(tmp_path, "experiment_runs", rows)
    write_artifact(tmp_path, "dataset_versions", [])
    own(tmp_path, "experiment_runs")
    a = Artifacts(tmp_path)
    assert projected(a, "experiment_runs") == rows, "parsed, not projected"
    got = checks.experiments_reference_versions(a)
    assert any("t.exp_001 has no existing MLflow run" in v for v in got.violations)
    assert got.as_dict() == checks.experiments_reference_versions({"experiment_runs": rows, "dataset_versions": []}).as_dict()


def test_an_exact_verdict_reads_lines_as_json_does_without_holding_them(tmp_path: Path) -> None:
    """What a violation found on a projection is judged again on (`Artifacts.parsed_once`): every line
    parsed by json, each record its projected fields (a missing one stays missing), walked again
    from the file each time, none kept."""
    from dataops_platform.artifacts.columns import PROJECTED, ParsedLines, parse_lines, whole_records

    rows = experiments(7)
    del rows[3]["status"]  # a record without a field: still without it, so a rule's KeyError is the same
    path = tmp_path / ARTIFACT_FILES["experiment_runs"]
    path.parent.mkdir(parents=True)
    path.write_bytes(
        b"".join(json.dumps(r).encode() + b"\n" for r in rows[:4])
        + b"  \n\n"
        + b"".join(json.dumps(r).encode() + b"\n" for r in rows[4:])
    )
    lines = Artifacts(tmp_path).parsed_once("experiment_runs")
    assert isinstance(lines, ParsedLines) and path not in PARSED
    names = [f for f, _ in PROJECTED["experiment_runs"]]
    assert list(lines) == [{k: r[k] for k in names if k in r} for r in rows] and "status" not in lines[3]
    assert list(whole_records(lines)) == rows == read_artifact(path), "blank lines skipped as read_artifact skips them"
    assert (
        len(lines) == 7
        and lines[-1]["experiment_id"] == "t.exp_006"
        and [r["experiment_id"] for r in lines[5:]] == ["t.exp_005", "t.exp_006"]
    )
    for bad in (b'{"a": 1}\n{"a": \n', b'{"a": 1}\r\n', b'{"a": "\xff"}\n', b"[" * 100_000 + b"\n"):
        path.write_bytes(bad)
        assert parse_lines(path, ("a",)) is None, bad[:20]
    path.write_bytes(b'{"a": 1}\n{"a": 2}\n')
    again = parse_lines(path, ("a",))
    with path.open("r+b") as f:
        f.write(b'{"a": 3}')
    with pytest.raises(ValueError, match="changed while it was read"):
        list(again)


def test_a_full_build_is_written_as_it_comes_and_never_half(tmp_path: Path) -> None:
    """A full build streams its items into the file: keys out of order (a collation) are refused
    before the file is replaced, and a failure half way leaves the last file as it was."""
    from dataops_platform.artifacts.incremental import _load_keys, _Unordered, _write_full

    target, keys, offsets = tmp_path / "list.jsonl", tmp_path / "keys.json", tmp_path / "offsets"
    assert _write_full(target, keys, offsets, iter([("a", b"1\n"), ("b", b"22\n")])) == 2
    assert target.read_bytes() == b"1\n22\n" and _load_keys(keys) == ["a", "b"]
    with pytest.raises(_Unordered):
        _write_full(target, keys, offsets, iter([("b", b"x\n"), ("a", b"y\n")]))
    assert target.read_bytes() == b"1\n22\n" and _load_keys(keys) == ["a", "b"]

    def failing():  # MLflow down half way through the experiments
        yield "a", b"new\n"
        raise ConnectionError("MLflow is down")

    with pytest.raises(ConnectionError):
        _write_full(target, keys, offsets, failing())
    assert target.read_bytes() == b"1\n22\n" and sorted(p.name for p in tmp_path.iterdir()) == [
        "keys.json",
        "list.jsonl",
        "offsets",
    ]
    assert _write_full(target, keys, offsets, [("b", b"x\n"), ("a", b"y\n")], ordered=False) == 2


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads the resident set from /proc")
def test_a_step_hands_the_heap_pages_it_freed_back() -> None:
    """Lines a little larger than pymalloc's limit come from glibc's heap, which keeps freed pages:
    without `give_back` the resident memory after a big build stayed at its high-water mark."""
    from dataops_platform.artifacts import collector

    def resident() -> int:
        return next(int(x.split()[1]) for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmRSS")) << 10

    collector.give_back()
    lines = [os.urandom(8) * 80 for _ in range(400_000)]  # 640 bytes each: about 270 MB
    keep = lines[-1]
    del lines
    before = resident()
    collector.give_back()
    assert before - resident() > 100 << 20 and keep


def test_an_exact_verdict_on_a_file_a_projection_read_finds_its_lines_without_parsing_twice(tmp_path: Path) -> None:
    """A file a projection read whole is known to be one object a line: its lines are found by numpy,
    across read chunks, and walking it gives json's records; a carriage return is still refused."""
    from dataops_platform.artifacts.columns import ParsedLines, parse_lines, whole_records

    rows = [dict(r, pad="x" * 700) for r in experiments(7000)]  # about 6 MB: lines across the 4 MiB reads
    path = write_artifact(tmp_path, "experiment_runs", rows)
    own(tmp_path, "experiment_runs")
    a = Artifacts(tmp_path)
    assert isinstance(projected(a, "experiment_runs"), Projection) and PARSED.verified_as(path) is not None
    lines = a.parsed_once("experiment_runs")
    assert isinstance(lines, ParsedLines) and len(lines) == len(rows)
    assert list(whole_records(lines)) == rows and lines[5000]["experiment_id"] == rows[5000]["experiment_id"]
    assert [r["experiment_id"] for r in lines[4990:5010]] == [r["experiment_id"] for r in rows[4990:5010]]
    path.write_bytes(b'{"a": 1,\r "b": 2}\n')
    assert parse_lines(path, ("a",), verified=identity_of(path)) is None


def identity_of(path: Path) -> tuple[int, ...]:
    from dataops_platform.artifacts.files import identity

    return identity(path.stat())


def test_a_full_build_on_postgresql_asks_for_text_keys_in_python_order() -> None:
    """A full build is written as its rows come: on PostgreSQL a text key is ordered by its bytes
    (collation "C", Python's order), not by the database's locale, which would make it read twice."""
    from sqlalchemy import select
    from sqlalchemy.dialects import postgresql, sqlite

    from dataops_platform.artifacts.build import _in_key_order
    from dataops_platform.store.models import AuditRecord, Experiment

    def ordered(column: Any, dialect: Any) -> str:
        return str(select(column).order_by(_in_key_order(column, dialect)).compile(dialect=dialect))

    assert ordered(Experiment.experiment_id, postgresql.dialect()).endswith('ORDER BY experiments.experiment_id COLLATE "C"')
    assert ordered(AuditRecord.seq, postgresql.dialect()).endswith("ORDER BY audit_records.seq")
    assert ordered(Experiment.experiment_id, sqlite.dialect()).endswith("ORDER BY experiments.experiment_id")


def test_the_chain_is_walked_from_the_file_past_its_cursor_and_its_hashes_are_not_held(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit projection holds what rule 11's audited-object test and the metrics read; the hash
    chain is walked on the records themselves, parsed from the projected file, and, once a clean
    walk left a cursor, only from the records appended after it: a record tampered with there is
    found, one tampered with in the verified prefix makes the walk start at seq 1 and is found."""
    from dataops_platform.artifacts import columns
    from dataops_platform.rules.chain_cursor import STATE_FILE

    write_artifact(tmp_path, "dataset_versions", [])
    rows = chain(40)
    write_artifact(tmp_path, "audit_log", rows[:30])
    own(tmp_path, "audit_log")
    view = Artifacts(tmp_path).projection("audit_log")
    assert isinstance(view, Projection) and set(view.table.column_names) == {"seq", "action", "object_ref", "outcome"}
    assert checks.audit_trail_intact(Artifacts(tmp_path)).passed and (tmp_path / STATE_FILE).exists()

    walked: list[tuple[int, int]] = []  # (first, end) of every walk of whole records
    real = columns.ParsedLines._walk

    def spy(self: Any, start: int, stop: int, fields: tuple[str, ...]) -> Any:
        if not fields:
            walked.append((start, stop))
        return real(self, start, stop, fields)

    monkeypatch.setattr(columns.ParsedLines, "_walk", spy)
    tampered = [dict(r) for r in rows]
    tampered[35]["details"] = '{"changed": true}'  # its hash no longer covers it
    PARSED.clear()  # a new run
    write_artifact(tmp_path, "audit_log", tampered)
    own(tmp_path, "audit_log")
    got = checks.audit_trail_intact(Artifacts(tmp_path))
    assert got.violations == ["audit seq 36 content does not match its hash"]
    # The cursor's last record (is it the one the state names?), then only what was appended; then
    # the violation is judged again on the records as json parses them, from seq 1 (rules.registry).
    assert walked[:2] == [(29, 30), (30, 40)] and walked[2][0] == 0, walked

    tampered = [dict(r) for r in rows]
    tampered[3]["actor"] = "someone else"  # in the prefix the cursor verified: other bytes there
    PARSED.clear()  # a new run
    write_artifact(tmp_path, "audit_log", tampered)
    own(tmp_path, "audit_log")
    walked.clear()
    got = checks.audit_trail_intact(Artifacts(tmp_path))
    assert got.violations == ["audit seq 4 content does not match its hash"] and walked[0] == (0, 40), walked


def test_the_metrics_and_the_report_walk_the_free_form_fields_once(owned_demo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The experiments' metrics, deltas and params are parsed from the file once a run, for the
    metrics and the report together (`artifacts.free_form`), and what each computes from them is
    what it computes on the parsed records."""
    from dataops_platform.artifacts import columns
    from dataops_platform.artifacts.free_form import ExperimentFacts, experiment_facts, primary_metrics
    from dataops_platform.report.data import _experiments

    walks: list[int] = []
    real = columns.ParsedLines._walk

    def spy(self: Any, start: int, stop: int, fields: tuple[str, ...]) -> Any:
        if not fields and self.file.path.name == "experiment_runs.jsonl":
            walks.append(stop - start)
        return real(self, start, stop, fields)

    monkeypatch.setattr(columns.ParsedLines, "_walk", spy)
    a = Artifacts(owned_demo)
    metrics = compute_metrics(a)
    report = _experiments(ReportView(Artifacts(owned_demo), ""))
    n = len(read_artifact(owned_demo / ARTIFACT_FILES["experiment_runs"]))
    assert walks == [n], "one walk of every experiment, shared"
    fresh = plain(owned_demo)
    assert report == _experiments(fresh) and metrics == compute_metrics(fresh)
    facts = experiment_facts(fresh["experiment_runs"], primary_metrics(fresh["governance_policy"]))
    assert isinstance(facts, ExperimentFacts) and len(facts.delta) == n and any(d is not None for d in facts.delta)
    assert experiment_facts(fresh["experiment_runs"], {}) is not facts, "parsed records are walked every time"


@pytest.mark.parametrize("policy", [{"regression": None}, {"regression": {"p": "f1"}}, {"regression": []}, None, {}])
def test_the_free_form_facts_of_careless_records_and_policies_count_as_empty(policy: Any) -> None:
    """A policy whose regression rules are not objects names no primary metric; a free-form field
    missing, or not an object where one is read, counts as empty: the metrics still count, and the
    report shows no delta, rather than either failing on what is only shown."""
    from dataops_platform.artifacts.free_form import experiment_facts, primary_metrics

    rows = experiments(4)
    rows[1]["deltas"] = [1, 2]
    rows[2]["metric_summary"] = "0.9"
    del rows[3]["params"]
    facts = experiment_facts(rows, primary_metrics(policy))
    assert primary_metrics(policy) == {}
    assert list(facts.with_params) == [1, 1, 1, 0] and list(facts.with_summary) == [0, 1, 1, 1]
    assert facts.delta == [None, None, None, None] and facts.value == [None, None, None, None]
    with pytest.raises(TypeError, match="not an object"):
        experiment_facts([*rows, [1]], {})
    named = experiment_facts(rows, primary_metrics({"regression": {"p": {"primary_metric": "f1"}}}))
    assert named.delta == [None, None, -0.02, -0.03] and named.value == [None, 0.8, None, 0.8]
