"""Dagster resources: the governance platform (read side) and MLflow, both pointed at one home."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg

from dataops_platform.governance.platform import Platform
from dataops_platform.settings import Settings, load_settings
from dataops_platform.tracking.client import Tracking


class GovernanceResource(dg.ConfigurableResource):
    """The governance store and the artifact directory of one $DATAOPS_HOME."""

    home: str
    # Settings given in code rather than by the environment (`materialize_all(Settings(database_url=...))`),
    # as JSON: the run's steps must open the store the caller named, not the home's default.
    overrides: str = "{}"

    def settings(self) -> Settings:
        return load_settings(self.home, **json.loads(self.overrides))

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


def default_resources(home: str | Path | Settings | None = None) -> dict[str, dg.ConfigurableResource]:
    """The resources of one home; given `Settings`, every value set on them holds in the run too."""
    settings = home if isinstance(home, Settings) else load_settings(home)
    overrides = _given_in_code(settings) if isinstance(home, Settings) else {}
    return {
        "governance": GovernanceResource(home=str(settings.home_dir), overrides=json.dumps(overrides, sort_keys=True)),
        "mlflow": MlflowResource(tracking_uri=settings.tracking_uri),
    }


def _given_in_code(settings: Settings) -> dict[str, object]:
    """The values of `settings` that the home and this environment alone would not give (only those
    travel in the resource's config: a password from the environment stays there)."""
    own = settings.model_dump(mode="json", exclude={"home"})
    default = load_settings(settings.home_dir).model_dump(mode="json", exclude={"home"})
    return {k: v for k, v in own.items() if default.get(k) != v}
