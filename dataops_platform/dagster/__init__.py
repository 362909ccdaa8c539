"""The Dagster integration for a team's own code location (SPEC §15, docs/dagster.md).

    import dagster as dg
    from dataops_platform.dagster import DataOpsResource, dataops_checks, governed_datasets

    @dg.asset
    def orders_dataset(context: dg.AssetExecutionContext, dataops: DataOpsResource) -> dg.MaterializeResult:
        path = write_orders()                                   # the team's own code
        return dataops.register_output(context, "acme_orders", path)   # a governed version, validated

    defs = dg.Definitions.merge(
        dg.Definitions(
            assets=[orders_dataset],
            asset_checks=dataops_checks(orders_dataset),        # block downstream on the gate
            resources={"dataops": DataOpsResource(server=dg.EnvVar("DATAOPS_SERVER"), token=dg.EnvVar("DATAOPS_TOKEN"))},
        ),
        governed_datasets(["acme_orders"]),                     # released datasets as observed assets
    )

Everything goes through the REST API with the resource's token (`dataops_platform.client`); the
platform decides, this package only asks and reports. Nothing in the platform imports it.
"""

from dataops_platform.dagster.checks import dataops_checks, release_blockers
from dataops_platform.dagster.governed import (
    governed_dataset_key,
    governed_dataset_sensor,
    governed_dataset_specs,
    governed_datasets,
)
from dataops_platform.dagster.metadata import RegisteredRef, registered_ref
from dataops_platform.dagster.register import LATEST, latest_parent, register_output
from dataops_platform.dagster.resource import DataOpsResource

__all__ = [
    "LATEST", "DataOpsResource", "RegisteredRef", "dataops_checks", "governed_dataset_key", "governed_dataset_sensor",
    "governed_dataset_specs", "governed_datasets", "latest_parent", "register_output", "registered_ref", "release_blockers",
]  # fmt: skip
