"""The report's charts, each drawn into a given place on a page from a `ReportData` part.

Every chart is aggregated before it is drawn: at most MAX_ROWS bars, events binned over time when
there are many (with numpy, from data.py's arrays), deltas drawn from histograms data.py binned,
and the lineage graph drawn object by object only while it stays readable (a per-kind summary
above that): no chart has a point per object, so a million-object home draws as fast as the demo.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from dataops_platform.report.data import (
    EVENT_KINDS,
    EVENTS_DRAWN,
    EXPERIMENT_STATUSES,
    KIND_ORDER,
    AlertTimes,
    DeltaGroup,
    EventSeries,
    ExperimentDelta,
    ProjectLifecycle,
)
from dataops_platform.report.fmt import num
from dataops_platform.report.layout import A4, MUTED, axes

MAX_ROWS = 25  # bars a chart draws one by one (projects, experiments, alerts)
TIMELINE_ROWS = 12  # projects on the lifecycle timeline
TIME_BINS = 48  # the timeline's bins when it has more than EVENTS_DRAWN events (data.py)
GRAPH_NODES_DRAWN, GRAPH_EDGES_DRAWN = 80, 200  # above either, the lineage page draws the summary

STATUS_COLORS = {
    "draft": "#bcccdc",
    "validated": "#4a90d9",
    "rejected": "#e8833a",
    "released": "#2f9e5a",
    "deprecated": "#9aa5b1",
    "rolled_back": "#c0392b",
}
EXPERIMENT_COLORS = {"completed": "#2f9e5a", "regressed": "#e0a030", "failed": "#c0392b"}
KIND_COLORS = {
    "version": "#4a90d9",
    "exception": "#17a2b8",
    "experiment": "#2f9e5a",
    "alert": "#e8833a",
    "rollback": "#c0392b",
    "review": "#8e6bbf",
}
EVENT_STYLE = {  # kind -> (marker, colour, vertical offset inside the project's row)
    "register": ("o", "#4a90d9", 0.22),
    "release": ("^", "#2f9e5a", 0.0),
    "rollback": ("X", "#c0392b", -0.22),
}
_EDGE_PALETTE = ("#4a90d9", "#2f9e5a", "#8e6bbf", "#e8833a", "#c0392b", "#17a2b8", "#7b8794", "#b08d57", "#d6336c")


def edge_colors(types: Sequence[str]) -> dict[str, str]:
    return {t: _EDGE_PALETTE[i % len(_EDGE_PALETTE)] for i, t in enumerate(sorted(types))}


def _other_color(i: int) -> str:
    return _EDGE_PALETTE[i % len(_EDGE_PALETTE)]


BELOW = 0.72  # inches under a chart's axes: tick labels, the axis label and the legend row
ABOVE = 0.32  # inches over it: the title
LABELS = 1.6  # inches right of the alert chart for each bar's figures


def _legend_below(fig: Figure, left: float, bottom: float, handles: Sequence[Any], ncol: int) -> None:
    """A one-row legend at the foot of the chart's place (figure coordinates, so it never meets the axes)."""
    if not handles:
        return
    fig.legend(
        handles=handles,
        ncol=max(1, min(ncol, len(handles))),
        loc="lower left",
        bbox_to_anchor=(left / A4[0], bottom / A4[1]),
        frameon=False,
        handlelength=1.4,
        columnspacing=1.2,
        borderaxespad=0.0,
    )


def _empty(ax: Any, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", color=MUTED, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


# -- versions ------------------------------------------------------------------------------------
def _top_projects(projects: Sequence[ProjectLifecycle], limit: int = MAX_ROWS) -> tuple[list[ProjectLifecycle], int]:
    ranked = sorted(projects, key=lambda p: (-p.total, p.project_id))
    return sorted(ranked[:limit], key=lambda p: p.project_id), max(0, len(projects) - limit)


def version_status_bars(fig: Figure, rect: tuple[float, float, float, float], projects: Sequence[ProjectLifecycle]) -> None:
    x, y, w, h = rect
    ax = axes(fig, x + 1.35, y + BELOW, w - 1.45, h - BELOW - ABOVE)
    shown, hidden = _top_projects(projects)
    ax.set_title(
        "Versions by status and project" + (f" (the {len(shown)} largest of {len(projects)} projects)" if hidden else ""),
        loc="left",
    )
    if not any(p.total for p in shown):
        _empty(ax, "no dataset versions")
        return
    labels = [p.project_id for p in shown][::-1]
    rows = shown[::-1]
    statuses = [s for s in shown[0].by_status if any(p.by_status.get(s) for p in shown)]
    left = [0] * len(rows)
    widest = max(p.total for p in rows) or 1
    for i, status in enumerate(statuses):
        values = [p.by_status.get(status, 0) for p in rows]
        ax.barh(labels, values, left=left, color=STATUS_COLORS.get(status, _other_color(i)), label=status, height=0.6)
        for k, v in enumerate(values):
            if v and v / widest > 0.04:
                ax.text(left[k] + v / 2, k, num(v), ha="center", va="center", fontsize=7, color="white", weight="bold")
        left = [a + b for a, b in zip(left, values, strict=True)]
    for k, p in enumerate(rows):
        ax.text(
            p.total + widest * 0.01,
            k,
            f"{num(p.total)}  current: {p.current_release or 'none'}",
            va="center",
            fontsize=7,
            color=MUTED,
        )
    ax.set_xlim(0, widest * 1.45)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("dataset versions")
    _legend_below(fig, x + 1.35, y, ax.get_legend_handles_labels()[0], len(statuses))


def lifecycle_timeline(
    fig: Figure, rect: tuple[float, float, float, float], series: EventSeries, projects: Sequence[ProjectLifecycle]
) -> None:
    import matplotlib.dates as mdates

    x, y, w, h = rect
    ax = axes(fig, x + 1.35, y + BELOW, w - 1.45, h - BELOW - ABOVE)
    shown = {p.project_id for p in _top_projects(projects, TIMELINE_ROWS)[0]}
    order = sorted(shown)
    row = {p: len(order) - 1 - i for i, p in enumerate(order)}
    binned = bool(shown & series.crowded)
    events = [] if binned else [e for p in order for e in series.by_project.get(p, ())]
    binned = binned or len(events) > EVENTS_DRAWN
    events.sort(key=lambda e: (e.at, e.project_id, e.kind, e.label))
    ax.set_title(
        "Register, release and rollback events per project"
        + (" (marker size: events per time bin)" if binned else "")
        + (f", the {len(order)} largest of {len(projects)} projects" if len(projects) > len(order) else ""),
        loc="left",
    )
    if not events and not binned:
        _empty(ax, "no lifecycle events")
        return
    if not binned:
        for kind, (marker, color, dy) in EVENT_STYLE.items():
            mine = [e for e in events if e.kind == kind]
            ax.scatter(
                [e.at for e in mine],
                [row[e.project_id] + dy for e in mine],
                marker=marker,
                color=color,
                s=34,
                zorder=3,
                edgecolor="white",
                linewidth=0.5,
            )
        # Label each version once, where it was registered; rollbacks name both ends. Labels in the
        # right quarter of the axis run leftwards, so they stay on the page.
        first, last = events[0].at, events[-1].at
        span = (last - first).total_seconds() or 1.0
        placed: Counter = Counter()
        for e in events:
            if e.kind == "release":
                continue
            dy = EVENT_STYLE[e.kind][2]
            key = (e.project_id, e.kind, e.at)
            above = e.kind == "register"
            offset = 7 + 7 * placed[key]
            placed[key] += 1
            leftwards = (e.at - first).total_seconds() / span > 0.75
            ax.annotate(
                e.label,
                (e.at, row[e.project_id] + dy),
                xytext=(-3 if leftwards else 3, offset if above else -offset),
                textcoords="offset points",
                fontsize=6.3,
                color=EVENT_STYLE[e.kind][1],
                va="bottom" if above else "top",
                ha="right" if leftwards else "left",
            )
    else:
        counts = _binned_events(series, shown, mdates.date2num(datetime(1970, 1, 1, tzinfo=UTC)))
        lo, step = counts.pop(None)
        biggest = max(counts.values())
        for kind, (marker, color, dy) in EVENT_STYLE.items():
            mine = [(k, n) for k, n in counts.items() if k[1] == kind]
            ax.scatter(
                [mdates.num2date(lo + (b + 0.5) * step) for (_, _, b), _ in mine],
                [row[p] + dy for (p, _, _), _ in mine],
                s=[8 + 80 * n / biggest for _, n in mine],
                marker=marker,
                color=color,
                alpha=0.8,
                zorder=3,
                linewidth=0,
            )
    ax.set_yticks(range(len(order)), order[::-1])
    ax.set_ylim(-0.7, len(order) - 0.3)
    for i in range(len(order)):
        ax.axhline(i - 0.5, color="#e4e7eb", linewidth=0.6, zorder=0)
    locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.margins(x=0.08)
    ax.set_xlabel("time (UTC)")
    handles = [Line2D([], [], marker=m, color=c, linestyle="none", label=k) for k, (m, c, _) in EVENT_STYLE.items()]
    _legend_below(fig, x + 1.35, y, handles, 3)


def _binned_events(series: EventSeries, shown: set[str], epoch: float) -> Counter:
    """(project, kind, bin) -> events of the shown projects in TIME_BINS bins over their span, with
    None -> (first bin's start, bin width) in matplotlib date numbers; counted by numpy."""
    wanted = [i for i, p in enumerate(series.projects) if p in shown]
    mask = np.isin(series.project, wanted)
    times = series.seconds[mask] / 86400.0 + epoch
    lo, hi = float(times.min()), float(times.max())
    step = (hi - lo) / TIME_BINS or 1.0
    bins = np.minimum(((times - lo) / step).astype(np.int64), TIME_BINS - 1)
    keys = (series.project[mask].astype(np.int64) * len(EVENT_KINDS) + series.kind[mask]) * TIME_BINS + bins
    values, tally = np.unique(keys, return_counts=True)
    counts: Counter = Counter()
    for key, n in zip(values.tolist(), tally.tolist(), strict=True):
        cell, b = divmod(key, TIME_BINS)
        project, kind = divmod(cell, len(EVENT_KINDS))
        counts[(series.projects[project], EVENT_KINDS[kind], b)] = n
    counts[None] = (lo, step)  # type: ignore[assignment]
    return counts


# -- experiments ---------------------------------------------------------------------------------
def experiment_status_bars(fig: Figure, rect: tuple[float, float, float, float], status: dict[str, Counter]) -> None:
    x, y, w, h = rect
    ax = axes(fig, x + 1.35, y + BELOW, w - 1.45, h - BELOW - ABOVE)
    ranked = sorted(status.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))[:MAX_ROWS]
    ax.set_title(
        "Experiment status by project" + (f" (the {len(ranked)} largest of {len(status)})" if len(status) > len(ranked) else ""),
        loc="left",
    )
    if not ranked:
        _empty(ax, "no experiments")
        return
    ranked = sorted(ranked)[::-1]
    labels = [p for p, _ in ranked]
    left = [0] * len(ranked)
    widest = max(sum(c.values()) for _, c in ranked) or 1
    for s in EXPERIMENT_STATUSES:
        values = [c.get(s, 0) for _, c in ranked]
        ax.barh(labels, values, left=left, color=EXPERIMENT_COLORS[s], label=s, height=0.6)
        for k, v in enumerate(values):
            if v and v / widest > 0.04:
                ax.text(left[k] + v / 2, k, num(v), ha="center", va="center", fontsize=7, color="white", weight="bold")
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_xlim(0, widest * 1.1)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("experiments")
    _legend_below(fig, x + 1.35, y, ax.get_legend_handles_labels()[0], 3)


def delta_chart(
    fig: Figure,
    rect: tuple[float, float, float, float],
    deltas: Sequence[ExperimentDelta],
    judged: int,
    groups: Sequence[DeltaGroup],
) -> None:
    """One bar per judged experiment (worst first) against its tolerance; histograms per project when
    there are many (`deltas` then holds the worst few of the `judged`)."""
    x, y, w, h = rect
    ax = axes(fig, x + 1.35, y + BELOW, w - 1.45, h - BELOW - ABOVE)
    if not judged:
        ax.set_title("Primary-metric delta against the baseline", loc="left")
        _empty(ax, "no experiment was judged against a baseline")
        return
    if judged > MAX_ROWS or judged > len(deltas):
        _delta_histogram(ax, groups, judged - sum(g.compared for g in groups))
        return
    rows = deltas[::-1]  # worst at the top
    labels = [f"{d.experiment_id} ({d.metric})" for d in rows]
    values = [d.delta if d.delta is not None else 0.0 for d in rows]
    colors = [EXPERIMENT_COLORS.get(d.status, "#7b8794") for d in rows]
    ax.barh(labels, values, color=colors, height=0.55)
    span = max([abs(v) for v in values] + [d.tolerance or 0 for d in rows] + [1e-9])
    for k, d in enumerate(rows):
        if d.delta is None:
            text = "run failed: no metric"
        else:
            text = f"{num(d.delta, signed=True)} vs {d.baseline_ref}"
        ax.text(
            span * 0.04 if (d.delta or 0) <= 0 else -span * 0.04,
            k,
            text,
            va="center",
            ha="left" if (d.delta or 0) <= 0 else "right",
            fontsize=6.8,
            color=MUTED,
        )
        if d.tolerance is not None:
            bound = -d.tolerance if d.direction == "higher_is_better" else d.tolerance
            ax.plot([bound, bound], [k - 0.4, k + 0.4], color="#1f2933", linestyle=(0, (2, 1.5)), linewidth=1)
    ax.axvline(0, color="#7b8794", linewidth=0.8)
    ax.set_xlim(-span * 1.25, span * 1.25)
    ax.set_title("Primary-metric delta against the baseline", loc="left")
    ax.set_xlabel("delta (experiment minus baseline)")
    handles = [Patch(color=EXPERIMENT_COLORS[s], label=s) for s in EXPERIMENT_STATUSES]
    handles.append(Line2D([], [], color="#1f2933", linestyle=(0, (2, 1.5)), label="tolerance"))
    _legend_below(fig, x + 1.35, y, handles, 4)


def _delta_histogram(ax: Any, groups: Sequence[DeltaGroup], failed: int) -> None:
    """The six most compared projects' deltas, from the histograms data.py binned (40 bins each)."""
    ranked = [g for g in groups if g.histogram][:6]
    for i, g in enumerate(ranked):
        counts, edges = g.histogram  # type: ignore[misc]
        ax.hist(
            edges[:-1],
            bins=edges,
            weights=counts,
            histtype="step",
            linewidth=1.3,
            color=_other_color(i),
            label=f"{g.project_id} ({g.metric}, {g.compared:,})",
        )
    for i, g in enumerate(ranked):
        if g.tolerance is not None:
            ax.axvline(
                -g.tolerance if g.direction == "higher_is_better" else g.tolerance,
                color=_other_color(i),
                linestyle="--",
                linewidth=0.9,
            )
    compared = sum(g.compared for g in groups)
    ax.set_title(f"Primary-metric deltas of {compared:,} runs ({failed:,} failed runs have none)", loc="left")
    ax.set_xlabel("delta (experiment minus baseline); dashed: tolerance")
    ax.set_ylabel("experiments")
    ax.legend(loc="upper left", frameon=False, fontsize=6.5)


# -- lineage -------------------------------------------------------------------------------------
def lineage_is_drawable(graph: dict[str, Any]) -> bool:
    return len(graph["nodes"]) <= GRAPH_NODES_DRAWN and len(graph["edges"]) <= GRAPH_EDGES_DRAWN


def lineage_drawing(fig: Figure, rect: tuple[float, float, float, float], graph: dict[str, Any]) -> None:
    """Every node and typed edge: one column per kind (in the order objects flow), one band per project."""
    x, y, w, h = rect
    ax = axes(fig, x, y + 0.55, w, h - 0.75)
    ax.set_axis_off()
    nodes = graph["nodes"]
    kinds = [k for k in KIND_ORDER if any(n["kind"] == k for n in nodes)]
    kinds += sorted({n["kind"] for n in nodes} - set(kinds))
    column = {k: i for i, k in enumerate(kinds)}
    by_band: dict[str, dict[str, list[str]]] = {}
    for n in nodes:
        by_band.setdefault(n.get("project_id") or "(no project)", {}).setdefault(n["kind"], []).append(n["ref"])
    position: dict[str, tuple[float, float]] = {}
    top = 0.0
    bands = []
    for band in sorted(by_band):
        rows = max(len(v) for v in by_band[band].values())
        for kind, refs in by_band[band].items():
            for i, ref in enumerate(sorted(refs)):
                position[ref] = (column[kind], -(top + i))
        bands.append((band, top, rows))
        top += rows + 0.6
    box_w, box_h = 0.78, 0.46
    for i, (band, start, rows) in enumerate(bands):
        ax.add_patch(
            FancyBboxPatch(
                (-0.62, -(start + rows - 1) - 0.42),
                len(kinds) + 0.24,
                rows - 1 + 0.84,
                boxstyle="round,pad=0,rounding_size=0.08",
                facecolor="#f5f7fa" if i % 2 == 0 else "#eef2f6",
                edgecolor="#d9e2ec",
                linewidth=0.6,
                zorder=0,
            )
        )
        ax.text(-0.56, -start + 0.3, band, fontsize=7, color=MUTED, va="bottom", style="italic")
    patches = {}
    for n in nodes:
        cx, cy = position[n["ref"]]
        patch = FancyBboxPatch(
            (cx - box_w / 2, cy - box_h / 2),
            box_w,
            box_h,
            boxstyle="round,pad=0,rounding_size=0.1",
            facecolor=KIND_COLORS.get(n["kind"], "#7b8794"),
            edgecolor="white",
            linewidth=0.8,
            zorder=3,
        )
        ax.add_patch(patch)
        patches[n["ref"]] = patch
        ax.text(
            cx, cy, n["ref"].partition(":")[2], ha="center", va="center", fontsize=6.5, color="white", weight="bold", zorder=4
        )
    colors = edge_colors({e["type"] for e in graph["edges"]})
    parallel: Counter = Counter()
    for e in graph["edges"]:
        if e["source"] not in position or e["target"] not in position:
            continue
        (x0, y0), (x1, y1) = position[e["source"]], position[e["target"]]
        pair = (e["source"], e["target"])
        k = parallel[pair]
        parallel[pair] += 1
        if x0 == x1:  # inside one column: bow out to the right, parallel edges further out
            rad = -(0.45 + 0.3 * k) if y1 < y0 else 0.45 + 0.3 * k
        else:  # across columns: straight, a skip over a column or a parallel edge curved
            rad = 0.18 * k + (0.12 if abs(x1 - x0) > 1 else 0.0)
        ax.add_patch(
            FancyArrowPatch(
                (x0, y0),
                (x1, y1),
                patchA=patches[e["source"]],
                patchB=patches[e["target"]],
                arrowstyle="-|>",
                mutation_scale=8,
                connectionstyle=f"arc3,rad={rad}",
                color=colors[e["type"]],
                linewidth=1.0,
                zorder=2,
                alpha=0.9,
            )
        )
    for kind, c in column.items():
        ax.text(c, 0.75, kind, ha="center", va="bottom", fontsize=7.5, weight="bold", color=KIND_COLORS.get(kind, "#7b8794"))
    ax.set_xlim(-0.7, len(kinds) - 0.3)
    ax.set_ylim(-(top - 0.6) + 0.3, 1.2)
    handles = [Line2D([], [], color=c, linewidth=1.5, label=t) for t, c in colors.items()]
    ax.legend(
        handles=handles,
        ncol=min(5, len(handles)) or 1,
        loc="upper left",
        bbox_to_anchor=(0, -0.01),
        frameon=False,
        title="edge types",
        title_fontsize=7,
        alignment="left",
    )


def lineage_summary(fig: Figure, rect: tuple[float, float, float, float], nodes_by_kind: Counter, flows: Counter) -> None:
    """Too many objects to draw one by one: nodes per kind, and edges per (source kind, target kind)."""
    x, y, w, h = rect
    left = axes(fig, x + 0.85, y + 0.5, w * 0.35 - 0.9, h - 0.85)
    kinds = [k for k in KIND_ORDER if k in nodes_by_kind] + sorted(set(nodes_by_kind) - set(KIND_ORDER))
    left.barh(kinds[::-1], [nodes_by_kind[k] for k in kinds[::-1]], color=[KIND_COLORS.get(k, "#7b8794") for k in kinds[::-1]])
    for i, k in enumerate(kinds[::-1]):
        left.text(nodes_by_kind[k], i, f" {nodes_by_kind[k]:,}", va="center", fontsize=6.8)
    left.set_xlim(0, max(nodes_by_kind.values(), default=1) * 1.35)
    left.set_title("Nodes per kind", loc="left")
    left.tick_params(axis="x", labelsize=6.5)
    right = axes(fig, x + w * 0.35 + 0.95, y + 0.5, w * 0.65 - 1.0, h - 0.85)
    ends = sorted({k for (s, _, t) in flows for k in (s, t)}, key=lambda k: (KIND_ORDER + (k,)).index(k))
    cells: Counter = Counter()
    types: dict[tuple[str, str], set[str]] = {}
    for (s, t_type, t), n in flows.items():
        cells[(s, t)] += n
        types.setdefault((s, t), set()).add(t_type)
    grid = [[cells.get((s, t), 0) for t in ends] for s in ends]
    import math

    shade = [[math.log10(v + 1) for v in row] for row in grid]
    darkest = max((v for row in shade for v in row), default=1.0) or 1.0
    right.imshow(shade, cmap="Blues", aspect="auto", vmin=0, vmax=darkest * 1.15)
    for i, s in enumerate(ends):
        for j, t in enumerate(ends):
            if grid[i][j]:
                right.text(
                    j,
                    i,
                    f"{grid[i][j]:,}\n" + "\n".join(sorted(types[(s, t)])),
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if shade[i][j] > darkest * 0.55 else "#1f2933",
                )
    right.set_xticks(range(len(ends)), ends)
    right.set_yticks(range(len(ends)), ends)
    right.set_xlabel("target kind")
    right.set_ylabel("source kind")
    right.set_title("Typed edges by source and target kind", loc="left")


# -- alerts --------------------------------------------------------------------------------------
def alert_chart(fig: Figure, rect: tuple[float, float, float, float], alerts: Sequence[AlertTimes], total: int) -> None:
    """Per alert, minutes from opening to acknowledgement and to resolution, against its severity's targets."""
    x, y, w, h = rect
    shown = list(alerts[:MAX_ROWS])
    above = ABOVE + (0.16 if total > len(shown) else 0.0)  # a second title line
    ax = axes(fig, x + 1.35, y + BELOW, w - 1.35 - LABELS, h - BELOW - above)
    ax.set_title(
        "Alerts: opened -> acknowledged -> resolved, against the SLA targets"
        + (f"\n(the {len(shown)} closest to their targets, of {total:,})" if total > len(shown) else ""),
        loc="left",
    )
    if not shown:
        _empty(ax, "no alerts")
        return
    rows = shown[::-1]
    ends = [a.minutes_to_resolve if a.minutes_to_resolve is not None else a.minutes_open for a in rows]
    reach = max([a.resolve_target or 0 for a in rows] + [e or 0 for e in ends] + [1])
    shortest = min([e for e in ends if e] + [a.minutes_to_acknowledge for a in rows if a.minutes_to_acknowledge] + [reach])
    # Severities' targets can differ a hundredfold (15 min to 2 days): a log axis keeps every bar visible.
    log = reach / max(shortest, 0.1) > 100
    floor = 1.0 if log else 0.0
    for k, (a, end) in enumerate(zip(rows, ends, strict=True)):
        ack = a.minutes_to_acknowledge
        if ack is not None:
            ax.barh(k, max(ack, floor) - floor, left=floor, color="#4a90d9", height=0.5)
        start = max(ack if ack is not None else 0.0, floor)
        if end is not None:
            ax.barh(
                k,
                max(end, start) - start,
                left=start,
                height=0.5,
                color="#2f9e5a" if a.minutes_to_resolve is not None else "#f0b429",
                hatch=None if a.minutes_to_resolve is not None else "////",
                edgecolor="white",
            )
        if a.acknowledge_target is not None:
            ax.plot([a.acknowledge_target] * 2, [k - 0.38, k + 0.38], color="#4a90d9", linestyle=(0, (2, 1.2)), linewidth=1.3)
        if a.resolve_target is not None:
            ax.plot([a.resolve_target] * 2, [k - 0.38, k + 0.38], color="#1f2933", linestyle=(0, (2, 1.2)), linewidth=1.3)
        done = f"resolved {num(a.minutes_to_resolve)}" if a.minutes_to_resolve is not None else f"open {num(a.minutes_open)}"
        label = f"ack {num(ack)} · {done} min"
        # In a column of its own right of the axes: labels never cover bars or target marks.
        ax.text(
            1.02,
            k,
            label,
            transform=ax.get_yaxis_transform(),
            va="center",
            fontsize=6.5,
            color="#c0392b" if not a.within_sla else MUTED,
        )
    if log:
        ax.set_xscale("log")
        ax.set_xlim(floor, reach * 1.5)
        # Plain numbers: the default log labels are mathtext, which the report turns off.
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    else:
        ax.set_xlim(0, reach * 1.08)
    ax.set_yticks(range(len(rows)), [f"{a.alert_id} ({a.severity})" for a in rows])
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel("minutes after the alert opened" + (" (log scale)" if log else ""))
    handles = [
        Patch(color="#4a90d9", label="to acknowledge"),
        Patch(color="#2f9e5a", label="to resolve"),
        Patch(facecolor="#f0b429", hatch="////", edgecolor="white", label="still open"),
        Line2D([], [], color="#4a90d9", linestyle=(0, (2, 1.2)), label="acknowledge target"),
        Line2D([], [], color="#1f2933", linestyle=(0, (2, 1.2)), label="resolve target"),
    ]
    _legend_below(fig, x + 1.35, y, handles, 5)
    if any(not a.within_sla for a in rows):
        ax.text(1.02, -0.7, "red: outside its SLA", transform=ax.get_yaxis_transform(), va="top", fontsize=6.5, color="#c0392b")
