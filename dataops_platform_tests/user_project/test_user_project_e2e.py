"""Issue 14's must-show: a team's own Dagster project (examples/user_project) against a real
`dataops serve` and a real MLflow store.

Run 1, good data: the version is registered with the Dagster run as provenance and validated, the
training run is synced `completed`, and the product manager's release goes through. Run 2, a
degraded export (label noise): the version passes the quality gate, but the same training
configuration scores worse, the platform judges the run `regressed`, the `releasable` check fails,
and the release is refused. Lineage links the Dagster run, the version, the experiment and the
MLflow run. A truncated export is rejected and its blocking check stops training.

The assets run in this process as the code location defines them (`defs`), with the resources
from the environment a deployment would set (DATAOPS_SERVER, DATAOPS_TOKEN, MLFLOW_TRACKING_URI).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from mlflow import MlflowClient

from dataops_platform.client import GateRefused
from dataops_platform_tests.user_project.conftest import MLFLOW_LOGIN, PIPELINE, PM, PROJECT, USER_PROJECT, Server

DEGRADED = {"ops": {"raw_shipments": {"config": {"label_noise": 0.35, "seed": 8}}}}
REJECTED = {"ops": {"raw_shipments": {"config": {"rows": 60, "seed": 9}}}}  # a truncated export: min_rows is 100
DATASET, MODEL = dg.AssetKey("shipments_dataset"), dg.AssetKey("late_delivery_model")


def materialise(defs: dg.Definitions, instance: dg.DagsterInstance, run_config: dict[str, Any] | None = None) -> Any:
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(run_config=run_config or {}, instance=instance, raise_on_error=False)


def meta(result: Any, key: dg.AssetKey) -> dict[str, Any]:
    (event,) = [m for m in result.get_asset_materialization_events() if m.asset_key == key]
    return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}


def checks(result: Any) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_good_run_releases_degraded_run_regresses_and_its_release_is_refused(
    server: Server, team_env: Path, user_project: Any
) -> None:
    defs = user_project.defs
    instance = dg.DagsterInstance.ephemeral()
    pipeline, pm = server.client(PIPELINE), server.client(PM)

    # -- run 1: good data ------------------------------------------------------------------------
    good = materialise(defs, instance)
    assert good.success, [e.message for e in good.all_events if e.is_failure]
    assert checks(good) == {"dataops_quality_gate": True, "dataops_releasable": True}
    registered, trained = meta(good, DATASET), meta(good, MODEL)
    v1 = pipeline.version_show(registered["dataops/version_id"])
    assert (v1.project_id, v1.status, v1.created_by, v1.validated_by) == (PROJECT, "validated", PIPELINE, PIPELINE)
    assert registered["dataops/digest"] == v1.content_digest and registered["dataops/parent"] == ""
    assert v1.provenance is not None and v1.provenance.dagster_run_id == good.run_id
    assert v1.provenance.dagster_asset_key == "shipments_dataset"
    stored = instance.get_latest_materialization_event(DATASET).asset_materialization
    assert stored.tags["dagster/data_version"] == v1.content_digest  # Dagster's data version is the platform's digest

    (exp1,) = [e for e in pipeline.experiment_list(PROJECT) if e.mlflow_run_id == trained["mlflow_run_id"]]
    assert (exp1.status, exp1.dataset_version, exp1.recorded_by) == ("completed", v1.version_id, PIPELINE)
    assert trained["dataops/status"] == "completed" and trained["f1"] > 0.8
    released = pm.version_release(v1.version_id)
    assert released.status == "released" and released.released_by == PM

    # -- run 2: the degraded export ------------------------------------------------------------------
    degraded = materialise(defs, instance, DEGRADED)
    assert checks(degraded) == {"dataops_quality_gate": True, "dataops_releasable": False}
    registered2, trained2 = meta(degraded, DATASET), meta(degraded, MODEL)
    v2 = pipeline.version_show(registered2["dataops/version_id"])
    assert v2.status == "validated" and v2.parent_version == v1.version_id  # "latest": what this asset registered last
    assert registered2["dataops/parent_rule"].startswith("latest: the newest version asset shipments_dataset registered")
    (exp2,) = [e for e in pipeline.experiment_list(PROJECT) if e.mlflow_run_id == trained2["mlflow_run_id"]]
    assert exp2.status == "regressed" and exp2.regression_kind == "data" and exp2.baseline_ref is not None
    assert trained2["f1"] < trained["f1"] - 0.02 and trained2["dataops/status"] == "regressed"
    (evaluation,) = [e for e in degraded.get_asset_check_evaluations() if e.check_name == "dataops_releasable"]
    assert exp2.experiment_id in evaluation.description and evaluation.severity == dg.AssetCheckSeverity.ERROR

    with pytest.raises(GateRefused) as refused:
        pm.version_release(v2.version_id)
    assert any(c.startswith("experiment_status:") and exp2.experiment_id in c for c in refused.value.conditions)
    assert pm.version_show(v2.version_id).status == "validated"  # the refusal changed nothing
    assert pm.version_show(v1.version_id).is_current_release

    # -- lineage: the Dagster run -> the version -> the experiment <- the MLflow run ------------------
    reached = {item.ref for item in pipeline.lineage_impact(f"dagster_run:{degraded.run_id}").items}
    assert {f"version:{v2.version_id}", f"experiment:{exp2.experiment_id}"} <= reached
    from_mlflow = {item.ref for item in pipeline.lineage_impact(f"mlflow_run:{trained2['mlflow_run_id']}").items}
    assert f"experiment:{exp2.experiment_id}" in from_mlflow
    run = MlflowClient(tracking_uri=server.tracking_uri).get_run(exp2.mlflow_run_id)
    assert run.data.tags["dagster.run_id"] == degraded.run_id  # the MLflow run is the one the training logged
    assert run.data.tags["dataops.dataset_version"] == v2.version_id and run.data.tags["mlflow.user"] == MLFLOW_LOGIN
    assert run.data.tags["dataops.status"] == "regressed"


def test_a_rejected_export_materialises_as_rejected_and_its_blocking_check_stops_the_training(
    server: Server, team_env: Path, user_project: Any
) -> None:
    instance = dg.DagsterInstance.ephemeral()
    result = materialise(user_project.defs, instance, REJECTED)
    assert checks(result) == {"dataops_quality_gate": False}  # the model's check never ran: the model was skipped
    registered = meta(result, DATASET)
    version = server.client(PIPELINE).version_show(registered["dataops/version_id"])
    assert version.status == "rejected" and any("min_rows" in f for f in version.quality_failures)
    assert not [m for m in result.get_asset_materialization_events() if m.asset_key == MODEL]
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.description.startswith(f"{version.version_id} was rejected by the quality gate")
    assert instance.get_latest_materialization_event(MODEL) is None


def test_the_user_project_reaches_the_platform_only_through_the_integrations() -> None:
    allowed = {"dataops_platform.dagster", "dataops_platform.mlflow"}
    used = set()
    for path in sorted((USER_PROJECT / "user_project").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            used |= {n for n in names if n.split(".")[0] == "dataops_platform"}
    assert used and used <= allowed, used - allowed


def test_the_code_location_loads_with_its_checks_and_the_governed_dataset(user_project: Any) -> None:
    defs = user_project.defs
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    assert {DATASET, MODEL, dg.AssetKey("raw_shipments"), dg.AssetKey(["dataops", PROJECT])} <= set(graph.get_all_asset_keys())
    assert not graph.get(dg.AssetKey(["dataops", PROJECT])).is_executable  # the platform produces it; a sensor observes it
    checks_by_asset = {(k.asset_key, k.name) for k in graph.asset_check_keys}
    assert checks_by_asset == {(DATASET, "dataops_quality_gate"), (MODEL, "dataops_releasable")}
    assert defs.resolve_sensor_def("dataops_governed_datasets").minimum_interval_seconds == 300
