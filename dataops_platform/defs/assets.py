"""One software-defined asset per governance artifact (SPEC §8). (No `from __future__ import
annotations` here: Dagster reads the real type hints of asset functions.)

The table below is the graph: name, group (= console panel), pool (= task queue), upstream
assets and a one-line description. Every asset reads the store through the artifact builders
and writes its file; none makes a governance decision.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
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


PREVIEW_ITEMS = 50  # a JSON preview shows at most this many items of any list


def _bounded(value: Any, limit: int = PREVIEW_ITEMS) -> Any:
    """The value with every list cut to `limit` items (and a note of how many more): a preview
    stays small however large the artifact (a 100k-object lineage graph would otherwise be
    serialised whole into the run's event log)."""
    if isinstance(value, dict):
        return {k: _bounded(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        head = [_bounded(v, limit) for v in value[:limit]]
        return head + [f"… and {len(value) - limit} more"] if len(value) > limit else head
    return value


def _preview(value: Any) -> dg.MetadataValue:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return dg.MetadataValue.md(_md_table(value, list(value[0])[:6]))
    return dg.MetadataValue.json(_bounded(value) if isinstance(value, (dict, list)) else {"value": str(value)[:2000]})


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


@dataclass(frozen=True)
class BuildContext:
    """What a builder may read: the store (for object artifacts), the artifacts dir, MLflow, now."""

    session: Any
    root: Path
    now: datetime
    anchor: Any
    mlflow: MlflowResource


def _rows(model: Any) -> Callable[[BuildContext], Any]:
    return lambda c: build.simple_rows(c.session, model)


def _audit(c: BuildContext) -> dict[str, Any]:
    head = c.anchor.read()
    return {"audit_log": build.audit_log(c.session), "audit_anchor": {"seq": head.seq, "hash": head.hash} if head else {}}


def _metrics(c: BuildContext) -> dict[str, Any]:
    from dataops_platform.metrics import compute_metrics

    return {"platform_metrics": compute_metrics(Artifacts(c.root)) | {"generated_at": c.now.isoformat()}}


def _report(c: BuildContext) -> dict[str, Any]:
    from dataops_platform.report import render_report

    markdown, pdf = render_report(Artifacts(c.root))
    return {"report_md": markdown, "report_pdf": pdf}


def _test_report(c: BuildContext) -> dict[str, Any]:
    from dataops_platform.report import render_test_report

    artifacts = Artifacts(c.root)
    artifacts.not_yet_written = TEST_REPORT_OUTPUTS
    results, markdown = render_test_report(artifacts)
    return {"test_results": results, "test_report_md": markdown}


# Builders of one artifact named like their asset, from the store.
STORE_BUILDERS: dict[str, Callable[[BuildContext], Any]] = {
    "platform_scope": lambda c: build.platform_scope(c.session),
    "architecture_spec": lambda c: build.architecture_spec(c.session),
    "api_catalog": lambda c: build.api_catalog(c.session),
    "task_queues": lambda c: build.task_queues(c.session, _code_pools_and_groups()[0]),
    "ui_panels": lambda c: build.ui_panels(c.session, _code_pools_and_groups()[1]),
    "operating_model": lambda c: build.operating_model(c.session, _code_schedules()),
    "governance_policy": lambda c: build.governance_policy_doc(c.session),
    "dataset_versions": lambda c: build.dataset_versions(c.session, c.now),
    "experiment_runs": lambda c: build.experiment_runs(c.session, c.mlflow.tracking().run_exists),
    "rollback_events": _rows(models.RollbackEvent),
    "alerts": _rows(models.Alert),
    "incident_reviews": _rows(models.IncidentReview),
    "sla_report": lambda c: build.sla(c.session, c.now),
    "lineage_graph": lambda c: build.lineage_graph(c.session),
}
# Builders that write several artifacts, or read the other artifacts instead of the store.
MULTI_BUILDERS: dict[str, Callable[[BuildContext], dict[str, Any]]] = {
    "audit_log": _audit,
    "platform_metrics": _metrics,
    "platform_report": _report,
    "test_report": _test_report,
}


def build_documents(name: str, governance: GovernanceResource, mlflow: MlflowResource) -> dict[str, Any]:
    """The documents one asset writes, by artifact name."""
    platform = governance.platform()
    try:
        with platform.store.read() as session:
            context = BuildContext(session, governance.artifacts_dir, SystemClock().now(), platform.anchor, mlflow)
            if name in STORE_BUILDERS:
                return {name: STORE_BUILDERS[name](context)}
            return MULTI_BUILDERS[name](context)
    finally:
        platform.close()


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
