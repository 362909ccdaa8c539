"""The CLI explains a materialisation (issue 15, part 3): `materialize`, `report` and `demo` print each
rule that did not pass with its offending ids, integrity violations and governance findings labelled
apart (`--json`: as data), exit 0 while integrity holds and 1 when it is broken; Dagster's event stream
goes to a log file whose path is printed (`--verbose` streams it); `metrics` after a failed run says
what stopped it; global options work before or after the command.

Everything runs through the real entry point (`cli.app.main`) on real homes: the demo's, corrupted
the way dataops_platform_tests/defs/test_checks_fail_on_corruption.py does it.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import dagster as dg
import pytest
import typer

from dataops_platform.artifacts.files import Artifacts
from dataops_platform.cli.app import app
from dataops_platform.cli.argv import hoist_global_options
from dataops_platform.errors import InvalidInput
from dataops_platform.rules import evaluate
from dataops_platform.settings import Settings
from dataops_platform_tests.helpers import CliResult, run_cli_inprocess


def cli(home: Path | None, *args: str) -> CliResult:
    return run_cli_inprocess(home, *args)


def sql(settings: Settings, statement: str) -> None:
    with sqlite3.connect(settings.home_dir / "governance.db") as conn:
        conn.execute(statement)


def break_integrity(s: Settings) -> None:
    """Two rules broken: an action no role holds (rule 2), a parent in another tenant (rule 6)."""
    sql(s, "DELETE FROM role_actions WHERE action = 'version.validate'")
    sql(s, "UPDATE dataset_versions SET parent_version = 't02_legal.ds_v001' WHERE version_id = 't01_retail.ds_v001'")


def leave_alert_open(s: Settings) -> None:
    """Consistent records, one governance finding: an alert never acknowledged, days past its SLA (rule 10)."""
    sql(
        s,
        "UPDATE alerts SET status = 'open', acknowledged_at = NULL, acknowledged_by = NULL, resolved_at = NULL, "
        "resolved_by = NULL, resolution_note = NULL WHERE alert_id = 't01_retail.alert_001'",
    )


def log_path(stdout: str) -> Path:
    line = next(line for line in stdout.splitlines() if line.startswith("Dagster log: "))
    return Path(line.removeprefix("Dagster log: "))


def no_dagster_stream(result: CliResult) -> None:
    for text in (result.stdout, result.stderr):
        assert " - DEBUG - " not in text and "STEP_START" not in text, text[-2000:]
        assert "Stack Trace" not in text and "Traceback" not in text, text[-2000:]


def dagster_evaluations(settings: Settings, run_id: str) -> dict[str, dg.AssetCheckEvaluation]:
    """The check results of the run as Dagster recorded them on the home's instance."""
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        entries = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    return {e.dagster_event.event_specific_data.check_name: e.dagster_event.event_specific_data for e in entries}


# ---------------------------------------------------------------------------------------------
# integrity broken: exit 1, each failed rule with its offending ids
# ---------------------------------------------------------------------------------------------
def test_materialize_names_each_broken_rule_and_its_ids(demo_copy: Settings) -> None:
    break_integrity(demo_copy)
    result = cli(demo_copy.home_dir, "materialize")
    assert result.code == 1, (result.stdout, result.stderr)
    out = " ".join(result.stdout.split())
    assert "FAILED rule 2 role_permission_model_complete on platform_scope: integrity broken (1 violation)" in out
    assert "violation: action version.validate granted to no role" in out
    assert "FAILED rule 6 version_lineage_links_valid on dataset_versions" in out
    assert "violation: t01_retail.ds_v001 has parent t02_legal.ds_v001" in out
    assert "integrity broken by 2 rules" in out
    assert "not run (upstream not built)" in out, "the rules whose checks never ran are named too"
    no_dagster_stream(result)
    log = log_path(result.stdout)
    assert log.parent == demo_copy.dagster_home / "logs"
    text = log.read_text()
    assert "ASSET_CHECK_EVALUATION" in text and "role_permission_model_complete" in text and " - DEBUG - " in text


def test_materialize_json_gives_the_failed_rules_as_data_agreeing_with_the_checks(demo_copy: Settings) -> None:
    break_integrity(demo_copy)
    result = cli(demo_copy.home_dir, "materialize", "--json")  # the global option after the command
    assert result.code == 1, result.stderr
    data = result.json  # JSON on stdout, nothing else
    assert (data["exit_code"], data["integrity_ok"], data["success"]) == (1, False, False)
    assert data["integrity_failures"] == ["role_permission_model_complete", "version_lineage_links_valid"]
    checks = {c["name"]: c for c in data["checks"]}
    assert {k: checks["role_permission_model_complete"][k] for k in ("rule", "status", "severity", "findings")} == {
        "rule": 2,
        "status": "failed",
        "severity": "ERROR",
        "findings": [],
    }
    expected = {r.name: r for r in evaluate(Artifacts(demo_copy.artifacts_dir), {2, 6})}
    recorded = dagster_evaluations(demo_copy, data["run_id"])
    for name in data["integrity_failures"]:
        assert checks[name]["violations"] == expected[name].violations
        # The same as the check in the run: Dagster's own record of it.
        assert recorded[name].passed is False and recorded[name].severity == dg.AssetCheckSeverity.ERROR
        assert recorded[name].metadata["violations"].value == len(checks[name]["violations"])
    assert set(data["not_run"]) and not set(data["not_run"]) & set(checks)
    assert Path(data["log_path"]).exists()
    no_dagster_stream(result)


def test_report_exits_1_naming_the_rule_then_metrics_says_what_stopped_it(demo_copy: Settings) -> None:
    (demo_copy.artifacts_dir / "reports" / "p8_metrics.json").unlink()  # as on a home whose first run fails
    break_integrity(demo_copy)
    report = cli(demo_copy.home_dir, "report")
    assert report.code == 1
    assert "FAILED rule 2 role_permission_model_complete" in report.stdout
    assert "(not written by this run)" in report.stdout
    no_dagster_stream(report)

    metrics = cli(demo_copy.home_dir, "metrics")
    assert metrics.code == 1, (metrics.stdout, metrics.stderr)
    message = metrics.error_text
    assert "does not exist yet" not in message
    assert "the last materialisation" in message and "stopped before the metrics" in message
    assert "integrity rule 2 role_permission_model_complete on platform_scope failed" in message
    assert "action version.validate granted to no role" in message
    assert "then run `dataops materialize` again" in message
    as_data = cli(demo_copy.home_dir, "metrics", "--json")
    assert json.loads(as_data.stderr)["failed_rules"] == ["role_permission_model_complete", "version_lineage_links_valid"]


def test_metrics_on_a_home_where_nothing_ran_still_says_run_materialize(tmp_path: Path) -> None:
    result = cli(tmp_path / "home", "metrics")
    assert result.code == 2
    assert "does not exist yet; run `dataops materialize`" in result.error_text
    assert not (tmp_path / "home").exists(), "asking creates nothing"


# ---------------------------------------------------------------------------------------------
# a governance finding: exit 0, shown as a finding
# ---------------------------------------------------------------------------------------------
def test_a_finding_is_printed_and_exits_0(demo_copy: Settings) -> None:
    leave_alert_open(demo_copy)
    result = cli(demo_copy.home_dir, "report")
    assert result.code == 0, (result.stdout, result.stderr)
    out = " ".join(result.stdout.split())
    assert "FINDING rule 10 alerts_linked_and_closed on sla_report: 1 finding" in out
    assert "finding: t01_retail.alert_001 (medium) is open outside its SLA" in out
    assert "FAILED" not in out and "integrity holds; 1 rule with findings" in out
    assert "not written by this run" not in out, "a finding stops nothing: the report is written"
    no_dagster_stream(result)

    data = cli(demo_copy.home_dir, "--json", "materialize").json
    assert (data["exit_code"], data["integrity_ok"], data["findings"]) == (0, True, ["alerts_linked_and_closed"])
    rule10 = next(c for c in data["checks"] if c["rule"] == 10)
    assert (rule10["status"], rule10["severity"], rule10["violations"]) == ("finding", "WARN", [])
    assert rule10["findings"] == evaluate(Artifacts(demo_copy.artifacts_dir), {10})[0].findings
    assert len(rule10["findings"]) == 1 and rule10["findings"][0].startswith("t01_retail.alert_001 ")


# ---------------------------------------------------------------------------------------------
# the Dagster stream: a file by default, stderr with --verbose
# ---------------------------------------------------------------------------------------------
def test_verbose_streams_dagster_to_stderr_and_keeps_stdout_json(demo_copy: Settings) -> None:
    result = cli(demo_copy.home_dir, "materialize", "--verbose", "--json")
    assert result.code == 0, result.stderr[-2000:]
    assert result.json["checks_passed"] == 13
    assert "STEP_START" in result.stderr and "ASSET_CHECK_EVALUATION" in result.stderr
    assert Path(result.json["log_path"]).exists(), "the file is written with --verbose too"


def test_demo_ends_with_a_clean_table(tmp_path: Path) -> None:
    result = cli(tmp_path / "home", "demo")
    assert result.code == 0, (result.stdout[-3000:], result.stderr[-3000:])
    no_dagster_stream(result)
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines[-1].startswith("└") and "checks passed" in lines[-2] and "13/13" in lines[-2]
    assert log_path(result.stdout).exists()
    assert "dg dev" in result.stdout


# ---------------------------------------------------------------------------------------------
# global options before or after the command
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ("experiment", "list", "--json"),
        ("experiment", "list", "--project", "p02_legal_sft", "--json"),
        ("version", "list", "--json", "--project", "p01_retail_search"),
        ("alert", "list", "--status", "resolved", "--json"),
        ("audit", "list", "--limit", "3", "--json"),
        ("lineage", "impact", "version:t02_legal.ds_v002", "--json"),
    ],
)
def test_global_options_after_the_command(demo_home: tuple[Settings, object], args: tuple[str, ...]) -> None:
    settings, _ = demo_home
    home = str(settings.home_dir)
    before = run_cli_inprocess(None, "--home", home, "--as", "alice", "--json", *(a for a in args if a != "--json"))
    after = run_cli_inprocess(None, *args, "--as", "alice", "--home", home)
    middle = run_cli_inprocess(None, "--home", home, args[0], "--as", "alice", *args[1:])
    assert before.code == after.code == middle.code == 0, (after.stderr, middle.stderr)
    assert before.json == after.json == middle.json
    assert isinstance(after.json, list) and after.json, "a real listing, not an empty answer"


def test_an_option_value_is_not_taken_for_a_global_option(demo_home: tuple[Settings, object]) -> None:
    settings, _ = demo_home
    # `--actor --json`: "--json" is the actor filter's value (Click's own rule), not the global flag.
    result = run_cli_inprocess(None, "audit", "list", "--actor", "--json", "--as", "alice", "--home", str(settings.home_dir))
    assert result.code == 0, result.stderr
    assert not result.stdout.lstrip().startswith("["), "a table (no actor '--json'), not JSON"
    assert "audit log" in result.stdout


def test_hoisting_walks_the_real_command_tree() -> None:
    root = typer.main.get_command(app)
    assert hoist_global_options(root, ["experiment", "list", "--json"]) == ["--json", "experiment", "list"]
    # The same value twice is kept; two different values are refused (the last one no longer wins silently).
    assert hoist_global_options(root, ["--home", "A", "version", "list", "--home", "A", "--project", "p"]) == [
        "--home", "A", "--home", "A", "version", "list", "--project", "p",
    ]  # fmt: skip
    with pytest.raises(InvalidInput, match=r"--home given twice \('A', then 'B'\)"):
        hoist_global_options(root, ["--home", "A", "version", "list", "--home", "B"])
    assert hoist_global_options(root, ["version", "register", "p", "f", "--summary", "--json", "--as=dan"]) == [
        "--as=dan", "version", "register", "p", "f", "--summary", "--json",
    ]  # fmt: skip
    after_dashes = ["version", "register", "p", "--", "--json"]
    assert hoist_global_options(root, after_dashes) == after_dashes
    assert hoist_global_options(root, ["materialize", "--verbose"]) == ["--verbose", "materialize"]
