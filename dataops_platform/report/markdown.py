"""p8_report.md from a `ReportData`.

Rule 13 reads the KPI table back with `metrics.quoted_metrics`, which takes every `| name | value |`
row whose name is a headline metric. So every other table here starts with a code-quoted id or a
number, which that pattern cannot mistake for a quoted metric.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from dataops_platform.metrics import headline_table
from dataops_platform.report.data import EXPERIMENT_STATUSES, CheckRow, ReportData
from dataops_platform.report.fmt import LIST_LIMIT, delta_cells, more, num, percent, when

TITLE = "P08 DataOps platform report"
KPI_HEADING = "## 1. Overview KPIs"
SECTION_TITLES = (
    KPI_HEADING,
    "## 2. Version lifecycle per project",
    "## 3. Experiments: status and deltas against baseline",
    "## 4. Lineage graph",
    "## 5. Alerts against SLA targets",
    "## 6. Rollbacks and incident reviews",
    "## 7. Consistency checks (13 rules)",
)
CHECKS_NOTE = (
    "Rules 2-12 read only the artifacts. Rules 1 and 13 also read the report, so here they are evaluated on "
    "what this report is about to write: rule 1 on the artifacts written before it (the report itself and "
    "the test report come after), rule 13 on p8_metrics.json against the KPI table of section 1. The "
    "test_report asset evaluates all 13 again on the written files, after this report: "
    "`p8_test_report.md` is the verdict of record."
)


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _code(value: object) -> str:
    return f"`{value}`"


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def kpi_section(metrics: dict) -> str:
    """Section 1: the table rule 13 reads back (the only `| metric | value |` rows of the report)."""
    return f"{KPI_HEADING}\n\n{headline_table(metrics)}"


def checks_table(checks: Sequence[CheckRow], with_scope: bool = True) -> str:
    header = ["#", "rule", "guards asset", "result", "checked", *(["evaluated on"] if with_scope else []), "violations"]
    rows = []
    for c in checks:
        shown = "; ".join(c.violations[:3]) + (f" (+{len(c.violations) - 3} more)" if len(c.violations) > 3 else "")
        scope = [c.scope] if with_scope else []
        rows.append([c.number, c.name, c.asset, "pass" if c.passed else "FAIL", c.checked, *scope, shown])
    return table(header, rows)


def _overview(d: ReportData) -> list[str]:
    m = d.metrics
    failed = m.get("checks_failed") or []
    return [
        kpi_section(m),
        f"Content rules failing when the metrics were computed: {', '.join(failed) if failed else 'none'}. "
        f"The 13 rules as evaluated with this report: {d.checks_passed}/{len(d.checks)} pass (section 7).",
    ]


def _lifecycle(d: ReportData) -> list[str]:
    statuses = list(d.projects[0].by_status) if d.projects else []
    rows = [
        [
            _code(p.project_id),
            p.tenant_id,
            p.total,
            *p.by_status.values(),
            p.ever_released,
            p.current_release or "none",
            p.rollbacks,
        ]
        for p in d.projects[:LIST_LIMIT]
    ]
    out = [
        SECTION_TITLES[1],
        f"{num(d.metrics.get('dataset_versions'))} dataset versions, {num(d.metrics.get('released_versions'))} of them "
        f"released at some point, over {len(d.projects)} projects.",
        table(["project", "tenant", "versions", *statuses, "ever released", "current release", "rollbacks"], rows),
    ]
    if tail := more(len(d.projects), len(rows), "projects"):
        out.append(tail)
    shown = d.events[-LIST_LIMIT:]
    out += [
        "### Register, release and rollback events",
        "Oldest first" + (f"; the latest {len(shown)} of {len(d.events):,}." if len(shown) < len(d.events) else "."),
        table(["time (UTC)", "project", "event", "what"], [[when(e.at), e.project_id, e.kind, e.label] for e in shown]),
    ]
    return out


def _experiments(d: ReportData) -> list[str]:
    totals = {s: sum(c.get(s, 0) for c in d.experiment_status.values()) for s in EXPERIMENT_STATUSES}
    projects = list(d.experiment_status.items())
    rows = [[_code(p), *(c.get(s, 0) for s in EXPERIMENT_STATUSES), sum(c.values())] for p, c in projects[:LIST_LIMIT]]
    rows.append(["**all projects**", *totals.values(), sum(totals.values())])
    deltas = d.deltas[:LIST_LIMIT]
    delta_rows = [[_code(x.experiment_id), *delta_cells(x)] for x in deltas]
    out = [
        SECTION_TITLES[2],
        "### Status distribution",
        table(["project", *EXPERIMENT_STATUSES, "total"], rows),
        "### Primary-metric deltas against the baseline",
        f"{len(d.deltas)} of {num(d.metrics.get('experiments'))} experiments were judged against a baseline run of their "
        "project (the others had no baseline to compare with). An experiment is regressed when its primary metric is worse "
        "than the baseline's by more than the project's tolerance. Worst first.",
        table(["experiment", "project", "version", "status", "baseline", "metric", "value", "delta", "tolerance"], delta_rows),
    ]
    if tail := more(len(d.deltas), len(deltas), "judged experiments"):
        out.append(tail)
    return out


def _lineage(d: ReportData) -> list[str]:
    m = d.metrics
    by_type: dict[str, list[str]] = {}
    for (source, kind, target), n in sorted(d.flows.items()):
        by_type.setdefault(kind, []).append(f"{source} -> {target} ({n:,})")
    out = [
        SECTION_TITLES[3],
        f"{num(m.get('lineage_nodes'))} nodes and {num(m.get('lineage_edges'))} typed edges; lineage coverage "
        f"{num(m.get('lineage_coverage'))} (the share of governed objects linked to at least one other).",
        table(["kind", "nodes"], [[_code(k), n] for k, n in sorted(d.nodes_by_kind.items())]),
        table(
            ["edge type", "edges", "from -> to"],
            [[_code(t), n, ", ".join(by_type[t])] for t, n in sorted(d.edges_by_type.items())],
        ),
    ]
    edges = d.graph["edges"]
    if len(edges) <= LIST_LIMIT:
        out += ["### Edges", table(["source", "type", "target"], [[_code(e["source"]), e["type"], e["target"]] for e in edges])]
    else:
        out.append(f"The {len(edges):,} edges are counted above, not listed; `dataops lineage export` gives them all.")
    return out


def _alerts(d: ReportData) -> list[str]:
    m, sla = d.metrics, d.sla
    shown = d.alerts[:LIST_LIMIT]
    rows = [
        [
            _code(x.alert_id),
            x.severity,
            x.project_id,
            x.related_object,
            when(x.opened_at),
            num(x.minutes_to_acknowledge),
            num(x.acknowledge_target),
            num(x.minutes_to_resolve) if x.minutes_to_resolve is not None else f"open ({num(x.minutes_open)} so far)",
            num(x.resolve_target),
            "yes" if x.within_sla else "NO",
        ]
        for x in shown
    ]
    severity_rows = [
        [
            _code(s.severity),
            s.alerts,
            s.resolved,
            s.within_sla,
            num(s.mean_minutes_to_acknowledge),
            num(s.acknowledge_target),
            num(s.mean_minutes_to_resolve),
            num(s.resolve_target),
        ]
        for s in d.severities
    ]
    out = [
        SECTION_TITLES[4],
        f"SLA compliance {num(m.get('sla_compliance_rate'))}; alert closure rate {num(m.get('alert_closure_rate'))}; "
        f"mean time to acknowledge {num(m.get('mean_time_to_acknowledge_minutes'))} min; mean time to recovery "
        f"{num(m.get('mean_time_to_recovery_minutes'))} min; {len(sla['breaches'])} breaches, {len(sla['open_risks'])} "
        f"open alerts at risk (sla_report.json, computed at {when(sla.get('generated_at'))} UTC). "
        f"The mean time to acknowledge averages the {sla.get('acknowledged_count', 0)} acknowledged alerts; "
        f"{sla.get('resolved_unacknowledged_count', 0)} resolved without acknowledgement are held to the acknowledge "
        "target until their resolution.",
        "### By severity (minutes)",
        table(
            [
                "severity",
                "alerts",
                "resolved",
                "within SLA",
                "mean to acknowledge",
                "acknowledge target",
                "mean to resolve",
                "resolve target",
            ],
            severity_rows,
        ),
        "### Alerts, closest to their targets first (minutes after opening)",
        table(
            [
                "alert",
                "severity",
                "project",
                "about",
                "opened (UTC)",
                "acknowledged",
                "ack target",
                "resolved",
                "resolve target",
                "within SLA",
            ],
            rows,
        ),
    ]
    if tail := more(len(d.alerts), len(shown), "alerts"):
        out.append(tail)
    if sla["breaches"]:
        out.append(
            "Breaches: " + "; ".join(f"{b['alert_id']} ({', '.join(b['problems'])})" for b in sla["breaches"][:LIST_LIMIT])
        )
    return out


def _reviews(d: ReportData) -> list[str]:
    rollbacks = d.rollbacks[-LIST_LIMIT:]
    rows = [
        [
            _code(r["rollback_id"]),
            r["project_id"],
            f"{r['from_version']} -> {r['to_version']}",
            when(r["executed_at"]),
            r["executed_by"],
            r["trigger_ref"] or "none",
            r["reason"],
            r["review_ref"] or "none",
        ]
        for r in rollbacks
    ]
    out = [
        SECTION_TITLES[5],
        f"{num(d.metrics.get('rollbacks'))} rollbacks (rollback usability {num(d.metrics.get('rollback_usability'))}: "
        f"completed, with a complete review); {len(d.reviews)} incident reviews.",
        "### Rollbacks",
        table(["rollback", "project", "from -> to", "executed (UTC)", "by", "trigger", "reason", "review"], rows)
        if rows
        else "No rollbacks.",
    ]
    if tail := more(len(d.rollbacks), len(rollbacks), "rollbacks (the latest are listed)"):
        out.append(tail)
    out.append("### Incident reviews")
    reviews = d.reviews[-LIST_LIMIT:]
    for r in reviews:
        fixes = "; ".join(f"{i.get('description')} ({i.get('owner')}, due {i.get('due')})" for i in r.get("fix_items") or [])
        out.append(
            f"**{r['review_id']}** ({r['project_id']}, by {r['author']}, {when(r['created_at'])} UTC), about "
            f"{', '.join(r['related_refs'])}\n\n"
            f"- symptom: {r['symptom']}\n- impact: {r['impact_scope']}\n- root cause: {r['root_cause']}\n"
            f"- mitigation: {r['mitigation']}\n- fix items: {fixes or 'none'}"
        )
    if not reviews:
        out.append("No incident reviews.")
    if tail := more(len(d.reviews), len(reviews), "reviews (the latest are listed)"):
        out.append(tail)
    return out


def _checks(d: ReportData) -> list[str]:
    return [
        SECTION_TITLES[6],
        CHECKS_NOTE,
        checks_table(d.checks),
        f"{d.checks_passed}/{len(d.checks)} rules pass in this evaluation; check pass rate over rules 2-12 "
        f"(p8_metrics.json): {num(d.metrics.get('check_pass_rate'))} ({percent(d.metrics.get('check_pass_rate'))}).",
    ]


def report_markdown(d: ReportData) -> str:
    parts = [
        f"# {TITLE}",
        f"Generated from the artifacts at {d.metrics.get('generated_at', 'n/a')}. Every figure is read from "
        "`reports/p8_metrics.json` or counted from the artifacts under `processed/`; `p8_report.pdf` shows the same "
        "figures with charts.",
        *_overview(d),
        *_lifecycle(d),
        *_experiments(d),
        *_lineage(d),
        *_alerts(d),
        *_reviews(d),
        *_checks(d),
    ]
    return "\n\n".join(parts) + "\n"
