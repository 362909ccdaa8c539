"""Fjord Freight's code location. `dagster dev` (with DATAOPS_SERVER, DATAOPS_TOKEN and
MLFLOW_TRACKING_URI set) shows the pipeline, its platform checks and the governed dataset."""

import dagster as dg

from dataops_platform.dagster import DataOpsResource, dataops_checks, governed_datasets
from user_project.assets import PROJECT, MlflowTracking, late_delivery_model, raw_shipments, shipments_dataset

ASSETS = [raw_shipments, shipments_dataset, late_delivery_model]
CHECKS = [
    *dataops_checks(shipments_dataset, checks=["quality_gate"]),  # a rejected export stops the training
    *dataops_checks(late_delivery_model, checks=["releasable"]),  # a regressed model flags its version
]
RESOURCES = {
    "dataops": DataOpsResource(server=dg.EnvVar("DATAOPS_SERVER"), token=dg.EnvVar("DATAOPS_TOKEN")),
    "mlflow_tracking": MlflowTracking(tracking_uri=dg.EnvVar("MLFLOW_TRACKING_URI")),
}

defs = dg.Definitions.merge(
    dg.Definitions(
        assets=ASSETS,
        asset_checks=CHECKS,
        jobs=[dg.define_asset_job("nightly_training", selection=dg.AssetSelection.assets(*ASSETS))],
        resources=RESOURCES,
    ),
    governed_datasets([PROJECT]),  # dataops/fj_late_delivery: the current release, observed by a sensor
)
