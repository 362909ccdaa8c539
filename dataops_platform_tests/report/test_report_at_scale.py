"""The report and the metrics at scale (issue 17, item 3).

A home of more than 100,000 objects is built in memory from the demo's artifacts (every object
copied with fresh ids, its times spread over months): the report lists a bounded number of rows,
says how many more there are, and shows the aggregated view of each cut table; its charts draw
aggregated series (a bounded number of points whatever the size); the records it does list are
the ones a full sort would pick. The metrics, now one pass per artifact and memoised, equal a
reference computation written out here the straightforward way (the code they replaced), on the
demo, on a grown home and on a corrupted one.
"""

from __future__ import annotations

import copy
import io
import json
import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from matplotlib.figure import Figure
from pypdf import PdfReader

from dataops_platform.artifacts.files import Artifacts, write_artifact
from dataops_platform.metrics import CONTENT_RULES, compute_metrics, content_rule_results
from dataops_platform.report import charts, render_report
from dataops_platform.report.data import EVENT_KINDS, HISTOGRAM_BINS, gather
from dataops_platform.report.fmt import LIST_LIMIT
from dataops_platform.report.render import ReportView, evaluate_checks
from dataops_platform.rules import evaluate
from dataops_platform.rules.checks import review_missing
from dataops_platform.settings import Settings
from dataops_platform_tests.report.test_platform_report import SECTIONS, section, table_rows

COPIES = 6000  # 36,000 versions, 42,000 experiments, 18,000 alerts, 6,000 rollbacks and reviews: 108,000 objects


def _later(value: str | None, hours: int) -> str | None:
    if value is None:
        return None
    at = datetime.fromisoformat(value) + timedelta(hours=hours)
    return at.isoformat(sep=" " if " " in value else "T")


def grown(a: Any, copies: int) -> dict[str, Any]:
    """The demo's objects `copies` times over: fresh ids (`_k` appended), copy k `k` hours later, the
    references between objects renamed alike (so the copies link to each other as the demo does)."""
    out: dict[str, Any] = dict(a)
    keys = ("dataset_versions", "experiment_runs", "alerts", "sla", "rollback_events", "incident_reviews", "audit_log")
    grow: dict[str, list[Any]] = {k: [] for k in (*keys, "nodes", "edges")}

    def ref(value: str | None, k: int) -> str | None:
        return f"{value}_{k}" if value else value

    for k in range(copies):
        for v in a["dataset_versions"]:
            grow["dataset_versions"].append(
                v
                | {
                    "version_id": ref(v["version_id"], k),
                    "parent_version": ref(v["parent_version"], k),
                    "created_at": _later(v["created_at"], k),
                    "released_at": _later(v["released_at"], k),
                    "is_current_release": v["is_current_release"] and k == copies - 1,
                }
            )
        for e in a["experiment_runs"]:
            grow["experiment_runs"].append(
                e | {"experiment_id": ref(e["experiment_id"], k), "dataset_version": ref(e["dataset_version"], k)}
            )
        grow["alerts"] += [al | {"alert_id": ref(al["alert_id"], k)} for al in a["alerts"]]
        grow["sla"] += [row | {"alert_id": ref(row["alert_id"], k)} for row in a["sla_report"]["alerts"]]
        for rb in a["rollback_events"]:
            grow["rollback_events"].append(
                rb
                | {
                    "rollback_id": ref(rb["rollback_id"], k),
                    "from_version": ref(rb["from_version"], k),
                    "to_version": ref(rb["to_version"], k),
                    "review_ref": ref(rb["review_ref"], k),
                    "executed_at": _later(rb["executed_at"], k),
                }
            )
        for r in a["incident_reviews"]:
            grow["incident_reviews"].append(r | {"review_id": ref(r["review_id"], k), "created_at": _later(r["created_at"], k)})
        grow["audit_log"] += [r | {"object_ref": ref(r["object_ref"], k)} for r in a["audit_log"] if r["object_ref"]]
        grow["nodes"] += [n | {"ref": ref(n["ref"], k)} for n in a["lineage_graph"]["nodes"]]
        grow["edges"] += [e | {"source": ref(e["source"], k), "target": ref(e["target"], k)} for e in a["lineage_graph"]["edges"]]
    out.update({k: grow[k] for k in keys if k != "sla"})
    out["sla_report"] = a["sla_report"] | {"alerts": grow["sla"]}
    out["lineage_graph"] = {"nodes": grow["nodes"], "edges": grow["edges"]}
    return out


def reference_metrics(a: Any) -> dict[str, Any]:
    """The metrics computed the plain way, list by list (the code the one-pass computation replaced)."""
    from collections import Counter

    def rate(part: int, whole: int) -> float:
        return round(part / whole, 4) if whole else 1.0

    scope, versions, experiments = a["platform_scope"], a["dataset_versions"], a["experiment_runs"]
    alerts, rollbacks, graph, sla = a["alerts"], a["rollback_events"], a["lineage_graph"], a["sla_report"]
    audited = {r["object_ref"] for r in a["audit_log"] if r["outcome"] == "allowed"}
    linked = {e["source"] for e in graph["edges"]} | {e["target"] for e in graph["edges"]}
    objects = [n["ref"] for n in graph["nodes"] if n.get("project_id")]
    statuses = Counter(e["status"] for e in experiments)
    version_ids = {v["version_id"] for v in versions}
    reviews = {r["review_id"]: r for r in a["incident_reviews"]}
    traceable = [
        v
        for v in versions
        if v["content_digest"]
        and v["data_location"]
        and v["created_by"]
        and (v["parent_version"] is None or v["parent_version"] in version_ids)
        and f"version:{v['version_id']}" in audited
    ]
    complete = [
        e
        for e in experiments
        if e["dataset_version"] in version_ids
        and e["mlflow_run"]
        and (e["metric_summary"] or e["status"] == "failed")
        and e["params"]
    ]
    usable = [
        r
        for r in rollbacks
        if r["status"] == "completed" and r["review_ref"] in reviews and not review_missing(reviews[r["review_ref"]])
    ]
    results = evaluate(a, CONTENT_RULES)
    return {
        "tenants": len(scope["tenants"]),
        "projects": len(scope["projects"]),
        "roles": sum(1 for r in scope["roles"].values() if not r["is_system"]),
        "apis": len(a["api_catalog"]["apis"]),
        "layers": len(a["architecture_spec"]["layers"]),
        "queues": len(a["task_queues"]["queues"]),
        "panels": len(a["ui_panels"]["panels"]),
        "dataset_versions": len(versions),
        "released_versions": sum(1 for v in versions if v["released_at"]),
        "versions_by_status": dict(sorted(Counter(v["status"] for v in versions).items())),
        "experiments": len(experiments),
        "experiments_completed": statuses.get("completed", 0),
        "experiments_regressed": statuses.get("regressed", 0),
        "experiments_failed": statuses.get("failed", 0),
        "lineage_nodes": len(graph["nodes"]),
        "lineage_edges": len(graph["edges"]),
        "rollbacks": len(rollbacks),
        "alerts": len(alerts),
        "version_traceability": rate(len(traceable), len(versions)),
        "experiment_record_completeness": rate(len(complete), len(experiments)),
        "lineage_coverage": rate(sum(1 for ref in objects if ref in linked), len(objects)),
        "alert_closure_rate": rate(sum(1 for x in alerts if x["status"] == "resolved"), len(alerts)),
        "rollback_usability": rate(len(usable), len(rollbacks)),
        "check_pass_rate": rate(sum(r.passed for r in results), len(results)),
        "integrity_pass_rate": rate(sum(not r.violations for r in results), len(results)),
        "checks_failed": sorted(r.name for r in results if r.violations),
        "checks_with_findings": sorted(r.name for r in results if r.findings and not r.violations),
        "findings_open": sum(len(r.findings) for r in results),
        "sla_compliance_rate": sla["compliance_rate"],
        "mean_time_to_acknowledge_minutes": sla["mean_time_to_acknowledge_minutes"],
        "mean_time_to_recovery_minutes": sla["mean_time_to_recovery_minutes"],
    }


@pytest.fixture(scope="module")
def demo(demo_home: tuple[Settings, Any]) -> dict[str, Any]:
    settings, _ = demo_home
    return dict(Artifacts(settings.artifacts_dir))


@pytest.fixture(scope="module")
def big(demo: dict[str, Any]) -> dict[str, Any]:
    return grown(demo, COPIES)


@pytest.fixture(scope="module")
def rendered(big: dict[str, Any]) -> tuple[Any, str, list[str]]:
    view = ReportView(big, "")
    data = gather(view, evaluate_checks(view))
    markdown, pdf = render_report(big)
    return data, markdown, [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


# -- the metrics -----------------------------------------------------------------------------------
def corrupted(a: dict[str, Any]) -> dict[str, Any]:
    """The edge cases the counts must get right: a version listed twice (one copy untraceable), a
    denied audit record only, a dangling parent, an unlinked node, a rollback without its review."""
    a = copy.deepcopy(a)
    versions = a["dataset_versions"]
    twin = versions[0] | {"content_digest": ""}
    versions.append(twin)
    versions.append(versions[1] | {"version_id": "t01_retail.ds_v900", "parent_version": "t01_retail.ds_nowhere"})
    versions.append(versions[1] | {"version_id": "t01_retail.ds_v901"})
    a["audit_log"].append(a["audit_log"][0] | {"object_ref": "version:t01_retail.ds_v901", "outcome": "denied"})
    node = {"kind": "version", "project_id": "p01_retail_search", "ref": "version:t01_retail.ds_v901"}
    a["lineage_graph"]["nodes"].append(node)
    a["rollback_events"].append(a["rollback_events"][0] | {"rollback_id": "t02_legal.rb_900", "review_ref": "nowhere"})
    return a


def test_the_metrics_equal_the_reference_on_the_demo_a_grown_and_a_corrupted_home(demo: dict[str, Any]) -> None:
    for label, a in (("demo", demo), ("grown", grown(demo, 300)), ("corrupted", corrupted(demo))):
        assert compute_metrics(a) == reference_metrics(a), label
    # The cases are not vacuous: the corruption moves the rates the one-pass code counts differently.
    base, bad = reference_metrics(demo), reference_metrics(corrupted(demo))
    assert bad["version_traceability"] < base["version_traceability"] == 1.0
    assert bad["lineage_coverage"] < 1.0 and bad["rollback_usability"] < base["rollback_usability"]


def test_the_metrics_equal_the_reference_at_100k_objects(big: dict[str, Any]) -> None:
    metrics = compute_metrics(big)
    assert metrics == reference_metrics(big)
    assert metrics["dataset_versions"] == 6 * COPIES and metrics["version_traceability"] == 1.0


def test_the_metrics_are_computed_once_for_the_same_artifacts(demo_copy: Settings) -> None:
    root = demo_copy.artifacts_dir
    first = compute_metrics(Artifacts(root))
    again = compute_metrics(Artifacts(root))
    assert again == first and again is not first, "the memo hands out a copy: a caller may change its dict"
    again["alerts"] = -1
    assert compute_metrics(Artifacts(root))["alerts"] == first["alerts"]
    # A rewritten input is computed again, and agrees with the reference on the new files.
    alerts = Artifacts(root)["alerts"]
    write_artifact(root, "alerts", [x | {"status": "open"} for x in alerts])
    changed = compute_metrics(Artifacts(root))
    assert changed["alert_closure_rate"] == 0.0 != first["alert_closure_rate"]
    assert changed == reference_metrics(dict(Artifacts(root)))
    # Rule 13 recomputes from the memo: a corrupted p8_metrics.json is still caught.
    path = root / "reports" / "p8_metrics.json"
    reported = json.loads(path.read_text())
    reported["alerts"] = 99
    path.write_text(json.dumps(reported))
    rule13 = next(r for r in evaluate(Artifacts(root)) if r.name == "metrics_consistent")
    assert any(v.startswith("metric alerts: reported 99, recomputed") for v in rule13.violations), rule13.violations


# -- the report ------------------------------------------------------------------------------------
def tables(markdown: str) -> list[list[str]]:
    """Every Markdown table: its lines (header and separator included)."""
    out: list[list[str]] = []
    current: list[str] = []
    for line in markdown.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            out.append(current)
            current = []
    return out


def test_every_table_is_bounded_and_says_how_many_more(big: dict[str, Any], rendered) -> None:
    _, markdown, pages = rendered
    assert all(len(t) - 2 <= LIST_LIMIT + 1 for t in tables(markdown)), max(len(t) for t in tables(markdown))
    assert len(markdown.splitlines()) < 900 and len(pages) <= 18, (len(markdown.splitlines()), len(pages))
    text = "\n".join(pages)
    assert all(title.removeprefix("## ") in text for title in SECTIONS)
    judged = sum(1 for e in big["experiment_runs"] if e["baseline_ref"])
    events = sum(bool(v["created_at"]) + bool(v["released_at"]) for v in big["dataset_versions"])
    events += sum(bool(r["executed_at"]) for r in big["rollback_events"])
    for total, what in (
        (judged, "judged experiments"),
        (len(big["alerts"]), "alerts"),
        (len(big["rollback_events"]), "rollbacks"),
        (len(big["incident_reviews"]), "reviews"),
    ):
        assert f"… and {total - LIST_LIMIT:,} more {what}" in markdown, what
    assert f"the latest {LIST_LIMIT} of {events:,}." in section(markdown, SECTIONS[1])
    # The PDF says the same.
    assert f"… and {judged - LIST_LIMIT:,} more judged experiments" in text
    assert f"… and {len(big['alerts']) - LIST_LIMIT:,} more alerts" in text


def test_each_cut_table_has_its_aggregated_view_and_it_counts_everything(big: dict[str, Any], rendered) -> None:
    _, markdown, pages = rendered
    lifecycle = section(markdown, SECTIONS[1])
    events = sum(bool(v["created_at"]) + bool(v["released_at"]) for v in big["dataset_versions"])
    events += sum(bool(r["executed_at"]) for r in big["rollback_events"])
    # 6,000 hours of copies span about 250 days: more days than a table lists, so per month.
    assert f"### Events per month (UTC), all {events:,}" in lifecycle
    months = table_rows(lifecycle, "| month |")
    assert 8 <= len(months) <= LIST_LIMIT and all(re.fullmatch(r"\d{4}-\d{2}", r[0]) for r in months)
    assert sum(int(r[4]) for r in months) == events
    assert sum(int(r[3]) for r in months) == sum(bool(r["executed_at"]) for r in big["rollback_events"])

    experiments = section(markdown, SECTIONS[2])
    groups = table_rows(experiments, "| project | metric |")
    judged = [e for e in big["experiment_runs"] if e["baseline_ref"]]
    assert sum(int(r[2]) for r in groups) == len(judged)
    assert sum(int(r[3]) for r in groups) == sum(e["status"] == "regressed" for e in judged)

    alerts = section(markdown, SECTIONS[4])
    per_project = table_rows(alerts, "| project | alerts |")
    assert sum(int(r[1]) for r in per_project) == len(big["alerts"])
    assert {r[0]: int(r[1]) for r in per_project} == {
        p: sum(x["project_id"] == p for x in big["alerts"]) for p in {x["project_id"] for x in big["alerts"]}
    }

    reviews = section(markdown, SECTIONS[5])
    assert sum(int(r[1]) for r in table_rows(reviews, "| project | rollbacks |")) == len(big["rollback_events"])
    assert sum(int(r[1]) for r in table_rows(reviews, "| project | reviews |")) == len(big["incident_reviews"])

    findings = section(markdown, SECTIONS[6])
    per_rule = table_rows(findings, "| # | rule | findings |")
    results = content_rule_results(ReportView(big, ""))
    assert {r[1]: int(r[2]) for r in per_rule} == {r.name: len(r.findings) for r in results if r.findings}
    assert sum(len(r.findings) for r in results) > LIST_LIMIT, "the findings table is cut too"
    text = "\n".join(pages)
    for title in ("Every judged experiment, per project", "Alerts per project and status", "Findings per rule"):
        assert title in text, title


def test_what_is_listed_is_what_a_full_sort_picks(big: dict[str, Any], rendered) -> None:
    data, _, _ = rendered
    assert len(data.deltas) == len(data.alerts) == len(data.events) == LIST_LIMIT
    assert len(data.rollbacks) == len(data.reviews) == len(data.findings) == LIST_LIMIT
    # The latest events: every event of the home, sorted, its tail.
    everything = []
    for v in big["dataset_versions"]:
        everything.append((datetime.fromisoformat(v["created_at"]), v["project_id"], "register", v["version_id"]))
        if v["released_at"]:
            everything.append((datetime.fromisoformat(v["released_at"]), v["project_id"], "release", v["version_id"]))
    for r in big["rollback_events"]:
        label = f"{r['rollback_id']}: {r['from_version']} -> {r['to_version']}"
        everything.append((datetime.fromisoformat(r["executed_at"]), r["project_id"], "rollback", label))
    everything.sort()
    assert [(e.at, e.project_id, e.kind, e.label.split(" (vs")[0]) for e in data.events] == everything[-LIST_LIMIT:]
    assert data.events_total == len(everything)
    # The worst deltas and the alerts closest to their targets, against sorts of every one.
    policy = big["governance_policy"]["regression"]

    def worse(e: dict[str, Any]) -> float | None:
        rule = policy[e["project_id"]]
        delta = (e["deltas"] or {}).get(rule["primary_metric"])
        if delta is None:
            return None
        return -delta if rule.get("direction", "higher_is_better") == "higher_is_better" else delta

    judged = [e for e in big["experiment_runs"] if e["baseline_ref"]]
    judged.sort(key=lambda e: (worse(e) is None, -(worse(e) or 0.0), e["experiment_id"]))
    assert [d.experiment_id for d in data.deltas] == [e["experiment_id"] for e in judged[:LIST_LIMIT]]
    assert data.judged == len(judged)
    assert [x.pressure for x in data.alerts] == sorted((x.pressure for x in data.alerts), reverse=True)
    latest = sorted(big["rollback_events"], key=lambda r: (r["executed_at"] or "", r["rollback_id"]))[-LIST_LIMIT:]
    assert [r["rollback_id"] for r in data.rollbacks] == [r["rollback_id"] for r in latest]


def test_the_charts_draw_aggregated_series(big: dict[str, Any], rendered) -> None:
    data, _, _ = rendered
    place = (0.6, 1.0, 7.0, 4.5)
    fig = Figure(figsize=(8.27, 11.69))
    charts.lifecycle_timeline(fig, place, data.event_series, data.projects)
    points = [len(c.get_offsets()) for c in fig.axes[0].collections]
    shown = min(len(data.projects), charts.TIMELINE_ROWS)
    assert len(points) == len(EVENT_KINDS) and all(0 < n <= shown * charts.TIME_BINS for n in points), points
    assert "marker size: events per time bin" in fig.axes[0].get_title(loc="left")
    # The bins count every event of the projects shown, none twice.
    counts = charts._binned_events(data.event_series, {p.project_id for p in data.projects}, 0.0)
    counts.pop(None)
    assert sum(counts.values()) == data.events_total

    fig = Figure(figsize=(8.27, 11.69))
    charts.delta_chart(fig, place, data.deltas, data.judged, data.delta_groups)
    ax = fig.axes[0]
    assert 1 <= len(ax.patches) <= 6, "one outline per project"
    assert all(len(p.get_xy()) <= 2 * (HISTOGRAM_BINS + 1) + 1 for p in ax.patches)
    assert sum(sum(g.histogram[0]) for g in data.delta_groups if g.histogram) == sum(g.compared for g in data.delta_groups)
    assert f"Primary-metric deltas of {sum(g.compared for g in data.delta_groups):,} runs" in ax.get_title(loc="left")

    fig = Figure(figsize=(8.27, 11.69))
    charts.alert_chart(fig, place, data.alerts, data.alerts_total)
    assert len(fig.axes[0].get_yticks()) == charts.MAX_ROWS
    assert f"of {len(big['alerts']):,})" in fig.axes[0].get_title(loc="left")


def test_the_timeline_draws_each_event_while_there_are_few(demo: dict[str, Any]) -> None:
    view = ReportView(demo, "")
    data = gather(view, evaluate_checks(view))
    fig = Figure(figsize=(8.27, 11.69))
    charts.lifecycle_timeline(fig, (0.6, 1.0, 7.0, 4.5), data.event_series, data.projects)
    drawn = sum(len(c.get_offsets()) for c in fig.axes[0].collections)
    assert drawn == data.events_total == len(data.events) and drawn <= charts.EVENTS_DRAWN
    assert "per time bin" not in fig.axes[0].get_title(loc="left")


def test_a_cut_project_table_ends_with_the_sum_of_every_project(demo: dict[str, Any]) -> None:
    a = dict(demo)
    copies = 20  # 60 projects
    versions = demo["dataset_versions"]
    a["dataset_versions"] = [v | {"project_id": f"{v['project_id']}_{k}"} for k in range(copies) for v in versions]
    a["alerts"] = [  # the demo's 3 alerts (in 2 projects) 30 times: 90 alerts in 60 projects
        al | {"alert_id": f"{al['alert_id']}_{k}", "project_id": f"{al['project_id']}_{k}"}
        for k in range(30)
        for al in demo["alerts"]
    ]
    scope = demo["platform_scope"]
    a["platform_scope"] = scope | {"projects": [p | {"id": f"{p['id']}_{k}"} for k in range(copies) for p in scope["projects"]]}
    markdown, pdf = render_report(a)
    lifecycle = section(markdown, SECTIONS[1])
    rows = table_rows(lifecycle, "| project |")
    projects = len(a["platform_scope"]["projects"])
    assert len(rows) == LIST_LIMIT + 1 and rows[-1][0] == f"**all {projects} projects**"
    header = re.search(r"^\| project \|.*$", lifecycle, re.MULTILINE).group(0)
    total = dict(zip([c.strip() for c in header.strip("|").split(" | ")], rows[-1], strict=True))
    assert int(total["versions"]) == len(a["dataset_versions"]) == copies * len(versions)
    assert int(total["released"]) == sum(v["status"] == "released" for v in a["dataset_versions"]) > 0
    assert int(total["ever released"]) == sum(bool(v["released_at"]) for v in a["dataset_versions"])
    assert f"… and {projects - LIST_LIMIT} more projects (summed in the last row)" in lifecycle
    alerts = section(markdown, SECTIONS[4])
    per_project = table_rows(alerts, "| project | alerts |")
    alerted = {x["project_id"] for x in a["alerts"]}
    assert len(per_project) == LIST_LIMIT and f"… and {len(alerted) - LIST_LIMIT} more projects" in alerts
    assert f"all {projects} projects" in "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_the_aggregated_views_appear_only_above_the_threshold(demo: dict[str, Any]) -> None:
    below, _ = render_report(grown(demo, 13))  # 39 alerts, 39 judged experiments: all listed
    above, _ = render_report(grown(demo, 14))  # 42 of each
    for markdown, cut in ((below, False), (above, True)):
        alerts = section(markdown, SECTIONS[4])
        assert ("### Alerts per project and status" in alerts) is cut
        assert ("… and 2 more alerts" in alerts) is cut
        assert len(table_rows(alerts, "| alert |")) == (LIST_LIMIT if cut else 39)
    assert "### Every judged experiment, per project" not in below


def test_a_home_without_objects_renders_every_section(demo: dict[str, Any]) -> None:
    a = dict(demo)
    for name in ("dataset_versions", "experiment_runs", "alerts", "rollback_events", "incident_reviews", "audit_log"):
        a[name] = []
    a["lineage_graph"] = {"nodes": [], "edges": []}
    a["sla_report"] = demo["sla_report"] | {"alerts": [], "breaches": [], "open_risks": []}
    markdown, pdf = render_report(a)
    assert re.findall(r"^## (.+)$", markdown, re.MULTILINE) == list(SECTIONS)
    assert "… and" not in markdown and "No rollbacks." in markdown and "No incident reviews." in markdown
    assert table_rows(section(markdown, SECTIONS[4]), "| alert |") == []
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "no lifecycle events" in text and "no experiment was judged against a baseline" in text
