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
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from mlflow import MlflowClient

from dataops_platform.client import GateRefused
from dataops_platform_tests.user_project.conftest import MLFLOW_LOGIN, PIPELINE, PM, PROJECT, USER_PROJECT, Server, clean_env

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
    assert not degraded.success  # a failed blocking check fails the run: the team's alerting sees it
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
    assert not result.success
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
    nodes = {key.to_user_string(): graph.get(key) for key in graph.get_all_asset_keys()}
    snapshot = {
        name: (n.group_name, sorted(n.kinds), list(n.owners), sorted(p.to_user_string() for p in n.parent_keys))
        for name, n in nodes.items()
    }  # the whole graph: a silent change to it fails here
    assert snapshot == {
        "raw_shipments": ("shipments", ["jsonl", "python"], ["team:fjord-data"], []),
        "shipments_dataset": ("shipments", ["dataops"], ["team:fjord-data"], ["raw_shipments"]),
        "late_delivery_model": ("models", ["mlflow", "sklearn"], ["team:fjord-data"], ["shipments_dataset"]),
        f"dataops/{PROJECT}": ("governed_datasets", ["dataops"], [], []),
    }
    assert not graph.get(dg.AssetKey(["dataops", PROJECT])).is_executable  # the platform produces it; a sensor observes it
    checks_by_asset = {(k.asset_key, k.name) for k in graph.asset_check_keys}
    assert checks_by_asset == {(DATASET, "dataops_quality_gate"), (MODEL, "dataops_releasable")}
    assert defs.resolve_sensor_def("dataops_governed_datasets").minimum_interval_seconds == 300


@pytest.mark.slow  # a Dagster gRPC code server and a run worker process
def test_a_launched_run_of_the_code_location_records_its_name_as_provenance(server: Server, tmp_path: Path) -> None:
    """`dagster job launch` through the instance's run launcher, as the UI, a schedule or a sensor
    launches a run of a deployed code location: the version's provenance names the code location."""
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(  # launched at once (no daemon dequeuing runs), telemetry off
        "telemetry:\n  enabled: false\nrun_coordinator:\n  module: dagster.core.run_coordinator\n"
        "  class: DefaultRunCoordinator\n",
        encoding="utf-8",
    )
    env = clean_env(
        DAGSTER_HOME=str(dagster_home), DATAOPS_SERVER=server.url, DATAOPS_TOKEN=server.tokens[PIPELINE],
        MLFLOW_TRACKING_URI=server.tracking_uri, PYTHONPATH=str(USER_PROJECT), USER=MLFLOW_LOGIN, LOGNAME=MLFLOW_LOGIN,
    )  # fmt: skip
    config = json.dumps({"ops": {"raw_shipments": {"config": {"data_dir": str(tmp_path / "data"), "seed": 11}}}})
    workspace = tmp_path / "workspace.yaml"  # how a deployment names its code locations
    workspace.write_text(
        "load_from:\n  - python_module:\n      module_name: user_project.definitions\n"
        f"      working_directory: {USER_PROJECT}\n      location_name: user_project\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("dagster")), "job", "launch", "-w", str(workspace), "-j", "nightly_training",
         "--config-json", config],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    try:
        deadline = time.monotonic() + 90
        while not (runs := instance.get_runs()) or not runs[0].is_finished:
            assert time.monotonic() < deadline, f"the launched run did not finish: {runs[0].status if runs else 'no run'}"
            time.sleep(0.5)
        (run,) = runs
        assert run.status == dg.DagsterRunStatus.SUCCESS
        event = instance.get_latest_materialization_event(DATASET)
        version_id = event.asset_materialization.metadata["dataops/version_id"].value
    finally:
        instance.dispose()
    version = server.client(PIPELINE).version_show(version_id)
    assert version.provenance is not None, version
    assert (version.provenance.dagster_run_id, version.provenance.dagster_code_location) == (run.run_id, "user_project")
    assert version.status == "validated"
