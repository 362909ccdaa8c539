"""What the platform's code is, described by the code itself (SPEC §8, §15): its asset graph,
the four architecture layers over its packages, the API catalog, the task queues and the console
panels. An organisation's spec never restates any of this; it may only override a queue's limit or
a panel's title (`dataops_platform.spec.effective`).

Plain data, importing nothing of the platform: every layer may read it (the spec validator checks
the operating rhythm's asset names and the overrides' keys against it without importing Dagster,
the artifact builders describe the platform from it, `defs/` builds the Dagster assets from it).
The consistency rules then hold it to the real code: rule 3 to the real packages (a developer who
adds a package places it in `LAYERS` here, or rule 3 fails naming it), rule 4 to the real CLI
command and REST route tables, the pools the assets use and the asset groups.
"""

from __future__ import annotations

from dataclasses import dataclass

# -- console panels (= the asset groups) and task queues (= the Dagster pools) -----------------
OVERVIEW, VERSIONS, EXPERIMENTS, ALERTS, AUDIT = (
    "platform_overview",
    "versions_and_releases",
    "experiments_and_evaluation",
    "alerts_and_sla",
    "audit_and_review",
)
SPEC_Q, VERSION_Q, EVAL_Q, OPS_Q = "spec_builds", "version_ops", "experiment_eval", "ops_monitoring"


@dataclass(frozen=True)
class Panel:
    id: str
    title: str


@dataclass(frozen=True)
class Queue:
    id: str
    limit: int  # concurrent steps; the Dagster pool's limit on a deployment
    description: str


PANELS: tuple[Panel, ...] = (
    Panel(OVERVIEW, "Platform overview"),
    Panel(VERSIONS, "Versions and releases"),
    Panel(EXPERIMENTS, "Experiments and evaluation"),
    Panel(ALERTS, "Alerts and SLA"),
    Panel(AUDIT, "Audit and incident review"),
)
QUEUES: tuple[Queue, ...] = (
    Queue(SPEC_Q, 1, "platform spec and governance documents"),
    Queue(VERSION_Q, 2, "dataset versions, releases and rollbacks"),
    Queue(EVAL_Q, 2, "experiment sync and evaluation"),
    Queue(OPS_Q, 1, "alerts, SLA, audit, reviews and reports"),
)


# -- the asset graph (SPEC §8): name, group (= panel), pool (= queue), upstream assets, a
# one-line description and the artifacts each writes ---------------------------------------------
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
ASSET_NAMES: tuple[str, ...] = tuple(row.name for row in GRAPH)


# -- the four architecture layers over the real packages (consistency rule 3) ----------------------
@dataclass(frozen=True)
class Layer:
    id: str
    name: str
    packages: tuple[str, ...]


LAYERS: tuple[Layer, ...] = (
    Layer(
        "access_service",
        "Access and service layer",
        (
            "dataops_platform.cli",
            "dataops_platform.api",
            "dataops_platform.report",
            "dataops_platform.openlineage",
            "dataops_platform.notify",
            "dataops_platform.mlflow",  # the integration a team's training code uses (SPEC §9, §15)
            "dataops_platform.client",  # the typed REST client: the remote CLI and the integrations use it
            "dataops_platform.dagster",  # the Dagster integration for a team's own code location (SPEC §15)
        ),
    ),
    Layer(
        "scheduling_execution",
        "Scheduling and execution layer",
        ("dataops_platform.defs", "dataops_platform.demo", "dataops_platform.stack"),
    ),
    Layer(
        "metadata_governance",
        "Metadata and governance layer",
        ("dataops_platform.governance", "dataops_platform.spec", "dataops_platform.tracking", "dataops_platform.rules"),
    ),
    Layer(
        "storage_assets",
        "Storage and asset layer",
        ("dataops_platform.store", "dataops_platform.artifacts", "dataops_platform.sources"),
    ),
)


# -- the API catalog: the platform's catalogued operations, each served by a CLI command and a REST
# route (consistency rule 4 holds both to the real tables) ------------------------------------------
@dataclass(frozen=True)
class CatalogApi:
    id: str
    command: str  # the `dataops` command that serves it
    route: str | None  # "METHOD /api/v1/..." of the REST route that serves it
    action: str  # the permission it needs (SPEC §4)
    description: str


API_CATALOG: tuple[CatalogApi, ...] = (
    CatalogApi("version_register", "version register", "POST /api/v1/versions", "version.create",
               "Register a dataset version from a data file"),
    CatalogApi("version_release", "version release", "POST /api/v1/versions/{version_id}/release", "version.release",
               "Release a version through the gate"),
    CatalogApi("experiment_sync", "experiment sync", "POST /api/v1/experiments/sync", "experiment.log",
               "Sync finished MLflow runs"),
    CatalogApi("rollback_execute", "rollback", "POST /api/v1/projects/{project}/rollback", "rollback.execute",
               "Roll a project back to an earlier release"),
    CatalogApi("alert_resolve", "alert resolve", "POST /api/v1/alerts/{alert_id}/resolve", "alert.resolve",
               "Resolve an alert with a note"),
    CatalogApi("audit_verify", "audit verify", "GET /api/v1/audit/verify", "audit.read", "Verify the audit hash chain"),
)  # fmt: skip
