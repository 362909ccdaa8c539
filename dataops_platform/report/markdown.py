"""p8_report.md from a `ReportData`.

Rule 13 reads the KPI table back with `metrics.quoted_metrics`, which takes every `| name | value |`
row whose name is a headline metric. So every other table here starts with a code-quoted id or a
number, which that pattern cannot mistake for a quoted metric.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from dataops_platform.governance.lineage import read_edge
from dataops_platform.metrics import headline_table
from dataops_platform.report.data import EXPERIMENT_STATUSES, CheckRow, ReportData
from dataops_platform.report.fmt import LIST_LIMIT, delta_cells, more, num, plural, rate, were, when

KPI_HEADING = "## 1. Overview KPIs"
SECTION_TITLES = (
    KPI_HEADING,
    "## 2. Version lifecycle per project",
    "## 3. Experiments: status and deltas against baseline",
    "## 4. Lineage graph",
    "## 5. Alerts against SLA targets",
    "## 6. Rollbacks and incident reviews",
    "## 7. Governance findings",
    "## 8. Consistency checks (13 rules)",
)
FINDINGS_NOTE = (
    "A finding is something the organisation has to act on while its records stay consistent (a data regression "
    "on the current release, an alert past its SLA, a review still missing). It never stops the graph: the rule "
    "that found it is shown as a finding in section 8, and each finding names its remedy."
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
        if c.findings and not c.violations:
            shown = f"none; {plural(len(c.findings), 'finding')}" + (" (section 7)" if with_scope else "")
        scope = [c.scope] if with_scope else []
        rows.append([c.number, c.name, c.asset, c.result, c.checked, *scope, shown])
    return table(header, rows)


def _overview(d: ReportData) -> list[str]:
    m = d.metrics
    failed = m.get("checks_failed") or []
    return [
        kpi_section(m),
        f"Content rules failing when the metrics were computed: {', '.join(failed) if failed else 'none'}. "
        f"The 13 rules as evaluated with this report: {d.checks_passed}/{len(d.checks)} pass, integrity holds on "
        f"{d.integrity_held}/{len(d.checks)} (section 8); {plural(d.findings_total, 'open governance finding')} (section 7).",
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
    if len(d.projects) > LIST_LIMIT:
        rows.append([f"**all {len(d.projects):,} projects**", *project_totals(d, statuses)])
    out = [
        SECTION_TITLES[1],
        f"{_count(d.metrics.get('dataset_versions'), 'dataset version')}, {num(d.metrics.get('released_versions'))} of them "
        f"released at some point, over {plural(len(d.projects), 'project')}.",
        table(["project", "tenant", "versions", *statuses, "ever released", "current release", "rollbacks"], rows),
    ]
    if tail := more(len(d.projects), min(len(d.projects), LIST_LIMIT), "project", " (summed in the last row)"):
        out.append(tail)
    shown = d.events
    out += [
        "### Register, release and rollback events",
        "Oldest first" + (f"; the latest {len(shown)} of {d.events_total:,}." if len(shown) < d.events_total else "."),
        table(["time (UTC)", "project", "event", "what"], [[when(e.at), e.project_id, e.kind, e.label] for e in shown]),
    ]
    if d.events_total > len(shown):
        out += event_buckets(d)
    return out


def project_totals(d: ReportData, statuses: Sequence[str]) -> list[object]:
    """The cells after the project of the row that sums every project (when the table is cut)."""
    return [
        "",
        sum(p.total for p in d.projects),
        *(sum(p.by_status.get(s, 0) for p in d.projects) for s in statuses),
        sum(p.ever_released for p in d.projects),
        "",
        sum(p.rollbacks for p in d.projects),
    ]


def event_buckets(d: ReportData) -> list[str]:
    """Every event counted per UTC day (per month when there are more days than a table lists)."""
    unit = "month" if d.event_buckets and len(d.event_buckets[0].bucket) == 7 else "day"
    rows = [[b.bucket, b.register, b.release, b.rollback, b.register + b.release + b.rollback] for b in d.event_buckets]
    header = [unit, "register", "release", "rollback", "total"]
    out = [f"### Events per {unit} (UTC), all {d.events_total:,}", table(header, rows)]
    if tail := more(d.event_buckets_total, len(rows), unit, " (the latest are listed)"):
        out.append(tail)
    return out


def _experiments(d: ReportData) -> list[str]:
    totals = {s: sum(c.get(s, 0) for c in d.experiment_status.values()) for s in EXPERIMENT_STATUSES}
    projects = list(d.experiment_status.items())
    rows = [[_code(p), *(c.get(s, 0) for s in EXPERIMENT_STATUSES), sum(c.values())] for p, c in projects[:LIST_LIMIT]]
    rows.append(["**all projects**", *totals.values(), sum(totals.values())])
    deltas = d.deltas[:LIST_LIMIT]
    delta_rows = [[_code(x.experiment_id), *delta_cells(x)] for x in deltas]
    judged = d.judged
    out = [
        SECTION_TITLES[2],
        "### Status distribution",
        table(["project", *EXPERIMENT_STATUSES, "total"], rows),
        "### Primary-metric deltas against the baseline",
        f"{judged} of {_count(d.metrics.get('experiments'), 'experiment')} {were(judged)} judged against a "
        "baseline run of their project (the others had no baseline to compare with). An experiment is regressed when its "
        "primary metric is worse than the baseline's by more than the project's tolerance. Worst first.",
        table(["experiment", "project", "version", "status", "baseline", "metric", "value", "delta", "tolerance"], delta_rows),
    ]
    if tail := more(judged, len(deltas), "judged experiment"):
        out.append(tail)
        out += [f"### Every judged experiment, per project ({judged:,})", table(*delta_groups(d))]
        if tail := more(len(d.delta_groups), min(len(d.delta_groups), LIST_LIMIT), "project"):
            out.append(tail)
    return out


def delta_groups(d: ReportData) -> tuple[list[str], list[list[object]]]:
    """The judged experiments aggregated per project and primary metric (the PDF prints it too)."""
    header = ["project", "metric", "judged", "regressed", "failed runs", "mean delta", "worst delta", "tolerance"]
    rows: list[list[object]] = [
        [
            _code(g.project_id),
            g.metric,
            g.judged,
            g.regressed,
            g.judged - g.compared,
            num(g.mean_delta, signed=True) if g.mean_delta is not None else "n/a",
            num(g.worst_delta, signed=True) if g.worst_delta is not None else "n/a",
            num(g.tolerance),
        ]
        for g in d.delta_groups[:LIST_LIMIT]
    ]
    return header, rows


def _lineage(d: ReportData) -> list[str]:
    m = d.metrics
    out = [
        SECTION_TITLES[3],
        f"{_count(m.get('lineage_nodes'), 'node')} and {_count(m.get('lineage_edges'), 'typed edge')}; lineage coverage "
        f"{rate(m.get('lineage_coverage'))} (the share of governed objects linked to at least one other).",
        table(["kind", "nodes"], [[_code(k), n] for k, n in sorted(d.nodes_by_kind.items())]),
        table(["edge type", "edges", "reads as"], [[_code(t), n, r] for t, n, r in edge_readings(d)]),
    ]
    edges = d.graph["edges"]
    if len(edges) <= LIST_LIMIT:
        rows = [read_edge(e["source"], e["type"], e["target"]) for e in edges]
        out += ["### Edges", table(["object", "relation", "object"], [[_code(a), phrase, b] for a, phrase, b in rows])]
    else:
        out.append(f"The {len(edges):,} edges are counted above, not listed; `dataops lineage export` gives them all.")
    return out


def _alerts(d: ReportData) -> list[str]:
    m, sla = d.metrics, d.sla
    unacked = sla.get("resolved_unacknowledged_count", 0)
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
        f"SLA compliance {rate(m.get('sla_compliance_rate'))}; alert closure rate {rate(m.get('alert_closure_rate'))}; "
        f"mean time to acknowledge {num(m.get('mean_time_to_acknowledge_minutes'))} min; mean time to recovery "
        f"{num(m.get('mean_time_to_recovery_minutes'))} min; {plural(len(sla['breaches']), 'breach', 'breaches')}, "
        f"{plural(len(sla['open_risks']), 'open alert')} at risk (sla_report.json, computed at {when(sla.get('generated_at'))} "
        f"UTC). The mean time to acknowledge averages the {plural(sla.get('acknowledged_count', 0), 'acknowledged alert')}; "
        f"{unacked} resolved without acknowledgement {'is' if unacked == 1 else 'are'} held to the acknowledge target "
        "until their resolution.",
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
    if tail := more(d.alerts_total, len(shown), "alert"):
        out.append(tail)
        header, project_rows = alert_projects(d)
        out += ["### Alerts per project and status", table(header, [[_code(r[0]), *r[1:]] for r in project_rows])]
        if tail := more(len(d.alert_projects), len(project_rows), "project"):
            out.append(tail)
    if sla["breaches"]:
        out.append(
            "Breaches: "
            + "; ".join(f"{b['alert_id']} ({', '.join(b['problems'])})" for b in sla["breaches"][:LIST_LIMIT])
            + (f"; … and {len(sla['breaches']) - LIST_LIMIT:,} more." if len(sla["breaches"]) > LIST_LIMIT else "")
        )
    return out


def alert_projects(d: ReportData) -> tuple[list[str], list[list[object]]]:
    """Every alert counted per project (the most alerted first) and status."""
    statuses = list(d.alert_projects[0].by_status) if d.alert_projects else []
    rows: list[list[object]] = [
        [p.project_id, p.alerts, *p.by_status.values(), p.outside_sla] for p in d.alert_projects[:LIST_LIMIT]
    ]
    return ["project", "alerts", *statuses, "outside SLA"], rows


def rollback_projects(d: ReportData) -> tuple[list[str], list[list[object]]]:
    statuses = sorted({s for c in d.rollback_projects.values() for s in c})
    rows: list[list[object]] = [
        [p, sum(c.values()), *(c.get(s, 0) for s in statuses)] for p, c in list(d.rollback_projects.items())[:LIST_LIMIT]
    ]
    return ["project", "rollbacks", *statuses], rows


def review_projects(d: ReportData) -> tuple[list[str], list[list[object]]]:
    rows: list[list[object]] = [[p, n, done, n - done] for p, (n, done) in list(d.review_projects.items())[:LIST_LIMIT]]
    return ["project", "reviews", "complete", "incomplete"], rows


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
        f"{_count(d.metrics.get('rollbacks'), 'rollback')} (rollback usability {rate(d.metrics.get('rollback_usability'))}: "
        f"completed, with a complete review); {plural(d.reviews_total, 'incident review')}.",
        "### Rollbacks",
        table(["rollback", "project", "from -> to", "executed (UTC)", "by", "trigger", "reason", "review"], rows)
        if rows
        else "No rollbacks.",
    ]
    if tail := more(d.rollbacks_total, len(rollbacks), "rollback", " (the latest are listed)"):
        out.append(tail)
        header, rows = rollback_projects(d)
        out += ["Every rollback, per project and status:", table(header, [[_code(r[0]), *r[1:]] for r in rows])]
        if tail := more(len(d.rollback_projects), len(rows), "project"):
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
    if tail := more(d.reviews_total, len(reviews), "review", " (the latest are listed)"):
        out.append(tail)
        header, rows = review_projects(d)
        out += ["Every review, per project:", table(header, [[_code(r[0]), *r[1:]] for r in rows])]
        if tail := more(len(d.review_projects), len(rows), "project"):
            out.append(tail)
    return out


def _findings(d: ReportData) -> list[str]:
    if not d.findings_total:
        return [SECTION_TITLES[6], "No open governance findings: every rule that looks for one found none."]
    shown = d.findings[:LIST_LIMIT]
    rules = list(d.findings_by_rule)
    out = [
        SECTION_TITLES[6],
        FINDINGS_NOTE,
        f"{plural(d.findings_total, 'open finding')} from {plural(len(rules), 'rule')} "
        f"({', '.join(f'{n} {name}' for n, name in rules)}).",
        table(["on", "rule", "finding and its remedy"], [[_code(f.on or "-"), f"{f.number} {f.rule}", f.text] for f in shown]),
    ]
    if tail := more(d.findings_total, len(shown), "finding", " (`dataops materialize --json` lists them all)"):
        out.append(tail)
        rows = [[n, rule, k] for (n, rule), k in d.findings_by_rule.items()]
        out += ["### Findings per rule", table(["#", "rule", "findings"], rows)]
    return out


def _checks(d: ReportData) -> list[str]:
    return [
        SECTION_TITLES[7],
        CHECKS_NOTE,
        checks_table(d.checks),
        checks_summary(d),
    ]


def checks_summary(d: ReportData) -> str:
    """The line under the checks table (the PDF prints it too)."""
    findings = sum(bool(c.findings) and not c.violations for c in d.checks)
    held = f"; integrity holds on {d.integrity_held}/{len(d.checks)}, {plural(findings, 'rule')} with findings"
    return (
        f"{d.checks_passed}/{len(d.checks)} rules pass in this evaluation"
        + (held if findings else "")
        + f"; check pass rate over rules 2-12 (p8_metrics.json): {rate(d.metrics.get('check_pass_rate'))}."
    )


def edge_readings(d: ReportData) -> list[tuple[str, int, str]]:
    """Per edge type: its count and how its edges read between kinds (`version derived from version (3)`)."""
    by_type: dict[str, list[str]] = {}
    for (source, kind, target), n in sorted(d.flows.items()):
        subject, phrase, obj = read_edge(source, kind, target)
        by_type.setdefault(kind, []).append(f"{subject} {phrase} {obj} ({n:,})")
    return [(t, n, ", ".join(by_type[t])) for t, n in sorted(d.edges_by_type.items())]


def _count(value: object, word: str) -> str:
    """A metric that counts things, with its noun: '1 rollback', '6 dataset versions'."""
    return plural(value, word) if isinstance(value, int) and not isinstance(value, bool) else f"{num(value)} {word}s"


def report_markdown(d: ReportData) -> str:
    parts = [
        f"# {d.title}",
        f"Generated from the artifacts at {d.metrics.get('generated_at', 'n/a')}. Every figure is read from "
        "`reports/p8_metrics.json` or counted from the artifacts under `processed/`; `p8_report.pdf` shows the same "
        "figures with charts.",
        *_overview(d),
        *_lifecycle(d),
        *_experiments(d),
        *_lineage(d),
        *_alerts(d),
        *_reviews(d),
        *_findings(d),
        *_checks(d),
    ]
    return "\n\n".join(parts) + "\n"
