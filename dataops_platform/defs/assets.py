"""One software-defined asset per governance artifact (SPEC §8). (No `from __future__ import
annotations` here: Dagster reads the real type hints of asset functions.)

The table below is the graph: name, group (= console panel), pool (= task queue), upstream
assets and a one-line description. Every asset reads the store through the artifact builders
and writes its file; none makes a governance decision.
"""

from dataclasses import dataclass
from typing import Any

import dagster as dg

from dataops_platform.artifacts import build
from dataops_platform.artifacts.files import TEST_REPORT_OUTPUTS, Artifacts, write_artifact
from dataops_platform.clock import SystemClock
from dataops_platform.defs.resources import GovernanceResource, MlflowResource
from dataops_platform.store import models

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


def _md_table(rows: list[dict[str, Any]], columns: list[str], limit: int = 20) -> str:
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    body = "".join("| " + " | ".join(str(r.get(c, ""))[:60] for c in columns) + " |\n" for r in rows[:limit])
    more = f"\n… and {len(rows) - limit} more" if len(rows) > limit else ""
    return head + body + more


def _preview(value: Any) -> dg.MetadataValue:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return dg.MetadataValue.md(_md_table(value, list(value[0])[:6]))
    return dg.MetadataValue.json(value if isinstance(value, (dict, list)) else {"value": str(value)[:2000]})


def _code_pools_and_groups() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    pools: dict[str, list[str]] = {}
    groups: dict[str, list[str]] = {}
    for asset in ASSETS:
        for spec in asset.specs:
            pools.setdefault(asset.op.pool, []).append(spec.key.to_user_string())
            groups.setdefault(spec.group_name, []).append(spec.key.to_user_string())
    return pools, groups


def _code_schedules() -> list[dict[str, str]]:
    from dataops_platform import definitions

    return [{"name": s.name, "cron": str(s.cron_schedule), "timezone": s.execution_timezone or ""} for s in definitions.SCHEDULES]


def build_documents(name: str, governance: GovernanceResource, mlflow: MlflowResource) -> dict[str, Any]:
    """The documents one asset writes, by artifact name."""
    settings = governance.settings()
    root = settings.artifacts_dir
    platform = governance.platform()
    now = SystemClock().now()
    try:
        with platform.store.read() as s:
            if name == "platform_scope":
                return {name: build.platform_scope(s)}
            if name == "architecture_spec":
                return {name: build.architecture_spec(s)}
            if name == "api_catalog":
                return {name: build.api_catalog(s)}
            if name == "task_queues":
                return {name: build.task_queues(s, _code_pools_and_groups()[0])}
            if name == "ui_panels":
                return {name: build.ui_panels(s, _code_pools_and_groups()[1])}
            if name == "operating_model":
                return {name: build.operating_model(s, _code_schedules())}
            if name == "governance_policy":
                return {name: build.governance_policy_doc(s)}
            if name == "dataset_versions":
                return {name: build.dataset_versions(s, now)}
            if name == "experiment_runs":
                return {name: build.experiment_runs(s, mlflow.tracking().run_exists)}
            if name in ("rollback_events", "alerts", "incident_reviews"):
                model = {
                    "rollback_events": models.RollbackEvent,
                    "alerts": models.Alert,
                    "incident_reviews": models.IncidentReview,
                }[name]
                return {name: build.simple_rows(s, model)}
            if name == "sla_report":
                return {name: build.sla(s, now)}
            if name == "lineage_graph":
                return {name: build.lineage_graph(s)}
            if name == "audit_log":
                anchor = platform.anchor.read()
                return {name: build.audit_log(s), "audit_anchor": {"seq": anchor.seq, "hash": anchor.hash} if anchor else {}}
    finally:
        platform.close()
    if name == "platform_metrics":
        from dataops_platform.metrics import compute_metrics

        return {name: compute_metrics(Artifacts(root)) | {"generated_at": now.isoformat()}}
    if name == "platform_report":
        from dataops_platform.report import render_report

        markdown, pdf = render_report(Artifacts(root))
        return {"report_md": markdown, "report_pdf": pdf}
    if name == "test_report":
        from dataops_platform.report import render_test_report

        artifacts = Artifacts(root)
        artifacts.not_yet_written = TEST_REPORT_OUTPUTS
        results, markdown = render_test_report(artifacts)
        return {"test_results": results, "test_report_md": markdown}
    raise KeyError(name)


def _make_asset(row: AssetRow) -> dg.AssetsDefinition:
    @dg.asset(
        name=row.name,
        group_name=row.group,
        pool=row.pool,
        deps=list(row.deps),
        description=row.description,
        kinds={"python", "json"} if row.group != AUDIT or row.name != "platform_report" else {"python", "pdf"},
        owners=[OWNER],
        tags={"dataops/queue": row.pool},
    )
    def _asset(context: dg.AssetExecutionContext, governance: GovernanceResource, mlflow: MlflowResource) -> dg.MaterializeResult:
        documents = build_documents(row.name, governance, mlflow)
        metadata: dict[str, Any] = {}
        for artifact, value in documents.items():
            path = write_artifact(governance.artifacts_dir, artifact, value)
            metadata[f"{artifact}_path"] = dg.MetadataValue.path(str(path))
            if isinstance(value, list):
                metadata[f"{artifact}_rows"] = dg.MetadataValue.int(len(value))
            if not isinstance(value, bytes):
                metadata[f"{artifact}_preview"] = _preview(value)
        context.log.info(f"{row.name}: wrote {', '.join(documents)}")
        return dg.MaterializeResult(metadata=metadata)

    return _asset


ASSETS: list[dg.AssetsDefinition] = [_make_asset(row) for row in GRAPH]
