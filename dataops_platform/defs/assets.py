"""One software-defined asset per governance artifact (SPEC §8), made from the table in
`defs/graph.py`. (No `from __future__ import annotations` here: Dagster reads the real type
hints of asset functions.)

Every asset reads the store through the artifact builders and writes its file; none makes a
governance decision.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg

from dataops_platform.artifacts import build, collector
from dataops_platform.artifacts.files import ARTIFACT_FILES, PARSED, TEST_REPORT_OUTPUTS, Artifacts, write_artifact
from dataops_platform.artifacts.incremental import Outcome
from dataops_platform.artifacts.interfaces import collect_interface_tables
from dataops_platform.artifacts.record_lists import KEYED_ARTIFACTS, prune_feed, refresh_artifact
from dataops_platform.clock import SystemClock
from dataops_platform.defs.graph import AUDIT, FRESH_WITHIN, GRAPH, OWNER, AssetRow
from dataops_platform.defs.resources import GovernanceResource, MlflowResource


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


def _code_schedules(session: Any) -> list[dict[str, Any]]:
    """The Dagster schedules this home's code location builds from its applied rhythm."""
    from dataops_platform.defs.schedules import rhythm_schedule

    rhythm = (build.config_document(session, "operating_rhythm") or {}).get("items", [])
    return [
        {
            "name": s.name,
            "cron": str(s.cron_schedule),
            "timezone": s.execution_timezone or "",
            "job": s.job_name,
            "default_status": s.default_status.value,
        }
        for s in map(rhythm_schedule, rhythm)
    ]


@dataclass(frozen=True)
class BuildContext:
    """What a builder may read: the store (for object artifacts), the artifacts dir, MLflow, now."""

    session: Any
    root: Path
    now: datetime
    anchor: Any
    mlflow: MlflowResource


def _anchor(c: BuildContext) -> dict[str, Any]:
    readings = c.anchor.readings()
    heads = [r.head for r in readings if r.head is not None]
    head = max(heads, key=lambda h: h.seq) if heads else None
    anchor: dict[str, Any] = {"seq": head.seq, "hash": head.hash} if head else {}
    # A missing or unreadable location fails rule 11 exactly as it fails `dataops audit verify`.
    unusable = [f"{r.location.label} {'unreadable' if r.error else 'missing'}" for r in readings if r.head is None]
    if unusable:
        anchor["unusable"] = unusable
    return {"audit_anchor": anchor}


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
    "architecture_spec": lambda c: build.architecture_spec(),
    "api_catalog": lambda c: build.api_catalog(collect_interface_tables()),
    "task_queues": lambda c: build.task_queues(c.session, _code_pools_and_groups()[0]),
    "ui_panels": lambda c: build.ui_panels(c.session, _code_pools_and_groups()[1]),
    "operating_model": lambda c: build.operating_model(c.session, _code_schedules(c.session)),
    "governance_policy": lambda c: build.governance_policy_doc(c.session),
    "sla_report": lambda c: build.sla(c.session, c.now),
}
# Builders that write several artifacts, or read the other artifacts instead of the store.
MULTI_BUILDERS: dict[str, Callable[[BuildContext], dict[str, Any]]] = {
    "audit_log": _anchor,  # and the audit_log itself, a record list
    "platform_metrics": _metrics,
    "platform_report": _report,
    "test_report": _test_report,
}


def build_documents(
    name: str, governance: GovernanceResource, mlflow: MlflowResource, *, full: bool = False
) -> tuple[list[Outcome], dict[str, Any]]:
    """What one asset writes: the record lists it refreshed itself (`artifacts.record_lists`, written
    already), and the documents left to write, by artifact name."""
    platform = governance.platform()
    try:
        with platform.store.read() as session:
            context = BuildContext(session, governance.artifacts_dir, SystemClock().now(), platform.anchor, mlflow)
            refreshed: list[Outcome] = []
            if name in KEYED_ARTIFACTS:
                tracking = mlflow.tracking() if name == "experiment_runs" else None
                refreshed = refresh_artifact(name, session, context.root, context.now, tracking, full=full)
            if name in STORE_BUILDERS:
                documents = {name: STORE_BUILDERS[name](context)}
            else:
                documents = MULTI_BUILDERS[name](context) if name in MULTI_BUILDERS else {}
        if refreshed:
            prune_feed(platform.store, governance.artifacts_dir, context.now)
        return refreshed, documents
    finally:
        platform.close()


REFRESH_TAG = "dataops/refresh"  # a run tagged "full" rebuilds every record list from the whole store


def _head_lines(path: Path, count: int = PREVIEW_ITEMS) -> list[dict[str, Any]]:
    """The first records of a JSONL artifact, for a preview, without reading the rest. The preview
    stops at a line that does not parse: judging the file is rule 1's, not the preview's."""
    out: list[dict[str, Any]] = []
    with path.open("rb") as fh:
        for line in fh:
            try:
                out.append(json.loads(line))
            except ValueError:
                break
            if len(out) >= count:
                break
    return out


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
        freshness_policy=dg.FreshnessPolicy.time_window(fail_window=FRESH_WITHIN[row.name]) if row.name in FRESH_WITHIN else None,
    )
    def _asset(context: dg.AssetExecutionContext, governance: GovernanceResource, mlflow: MlflowResource) -> dg.MaterializeResult:
        # millions of records built and written: nothing for the cycle collector
        full = context.run.tags.get(REFRESH_TAG) == "full"
        with PARSED.step(context.run.run_id), collector.paused():
            refreshed, documents = build_documents(row.name, governance, mlflow, full=full)
            paths = {artifact: write_artifact(governance.artifacts_dir, artifact, value) for artifact, value in documents.items()}
        metadata: dict[str, Any] = {}
        if refreshed:
            modes = sorted({o.mode for o in refreshed})
            metadata[REFRESH_TAG] = dg.MetadataValue.text(", ".join(modes))
            metadata["refresh_reason"] = dg.MetadataValue.text("; ".join(f"{o.path.name}: {o.reason}" for o in refreshed))
            metadata["records_rebuilt"] = dg.MetadataValue.int(sum(o.rebuilt for o in refreshed))
        if row.name in KEYED_ARTIFACTS and row.name != "lineage_graph":
            path = governance.artifacts_dir / ARTIFACT_FILES[row.name]
            metadata[f"{row.name}_path"] = dg.MetadataValue.path(str(path))
            metadata[f"{row.name}_rows"] = dg.MetadataValue.int(refreshed[0].items)
            metadata[f"{row.name}_preview"] = _preview(_head_lines(path))
        elif row.name == "lineage_graph":
            path = governance.artifacts_dir / ARTIFACT_FILES["lineage_graph"]
            metadata["lineage_graph_path"] = dg.MetadataValue.path(str(path))
            metadata["lineage_graph_nodes"] = dg.MetadataValue.int(refreshed[1].items)
            metadata["lineage_graph_edges"] = dg.MetadataValue.int(refreshed[0].items)
        for artifact, value in documents.items():
            path = paths[artifact]
            metadata[f"{artifact}_path"] = dg.MetadataValue.path(str(path))
            if isinstance(value, list):
                metadata[f"{artifact}_rows"] = dg.MetadataValue.int(len(value))
            if not isinstance(value, bytes):
                metadata[f"{artifact}_preview"] = _preview(value)
        written = [*([row.name] if refreshed else []), *documents]
        how = f" ({metadata['refresh_reason'].value})" if refreshed else ""
        context.log.info(f"{row.name}: wrote {', '.join(written)}{how}")
        return dg.MaterializeResult(metadata=metadata)

    return _asset


ASSETS: list[dg.AssetsDefinition] = [_make_asset(row) for row in GRAPH]
