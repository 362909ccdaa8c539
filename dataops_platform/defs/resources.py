"""Dagster resources: the governance platform (read side) and MLflow, both pointed at one home."""

from __future__ import annotations

import secrets
from pathlib import Path

import dagster as dg

from dataops_platform.errors import DataOpsError
from dataops_platform.governance.platform import Platform
from dataops_platform.settings import Settings, load_settings
from dataops_platform.tracking.client import Tracking


class GovernanceResource(dg.ConfigurableResource):
    """The governance store and the artifact directory of one $DATAOPS_HOME."""

    home: str
    # Settings given in code (`materialize_all(Settings(database_url=...))`): the run's steps must open
    # the store the caller named, not the home's default. Only a key into this process's registry is
    # config; the values (a password among them) never reach Dagster's run storage.
    settings_key: str = ""

    def settings(self) -> Settings:
        return _settings(self.home, self.settings_key)

    def platform(self) -> Platform:
        return Platform(self.settings())

    @property
    def artifacts_dir(self) -> Path:
        return self.settings().artifacts_dir


class MlflowResource(dg.ConfigurableResource):
    """Our own wrapper around MlflowClient, on the home's tracking URI. The URI is read when a step
    asks, from the same settings as the governance resource, not kept as config: a tracking URI can
    hold a password (postgresql://user:secret@...), and resource config is written into every run's
    snapshot in Dagster's storage."""

    home: str
    settings_key: str = ""

    def tracking(self) -> Tracking:
        return Tracking(_settings(self.home, self.settings_key).tracking_uri)


def _settings(home: str, settings_key: str) -> Settings:
    if not settings_key:
        return load_settings(home)
    given = _GIVEN.get(settings_key)
    if given is None:
        raise DataOpsError(
            "this run was given its settings in code, and they live only in the process that started it: "
            "run it in process (`materialize_all` does), or give the settings by the environment "
            "(DATAOPS_* variables) so every process reads them"
        )
    return given


def default_resources(home: str | Path | Settings | None = None) -> dict[str, dg.ConfigurableResource]:
    """The resources of one home; given `Settings`, every value set on them holds in the run too."""
    settings = home if isinstance(home, Settings) else load_settings(home)
    key = ""
    if isinstance(home, Settings) and _given_in_code(settings):
        key = secrets.token_hex(8)
        _GIVEN[key] = settings
    return {
        "governance": GovernanceResource(home=str(settings.home_dir), settings_key=key),
        "mlflow": MlflowResource(home=str(settings.home_dir), settings_key=key),
    }


_GIVEN: dict[str, Settings] = {}  # settings given in code, by the key their resource carries


def _given_in_code(settings: Settings) -> bool:
    """Whether `settings` hold a value the home and this environment alone would not give."""
    own = settings.model_dump(mode="json", exclude={"home"})
    return own != load_settings(settings.home_dir).model_dump(mode="json", exclude={"home"})
