"""p8_report.pdf from a `ReportData`: A4 pages drawn with matplotlib, no external binary.

The same sections, in the same order and with the same figures, as p8_report.md; tables list at
most fmt.LIST_LIMIT rows and charts are aggregated (charts.py), so the PDF stays a few pages.
"""

from __future__ import annotations

import io
from typing import Any

from matplotlib.patches import FancyBboxPatch

from dataops_platform.metrics import HEADLINE, P08_TABLE
from dataops_platform.report import charts
from dataops_platform.report.data import ReportData
from dataops_platform.report.fmt import LIST_LIMIT, delta_cells, more, num, plural, quoted, rate, were, when
from dataops_platform.report.layout import A4, INK, LEFT, MUTED, RC, WIDTH, Flow, text_width
from dataops_platform.report.markdown import (
    CHECKS_NOTE,
    FINDINGS_NOTE,
    SECTION_TITLES,
    alert_projects,
    checks_summary,
    delta_groups,
    edge_readings,
    project_totals,
    review_projects,
    rollback_projects,
)

PASS, FAIL, WARN = "#2f9e5a", "#c0392b", "#b7791f"
REVIEWS_IN_FULL = 8  # reviews the PDF prints whole; each takes a block of the page


def _title(title: str) -> str:
    return title.removeprefix("## ")


def _chart(flow: Flow, rows: int, per_row: float, base: float = 1.25, cap: float = 6.2) -> tuple[Any, tuple[float, ...]]:
    """A place for a chart of `rows` bars: `per_row` inches each, thinner when many would pass `cap`."""
    height = min(cap, base + per_row * max(rows, 1))
    fig, bottom, _ = flow.region(height)
    return fig, (LEFT, bottom, WIDTH, height)


def _tiles(flow: Flow, d: ReportData) -> None:
    m = d.metrics
    tiles = [
        ("Dataset versions", f"{num(m.get('released_versions'))} / {num(m.get('dataset_versions'))}", "released / registered"),
        (
            "Experiments",
            num(m.get("experiments")),
            f"{num(m.get('experiments_completed'))} completed, {num(m.get('experiments_regressed'))} regressed, "
            f"{num(m.get('experiments_failed'))} failed",
        ),
        ("Rollbacks", num(m.get("rollbacks")), f"rollback usability {rate(m.get('rollback_usability'))}"),
        ("Alerts", num(m.get("alerts")), f"{rate(m.get('alert_closure_rate'))} resolved"),
        ("SLA compliance", rate(m.get("sla_compliance_rate")), f"MTTA {num(m.get('mean_time_to_acknowledge_minutes'))} min"),
        ("Mean time to recovery", f"{num(m.get('mean_time_to_recovery_minutes'))} min", "opened -> resolved"),
        ("Lineage", f"{num(m.get('lineage_nodes'))} / {num(m.get('lineage_edges'))}", "nodes / typed edges"),
        ("Consistency rules", f"{d.checks_passed}/{len(d.checks)}", "pass with this report (section 8)"),
        ("Open findings", f"{d.findings_total:,}", "governance, not blocking (section 7)"),
    ]
    columns, gap, height = 4, 0.12, 0.82
    tile_w = (WIDTH - gap * (columns - 1)) / columns
    for start in range(0, len(tiles), columns):
        fig, bottom, top = flow.region(height + gap)
        for i, (label, value, note) in enumerate(tiles[start : start + columns]):
            x = LEFT + i * (tile_w + gap)
            alarm = (
                (label == "Consistency rules" and d.integrity_held < len(d.checks))
                or (label == "Open findings" and d.findings_total > 0)
                or (label == "SLA compliance" and m.get("sla_compliance_rate") != 1.0)
            )
            fig.add_artist(
                FancyBboxPatch(
                    (x / A4[0], (top - height) / A4[1]),
                    tile_w / A4[0],
                    height / A4[1],
                    boxstyle="round,pad=0,rounding_size=0.01",
                    facecolor="#fdecea" if alarm else "#f0f4f8",
                    edgecolor="none",
                )
            )
            fig.text((x + 0.1) / A4[0], (top - 0.2) / A4[1], label, fontsize=7.5, color=MUTED)
            size = 17 if text_width(value, 17, bold=True) < tile_w - 0.2 else 12
            fig.text((x + 0.1) / A4[0], (top - 0.52) / A4[1], value, fontsize=size, weight="bold", color=FAIL if alarm else INK)
            fig.text((x + 0.1) / A4[0], (top - 0.72) / A4[1], note, fontsize=6.3, color=MUTED)


def _overview(flow: Flow, d: ReportData) -> None:
    m = d.metrics
    flow.new_page()
    flow.text(d.title, size=20, bold=True, gap=0.02)
    flow.text(
        f"Generated from the artifacts at {m.get('generated_at', 'n/a')}. Every figure is read from reports/p8_metrics.json "
        "or counted from the artifacts under processed/; p8_report.md has the same figures.",
        size=8,
        color=MUTED,
        gap=0.2,
    )
    _tiles(flow, d)
    flow.space(0.1)
    flow.heading(_title(SECTION_TITLES[0]))
    p08 = [k for k in P08_TABLE if k in HEADLINE]
    further = [k for k in HEADLINE if k not in p08]
    half = (WIDTH - 0.3) / 2
    top = flow.y
    flow.text("The P08 table", size=8.5, bold=True, width=half, gap=0.04)
    flow.table(["metric", "value"], [[k, quoted(m.get(k))] for k in p08], align="lr", width=half)
    end = flow.y
    flow.y = top
    flow.text("Further platform metrics", size=8.5, bold=True, x=LEFT + half + 0.3, width=half, gap=0.04)
    flow.table(["metric", "value"], [[k, quoted(m.get(k))] for k in further], align="lr", x=LEFT + half + 0.3, width=half)
    flow.text(
        "Rates are shares (1.0 = 100%); times are wall-clock minutes.", size=7, color=MUTED, x=LEFT + half + 0.3, width=half
    )
    flow.y = min(flow.y, end)
    failed = m.get("checks_failed") or []
    flow.text(
        f"Content rules failing when the metrics were computed: {', '.join(failed) if failed else 'none'}.",
        size=8,
        color=FAIL if failed else INK,
    )


def _lifecycle(flow: Flow, d: ReportData) -> None:
    m = d.metrics
    flow.new_page()
    flow.heading(_title(SECTION_TITLES[1]))
    flow.text(
        f"{plural(m.get('dataset_versions') or 0, 'dataset version')}, {num(m.get('released_versions'))} of them released at "
        f"some point, over {plural(len(d.projects), 'project')}."
    )
    shown = d.projects[:LIST_LIMIT]
    # The statuses some project has (p8_report.md lists every legal status): the table fits the page.
    statuses = [s for s in (shown[0].by_status if shown else {}) if any(p.by_status[s] for p in d.projects)]
    flow.table(
        [
            "project",
            "tenant",
            "versions",
            *(s.replace("_", " ") for s in statuses),
            "ever released",
            "current release",
            "rollbacks",
        ],
        [
            [
                p.project_id,
                p.tenant_id,
                p.total,
                *(p.by_status[s] for s in statuses),
                p.ever_released,
                p.current_release or "none",
                p.rollbacks,
            ]
            for p in shown
        ]
        + ([[f"all {len(d.projects):,} projects", *project_totals(d, statuses)]] if len(d.projects) > len(shown) else []),
        align="llr" + "r" * len(statuses) + "rlr",
        size=6.8,
    )
    if tail := more(len(d.projects), len(shown), "project", " (summed in the last row)"):
        flow.text(tail, size=7, color=MUTED)
    fig, place = _chart(flow, min(len(d.projects), charts.MAX_ROWS), 0.32, cap=4.5)
    charts.version_status_bars(fig, place, d.projects)
    flow.space(0.15)
    fig, place = _chart(flow, min(len(d.projects), charts.TIMELINE_ROWS), 0.5, base=1.5, cap=4.5)
    charts.lifecycle_timeline(fig, place, d.event_series, d.projects)


def _experiments(flow: Flow, d: ReportData) -> None:
    m = d.metrics
    flow.new_page()
    flow.heading(_title(SECTION_TITLES[2]))
    flow.text(
        f"{plural(m.get('experiments') or 0, 'experiment')}: {num(m.get('experiments_completed'))} completed, "
        f"{num(m.get('experiments_regressed'))} regressed, {num(m.get('experiments_failed'))} failed; experiment record "
        f"completeness {rate(m.get('experiment_record_completeness'))}."
    )
    fig, place = _chart(flow, min(len(d.experiment_status), charts.MAX_ROWS), 0.32, cap=4.5)
    charts.experiment_status_bars(fig, place, d.experiment_status)
    flow.space(0.1)
    flow.text(
        f"{plural(d.judged, 'experiment')} {were(d.judged)} judged against a baseline run of their project. An "
        "experiment is regressed when its primary metric is worse than the baseline's by more than the project's tolerance."
    )
    fig, place = _chart(flow, d.judged if d.judged <= charts.MAX_ROWS else 6, 0.36, cap=5.0)
    charts.delta_chart(fig, place, d.deltas, d.judged, d.delta_groups)
    shown = d.deltas[:LIST_LIMIT]
    flow.table(
        ["experiment", "project", "version", "status", "baseline", "metric", "value", "delta", "tolerance"],
        [[x.experiment_id, *delta_cells(x)] for x in shown],
        align="llllllrrr",
        tint=lambda i: {"regressed": WARN, "failed": FAIL}.get(shown[i].status),
    )
    if tail := more(d.judged, len(shown), "judged experiment"):
        flow.text(tail, size=7, color=MUTED)
        header, rows = delta_groups(d)
        flow.text(f"Every judged experiment, per project ({d.judged:,})", size=8.5, bold=True, gap=0.04)
        flow.table(header, [[str(r[0]).strip("`"), *r[1:]] for r in rows], align="llrrrrrr")
        if tail := more(len(d.delta_groups), len(rows), "project"):
            flow.text(tail, size=7, color=MUTED)


def _lineage(flow: Flow, d: ReportData) -> None:
    m = d.metrics
    flow.new_page()
    flow.heading(_title(SECTION_TITLES[3]))
    drawable = charts.lineage_is_drawable(d.graph)
    flow.text(
        f"{plural(m.get('lineage_nodes') or 0, 'node')} and {plural(m.get('lineage_edges') or 0, 'typed edge')}; lineage "
        f"coverage {rate(m.get('lineage_coverage'))}. "
        + (
            "Every object is drawn: one column per kind, one band per project."
            if drawable
            else f"Above {charts.GRAPH_NODES_DRAWN} nodes or {charts.GRAPH_EDGES_DRAWN} edges the graph is "
            "summarised: nodes per kind, and edges between kinds."
        )
    )
    if drawable:
        bands = {n.get("project_id") for n in d.graph["nodes"]}
        rows = sum(_band_rows(d.graph, b) for b in bands) + 0.6 * len(bands)
        height = min(7.0, 1.3 + 0.42 * rows)
        fig, bottom, _ = flow.region(height)
        charts.lineage_drawing(fig, (LEFT, bottom, WIDTH, height), d.graph)
    else:
        fig, bottom, _ = flow.region(3.6)
        charts.lineage_summary(fig, (LEFT, bottom, WIDTH, 3.6), d.nodes_by_kind, d.flows)
    flow.space(0.1)
    half = (WIDTH - 0.3) / 2
    top = flow.y
    flow.table(["kind", "nodes"], [[k, f"{n:,}"] for k, n in sorted(d.nodes_by_kind.items())], align="lr", width=half * 0.6)
    end = flow.y
    flow.y = top
    flow.table(
        ["edge type", "edges", "reads as"],
        [[t, f"{n:,}", reads] for t, n, reads in edge_readings(d)],
        align="lrl",
        x=LEFT + half * 0.6 + 0.3,
        width=WIDTH - half * 0.6 - 0.3,
    )
    flow.y = min(flow.y, end)


def _band_rows(graph: dict, band: str | None) -> int:
    counts: dict[str, int] = {}
    for n in graph["nodes"]:
        if n.get("project_id") == band:
            counts[n["kind"]] = counts.get(n["kind"], 0) + 1
    return max(counts.values(), default=0)


def _alerts(flow: Flow, d: ReportData) -> None:
    m, sla = d.metrics, d.sla
    flow.new_page()
    flow.heading(_title(SECTION_TITLES[4]))
    flow.text(
        f"SLA compliance {rate(m.get('sla_compliance_rate'))}; alert closure rate {rate(m.get('alert_closure_rate'))}; "
        f"mean time to acknowledge {num(m.get('mean_time_to_acknowledge_minutes'))} min; mean time to recovery "
        f"{num(m.get('mean_time_to_recovery_minutes'))} min; {plural(len(sla['breaches']), 'breach', 'breaches')}, "
        f"{plural(len(sla['open_risks']), 'open alert')} at risk (sla_report.json, computed at "
        f"{when(sla.get('generated_at'))} UTC)."
    )
    fig, place = _chart(flow, min(d.alerts_total, charts.MAX_ROWS), 0.4)
    charts.alert_chart(fig, place, d.alerts, d.alerts_total)
    flow.space(0.1)
    flow.text("By severity (minutes)", size=8.5, bold=True, gap=0.04)
    flow.table(
        [
            "severity",
            "alerts",
            "resolved",
            "within SLA",
            "mean to acknowledge",
            "ack target",
            "mean to resolve",
            "resolve target",
        ],
        [
            [
                s.severity,
                s.alerts,
                s.resolved,
                s.within_sla,
                num(s.mean_minutes_to_acknowledge),
                num(s.acknowledge_target),
                num(s.mean_minutes_to_resolve),
                num(s.resolve_target),
            ]
            for s in d.severities
        ],
        align="lrrrrrrr",
    )
    shown = d.alerts[:LIST_LIMIT]
    flow.text("Alerts, closest to their targets first (minutes after opening)", size=8.5, bold=True, gap=0.04)
    flow.table(
        ["alert", "severity", "project", "about", "opened (UTC)", "acked", "resolved", "within SLA"],
        [
            [
                a.alert_id,
                a.severity,
                a.project_id,
                a.related_object,
                when(a.opened_at),
                num(a.minutes_to_acknowledge),
                num(a.minutes_to_resolve) if a.minutes_to_resolve is not None else f"open ({num(a.minutes_open)})",
                "yes" if a.within_sla else "NO",
            ]
            for a in shown
        ],
        align="lllllrrl",
        tint=lambda i: FAIL if not shown[i].within_sla else None,
    )
    if tail := more(d.alerts_total, len(shown), "alert"):
        flow.text(tail, size=7, color=MUTED)
        header, rows = alert_projects(d)
        flow.text("Alerts per project and status", size=8.5, bold=True, gap=0.04)
        flow.table(header, rows, align="l" + "r" * (len(header) - 1))
        if tail := more(len(d.alert_projects), len(rows), "project"):
            flow.text(tail, size=7, color=MUTED)


def _reviews(flow: Flow, d: ReportData) -> None:
    m = d.metrics
    flow.new_page()
    flow.heading(_title(SECTION_TITLES[5]))
    flow.text(
        f"{plural(m.get('rollbacks') or 0, 'rollback')} (rollback usability {rate(m.get('rollback_usability'))}: completed, "
        f"with a complete review); {plural(d.reviews_total, 'incident review')}."
    )
    flow.text("Rollbacks", size=10, bold=True, gap=0.04)
    rollbacks = d.rollbacks[-LIST_LIMIT:]
    if rollbacks:
        flow.table(
            ["rollback", "project", "from -> to", "executed (UTC)", "by", "trigger", "reason", "review"],
            [
                [
                    r["rollback_id"],
                    r["project_id"],
                    f"{r['from_version']} -> {r['to_version']}",
                    when(r["executed_at"]),
                    r["executed_by"],
                    r["trigger_ref"] or "none",
                    r["reason"],
                    r["review_ref"] or "none",
                ]
                for r in rollbacks
            ],
        )
    else:
        flow.text("No rollbacks.", color=MUTED)
    if tail := more(d.rollbacks_total, len(rollbacks), "rollback", " (the latest are listed)"):
        flow.text(tail, size=7, color=MUTED)
        header, rows = rollback_projects(d)
        flow.text("Every rollback, per project and status:", size=8, gap=0.04)
        flow.table(header, rows, align="l" + "r" * (len(header) - 1))
        if tail := more(len(d.rollback_projects), len(rows), "project"):
            flow.text(tail, size=7, color=MUTED)
    flow.text("Incident reviews", size=10, bold=True, gap=0.04)
    reviews = d.reviews[-REVIEWS_IN_FULL:]
    for r in reviews:
        flow.ensure(1.2)
        flow.text(
            f"{r['review_id']}  ({r['project_id']}, by {r['author']}, {when(r['created_at'])} UTC), about "
            f"{', '.join(r['related_refs'])}",
            size=8.5,
            bold=True,
            gap=0.03,
        )
        flow.table(
            None,
            [
                ["symptom", r["symptom"]],
                ["impact", r["impact_scope"]],
                ["root cause", r["root_cause"]],
                ["mitigation", r["mitigation"]],
            ]
            + [
                [f"fix item {i + 1}", f"{x.get('description')} (owner {x.get('owner')}, due {x.get('due')})"]
                for i, x in enumerate(r.get("fix_items") or [])
            ],
            widths=[1.1, WIDTH - 1.1],
            size=7.5,
        )
    if not reviews:
        flow.text("No incident reviews.", color=MUTED)
    if d.reviews_total > len(reviews):
        flow.text(
            f"… and {plural(d.reviews_total - len(reviews), 'earlier review')} (p8_report.md lists the latest "
            f"{min(d.reviews_total, LIST_LIMIT)}).",
            size=7,
            color=MUTED,
        )
    if d.reviews_total > LIST_LIMIT:
        header, rows = review_projects(d)
        flow.text("Every review, per project:", size=8, gap=0.04)
        flow.table(header, rows, align="lrrr")
        if tail := more(len(d.review_projects), len(rows), "project"):
            flow.text(tail, size=7, color=MUTED)


def _violations(violations: list[str], shown: int = 3) -> str:
    if not violations:
        return "none"
    rest = len(violations) - shown
    return "; ".join(violations[:shown]) + (f" (+{rest:,} more)" if rest > 0 else "")


def _findings(flow: Flow, d: ReportData) -> None:
    flow.new_page()
    flow.heading(_title(SECTION_TITLES[6]))
    findings = d.findings
    if not d.findings_total:
        flow.text("No open governance findings: every rule that looks for one found none.", color=MUTED)
        return
    rules = list(d.findings_by_rule)
    flow.text(FINDINGS_NOTE.replace("`", ""), size=8)
    flow.text(
        f"{plural(d.findings_total, 'open finding')} from {plural(len(rules), 'rule')} "
        f"({', '.join(f'{n} {name}' for n, name in rules)}).",
        bold=True,
        color=WARN,
    )
    shown = findings[:LIST_LIMIT]
    flow.table(
        ["on", "rule", "finding and its remedy"],
        [[f.on or "-", f"{f.number} {f.rule}", f.text.replace("`", "")] for f in shown],
        widths=[1.5, 1.6, WIDTH - 3.1],
        size=6.8,
        max_lines=6,
    )
    if tail := more(d.findings_total, len(shown), "finding", " (dataops materialize --json lists them all)"):
        flow.text(tail, size=7, color=MUTED)
        flow.text("Findings per rule", size=8.5, bold=True, gap=0.04)
        flow.table(["#", "rule", "findings"], [[n, rule, k] for (n, rule), k in d.findings_by_rule.items()], align="rlr")


def _checks(flow: Flow, d: ReportData) -> None:
    flow.new_page()
    flow.heading(_title(SECTION_TITLES[7]))
    flow.text(CHECKS_NOTE.replace("`", ""), size=8)
    flow.table(
        ["#", "rule", "guards asset", "result", "checked", "evaluated on", "violations"],
        [
            [
                c.number,
                f"{c.name}\n{c.description}",
                c.asset,
                c.result,
                c.checked,
                c.scope,
                _violations(c.violations) if c.violations or not c.findings else f"none; {plural(len(c.findings), 'finding')}",
            ]
            for c in d.checks
        ],
        widths=[0.25, 2.55, 1.0, 0.45, 0.55, 1.15, WIDTH - 5.95],
        align="rllrrll",
        size=6.8,
        max_lines=4,
        tint=lambda i: {"FAIL": FAIL, "finding": WARN}.get(d.checks[i].result),
    )
    colour = PASS if d.checks_passed == len(d.checks) else FAIL if d.integrity_held < len(d.checks) else WARN
    flow.text(checks_summary(d), size=9, bold=True, color=colour)


def report_pdf(d: ReportData) -> bytes:
    """The PDF: A4 portrait pages, no creation date (the same artifacts give the same bytes)."""
    import matplotlib
    from matplotlib.backends.backend_pdf import PdfPages

    buffer = io.BytesIO()
    metadata = {
        "Title": d.title,
        "Subject": f"generated from the artifacts at {d.metrics.get('generated_at', 'n/a')}",
        "CreationDate": None,
    }
    with matplotlib.rc_context(RC), PdfPages(buffer, metadata=metadata) as pdf:
        flow = Flow(pdf.savefig, f"{d.title} · artifacts of {when(d.metrics.get('generated_at'))} UTC")
        for section in (_overview, _lifecycle, _experiments, _lineage, _alerts, _reviews, _findings, _checks):
            section(flow, d)
        flow.close()
    return buffer.getvalue()
