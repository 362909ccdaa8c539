"""What the platform report shows, gathered from the artifacts.

The Markdown and the PDF both render only a `ReportData`, so they cannot disagree. Every figure in
it is read from p8_metrics.json or counted from the other artifacts, never typed in.

Its size does not grow with the home: each artifact is read in one pass that keeps counters per
project, status, severity or day, the few records a table lists (the worst or latest LIST_LIMIT,
through a heap of that size, never a sort of every record) and, for the charts, compact arrays
that are binned with numpy (a timeline over a million events is binned, never drawn point by
point). Per object there is one pass of Python and nothing else.
"""

from __future__ import annotations

import heapq
import re
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import count
from typing import Any

import numpy as np

from dataops_platform.artifacts.columns import column, only, projected
from dataops_platform.artifacts.free_form import experiment_facts, primary_metrics
from dataops_platform.report.fmt import LIST_LIMIT
from dataops_platform.rules.checks import LEGAL_STATUSES, review_missing

# Lineage kinds in the order objects flow: a version is used by an experiment, which triggers an
# alert, which triggers a rollback, which a review reviews. Exceptions waive a version's gate.
KIND_ORDER = ("version", "exception", "experiment", "alert", "rollback", "review")
EXPERIMENT_STATUSES = ("completed", "regressed", "failed")
SEVERITY_ORDER = ("critical", "high", "medium", "low")
EVENT_KINDS = ("register", "release", "rollback")
ALERT_STATUSES = ("open", "acknowledged", "resolved")
EVENTS_DRAWN = 150  # lifecycle events the timeline draws one by one; above, counted per time bin
HISTOGRAM_BINS = 40


def _t(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _seconds(at: datetime) -> float:
    """POSIX seconds of an artifact time (a time without an offset is UTC, as matplotlib takes it)."""
    return (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).timestamp()


@dataclass(frozen=True)
class ProjectLifecycle:
    project_id: str
    tenant_id: str
    by_status: dict[str, int]  # every legal status, in LEGAL_STATUSES order
    total: int
    ever_released: int  # versions with a release timestamp, whatever their status now
    current_release: str | None
    rollbacks: int


@dataclass(frozen=True)
class LifecycleEvent:
    at: datetime
    project_id: str
    kind: str  # register | release | rollback
    label: str  # the version registered or released, or "rb_001: ds_v006 -> ds_v004"


@dataclass(frozen=True)
class EventSeries:
    """Every lifecycle event as parallel arrays (for the binned timeline), and each project's events
    one by one while it has at most EVENTS_DRAWN of them (for the timeline that draws each)."""

    projects: list[str]  # the project of index i
    seconds: np.ndarray  # POSIX seconds, float64
    project: np.ndarray  # index into `projects`
    kind: np.ndarray  # index into EVENT_KINDS
    by_project: dict[str, list[LifecycleEvent]]  # oldest first, for each project with at most EVENTS_DRAWN
    crowded: frozenset[str]  # the projects with more

    def __len__(self) -> int:
        return len(self.seconds)


@dataclass(frozen=True)
class EventBucket:
    """Lifecycle events of one day (or month, when there are more days than a table lists)."""

    bucket: str  # 2026-10-02 or 2026-10
    register: int
    release: int
    rollback: int


@dataclass(frozen=True)
class ExperimentDelta:
    """One experiment judged against a baseline, on its project's primary metric."""

    experiment_id: str
    project_id: str
    dataset_version: str
    status: str
    baseline_ref: str
    metric: str
    value: float | None
    delta: float | None  # None: the run failed, there is nothing to compare
    tolerance: float | None
    direction: str

    @property
    def worse_by(self) -> float | None:
        """How much worse than the baseline (positive = worse), whatever the metric's direction."""
        return _worse_by(self.delta, self.direction)


def _worse_by(delta: float | None, direction: str) -> float | None:
    if delta is None:
        return None
    return -delta if direction == "higher_is_better" else delta


@dataclass(frozen=True)
class DeltaGroup:
    """The judged experiments of one project on its primary metric, aggregated."""

    project_id: str
    metric: str
    judged: int
    compared: int  # with a delta (the others' runs failed)
    regressed: int
    mean_delta: float | None
    worst_delta: float | None  # the delta of the most-worse run
    tolerance: float | None
    direction: str
    histogram: tuple[list[int], list[float]] | None  # (counts, bin edges) of the deltas; None: no delta


@dataclass(frozen=True)
class AlertTimes:
    alert_id: str
    project_id: str
    severity: str
    status: str
    related_object: str
    opened_at: str
    minutes_to_acknowledge: float | None
    minutes_to_resolve: float | None
    minutes_open: float | None  # unresolved: minutes from opening to when the SLA report was computed
    acknowledge_target: float | None
    resolve_target: float | None
    within_sla: bool

    @property
    def pressure(self) -> float:
        """The larger share of a target used (1.0 = exactly at the target); orders alerts worst first."""
        return _pressure(
            self.minutes_to_acknowledge, self.minutes_to_resolve, self.minutes_open, self.acknowledge_target, self.resolve_target
        )


def _pressure(ack: float | None, done: float | None, still_open: float | None, ack_target: Any, done_target: Any) -> float:
    shares = []
    ack = ack if ack is not None else still_open
    done = done if done is not None else still_open
    if ack is not None and ack_target:
        shares.append(ack / ack_target)
    if done is not None and done_target:
        shares.append(done / done_target)
    return max(shares, default=0.0)


@dataclass(frozen=True)
class SeverityRow:
    severity: str
    alerts: int
    resolved: int
    within_sla: int
    mean_minutes_to_acknowledge: float | None
    mean_minutes_to_resolve: float | None
    acknowledge_target: float | None
    resolve_target: float | None


@dataclass(frozen=True)
class AlertProject:
    project_id: str
    alerts: int
    by_status: dict[str, int]  # ALERT_STATUSES first, then any other status seen
    outside_sla: int


@dataclass(frozen=True)
class CheckRow:
    number: int
    name: str
    asset: str
    description: str
    passed: bool  # neither a violation nor a finding
    checked: int
    violations: list[str]  # integrity: the records contradict each other
    scope: str  # what this evaluation read
    findings: list[str] = field(default_factory=list)  # governance findings: open, never blocking

    @property
    def result(self) -> str:
        """pass | FAIL (integrity broken) | finding (integrity holds, something is open)."""
        return "FAIL" if self.violations else "finding" if self.findings else "pass"


@dataclass(frozen=True)
class Finding:
    """One open governance finding: the rule that found it, the object it is on, the text (which
    names the remedy)."""

    number: int
    rule: str
    on: str
    text: str


NEUTRAL_TITLE = "DataOps platform report"


@dataclass
class ReportData:
    metrics: dict[str, Any]
    projects: list[ProjectLifecycle]  # every project (a table lists the first LIST_LIMIT)
    events: list[LifecycleEvent]  # the latest LIST_LIMIT, oldest first
    events_total: int
    event_series: EventSeries
    event_buckets: list[EventBucket]  # the latest LIST_LIMIT days (months when there are more days), oldest first
    event_buckets_total: int
    experiment_status: dict[str, Counter]  # project -> status -> count
    deltas: list[ExperimentDelta]  # the LIST_LIMIT worst of the experiments with a baseline, worst first
    judged: int  # experiments with a baseline
    delta_groups: list[DeltaGroup]  # per project and metric, the most compared first
    nodes_by_kind: Counter
    edges_by_type: Counter
    flows: Counter  # (source kind, edge type, target kind) -> count
    graph: dict[str, Any]  # the lineage artifact itself (the PDF draws it when small)
    alerts: list[AlertTimes]  # the LIST_LIMIT closest to their targets, worst first
    alerts_total: int
    alert_projects: list[AlertProject]  # the most alerted first
    severities: list[SeverityRow]
    sla: dict[str, Any]
    rollbacks: list[dict[str, Any]]  # the latest LIST_LIMIT, oldest first
    rollbacks_total: int
    rollback_projects: dict[str, Counter]  # project -> status -> count
    reviews: list[dict[str, Any]]  # the latest LIST_LIMIT, oldest first
    reviews_total: int
    review_projects: dict[str, tuple[int, int]]  # project -> (reviews, complete ones)
    checks: list[CheckRow] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # the first LIST_LIMIT, in rule order
    findings_total: int = 0
    findings_by_rule: dict[tuple[int, str], int] = field(default_factory=dict)
    organisation: str | None = None  # platform_scope.organisation.name (the spec's own name)

    @property
    def title(self) -> str:
        return f"{self.organisation} platform report" if self.organisation else NEUTRAL_TITLE

    @property
    def checks_passed(self) -> int:
        """Rules with neither a violation nor a finding."""
        return sum(c.passed for c in self.checks)

    @property
    def integrity_held(self) -> int:
        """Rules that found the records consistent (a finding does not break integrity)."""
        return sum(not c.violations for c in self.checks)


_SUBJECT = re.compile(r"^[A-Za-z0-9_.:-]+")


def finding_subject(text: str) -> str:
    """The object a finding is on: the id it starts with (`t02_legal.alert_001 (high) is open...`)."""
    match = _SUBJECT.match(text)
    return match.group(0).rstrip(":.") if match else ""


def organisation_name(a: Any) -> str | None:
    org = a["platform_scope"].get("organisation") or {}
    name = org.get("name") if isinstance(org, dict) else None
    return str(name) if name else None


def _parent_change(v: dict[str, Any]) -> str:
    """What changed against the parent (issue 13), as the event list shows it: rows +added -removed
    ~changed, columns +added -removed ~retyped."""
    d = v.get("parent_diff")
    if not d or d.get("rows_added") is None:  # none, or the parent could not be re-read
        return ""
    cols = [f"+{c}" for c in d["columns_added"]] + [f"-{c}" for c in d["columns_removed"]]
    cols += [f"~{c}" for c in d["columns_type_changed"]]
    text = f" (vs {v['parent_version']}: rows +{d['rows_added']} -{d['rows_removed']} ~{d['rows_changed']}"
    return text + (f"; columns {' '.join(cols)})" if cols else ")")


class _Latest:
    """The `limit` largest items by key in one pass (a heap of that size), and how many were offered."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.heap: list[tuple[Any, ...]] = []
        self.total = 0
        self._seq = count()

    def offer(self, key: tuple[Any, ...], item: Any) -> None:
        # The sequence number breaks ties as a stable sort would (a later equal item sorts later).
        entry = (key, next(self._seq), item)
        self.total += 1
        if len(self.heap) < self.limit:
            heapq.heappush(self.heap, entry)
        elif entry > self.heap[0]:
            heapq.heapreplace(self.heap, entry)

    def ascending(self) -> list[Any]:
        return [item for _, _, item in sorted(self.heap)]


def _lifecycle(a: Any) -> tuple[list[ProjectLifecycle], _Latest, EventSeries, _Latest, dict[str, Counter]]:
    tenant_of = {p["id"]: p["tenant_id"] for p in a["platform_scope"]["projects"]}
    counts: dict[str, Counter] = {p: Counter() for p in tenant_of}
    released: Counter = Counter()
    current: dict[str, str] = {}
    latest = _Latest(LIST_LIMIT)
    index: dict[str, int] = {}
    seconds, projects, kinds = array("d"), array("i"), array("b")  # 13 bytes an event
    by_project: dict[str, list[LifecycleEvent]] = {}

    def event(at: datetime, project: str, kind: int, label: str) -> None:
        e = LifecycleEvent(at, project, EVENT_KINDS[kind], label)
        latest.offer((at, project, e.kind, label), e)
        seconds.append(_seconds(at))
        projects.append(index.setdefault(project, len(index)))
        kinds.append(kind)
        mine = by_project.get(project)
        if mine is None:
            mine = by_project[project] = []
        if len(mine) <= EVENTS_DRAWN:  # one more than drawn: the project is then binned
            mine.append(e)

    read = ("version_id", "project_id", "status", "is_current_release", "created_at", "released_at", "parent_version")
    for v in only(projected(a, "dataset_versions"), *read, "parent_diff"):
        project, vid = v["project_id"], v["version_id"]
        mine = counts.get(project)
        if mine is None:
            mine = counts[project] = Counter()
        mine[v["status"]] += 1
        if v["is_current_release"]:
            current[project] = vid
        if created := _t(v["created_at"]):
            event(created, project, 0, vid + _parent_change(v))
        if at := _t(v["released_at"]):
            released[project] += 1
            event(at, project, 1, vid)
    rollbacks: Counter = Counter()
    latest_rollbacks = _Latest(LIST_LIMIT)
    rollback_status: dict[str, Counter] = {}
    for rb in a["rollback_events"]:
        rollbacks[rb["project_id"]] += 1
        latest_rollbacks.offer((rb["executed_at"] or "", rb["rollback_id"]), rb)
        rollback_status.setdefault(rb["project_id"], Counter())[rb["status"]] += 1
        if at := _t(rb["executed_at"]):
            event(at, rb["project_id"], 2, f"{rb['rollback_id']}: {rb['from_version']} -> {rb['to_version']}")
    statuses = [*LEGAL_STATUSES, *sorted({s for c in counts.values() for s in c} - set(LEGAL_STATUSES))]
    lifecycle = [
        ProjectLifecycle(
            project_id=p,
            tenant_id=tenant_of.get(p, "unknown"),
            by_status={s: c.get(s, 0) for s in statuses},
            total=sum(c.values()),
            ever_released=released[p],
            current_release=current.get(p),
            rollbacks=rollbacks[p],
        )
        for p, c in sorted(counts.items())
    ]
    order = lambda e: (e.at, e.project_id, e.kind, e.label)  # noqa: E731 - the order of the event list
    series = EventSeries(
        projects=list(index),
        seconds=np.frombuffer(seconds, dtype=np.float64) if seconds else np.zeros(0),
        project=np.frombuffer(projects, dtype=np.intc) if projects else np.zeros(0, dtype=np.intc),
        kind=np.frombuffer(kinds, dtype=np.int8) if kinds else np.zeros(0, dtype=np.int8),
        by_project={p: sorted(es, key=order) for p, es in by_project.items() if len(es) <= EVENTS_DRAWN},
        crowded=frozenset(p for p, es in by_project.items() if len(es) > EVENTS_DRAWN),
    )
    return lifecycle, latest, series, latest_rollbacks, dict(sorted(rollback_status.items()))


def _event_buckets(series: EventSeries) -> tuple[list[EventBucket], int]:
    """Events per UTC day, per month when there are more days than a table lists; the latest LIST_LIMIT."""
    if not len(series):
        return [], 0
    days = np.floor(series.seconds / 86400).astype(np.int64)
    keys, counts = np.unique(days * len(EVENT_KINDS) + series.kind, return_counts=True)
    per_day: dict[int, list[int]] = {}
    for key, n in zip(keys.tolist(), counts.tolist(), strict=True):
        per_day.setdefault(key // len(EVENT_KINDS), [0] * len(EVENT_KINDS))[key % len(EVENT_KINDS)] += n
    epoch = date(1970, 1, 1)
    monthly = len(per_day) > LIST_LIMIT
    buckets: dict[str, list[int]] = {}
    for day, row in per_day.items():  # in day order (np.unique sorts)
        label = (epoch + timedelta(days=day)).isoformat()[: 7 if monthly else 10]
        into = buckets.setdefault(label, [0] * len(EVENT_KINDS))
        for i, n in enumerate(row):
            into[i] += n
    rows = [EventBucket(label, *row) for label, row in buckets.items()]
    return rows[-LIST_LIMIT:], len(rows)


def _experiments(a: Any) -> tuple[dict[str, Counter], list[ExperimentDelta], int, list[DeltaGroup]]:
    rules = a["governance_policy"].get("regression", {})
    records = projected(a, "experiment_runs")
    # Deltas and metrics are free-form: read once a run, for the metrics too (artifacts.free_form).
    facts = experiment_facts(records, primary_metrics(a["governance_policy"]))
    status: dict[str, Counter] = {}
    per_project: dict[str, tuple[str, Any, str]] = {}  # project -> (metric, tolerance, direction)
    groups: dict[str, dict[str, Any]] = {}  # per project (its primary metric is the project's)
    fields = ("experiment_id", "project_id", "status", "baseline_ref")

    def judged() -> Iterator[tuple[tuple[Any, ...], int]]:
        for i, (experiment, project, state, baseline) in enumerate(zip(*(column(records, f) for f in fields), strict=True)):
            mine = status.get(project)
            if mine is None:
                mine = status[project] = Counter()
            mine[state] += 1
            if not baseline:
                continue
            if project not in per_project:
                rule = rules.get(project) or {}
                per_project[project] = (
                    rule.get("primary_metric", ""),
                    rule.get("tolerance"),
                    rule.get("direction", "higher_is_better"),
                )
            metric, tolerance, direction = per_project[project]
            delta = facts.delta[i]
            worse = _worse_by(delta, direction)
            # Worst first; failed runs (nothing to compare) after the compared ones, which they would
            # otherwise crowd out of a bounded table.
            key = (worse is None, -(worse or 0.0), experiment)
            g = groups.get(project)
            if g is None:
                g = groups[project] = {"judged": 0, "regressed": 0, "deltas": [], "worst": None, "first": None}
                g["rule"] = (tolerance, direction)
            g["judged"] += 1
            g["regressed"] += state == "regressed"
            if delta is not None:
                g["deltas"].append(delta)
                if g["first"] is None or key < g["first"]:
                    g["first"], g["worst"] = key, delta
            yield key, i

    top = heapq.nsmallest(LIST_LIMIT, judged())
    deltas = []
    for _, i in top:
        e = only(records, "experiment_id", "project_id", "dataset_version", "status", "baseline_ref")[i]
        metric, tolerance, direction = per_project[e["project_id"]]
        deltas.append(
            ExperimentDelta(
                experiment_id=e["experiment_id"],
                project_id=e["project_id"],
                dataset_version=e["dataset_version"],
                status=e["status"],
                baseline_ref=e["baseline_ref"],
                metric=metric,
                value=facts.value[i],
                delta=facts.delta[i],
                tolerance=tolerance,
                direction=direction,
            )
        )
    out = []
    for project, g in groups.items():
        metric = per_project[project][0]
        values = np.array(g["deltas"], dtype=np.float64)
        histogram = None
        if len(values):
            counts, edges = np.histogram(values, bins=HISTOGRAM_BINS)
            histogram = (counts.tolist(), edges.tolist())
        out.append(
            (
                (-len(values), g["first"] or (True,)),  # the most compared first, then the one with the worst run
                DeltaGroup(
                    project_id=project,
                    metric=metric,
                    judged=g["judged"],
                    compared=len(values),
                    regressed=g["regressed"],
                    mean_delta=round(float(values.mean()), 6) if len(values) else None,
                    worst_delta=g["worst"],
                    tolerance=g["rule"][0],
                    direction=g["rule"][1],
                    histogram=histogram,
                ),
            )
        )
    out.sort(key=lambda kv: kv[0])
    total = sum(g["judged"] for g in groups.values())
    return dict(sorted(status.items())), deltas, total, [g for _, g in out]


def _lineage(graph: dict[str, Any]) -> tuple[Counter, Counter, Counter]:
    # A node's kind is its ref's prefix (`version:...`) but for the odd one, which alone is kept:
    # no map of every ref is built for a graph of millions. The counters are filled from generators
    # (Counter counts in C) over the lists' columns (no dict a node or an edge when the lists are
    # projections); the edge types are summed from the flows.
    kinds, refs = column(graph["nodes"], "kind"), column(graph["nodes"], "ref")
    nodes = Counter(kinds)
    odd: dict[str, str] = {}
    for ref, kind in zip(refs, kinds, strict=True):
        if not ref.startswith(kind) or ref[len(kind) : len(kind) + 1] != ":":
            odd[ref] = kind
        elif odd:
            odd.pop(ref, None)  # a ref listed twice takes its last kind
    del kinds, refs
    edges = graph["edges"]
    ends = zip(column(edges, "source"), column(edges, "type"), column(edges, "target"), strict=True)
    if odd:
        flows = Counter((odd.get(s, s.partition(":")[0]), t, odd.get(d, d.partition(":")[0])) for s, t, d in ends)
    else:
        flows = Counter((s.partition(":")[0], t, d.partition(":")[0]) for s, t, d in ends)
    types: Counter = Counter()
    for (_, kind, _), n in flows.items():
        types[kind] += n
    return nodes, types, flows


def _alerts(a: Any) -> tuple[list[AlertTimes], int, list[SeverityRow], list[AlertProject]]:
    sla = a["sla_report"]
    targets = sla["targets"]
    timed = {r["alert_id"]: r for r in sla["alerts"]}
    computed_at = _t(sla.get("generated_at"))
    # severity -> [alerts, resolved, within SLA, sum and count to acknowledge, sum to resolve]
    per_severity: dict[str, list[float]] = {}
    per_project: dict[str, Counter] = {}

    def rows() -> Iterator[tuple[float, str, int, AlertTimes | tuple[Any, ...]]]:
        for i, al in enumerate(projected(a, "alerts")):
            row = timed.get(al["alert_id"], {})
            target = targets.get(al["severity"]) or {}
            still_open = None
            if al["resolved_at"] is None and computed_at:
                opened = _t(al["opened_at"])
                if opened:
                    still_open = round((computed_at - opened).total_seconds() / 60, 2)
            ack, fix = row.get("minutes_to_acknowledge"), row.get("minutes_to_resolve")
            within = bool(row.get("within_sla", False))
            ack_target, fix_target = target.get("acknowledge_minutes"), target.get("resolve_minutes")
            acc = per_severity.get(al["severity"])
            if acc is None:
                acc = per_severity[al["severity"]] = [0, 0, 0, 0.0, 0, 0.0]
            acc[0] += 1
            acc[2] += within
            if ack is not None:
                acc[3] += ack
                acc[4] += 1
            if fix is not None:
                acc[1] += 1
                acc[5] += fix
            mine = per_project.get(al["project_id"])
            if mine is None:
                mine = per_project[al["project_id"]] = Counter()
            mine[al["status"]] += 1
            mine[None] += not within  # outside its SLA
            fields = (al, ack, fix, still_open, ack_target, fix_target, within)
            yield -_pressure(ack, fix, still_open, ack_target, fix_target), al["alert_id"], i, fields

    top = heapq.nsmallest(LIST_LIMIT, rows())
    alerts = [
        AlertTimes(
            alert_id=al["alert_id"],
            project_id=al["project_id"],
            severity=al["severity"],
            status=al["status"],
            related_object=al["related_object"],
            opened_at=al["opened_at"],
            minutes_to_acknowledge=ack,
            minutes_to_resolve=fix,
            minutes_open=still_open,
            acknowledge_target=ack_target,
            resolve_target=fix_target,
            within_sla=within,
        )
        for *_, (al, ack, fix, still_open, ack_target, fix_target, within) in top
    ]
    order = [s for s in SEVERITY_ORDER if s in per_severity or s in targets]
    order += sorted(set(per_severity) - set(order))
    severities = []
    for sev in order:
        n, resolved, within, ack_sum, acked, fix_sum = per_severity.get(sev, [0, 0, 0, 0.0, 0, 0.0])
        target = targets.get(sev) or {}
        severities.append(
            SeverityRow(
                severity=sev,
                alerts=int(n),
                resolved=int(resolved),
                within_sla=int(within),
                mean_minutes_to_acknowledge=round(ack_sum / acked, 2) if acked else None,
                mean_minutes_to_resolve=round(fix_sum / resolved, 2) if resolved else None,
                acknowledge_target=target.get("acknowledge_minutes"),
                resolve_target=target.get("resolve_minutes"),
            )
        )
    seen = {s for c in per_project.values() for s in c if s is not None}
    statuses = [*ALERT_STATUSES, *sorted(seen - set(ALERT_STATUSES))]
    projects = [
        AlertProject(p, sum(n for s, n in c.items() if s is not None), {s: c.get(s, 0) for s in statuses}, c[None])
        for p, c in per_project.items()
    ]
    projects.sort(key=lambda p: (-p.alerts, p.project_id))
    return alerts, sum(p.alerts for p in projects), severities, projects


def _reviews(a: Any) -> tuple[_Latest, dict[str, tuple[int, int]]]:
    """The latest LIST_LIMIT reviews, and per project (reviews, complete ones)."""
    latest = _Latest(LIST_LIMIT)
    per_project: dict[str, list[int]] = {}
    for r in a["incident_reviews"]:
        latest.offer((r["created_at"] or "", r["review_id"]), r)
        mine = per_project.setdefault(r["project_id"], [0, 0])
        mine[0] += 1
        mine[1] += not review_missing(r)
    return latest, {p: (n, done) for p, (n, done) in sorted(per_project.items())}


def _findings(checks: list[CheckRow]) -> tuple[list[Finding], int, dict[tuple[int, str], int]]:
    shown: list[Finding] = []
    by_rule: dict[tuple[int, str], int] = {}
    for c in checks:
        if c.findings:
            by_rule[(c.number, c.name)] = len(c.findings)
        for f in c.findings[: LIST_LIMIT - len(shown)]:
            shown.append(Finding(c.number, c.name, finding_subject(f), f))
    return shown, sum(by_rule.values()), dict(sorted(by_rule.items()))


def gather(a: Any, checks: list[CheckRow]) -> ReportData:
    """Everything the report shows, from the artifacts `a` and the rule results `checks`."""
    projects, latest, series, rollbacks, rollback_projects = _lifecycle(a)
    buckets, buckets_total = _event_buckets(series)
    status, deltas, judged, groups = _experiments(a)
    graph = projected(a, "lineage_graph")
    nodes, types, flows = _lineage(graph)
    alerts, alerts_total, severities, alert_projects = _alerts(a)
    reviews, review_projects = _reviews(a)
    findings, findings_total, by_rule = _findings(checks)
    return ReportData(
        metrics=a["platform_metrics"],
        projects=projects,
        events=latest.ascending(),
        events_total=latest.total,
        event_series=series,
        event_buckets=buckets,
        event_buckets_total=buckets_total,
        experiment_status=status,
        deltas=deltas,
        judged=judged,
        delta_groups=groups,
        nodes_by_kind=nodes,
        edges_by_type=types,
        flows=flows,
        graph=graph,
        alerts=alerts,
        alerts_total=alerts_total,
        alert_projects=alert_projects,
        severities=severities,
        sla=a["sla_report"],
        rollbacks=rollbacks.ascending(),
        rollbacks_total=rollbacks.total,
        rollback_projects=rollback_projects,
        reviews=reviews.ascending(),
        reviews_total=reviews.total,
        review_projects=review_projects,
        checks=checks,
        findings=findings,
        findings_total=findings_total,
        findings_by_rule=by_rule,
        organisation=organisation_name(a),
    )
