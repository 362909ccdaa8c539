"""Each artifact is parsed once per process while it is unchanged (issue 17), and a change is
never missed: a rewrite, an in-place edit of the same size inside the file-time tick, a file
removed or broken. The rules evaluated on shared values give the results a fresh evaluation gives.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dataops_platform.artifacts.files import (
    ARTIFACT_FILES,
    COMPACT_ABOVE,
    PARSED,
    Artifacts,
    ParseCache,
    read_artifact,
    write_artifact,
)
from dataops_platform.metrics import CONTENT_RULES, compute_metrics, content_rule_results
from dataops_platform.report.render import ReportView
from dataops_platform.rules import evaluate
from dataops_platform.settings import Settings

ALERTS = [{"alert_id": f"t01.alert_{i:03d}", "status": "open", "note": "é ü"} for i in range(50)]


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    PARSED.clear()


def test_an_unchanged_file_is_parsed_once_and_shared(tmp_path: Path) -> None:
    write_artifact(tmp_path, "alerts", ALERTS)
    first, second = Artifacts(tmp_path), Artifacts(tmp_path)
    assert first["alerts"] == ALERTS
    assert first["alerts"] is second["alerts"], "the second Artifacts reuses the parsed value"


def test_a_rewrite_is_read_again(tmp_path: Path) -> None:
    write_artifact(tmp_path, "alerts", ALERTS)
    before = Artifacts(tmp_path)["alerts"]
    write_artifact(tmp_path, "alerts", ALERTS[:3])
    after = Artifacts(tmp_path)["alerts"]
    assert after == ALERTS[:3] and after is not before


def test_an_in_place_edit_of_the_same_size_and_time_is_seen(tmp_path: Path) -> None:
    """The case file times alone miss: same inode, same size, the modification time put back."""
    path = write_artifact(tmp_path, "alerts", ALERTS)
    assert Artifacts(tmp_path)["alerts"][7]["status"] == "open"
    st = path.stat()
    text = path.read_text(encoding="utf-8")
    edited = text.replace('"status": "open"', '"status": "shut"', 8)
    assert len(edited) == len(text)
    path.write_text(edited, encoding="utf-8")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_mtime_ns == st.st_mtime_ns and path.stat().st_ino == st.st_ino
    assert Artifacts(tmp_path)["alerts"][7]["status"] == "shut"


def test_a_broken_or_removed_file_is_a_problem_again_and_again(tmp_path: Path) -> None:
    path = write_artifact(tmp_path, "alerts", ALERTS)
    Artifacts(tmp_path)
    path.write_text('{"alert_id": "x"\n', encoding="utf-8")
    for _ in range(2):
        a = Artifacts(tmp_path)
        assert "alerts" not in a and a.problems["alerts"].startswith("processed/alerts.jsonl does not parse")
    path.unlink()
    assert Artifacts(tmp_path).problems["alerts"] == "processed/alerts.jsonl is missing"
    write_artifact(tmp_path, "alerts", ALERTS)
    assert Artifacts(tmp_path)["alerts"] == ALERTS


def test_parsed_values_equal_a_plain_read(tmp_path: Path) -> None:
    write_artifact(tmp_path, "alerts", ALERTS)
    write_artifact(tmp_path, "sla_report", {"b": [1, 2], "a": "ü"})
    write_artifact(tmp_path, "report_md", "# title\r\nline\rend\n")
    a = Artifacts(tmp_path)
    for name in ("alerts", "sla_report", "report_md"):
        assert a[name] == read_artifact(tmp_path / ARTIFACT_FILES[name]), name


def test_a_jsonl_artifact_is_written_record_by_record_as_before(tmp_path: Path) -> None:
    rows = [{"b": 1, "a": "ü", "at": Path("/x")}, {"z": None}]
    path = write_artifact(tmp_path, "alerts", rows)
    old = "".join(json.dumps(r, sort_keys=True, default=str, ensure_ascii=False) + "\n" for r in rows)
    assert path.read_text(encoding="utf-8") == old
    assert not path.with_suffix(".jsonl.tmp").exists()


def test_a_new_run_forgets_the_previous_runs_values(tmp_path: Path) -> None:
    write_artifact(tmp_path, "alerts", ALERTS)
    PARSED.begin("run-1")
    first = Artifacts(tmp_path)["alerts"]
    PARSED.begin("run-1")
    assert Artifacts(tmp_path)["alerts"] is first, "the same run keeps its values"
    PARSED.begin("run-2")
    assert Artifacts(tmp_path)["alerts"] is not first, "a long-lived worker keeps one run's artifacts, not every run's"


# -- the rules on shared values ------------------------------------------------------------------
@pytest.fixture
def demo_artifacts(demo_home: tuple[Settings, object], tmp_path: Path) -> Path:
    settings, _ = demo_home
    root = tmp_path / "artifacts"
    shutil.copytree(settings.artifacts_dir, root)
    return root


def test_the_content_rules_are_evaluated_once_for_unchanged_artifacts(demo_artifacts: Path) -> None:
    a = Artifacts(demo_artifacts)
    results = content_rule_results(a)
    assert content_rule_results(Artifacts(demo_artifacts)) is results, "a second Artifacts of the same files"
    assert content_rule_results(ReportView(a, "| tenants | 3 |")) is results, "the report's view of them"
    fresh = evaluate(dict(a), CONTENT_RULES)
    assert [r.as_dict() for r in results] == [r.as_dict() for r in fresh]


def test_a_changed_input_is_evaluated_again(demo_artifacts: Path) -> None:
    before = content_rule_results(Artifacts(demo_artifacts))
    path = demo_artifacts / ARTIFACT_FILES["alerts"]
    rows = read_artifact(path)
    rows[0]["related_object"] = "version:nowhere"
    write_artifact(demo_artifacts, "alerts", rows)
    a = Artifacts(demo_artifacts)
    after = content_rule_results(a)
    assert after is not before
    rule10 = next(r for r in after if r.name == "alerts_linked_and_closed")
    assert any("references missing version:nowhere" in v for v in rule10.violations)
    assert [r.as_dict() for r in after] == [r.as_dict() for r in evaluate(dict(a), CONTENT_RULES)]
    assert compute_metrics(a)["checks_failed"] == ["alerts_linked_and_closed"]


def test_a_rule_that_cannot_be_evaluated_names_the_problems_of_its_own_call(demo_artifacts: Path) -> None:
    (demo_artifacts / ARTIFACT_FILES["sla_report"]).unlink()
    first = content_rule_results(Artifacts(demo_artifacts))
    assert any("sla_report.json is missing" in v for r in first for v in r.violations)
    (demo_artifacts / ARTIFACT_FILES["operating_model"]).unlink()  # read by no content rule
    second = content_rule_results(Artifacts(demo_artifacts))
    assert second is not first, "the messages list the problems, so a new problem re-evaluates"
    assert any("operating_model.json is missing" in v for r in second for v in r.violations)


def test_a_check_parses_only_what_its_rule_reads(demo_artifacts: Path) -> None:
    """A check early in a refresh must not parse the big files that are about to be rewritten."""
    a = Artifacts(demo_artifacts)
    spec = a["architecture_spec"]
    assert spec["layers"] and len(PARSED) == 1 and demo_artifacts / ARTIFACT_FILES["architecture_spec"] in PARSED
    assert "dataset_versions" in a and len(PARSED) == 2
    assert a.problems == {} and len(a) == len(ARTIFACT_FILES) and len(PARSED) == len(ARTIFACT_FILES)
    assert dict(a) == {name: read_artifact(demo_artifacts / relative) for name, relative in ARTIFACT_FILES.items()}


def test_a_json_artifact_is_written_in_pieces_as_before(tmp_path: Path) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)  # written by default=str
    nodes = [{"ref": f"version:v{i}", "kind": "version", "at": at} for i in range(COMPACT_ABOVE)]
    graph = {"nodes": nodes, "edges": [], "meta": {"ü": (1, 2.5, None), "empty": {}}}
    for value in (graph, "a string", 7, [], {}):
        path = write_artifact(tmp_path, "lineage_graph", value)
        old = json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False) + "\n"
        assert path.read_text(encoding="utf-8") == old


def test_a_json_artifact_with_a_long_list_is_written_on_one_line(tmp_path: Path) -> None:
    """Past COMPACT_ABOVE items the C encoder writes it, in batches: the same text as one call."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    nodes = tuple({"ref": f"version:v{i}", "kind": "ü", "at": at, "n": i / 7} for i in range(3 * 8192 + 5))
    graph = {"nodes": nodes, "edges": [{"x": [1, {"y": None}]}], "by_number": {1: "one"}, "meta": {}}
    path = write_artifact(tmp_path, "lineage_graph", graph)
    text = path.read_text(encoding="utf-8")
    assert text == json.dumps(graph, sort_keys=True, default=str, ensure_ascii=False) + "\n"
    assert text.count("\n") == 1 and Artifacts(tmp_path)["lineage_graph"]["nodes"][-1]["ref"] == "version:v24580"


def test_a_record_holding_a_line_separator_reads_back(tmp_path: Path) -> None:
    """U+2028 and U+0085 are written raw (ensure_ascii=False); str.splitlines() splits at them, so an
    alert titled with one made the whole artifact unreadable. Records are split at "\\n" only."""
    rows = [{"title": "pasted\u2028text\u0085here\u2029"}, {"title": "plain"}]
    path = write_artifact(tmp_path, "alerts", rows)
    assert read_artifact(path) == rows
    assert Artifacts(tmp_path)["alerts"] == rows, "read back in one call, as written"
    PARSED.clear()
    assert Artifacts(tmp_path)["alerts"] == rows, "parsed line by line, as another process reads it"


def test_what_this_process_wrote_reads_back_alike_both_ways(tmp_path: Path) -> None:
    rows = [{"id": i, "n": float(i) / 3, "tags": ["a", {"b": None}], "s": 'ü\\"q'} for i in range(3000)] + [{}]
    path = write_artifact(tmp_path, "experiment_runs", rows)
    fast = Artifacts(tmp_path)["experiment_runs"]
    PARSED.clear()
    slow = Artifacts(tmp_path)["experiment_runs"]
    assert fast == slow == read_artifact(path) == rows


def test_a_file_edited_after_it_was_written_is_read_line_by_line(tmp_path: Path) -> None:
    """Two records on one line parse as an array but not as JSONL: the edit is a parse problem."""
    path = write_artifact(tmp_path, "alerts", [{"a": 1}, {"b": 2}])
    path.write_text('{"a": 1}, {"b": 2}\n', encoding="utf-8")
    a = Artifacts(tmp_path)
    assert "alerts" not in a and "does not parse" in a.problems["alerts"]


def test_an_idle_process_drops_the_values(tmp_path: Path) -> None:
    """The in-process executor runs a run's steps back to back and keeps them; a Celery worker that
    has run no step for IDLE_SECONDS holds none of them."""
    cache = ParseCache()
    cache.IDLE_SECONDS = 0.2
    path = write_artifact(tmp_path, "alerts", ALERTS)
    with cache.step("run-1"):
        first = cache.read(path)
    with cache.step("run-1"):  # the next step, at once
        assert cache.read(path) is first
    time.sleep(0.1)
    assert path in cache, "not idle long enough yet"
    time.sleep(0.5)
    assert len(cache) == 0
    with cache.step("run-1"):
        assert cache.read(path) == ALERTS


def test_the_fast_read_of_an_own_file_holds_it_to_one_record_a_line(tmp_path: Path) -> None:
    """`_own_jsonl` joins the lines into one array: two records on one line would parse there, so
    it counts them against the lines and reads anything else line by line (which refuses it)."""
    from dataops_platform.artifacts.files import _own_jsonl

    path = tmp_path / "alerts.jsonl"
    assert _own_jsonl(b'{"a": 1}\n{"b": 2}\n', path) == [{"a": 1}, {"b": 2}]
    with pytest.raises(ValueError, match="Extra data"):
        _own_jsonl(b'{"a": 1}, {"b": 2}\n{"c": 3}\n', path)
    assert _own_jsonl(b"", path) == []
