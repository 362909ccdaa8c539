"""The platform's own jobs: every run a sensor or schedule requests is a selection of this one."""

from __future__ import annotations

import dagster as dg

governance_job = dg.define_asset_job(
    "governance_refresh", selection=dg.AssetSelection.all(), description="Materialise every governance asset and check."
)
