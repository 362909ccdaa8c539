"""The asset graph as plain data (SPEC §8): name, group (= console panel), pool (= task queue),
upstream assets, a one-line description and the artifacts each writes.

No Dagster import here: the spec validator checks the operating rhythm's asset names against
this table, and the CLI must stay fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

OWNER = "team:platform"
OVERVIEW, VERSIONS, EXPERIMENTS, ALERTS, AUDIT = (
    "platform_overview",
    "versions_and_releases",
    "experiments_and_evaluation",
    "alerts_and_sla",
    "audit_and_review",
)
SPEC_Q, VERSION_Q, EVAL_Q, OPS_Q = "spec_builds", "version_ops", "experiment_eval", "ops_monitoring"


@dataclass(frozen=True)
class AssetRow:
    name: str
    group: str
    pool: str
    deps: tuple[str, ...]
    description: str
    artifacts: tuple[str, ...]  # artifact names it writes


GRAPH: tuple[AssetRow, ...] = (
    AssetRow("platform_scope", OVERVIEW, SPEC_Q, (), "Tenants, projects, users, roles and grants.", ("platform_scope",)),
    AssetRow("architecture_spec", OVERVIEW, SPEC_Q, (), "Four layers mapped onto the real packages.", ("architecture_spec",)),
    AssetRow(
        "api_catalog", OVERVIEW, SPEC_Q, (), "Catalogued APIs resolved against the real CLI command table.", ("api_catalog",)
    ),
    AssetRow("task_queues", OVERVIEW, SPEC_Q, (), "Task queues and the Dagster pools that use them.", ("task_queues",)),
    AssetRow(
        "governance_policy",
        OVERVIEW,
        SPEC_Q,
        (),
        "Quality gates, regression rules, SLA targets, freezes.",
        ("governance_policy",),
    ),
    AssetRow(
        "operating_model", OVERVIEW, SPEC_Q, (), "The operating rhythm and the schedules that run it.", ("operating_model",)
    ),
    AssetRow("ui_panels", OVERVIEW, SPEC_Q, (), "Console panels and the asset groups that are them.", ("ui_panels",)),
    AssetRow(
        "dataset_versions",
        VERSIONS,
        VERSION_Q,
        ("governance_policy",),
        "Every dataset version with digest, quality signals, lifecycle and exceptions.",
        ("dataset_versions",),
    ),
    AssetRow(
        "experiment_runs",
        EXPERIMENTS,
        EVAL_Q,
        ("dataset_versions",),
        "Experiments with their verdicts and MLflow runs.",
        ("experiment_runs",),
    ),
    AssetRow(
        "rollback_events", VERSIONS, VERSION_Q, ("dataset_versions",), "Rollbacks with impact and review.", ("rollback_events",)
    ),
    AssetRow(
        "alerts",
        ALERTS,
        OPS_Q,
        ("experiment_runs", "dataset_versions", "rollback_events"),
        "Alerts and their lifecycle.",
        ("alerts",),
    ),
    AssetRow(
        "sla_report", ALERTS, OPS_Q, ("alerts", "governance_policy"), "SLA compliance, MTTA, MTTR, breaches.", ("sla_report",)
    ),
    AssetRow(
        "incident_reviews", AUDIT, OPS_Q, ("alerts", "rollback_events"), "Incident reviews and fix items.", ("incident_reviews",)
    ),
    AssetRow(
        "lineage_graph",
        AUDIT,
        OPS_Q,
        ("dataset_versions", "experiment_runs", "alerts", "rollback_events", "incident_reviews"),
        "Every object and typed edge.",
        ("lineage_graph",),
    ),
    AssetRow(
        "audit_log",
        AUDIT,
        OPS_Q,
        ("lineage_graph",),
        "The hash-chained audit log and its anchored head.",
        ("audit_log", "audit_anchor"),
    ),
    AssetRow(
        "platform_metrics",
        AUDIT,
        OPS_Q,
        (
            "platform_scope",
            "architecture_spec",
            "api_catalog",
            "task_queues",
            "operating_model",
            "ui_panels",
            "sla_report",
            "audit_log",
            "lineage_graph",
        ),
        "SPEC §10 metrics computed from the artifacts.",
        ("platform_metrics",),
    ),
    AssetRow(
        "platform_report",
        AUDIT,
        OPS_Q,
        ("platform_metrics",),
        "The platform report (Markdown and PDF).",
        ("report_md", "report_pdf"),
    ),
    AssetRow(
        "test_report",
        AUDIT,
        OPS_Q,
        ("platform_report",),
        "The 13 consistency rules over all artifacts.",
        ("test_results", "test_report_md"),
    ),
)
ROWS = {row.name: row for row in GRAPH}
# How stale an asset may get before Dagster flags it: the daily ops review reads the alerts and
# the SLA report, the weekly governance review the metrics and reports (an hour's grace each).
FRESH_WITHIN: dict[str, timedelta] = {
    "alerts": timedelta(days=1, hours=1),
    "sla_report": timedelta(days=1, hours=1),
    "platform_metrics": timedelta(days=7, hours=1),
    "platform_report": timedelta(days=7, hours=1),
    "test_report": timedelta(days=7, hours=1),
}

ASSET_NAMES: tuple[str, ...] = tuple(row.name for row in GRAPH)


def downstream_of(*names: str) -> list[str]:
    """The named assets and everything that depends on them, in graph order."""
    wanted = set(names)
    for row in GRAPH:  # GRAPH lists every asset after its upstream assets
        if wanted.intersection(row.deps):
            wanted.add(row.name)
    return [row.name for row in GRAPH if row.name in wanted]
