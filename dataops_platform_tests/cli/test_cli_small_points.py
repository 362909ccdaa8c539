"""The smaller points of issue 15, each on the real entry point (and the REST API where it has a side):
text printed exactly as it is (no Rich markup read into values), a quality-gate rejection exiting 4,
`lineage impact` with real depths and bare ids, identical content told, fix-item owners checked."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from dataops_platform.clock import FixedClock
from dataops_platform.demo.sample_data import sample_records, write_records
from dataops_platform.governance.lineage import impact_rows
from dataops_platform.governance.platform import Platform
from dataops_platform.settings import Settings, load_settings
from dataops_platform_tests.api.conftest import live_server
from dataops_platform_tests.conftest import T0, make_platform
from dataops_platform_tests.helpers import CliResult, audit_count, run_cli_inprocess

P01, P02 = "p01_retail_search", "p02_legal_sft"


def cli(home: Path, *args: str, user: str | None = None, as_json: bool = False) -> CliResult:
    return run_cli_inprocess(home, *args, user=user, as_json=as_json)


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """The reference organisation (example spec), nothing registered yet."""
    platform = make_platform(load_settings(tmp_path / "home"), FixedClock(T0))
    platform.close()
    yield tmp_path / "home"


def data(tmp_path: Path, name: str, seed: int = 1, **change: object) -> Path:
    records = sample_records(40, seed=seed)
    for r in records:
        r.update(change)
    return write_records(records, tmp_path / name)


def register(home: Path, project: str, path: Path, user: str) -> CliResult:
    result = cli(home, "version", "register", project, str(path), user=user, as_json=True)
    assert result.code == 0, result.stderr
    return result


# ---------------------------------------------------------------------------------------------
# Rich markup never eats a value; a quality-gate rejection exits 4 naming every failed condition
# ---------------------------------------------------------------------------------------------
def test_a_rejection_prints_its_reason_whole_and_exits_4(home: Path, tmp_path: Path) -> None:
    version = register(home, P01, data(tmp_path, "nulls.jsonl", quality_signals=None), "dan").json["version_id"]
    result = cli(home, "version", "validate", version, user="quinn")
    assert result.code == 4, (result.stdout, result.stderr)
    assert "rejected by the quality gate" in result.stdout
    assert "\n  - null_rate[quality_signals] 1.0 > 0.02\n" in result.stdout, result.stdout  # p01's max_null_rate
    as_data = cli(home, "version", "validate", version, user="quinn", as_json=True)
    assert as_data.code == 4, "validating again: an illegal transition"
    shown = cli(home, "version", "show", version, user="quinn", as_json=True).json
    assert shown["status"] == "rejected" and "null_rate[quality_signals] 1.0 > 0.02" in shown["quality_failures"]


def test_a_validated_version_still_exits_0(home: Path, tmp_path: Path) -> None:
    version = register(home, P01, data(tmp_path, "ok.jsonl"), "dan").json["version_id"]
    result = cli(home, "version", "validate", version, user="quinn")
    assert result.code == 0, result.stderr
    assert "validated: status validated" in result.stdout


def test_bracketed_text_is_printed_as_given_in_tables_and_errors(home: Path) -> None:
    title = "[bold]f1[/bold] fell [red]8 points[/red] on split[test]"
    opened = cli(home, "alert", "open", "project:p01_retail_search", "--severity", "low", "--category", "operational",
                 "--title", title, user="omar")  # fmt: skip
    assert opened.code == 0, opened.stderr
    assert title in opened.stdout, opened.stdout
    bad = cli(home, "lineage", "impact", "[bold]x[/bold]", user="omar")
    assert bad.code == 2
    assert "'[bold]x[/bold]'" in bad.error_text


# ---------------------------------------------------------------------------------------------
# lineage impact: real depths without --depth, bare ids when unambiguous
# ---------------------------------------------------------------------------------------------
def test_impact_without_depth_shows_each_objects_shortest_distance(demo_home: tuple[Settings, object]) -> None:
    settings, _ = demo_home
    rows = cli(settings.home_dir, "lineage", "impact", "version:t02_legal.ds_v002", user="omar", as_json=True).json
    assert rows and all(isinstance(r["depth"], int) and r["depth"] >= 1 for r in rows), rows
    platform = Platform(settings)
    try:
        with platform.store.read() as session:
            bounded = impact_rows(session, "version:t02_legal.ds_v002", 50)
    finally:
        platform.close()
    assert [(r["ref"], r["depth"]) for r in rows] == [(r.ref, r.depth) for r in bounded]
    assert {r["depth"] for r in rows} >= {1, 2}, "more than one hop below"
    text = cli(settings.home_dir, "lineage", "impact", "version:t02_legal.ds_v002", user="omar")
    body = [line for line in text.stdout.splitlines() if "│" in line and ":" in line]
    assert len(body) == len(rows) and all(line.rstrip(" │").split()[-1].isdigit() for line in body), text.stdout


def test_impact_takes_a_bare_id_and_refuses_an_ambiguous_one(demo_home: tuple[Settings, object]) -> None:
    settings, _ = demo_home
    home = settings.home_dir
    full = cli(home, "lineage", "impact", "version:t01_retail.ds_v001", user="omar", as_json=True).json
    assert cli(home, "lineage", "impact", "t01_retail.ds_v001", user="omar", as_json=True).json == full
    # dan reads p01 only: ds_v001 is his project's, whatever other tenants hold.
    assert cli(home, "lineage", "impact", "ds_v001", user="dan", as_json=True).json == full
    ambiguous = cli(home, "lineage", "impact", "ds_v001", user="omar")  # ops in all three tenants
    assert ambiguous.code == 2
    for candidate in ("version:t01_retail.ds_v001", "version:t02_legal.ds_v001", "version:t03_health.ds_v001"):
        assert candidate in ambiguous.error_text
    assert "ambiguous" in ambiguous.error_text
    # Another tenant's object is neither taken nor named.
    hidden = cli(home, "lineage", "impact", "t02_legal.ds_v001", user="dan")
    assert hidden.code == 2 and "t02_legal.ds_v001" in hidden.error_text and "not found" in hidden.error_text
    experiment = cli(home, "lineage", "impact", "exp_003", user="lena", as_json=True)
    assert experiment.code == 0, experiment.stderr  # lena reads p02 only
    assert experiment.json == cli(home, "lineage", "impact", "experiment:t02_legal.exp_003", user="lena", as_json=True).json
    unknown = cli(home, "lineage", "impact", "zz_9", user="omar")
    assert unknown.code == 2 and "KIND:ID" in unknown.error_text and "ds_v001: version" in unknown.error_text


# ---------------------------------------------------------------------------------------------
# identical content again: registered, and told
# ---------------------------------------------------------------------------------------------
def test_registering_identical_content_names_the_earlier_versions(home: Path, tmp_path: Path) -> None:
    first = register(home, P01, data(tmp_path, "a.jsonl"), "dan").json
    assert first["same_content_as"] == []
    copy = tmp_path / "copy_of_a.jsonl"
    copy.write_bytes((tmp_path / "a.jsonl").read_bytes())
    second = cli(home, "version", "register", P01, str(copy), user="dan")
    assert second.code == 0, second.stderr
    assert "t01_retail.ds_v002" in second.stdout
    assert f"same content (digest {first['content_digest'][:12]}) as t01_retail.ds_v001 of {P01}" in second.error_text
    third = register(home, P01, copy, "dan").json
    assert third["same_content_as"] == ["t01_retail.ds_v001", "t01_retail.ds_v002"]
    other = register(home, P01, data(tmp_path, "b.jsonl", seed=2), "dan").json
    assert other["same_content_as"] == []
    with sqlite3.connect(home / "governance.db") as conn:
        details = conn.execute(
            "SELECT details FROM audit_records WHERE action = 'version.create' AND object_ref = 'version:t01_retail.ds_v003'"
        ).fetchone()[0]
    assert json.loads(details)["same_content_as"] == ["t01_retail.ds_v001", "t01_retail.ds_v002"]


def test_the_rest_api_names_identical_content_too(home: Path, tmp_path: Path) -> None:
    platform = Platform(load_settings(home), FixedClock(T0))
    inbox = platform.settings.inbox_dir / "t01_retail"  # P01's tenant's part of the inbox
    inbox.mkdir(parents=True, exist_ok=True)
    data(inbox, "a.jsonl")
    (inbox / "b.jsonl").write_bytes((inbox / "a.jsonl").read_bytes())
    try:
        with live_server(platform, "alice") as api:
            one = api.call("POST", "versions", "dan", json={"project": P01, "path": "a.jsonl"})
            two = api.call("POST", "versions", "dan", json={"project": P01, "path": "b.jsonl"})
            upload = api.call("PUT", f"projects/{P01}/versions/upload", "dan", params={"filename": "c.jsonl"},
                              data=(inbox / "a.jsonl").read_bytes())  # fmt: skip
    finally:
        platform.close()
    assert (one.status_code, two.status_code, upload.status_code) == (201, 201, 201), (two.text, upload.text)
    assert one.json()["same_content_as"] == []
    assert two.json()["same_content_as"] == [one.json()["version_id"]]
    assert upload.json()["same_content_as"] == [one.json()["version_id"], two.json()["version_id"]]


# ---------------------------------------------------------------------------------------------
# fix-item owners are members of the project
# ---------------------------------------------------------------------------------------------
def _alert(home: Path, project_ref: str) -> str:
    result = cli(home, "alert", "open", project_ref, "--severity", "low", "--category", "operational", "--title", "t",
                 user="omar", as_json=True)  # fmt: skip
    assert result.code == 0, result.stderr
    return result.json["alert_id"]


def test_review_refuses_an_owner_outside_the_project(home: Path) -> None:
    alert = _alert(home, f"project:{P02}")
    platform = Platform(load_settings(home))
    before = audit_count(platform)
    for owner in ("dan", "nobody-at-all"):  # dan is p01's data engineer; the other no user at all
        result = cli(home, "review", "add", "--alert", alert, "--symptom", "s", "--fix", f"relabel|{owner}|2026-12-01",
                     user="priya")  # fmt: skip
        assert result.code == 2, (result.stdout, result.stderr)
        for fact in (f"'{owner}'", P02, "'relabel'", "not a member of project"):
            assert fact in result.error_text, result.error_text
    assert cli(home, "review", "list", "--project", P02, user="priya", as_json=True).json == [], "nothing written"
    assert audit_count(platform) == before + 2, "each refusal audited"
    ok = cli(home, "review", "add", "--alert", alert, "--symptom", "s", "--fix", "relabel|lena|2026-12-01", user="priya")
    assert ok.code == 0, ok.stderr
    platform.close()


def test_the_rest_api_refuses_an_owner_outside_the_project(home: Path) -> None:
    alert = _alert(home, f"project:{P02}")
    platform = Platform(load_settings(home), FixedClock(T0))
    body = {"related": [f"alert:{alert}"], "symptom": "s", "fix_items": [{"description": "relabel", "owner": "dan",
                                                                             "due": "2026-12-01"}]}  # fmt: skip
    try:
        with live_server(platform, "alice") as api:
            refused = api.call("POST", "reviews", "priya", json=body)
            body["fix_items"][0]["owner"] = "lena"
            accepted = api.call("POST", "reviews", "priya", json=body)
    finally:
        platform.close()
    assert refused.status_code == 400, refused.text
    assert "'dan'" in refused.text and P02 in refused.text and "relabel" in refused.text
    assert accepted.status_code == 201, accepted.text


# ---------------------------------------------------------------------------------------------
# A newcomer's trial: `--as kari version list --as odd` acted as odd without a word
# ---------------------------------------------------------------------------------------------
def test_a_global_option_given_twice_with_two_values_is_refused(demo_home: tuple[Settings, object]) -> None:
    settings, _ = demo_home
    home = settings.home
    twice = run_cli_inprocess(None, "--home", str(home), "--as", "dan", "version", "list", "--as", "lena")
    assert twice.code == 2 and "--as given twice ('dan', then 'lena'): give it once" in twice.stderr
    other_home = run_cli_inprocess(None, "--home", str(home), "version", "list", "--home=/elsewhere", user="dan")
    assert other_home.code == 2 and "--home given twice" in other_home.stderr
    same = run_cli_inprocess(None, "--home", str(home), "--as", "dan", "version", "list", "--as", "dan", "--json")
    assert same.code == 0 and json.loads(same.stdout)  # the same value twice is no conflict


def test_experiment_list_shows_the_regression_kind(demo_home: tuple[Settings, object]) -> None:
    settings, _ = demo_home
    listed = run_cli_inprocess(settings.home, "experiment", "list", user="alice")
    assert listed.code == 0 and "regression_kind" in listed.stdout and "data" in listed.stdout
