"""The pipeline: ingest shipments -> a governed dataset version on the platform -> a model tracked in MLflow.

Only three lines are about the platform: `dataops.register_output(...)` turns the file into a
governed version, `dataops.registered(...)` finds the version downstream, and
`dataops_platform.mlflow.start_run(...)` logs the training run where the platform syncs it.
"""

import tempfile
from pathlib import Path

import dagster as dg
import mlflow

import dataops_platform.mlflow as dataops_mlflow
from dataops_platform.dagster import DataOpsResource
from user_project.shipments import read_jsonl, shipment_records, write_jsonl
from user_project.training import train_and_score

PROJECT = "fj_late_delivery"  # the platform project this pipeline feeds
OWNER = "team:fjord-data"


class ShipmentsConfig(dg.Config):
    """What the nightly export looks like. `label_noise` > 0 is the degraded export (a broken join);
    fewer `rows` than the quality gate's min_rows (100) a truncated one, which the gate rejects."""

    rows: int = 400
    seed: int = 7
    label_noise: float = 0.0
    data_dir: str = "data"


class MlflowTracking(dg.ConfigurableResource):
    """Where the team's runs are tracked (the platform syncs the same tracking store)."""

    tracking_uri: str

    def activate(self) -> None:
        mlflow.set_tracking_uri(self.tracking_uri)  # always explicit: MLflow 3 would default to ./mlflow.db


@dg.asset(group_name="shipments", kinds={"python", "jsonl"}, owners=[OWNER])
def raw_shipments(context: dg.AssetExecutionContext, config: ShipmentsConfig) -> str:
    """Tonight's shipments export, written as JSON Lines."""
    records = shipment_records(config.rows, config.seed, config.label_noise)
    path = write_jsonl(records, Path(config.data_dir) / f"shipments_{context.run.run_id}.jsonl")
    late = sum(r["label"] == "late" for r in records)
    context.add_output_metadata({"path": dg.MetadataValue.path(str(path)), "rows": len(records), "late": late})
    return str(path)


@dg.asset(group_name="shipments", kinds={"dataops"}, owners=[OWNER])
def shipments_dataset(context: dg.AssetExecutionContext, dataops: DataOpsResource, raw_shipments: str) -> dg.MaterializeResult:
    """The export as a governed dataset version of fj_late_delivery (validated by the platform's quality gate)."""
    return dataops.register_output(context, PROJECT, raw_shipments, summary=["nightly TMS export"])


@dg.asset(group_name="models", kinds={"sklearn", "mlflow"}, owners=[OWNER], deps=[shipments_dataset])
def late_delivery_model(
    context: dg.AssetExecutionContext, dataops: DataOpsResource, mlflow_tracking: MlflowTracking
) -> dg.MaterializeResult:
    """A late-delivery classifier trained on the governed version, logged to MLflow, judged by the platform."""
    version = dataops.registered(context, shipments_dataset.key)
    with dataops.connected() as platform, tempfile.TemporaryDirectory() as tmp:
        records = read_jsonl(platform.version_data(version.version_id, Path(tmp) / "data.jsonl"))  # the registered bytes
    metrics, params = train_and_score(records)

    mlflow_tracking.activate()
    with dataops_mlflow.start_run(
        project=PROJECT, dataset_version=version.version_id, digest=version.digest, source=version.source_uri,
        run_name=f"dagster-{context.run.run_id[:8]}", tags={"dagster.run_id": context.run.run_id},
    ) as run:  # fmt: skip
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)

    with dataops.connected() as platform:  # the platform's verdict on the run: completed, regressed or failed
        platform.experiment_sync()
        (experiment,) = [e for e in platform.experiment_list(PROJECT) if e.mlflow_run_id == run.info.run_id]
    context.log.info(f"{experiment.experiment_id} on {version.version_id}: {experiment.status} {metrics}")
    return dg.MaterializeResult(
        metadata={
            "dataops/version_id": version.version_id,  # what dataops_checks(..., checks=["releasable"]) reads
            "dataops/project": PROJECT,
            "dataops/experiment_id": experiment.experiment_id,
            "dataops/status": experiment.status,
            "mlflow_run_id": run.info.run_id,
            **{name: dg.MetadataValue.float(value) for name, value in metrics.items()},
        }
    )
