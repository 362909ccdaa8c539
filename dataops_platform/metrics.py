"""Platform metrics (SPEC §10), computed from the artifacts only, never written by hand.

`check_pass_rate` is the share of the content rules (2-12) that pass on the same artifacts: a rule
passes with neither a violation nor a finding. `integrity_pass_rate` is the share whose records
are consistent (findings allowed); `checks_failed` names the rules with violations,
`checks_with_findings` the others that have findings, `findings_open` counts the findings. Rule 1
(files present) and rule 13 (these metrics and the report) judge the outputs that come after the
metrics, so they are reported by the test report instead.

The metrics sit above the rules: they import the rules, and provide rule 13 with their own
computation (`rules.registry.provide_metrics`) so the rules never import them.
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from typing import Any

from dataops_platform.artifacts.columns import Projection, column, projected
from dataops_platform.artifacts.files import PARSED, same_version
from dataops_platform.artifacts.free_form import experiment_facts, primary_metrics
from dataops_platform.rules import evaluate
from dataops_platform.rules.checks import allowed_refs, review_missing
from dataops_platform.rules.registry import CANNOT_EVALUATE, MetricsSource, provide_metrics

CONTENT_RULES = set(range(2, 13))
# The figures of the P08 table (SPEC §12): the demo's summary and the report's first page.
P08_TABLE = (
    "tenants", "projects", "roles", "apis", "layers", "queues", "panels", "dataset_versions", "released_versions",
    "experiments_completed", "experiments_regressed", "experiments_failed", "rollbacks", "alerts",
    "alert_closure_rate", "sla_compliance_rate", "mean_time_to_recovery_minutes", "check_pass_rate",
)  # fmt: skip
# The headline figures the report quotes and rule 13 reads back.
HEADLINE = (
    "tenants",
    "projects",
    "roles",
    "apis",
    "layers",
    "queues",
    "panels",
    "dataset_versions",
    "released_versions",
    "experiments",
    "experiments_completed",
    "experiments_regressed",
    "experiments_failed",
    "lineage_nodes",
    "lineage_edges",
    "rollbacks",
    "alerts",
    "alert_closure_rate",
    "sla_compliance_rate",
    "mean_time_to_acknowledge_minutes",
    "mean_time_to_recovery_minutes",
    "version_traceability",
    "experiment_record_completeness",
    "lineage_coverage",
    "rollback_usability",
    "check_pass_rate",
)


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 1.0


# Computed from the content rules' results (the metrics, the report and its PDF, the test report):
# no content rule reads them, so a new one of these does not re-evaluate the rules.
RULE_OUTPUTS = frozenset({"platform_metrics", "report_md", "report_pdf", "test_results", "test_report_md"})
# One slot, [names, values, problems or None, results, metrics or None] of the last evaluation or
# None: read and replaced whole (the parse cache may clear it from its idle timer).
_memo: list[Any] = [None]


def _memo_entry(a: Any) -> list[Any] | None:
    """The memo slot when it was filled from the same artifacts as `a` (see content_rule_results)."""
    cached = _memo[0]
    if cached is None or getattr(a, "__dict__", None) is None:
        return None
    m_names, m_values, m_problems = cached[:3]
    names, values = _inputs(a)
    if m_names != names or not all(same_version(x, y) for x, y in zip(m_values, values, strict=True)):
        return None
    if m_problems is not None and m_problems != dict(getattr(a, "problems", None) or {}):
        return None
    return cached


def _inputs(a: Any) -> tuple[list[str], list[Any]]:
    """The artifacts the content rules may read, and what stands for each (`Artifacts.version`:
    an unchanged file of the platform's own is not parsed to be recognised)."""
    names_of, version = getattr(a, "names", None), getattr(a, "version", None)
    names = [n for n in (names_of() if names_of is not None else a) if n not in RULE_OUTPUTS]
    return names, [version(n) if version is not None else a[n] for n in names]


def content_rule_results(a: Any) -> list[Any]:
    """`evaluate(a, CONTENT_RULES)`, once per set of artifacts in this process.

    The checks, the metrics, the report and the test report (whose rule 13 recomputes the metrics)
    all need these results. On an `Artifacts` object (or a view of one, like the report's) the
    last results are kept, keyed by the identity of every artifact the rules may read (artifacts
    are read, never changed in place, and `Artifacts` shares each unchanged file's parsed value),
    so the report's and the test report's `Artifacts` reuse the metrics' evaluation while
    replacing any input re-evaluates. The problems only matter to a rule that could not be
    evaluated (its message lists them): then they are part of the key. A plain dict is evaluated
    on every call."""
    if getattr(a, "__dict__", None) is None:
        return evaluate(a, CONTENT_RULES)
    cached = _memo_entry(a)
    if cached is not None:
        return cached[3]
    _forget()  # the previous artifacts are not kept alive while these are evaluated
    names, values = _inputs(a)
    results = evaluate(a, CONTENT_RULES)
    depends_on_problems = any(r.violations and r.violations[0].startswith(CANNOT_EVALUATE) for r in results)
    # Asked after the rules ran, and only when a message lists them: a file the rules read as a
    # projection is then known to parse without parsing it (`Artifacts.problems`).
    problems = dict(getattr(a, "problems", None) or {}) if depends_on_problems else None
    _memo[0] = [names, values, problems, results, None]
    return results


def _forget() -> None:
    _memo[0] = None


def compute_metrics(a: Any) -> dict[str, Any]:
    """The metrics of the artifacts `a`: one pass over each artifact they count.

    Computed once per set of artifacts, like the rules' results (the metrics asset, then rule 13 in
    the report and in the test report, recompute them from the same parsed values): kept in the
    same slot, so a replaced input recomputes both. A plain dict is computed on every call."""
    results = content_rule_results(a)
    cached = _memo_entry(a)
    if cached is not None and cached[4] is not None:
        return copy.deepcopy(cached[4])
    metrics = _compute(a, results)
    if cached is not None:
        cached[4] = copy.deepcopy(metrics)
    return metrics


def _compute(a: Any, results: list[Any]) -> dict[str, Any]:
    scope, versions, experiments = a["platform_scope"], projected(a, "dataset_versions"), projected(a, "experiment_runs")
    alerts, rollbacks, graph, sla = projected(a, "alerts"), a["rollback_events"], projected(a, "lineage_graph"), a["sla_report"]
    # One pass over the versions; a parent may come after its child, so the parents of the versions
    # that are otherwise traceable are looked up once every id is known. The audit log (the largest
    # artifact) is then read once, for those versions' refs only.
    version_ids: set[str] = set()
    by_status: Counter = Counter()
    released = 0
    candidates: list[tuple[str, str | None]] = []  # (ref, parent) per version record traceable but for those two
    for v in versions:
        version_ids.add(v["version_id"])
        by_status[v["status"]] += 1
        if v["released_at"]:
            released += 1
        if v["content_digest"] and v["data_location"] and v["created_by"]:
            candidates.append((f"version:{v['version_id']}", v["parent_version"]))
    linked_refs = [ref for ref, parent in candidates if parent is None or parent in version_ids]
    wanted = set(linked_refs)
    audited = allowed_refs(projected(a, "audit_log"), wanted)  # the projection rule 11 reads
    traceable = sum(1 for ref in linked_refs if ref in audited)
    # Their metrics and params are free-form: read once a run for the metrics and the report (free_form).
    facts = experiment_facts(experiments, primary_metrics(a.get("governance_policy")))
    statuses: Counter = Counter()
    complete = 0
    runs = zip(column(experiments, "status"), column(experiments, "dataset_version"), strict=True)
    for i, (status, version) in enumerate(runs):
        statuses[status] += 1
        if (
            version in version_ids
            and facts.with_run[i]
            and (facts.with_summary[i] or status == "failed")
            and facts.with_params[i]
        ):
            complete += 1
    linked = set(column(graph["edges"], "source"))  # by column: no dict an edge when the lists are projections
    linked.update(column(graph["edges"], "target"))
    objects = linked_objects = 0
    nodes = graph["nodes"]
    projects = nodes.column("project_id") if isinstance(nodes, Projection) else [n.get("project_id") for n in nodes]
    for project, ref in zip(projects, column(nodes, "ref"), strict=True):
        if project:
            objects += 1
            linked_objects += ref in linked
    reviews = {r["review_id"]: r for r in a["incident_reviews"]}
    usable = sum(
        1
        for r in rollbacks
        if r["status"] == "completed" and r["review_ref"] in reviews and not review_missing(reviews[r["review_ref"]])
    )
    resolved = sum(1 for x in alerts if x["status"] == "resolved")
    return {
        "tenants": len(scope["tenants"]),
        "projects": len(scope["projects"]),
        "roles": sum(1 for r in scope["roles"].values() if not r["is_system"]),
        "apis": len(a["api_catalog"]["apis"]),
        "layers": len(a["architecture_spec"]["layers"]),
        "queues": len(a["task_queues"]["queues"]),
        "panels": len(a["ui_panels"]["panels"]),
        "dataset_versions": len(versions),
        "released_versions": released,
        "versions_by_status": dict(sorted(by_status.items())),
        "experiments": len(experiments),
        "experiments_completed": statuses.get("completed", 0),
        "experiments_regressed": statuses.get("regressed", 0),
        "experiments_failed": statuses.get("failed", 0),
        "lineage_nodes": len(graph["nodes"]),
        "lineage_edges": len(graph["edges"]),
        "rollbacks": len(rollbacks),
        "alerts": len(alerts),
        "version_traceability": _rate(traceable, len(versions)),
        "experiment_record_completeness": _rate(complete, len(experiments)),
        "lineage_coverage": _rate(linked_objects, objects),
        "alert_closure_rate": _rate(resolved, len(alerts)),
        "rollback_usability": _rate(usable, len(rollbacks)),
        "check_pass_rate": _rate(sum(r.passed for r in results), len(results)),
        "integrity_pass_rate": _rate(sum(not r.violations for r in results), len(results)),
        "checks_failed": sorted(r.name for r in results if r.violations),
        "checks_with_findings": sorted(r.name for r in results if r.findings and not r.violations),
        "findings_open": sum(len(r.findings) for r in results),
        "sla_compliance_rate": sla["compliance_rate"],
        "mean_time_to_acknowledge_minutes": sla["mean_time_to_acknowledge_minutes"],
        "mean_time_to_recovery_minutes": sla["mean_time_to_recovery_minutes"],
    }


def headline_table(metrics: dict[str, Any]) -> str:
    """The Markdown table the report quotes; `quoted_metrics` reads it back."""
    lines = ["| metric | value |", "|---|---|"]
    lines += [f"| {name} | {metrics[name]} |" for name in HEADLINE]
    return "\n".join(lines)


_ROW = re.compile(r"^\| ([a-z_]+) \| (.+?) \|$", re.MULTILINE)


def quoted_metrics(markdown: str) -> dict[str, str]:
    return {name: value for name, value in _ROW.findall(markdown) if name in HEADLINE}


provide_metrics(MetricsSource(compute=compute_metrics, quoted=quoted_metrics))
PARSED.on_clear(_forget)
