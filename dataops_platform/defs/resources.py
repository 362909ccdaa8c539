"""Dagster resources: the governance platform (read side) and MLflow, both pointed at one home."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from dataops_platform.governance.platform import Platform
from dataops_platform.settings import Settings, load_settings
from dataops_platform.tracking.client import Tracking


class GovernanceResource(dg.ConfigurableResource):
    """The governance store and the artifact directory of one $DATAOPS_HOME."""

    home: str

    def settings(self) -> Settings:
        return load_settings(self.home)

    def platform(self) -> Platform:
        return Platform(self.settings())

    @property
    def artifacts_dir(self) -> Path:
        return self.settings().artifacts_dir


class MlflowResource(dg.ConfigurableResource):
    """Our own wrapper around MlflowClient; the tracking URI is always explicit."""

    tracking_uri: str

    def tracking(self) -> Tracking:
        return Tracking(self.tracking_uri)


def default_resources(home: str | Path | None = None) -> dict[str, dg.ConfigurableResource]:
    settings = load_settings(home)
    return {
        "governance": GovernanceResource(home=str(settings.home_dir)),
        "mlflow": MlflowResource(tracking_uri=settings.tracking_uri),
    }
