"""What the platform report shows, gathered from the artifacts.

The Markdown and the PDF both render only a `ReportData`, so they cannot disagree. Every figure in
it is read from p8_metrics.json or counted from the other artifacts, never typed in; every count is
one pass over its artifact, so a 100k-object home costs a few linear passes, and the renderings
decide how much of each list to show.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dataops_platform.rules.checks import LEGAL_STATUSES

# Lineage kinds in the order objects flow: a version is used by an experiment, which triggers an
# alert, which triggers a rollback, which a review reviews. Exceptions waive a version's gate.
KIND_ORDER = ("version", "exception", "experiment", "alert", "rollback", "review")
EXPERIMENT_STATUSES = ("completed", "regressed", "failed")
SEVERITY_ORDER = ("critical", "high", "medium", "low")


def _t(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


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
        if self.delta is None:
            return None
        return -self.delta if self.direction == "higher_is_better" else self.delta


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
        shares = []
        ack = self.minutes_to_acknowledge if self.minutes_to_acknowledge is not None else self.minutes_open
        done = self.minutes_to_resolve if self.minutes_to_resolve is not None else self.minutes_open
        if ack is not None and self.acknowledge_target:
            shares.append(ack / self.acknowledge_target)
        if done is not None and self.resolve_target:
            shares.append(done / self.resolve_target)
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
    projects: list[ProjectLifecycle]
    events: list[LifecycleEvent]
    experiment_status: dict[str, Counter]  # project -> status -> count
    deltas: list[ExperimentDelta]  # experiments with a baseline, worst first
    nodes_by_kind: Counter
    edges_by_type: Counter
    flows: Counter  # (source kind, edge type, target kind) -> count
    graph: dict[str, Any]  # the lineage artifact itself (the PDF draws it when small)
    alerts: list[AlertTimes]  # worst first
    severities: list[SeverityRow]
    sla: dict[str, Any]
    rollbacks: list[dict[str, Any]]
    reviews: list[dict[str, Any]]
    checks: list[CheckRow] = field(default_factory=list)
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

    @property
    def findings(self) -> list[Finding]:
        return [Finding(c.number, c.name, finding_subject(f), f) for c in self.checks for f in c.findings]


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
    if not d or "rows_added" not in d:
        return ""
    cols = [f"+{c}" for c in d["columns_added"]] + [f"-{c}" for c in d["columns_removed"]]
    cols += [f"~{c}" for c in d["columns_type_changed"]]
    text = f" (vs {v['parent_version']}: rows +{d['rows_added']} -{d['rows_removed']} ~{d['rows_changed']}"
    return text + (f"; columns {' '.join(cols)})" if cols else ")")


def _lifecycle(a: Any) -> tuple[list[ProjectLifecycle], list[LifecycleEvent]]:
    tenant_of = {p["id"]: p["tenant_id"] for p in a["platform_scope"]["projects"]}
    counts: dict[str, Counter] = {p: Counter() for p in tenant_of}
    released: Counter = Counter()
    current: dict[str, str] = {}
    events: list[LifecycleEvent] = []
    for v in a["dataset_versions"]:
        project, vid = v["project_id"], v["version_id"]
        counts.setdefault(project, Counter())[v["status"]] += 1
        if v["is_current_release"]:
            current[project] = vid
        if created := _t(v["created_at"]):
            events.append(LifecycleEvent(created, project, "register", vid + _parent_change(v)))
        if at := _t(v["released_at"]):
            released[project] += 1
            events.append(LifecycleEvent(at, project, "release", vid))
    rollbacks: Counter = Counter()
    for rb in a["rollback_events"]:
        rollbacks[rb["project_id"]] += 1
        if at := _t(rb["executed_at"]):
            label = f"{rb['rollback_id']}: {rb['from_version']} -> {rb['to_version']}"
            events.append(LifecycleEvent(at, rb["project_id"], "rollback", label))
    statuses = [*LEGAL_STATUSES, *sorted({s for c in counts.values() for s in c} - set(LEGAL_STATUSES))]
    projects = [
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
    events.sort(key=lambda e: (e.at, e.project_id, e.kind, e.label))
    return projects, events


def _experiments(a: Any) -> tuple[dict[str, Counter], list[ExperimentDelta]]:
    rules = a["governance_policy"].get("regression", {})
    status: dict[str, Counter] = {}
    deltas: list[ExperimentDelta] = []
    for e in a["experiment_runs"]:
        status.setdefault(e["project_id"], Counter())[e["status"]] += 1
        if not e["baseline_ref"]:
            continue
        rule = rules.get(e["project_id"]) or {}
        metric = rule.get("primary_metric", "")
        deltas.append(
            ExperimentDelta(
                experiment_id=e["experiment_id"],
                project_id=e["project_id"],
                dataset_version=e["dataset_version"],
                status=e["status"],
                baseline_ref=e["baseline_ref"],
                metric=metric,
                value=(e["metric_summary"] or {}).get(metric),
                delta=(e["deltas"] or {}).get(metric),
                tolerance=rule.get("tolerance"),
                direction=rule.get("direction", "higher_is_better"),
            )
        )
    # Worst first; failed runs (nothing to compare) after the compared ones, which they would
    # otherwise crowd out of a bounded table.
    deltas.sort(key=lambda d: (d.worse_by is None, -(d.worse_by or 0.0), d.experiment_id))
    return dict(sorted(status.items())), deltas


def _lineage(graph: dict[str, Any]) -> tuple[Counter, Counter, Counter]:
    kind_of = {}
    nodes: Counter = Counter()
    for n in graph["nodes"]:
        kind_of[n["ref"]] = n["kind"]
        nodes[n["kind"]] += 1
    types: Counter = Counter()
    flows: Counter = Counter()
    for e in graph["edges"]:
        types[e["type"]] += 1
        source = kind_of.get(e["source"], e["source"].partition(":")[0])
        target = kind_of.get(e["target"], e["target"].partition(":")[0])
        flows[(source, e["type"], target)] += 1
    return nodes, types, flows


def _alerts(a: Any) -> tuple[list[AlertTimes], list[SeverityRow]]:
    sla = a["sla_report"]
    targets = sla["targets"]
    timed = {r["alert_id"]: r for r in sla["alerts"]}
    computed_at = _t(sla.get("generated_at"))
    out = []
    for al in a["alerts"]:
        row = timed.get(al["alert_id"], {})
        target = targets.get(al["severity"]) or {}
        opened = _t(al["opened_at"])
        still_open = None
        if al["resolved_at"] is None and opened and computed_at:
            still_open = round((computed_at - opened).total_seconds() / 60, 2)
        out.append(
            AlertTimes(
                alert_id=al["alert_id"],
                project_id=al["project_id"],
                severity=al["severity"],
                status=al["status"],
                related_object=al["related_object"],
                opened_at=al["opened_at"],
                minutes_to_acknowledge=row.get("minutes_to_acknowledge"),
                minutes_to_resolve=row.get("minutes_to_resolve"),
                minutes_open=still_open,
                acknowledge_target=target.get("acknowledge_minutes"),
                resolve_target=target.get("resolve_minutes"),
                within_sla=bool(row.get("within_sla", False)),
            )
        )
    out.sort(key=lambda x: (-x.pressure, x.alert_id))
    by_severity: dict[str, list[AlertTimes]] = {}
    for x in out:
        by_severity.setdefault(x.severity, []).append(x)
    order = [s for s in SEVERITY_ORDER if s in by_severity or s in targets]
    order += sorted(set(by_severity) - set(order))
    severities = []
    for sev in order:
        group = by_severity.get(sev, [])
        acks = [x.minutes_to_acknowledge for x in group if x.minutes_to_acknowledge is not None]
        fixes = [x.minutes_to_resolve for x in group if x.minutes_to_resolve is not None]
        target = targets.get(sev) or {}
        severities.append(
            SeverityRow(
                severity=sev,
                alerts=len(group),
                resolved=len(fixes),
                within_sla=sum(x.within_sla for x in group),
                mean_minutes_to_acknowledge=round(sum(acks) / len(acks), 2) if acks else None,
                mean_minutes_to_resolve=round(sum(fixes) / len(fixes), 2) if fixes else None,
                acknowledge_target=target.get("acknowledge_minutes"),
                resolve_target=target.get("resolve_minutes"),
            )
        )
    return out, severities


def gather(a: Any, checks: list[CheckRow]) -> ReportData:
    """Everything the report shows, from the artifacts `a` and the rule results `checks`."""
    projects, events = _lifecycle(a)
    status, deltas = _experiments(a)
    nodes, types, flows = _lineage(a["lineage_graph"])
    alerts, severities = _alerts(a)
    return ReportData(
        metrics=a["platform_metrics"],
        projects=projects,
        events=events,
        experiment_status=status,
        deltas=deltas,
        nodes_by_kind=nodes,
        edges_by_type=types,
        flows=flows,
        graph=a["lineage_graph"],
        alerts=alerts,
        severities=severities,
        sla=a["sla_report"],
        rollbacks=sorted(a["rollback_events"], key=lambda r: (r["executed_at"] or "", r["rollback_id"])),
        reviews=sorted(a["incident_reviews"], key=lambda r: (r["created_at"] or "", r["review_id"])),
        checks=checks,
        organisation=organisation_name(a),
    )
