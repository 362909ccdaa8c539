"""`dataops report` through the real Typer app: it materialises the report and everything it reads on
the home's own Dagster instance, prints where p8_report.md and p8_report.pdf are, and exits 1 (the
report left unwritten) when a check fails."""

from __future__ import annotations

import json
import sqlite3

from typer.testing import CliRunner

from dataops_platform.cli.app import app
from dataops_platform.settings import Settings

runner = CliRunner()


def test_report_writes_both_files_and_exits_0(demo_copy: Settings) -> None:
    reports = demo_copy.artifacts_dir / "reports"
    md, pdf = reports / "p8_report.md", reports / "p8_report.pdf"
    stamps = {md: md.stat().st_mtime_ns, pdf: pdf.stat().st_mtime_ns}
    before = json.loads((reports / "p8_metrics.json").read_text())["generated_at"]

    result = runner.invoke(app, ["--home", str(demo_copy.home_dir), "report"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert str(md) in lines and str(pdf) in lines, result.output
    assert "not written" not in result.output
    assert "checks: 13/13 passed" in result.output
    assert all(path.stat().st_mtime_ns != stamp for path, stamp in stamps.items()), "both files rewritten"
    assert pdf.read_bytes().startswith(b"%PDF-")
    after = json.loads((reports / "p8_metrics.json").read_text())["generated_at"]
    assert after != before and f"Generated from the artifacts at {after}." in md.read_text(), "rendered from fresh metrics"


def test_report_exits_1_when_a_check_fails(demo_copy: Settings) -> None:
    md = demo_copy.artifacts_dir / "reports" / "p8_report.md"
    stamp = md.stat().st_mtime_ns
    with sqlite3.connect(demo_copy.home_dir / "governance.db") as conn:  # an action no role is granted any more
        conn.execute("DELETE FROM role_actions WHERE action = 'version.validate'")

    result = runner.invoke(app, ["--home", str(demo_copy.home_dir), "--json", "report"])

    assert result.exit_code == 1, result.output
    payload = json.loads(result.stdout)
    assert payload["failed_checks"] == ["role_permission_model_complete"]
    assert payload["report_md"] == str(md)
    assert payload["written"] == {"report_md": False, "report_pdf": False, "test_report_md": False}
    assert md.stat().st_mtime_ns == stamp, "a blocking check stopped the report: the old file is untouched"
