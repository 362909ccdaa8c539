"""The platform report (p8_report.md and p8_report.pdf) of the reference scenario: every section in
both, on A4 pages; every KPI equal to p8_metrics.json, read back out of the Markdown and out of the
PDF's text; the other sections equal to what the artifacts say; rule 13 catching a report rendered
from a corrupted metrics file; and bounded output for a home far larger than the demo.

The PDF is read with pypdf (CI has no poppler); everything is read from the real files the
demo home's materialisation wrote.
"""

from __future__ import annotations

import io
import json
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from dataops_platform.artifacts.files import Artifacts, write_artifact
from dataops_platform.metrics import HEADLINE, quoted_metrics
from dataops_platform.report import render_report
from dataops_platform.report.fmt import num
from dataops_platform.rules.checks import metrics_consistent
from dataops_platform.settings import Settings

SECTIONS = (
    "1. Overview KPIs",
    "2. Version lifecycle per project",
    "3. Experiments: status and deltas against baseline",
    "4. Lineage graph",
    "5. Alerts against SLA targets",
    "6. Rollbacks and incident reviews",
    "7. Governance findings",
    "8. Consistency checks (13 rules)",
)
CHECKS = SECTIONS[7]
A4_POINTS = (595.28, 841.89)


def reports(settings: Settings) -> Path:
    return settings.artifacts_dir / "reports"


def processed(settings: Settings, name: str) -> Any:
    path = settings.artifacts_dir / "processed" / name
    if name.endswith(".jsonl"):
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return json.loads(path.read_text())


def section(markdown: str, title: str) -> str:
    """The Markdown of one `## title` section, up to the next `## ` heading."""
    start = markdown.index(f"\n## {title}\n")
    end = markdown.find("\n## ", start + 1)
    return markdown[start : end if end != -1 else None]


def table_rows(markdown: str, header_start: str) -> list[list[str]]:
    """The body rows of the first Markdown table whose header row starts with `header_start`."""
    lines = markdown.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[first + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip().strip("`") for cell in line.strip("|").split(" | ")])
    return rows


def pdf_pages(data: bytes | Path) -> list[str]:
    reader = PdfReader(data if isinstance(data, Path) else io.BytesIO(data))
    return [page.extract_text() for page in reader.pages]


@pytest.fixture(scope="module")
def written(demo_home: tuple[Settings, Any]) -> tuple[Settings, dict[str, Any], str, list[str]]:
    settings, _ = demo_home
    metrics = json.loads((reports(settings) / "p8_metrics.json").read_text())
    markdown = (reports(settings) / "p8_report.md").read_text()
    return settings, metrics, markdown, pdf_pages(reports(settings) / "p8_report.pdf")


def test_the_pdf_opens_on_a4_pages_with_every_section(written) -> None:
    settings, _, markdown, pages = written
    reader = PdfReader(reports(settings) / "p8_report.pdf")
    assert 6 <= len(reader.pages) <= 12, len(reader.pages)
    for page in reader.pages:
        width, height = float(page.mediabox.width), float(page.mediabox.height)
        assert abs(width - A4_POINTS[0]) < 1 and abs(height - A4_POINTS[1]) < 1, (width, height)
    # Titled with the organisation's name (platform_scope); the reference example names itself "P08 DataOps".
    assert processed(settings, "platform_scope.json")["organisation"]["name"] == "P08 DataOps"
    assert reader.metadata.title == "P08 DataOps platform report"
    assert markdown.startswith("# P08 DataOps platform report\n")
    assert "/CreationDate" not in reader.metadata, "a creation date would make every rendering differ"
    text = "\n".join(pages)
    found = [text.find(title) for title in SECTIONS]
    assert all(i >= 0 for i in found), [t for t, i in zip(SECTIONS, found, strict=True) if i < 0]
    assert found == sorted(found), "the sections are in order"
    headings = re.findall(r"^## (.+)$", markdown, re.MULTILINE)
    assert headings == list(SECTIONS), headings


def test_the_markdown_kpi_table_is_p8_metrics_json(written) -> None:
    _, metrics, markdown, _ = written
    rows = table_rows(section(markdown, SECTIONS[0]), "| metric | value |")
    kpis = dict(rows)
    assert len(rows) == len(kpis) == len(HEADLINE), "every headline metric, once"
    assert set(kpis) == set(HEADLINE)
    for name, value in kpis.items():
        assert value == str(metrics[name]), (name, value, metrics[name])
        assert float(value) == metrics[name]
    # What rule 13 reads back is exactly this table: no other row of the report passes for a KPI.
    assert quoted_metrics(markdown) == kpis
    assert metrics_consistent({**Artifacts(written[0].artifacts_dir), "report_md": markdown}).passed


def test_the_pdf_quotes_the_same_numbers(written) -> None:
    settings, metrics, _, pages = written
    # Page 1's KPI tables come out of the PDF as "name value" lines.
    quoted = dict(re.findall(r"^([a-z_]+) (\S+)$", pages[0], re.MULTILINE))
    assert {k: quoted.get(k) for k in HEADLINE} == {k: str(metrics[k]) for k in HEADLINE}
    text = "\n".join(pages)
    assert f"{metrics['lineage_nodes']} nodes and {metrics['lineage_edges']} typed edges" in text
    assert f"mean time to recovery {metrics['mean_time_to_recovery_minutes']} min" in text
    assert f"{metrics['released_versions']} / {metrics['dataset_versions']}" in pages[0]
    primary = {p: r["primary_metric"] for p, r in processed(settings, "governance_policy.json")["regression"].items()}
    regressed = [e for e in processed(settings, "experiment_runs.jsonl") if e["status"] == "regressed"]
    assert regressed and all(num(e["deltas"][primary[e["project_id"]]], signed=True) in text for e in regressed)
    rollback = processed(settings, "rollback_events.jsonl")[0]
    assert f"{rollback['from_version']} -> {rollback['to_version']}" in text


def test_versions_experiments_and_alerts_sections_match_the_artifacts(written) -> None:
    settings, metrics, markdown, _ = written
    versions = processed(settings, "dataset_versions.jsonl")
    lifecycle = table_rows(section(markdown, SECTIONS[1]), "| project |")
    header = re.search(r"^\| project \|.*$", section(markdown, SECTIONS[1]), re.MULTILINE).group(0)
    columns = [c.strip() for c in header.strip("|").split(" | ")]
    by_project = {row[0]: dict(zip(columns, row, strict=True)) for row in lifecycle}
    counts = Counter((v["project_id"], v["status"]) for v in versions)
    for project, row in by_project.items():
        mine = [v for v in versions if v["project_id"] == project]
        assert int(row["versions"]) == len(mine)
        assert {s: int(row[s]) for s in ("released", "rejected", "rolled_back")} == {
            s: counts[(project, s)] for s in ("released", "rejected", "rolled_back")
        }
        assert row["current release"] == next(v["version_id"] for v in mine if v["is_current_release"])
    assert sum(int(r["versions"]) for r in by_project.values()) == metrics["dataset_versions"]

    experiments = table_rows(section(markdown, SECTIONS[2]), "| project | completed |")
    assert experiments[-1][0] == "**all projects**"
    assert [int(x) for x in experiments[-1][1:]] == [
        metrics["experiments_completed"],
        metrics["experiments_regressed"],
        metrics["experiments_failed"],
        metrics["experiments"],
    ]
    runs = {e["experiment_id"]: e for e in processed(settings, "experiment_runs.jsonl")}
    deltas = table_rows(section(markdown, SECTIONS[2]), "| experiment |")
    assert {r[0] for r in deltas} == {i for i, e in runs.items() if e["baseline_ref"]}
    for experiment, _, _, status, baseline, metric, _, delta, _ in deltas:
        run = runs[experiment]
        assert (status, baseline) == (run["status"], run["baseline_ref"])
        assert delta == (num(run["deltas"][metric], signed=True) if metric in run["deltas"] else "n/a (run failed)")

    sla = {r["alert_id"]: r for r in processed(settings, "sla_report.json")["alerts"]}
    alerts = table_rows(section(markdown, SECTIONS[4]), "| alert |")
    assert len(alerts) == metrics["alerts"]
    for row in alerts:
        assert (row[5], row[7]) == (num(sla[row[0]]["minutes_to_acknowledge"]), num(sla[row[0]]["minutes_to_resolve"]))


def test_the_13_checks_are_shown_with_rules_1_and_13_marked(written) -> None:
    settings, _, markdown, pages = written
    rows = table_rows(section(markdown, CHECKS), "| # | rule |")
    assert [int(r[0]) for r in rows] == list(range(1, 14))
    assert all(r[3] == "pass" for r in rows), [r for r in rows if r[3] != "pass"]
    scope = {int(r[0]): r[5] for r in rows}
    assert "written before this report" in scope[1] and "KPI table" in scope[13]
    assert {scope[n] for n in range(2, 13)} == {"the artifacts"}
    test_results = json.loads((reports(settings) / "p8_test_results.json").read_text())
    assert [r["rule"] for r in test_results["results"]] == [r[1] for r in rows], "the test report evaluates the same 13"
    assert "13/13 rules pass in this evaluation" in pages[-1]


def test_the_same_artifacts_render_the_same_bytes(demo_home) -> None:
    settings, _ = demo_home
    first = render_report(Artifacts(settings.artifacts_dir))
    second = render_report(Artifacts(settings.artifacts_dir))
    assert first == second
    assert first[0] == (reports(settings) / "p8_report.md").read_text(), "the asset wrote what render_report renders"


def test_rule_13_catches_a_report_rendered_from_corrupted_metrics(demo_copy: Settings) -> None:
    root = demo_copy.artifacts_dir
    assert metrics_consistent(Artifacts(root)).passed, "the copy passes before the corruption"
    path = root / "reports" / "p8_metrics.json"
    metrics = json.loads(path.read_text())
    metrics["mean_time_to_recovery_minutes"] = 12.0
    path.write_text(json.dumps(metrics))

    markdown, pdf = render_report(Artifacts(root))
    write_artifact(root, "report_md", markdown)
    write_artifact(root, "report_pdf", pdf)
    result = metrics_consistent(Artifacts(root))
    assert not result.passed
    assert any("mean_time_to_recovery_minutes" in v and "12.0" in v and "36.5" in v for v in result.violations), result.violations
    # The report quotes the file it was given, and says in its own checks section that rule 13 fails.
    assert "| mean_time_to_recovery_minutes | 12.0 |" in markdown
    row = next(r for r in table_rows(section(markdown, CHECKS), "| # | rule |") if r[0] == "13")
    assert row[3] == "FAIL" and "36.5" in row[6]
    assert "12/13 rules pass in this evaluation" in pdf_pages(pdf)[-1]


def test_rule_13_catches_a_corrupted_number_in_the_report(demo_copy: Settings) -> None:
    root = demo_copy.artifacts_dir
    path = root / "reports" / "p8_report.md"
    markdown = path.read_text()
    edges = json.loads((root / "reports" / "p8_metrics.json").read_text())["lineage_edges"]
    assert f"| lineage_edges | {edges} |" in markdown
    path.write_text(markdown.replace(f"| lineage_edges | {edges} |", f"| lineage_edges | {edges + 1} |"))
    result = metrics_consistent(Artifacts(root))
    assert result.violations == [f"report quotes lineage_edges = {edges + 1}, metrics say {edges}"]


def _scaled(a: Artifacts, copies: int) -> dict[str, Any]:
    """The demo's objects `copies` times over (fresh ids, same projects): a home far larger than the demo."""
    out: dict[str, Any] = dict(a)
    runs, alerts, sla_rows, nodes, edges = [], [], [], [], []
    for k in range(copies):
        for e in a["experiment_runs"]:
            runs.append(e | {"experiment_id": f"{e['experiment_id']}_{k}"})
        for al in a["alerts"]:
            alerts.append(al | {"alert_id": f"{al['alert_id']}_{k}"})
        for row in a["sla_report"]["alerts"]:
            sla_rows.append(row | {"alert_id": f"{row['alert_id']}_{k}"})
        nodes += [n | {"ref": f"{n['ref']}_{k}"} for n in a["lineage_graph"]["nodes"]]
        edges += [e | {"source": f"{e['source']}_{k}", "target": f"{e['target']}_{k}"} for e in a["lineage_graph"]["edges"]]
    out["experiment_runs"], out["alerts"] = runs, alerts
    out["sla_report"] = a["sla_report"] | {"alerts": sla_rows}
    out["lineage_graph"] = {"nodes": nodes, "edges": edges}
    return out


def test_a_large_home_renders_bounded_output(demo_home) -> None:
    settings, _ = demo_home
    big = _scaled(Artifacts(settings.artifacts_dir), 1500)  # 10,500 experiments, 4,500 alerts, 27,000 nodes
    started = time.perf_counter()
    markdown, pdf = render_report(big)
    seconds = time.perf_counter() - started
    pages = pdf_pages(pdf)
    text = "\n".join(pages)
    assert all(title in text for title in SECTIONS)
    assert "the graph is summarised" in text, "27,000 nodes are not drawn one by one"
    assert len(pages) <= 14, len(pages)
    assert len(markdown.splitlines()) < 600, "tables list a bounded number of rows"
    judged = sum(1 for e in big["experiment_runs"] if e["baseline_ref"])
    assert f"… and {judged - 40:,} more judged experiments" in markdown
    assert f"… and {len(big['alerts']) - 40:,} more alerts" in markdown
    assert seconds < 60, f"{seconds:.1f} s"
