"""Materialise every governance asset and check in process, on the home's own Dagster instance,
so `dagster dev` over the same home afterwards shows the same runs and check results."""

from __future__ import annotations

import os
from dataclasses import dataclass

from dataops_platform.settings import Settings


@dataclass(frozen=True)
class CheckOutcome:
    asset: str
    name: str
    passed: bool
    severity: str


@dataclass(frozen=True)
class MaterializeOutcome:
    success: bool
    run_id: str
    checks: list[CheckOutcome]

    @property
    def failed_checks(self) -> list[CheckOutcome]:
        return [c for c in self.checks if not c.passed]


def dagster_instance(settings: Settings):  # noqa: ANN201 - dagster.DagsterInstance
    import dagster as dg

    settings.ensure_home()
    os.environ["DAGSTER_HOME"] = str(settings.dagster_home)
    return dg.DagsterInstance.from_config(str(settings.dagster_home))


def materialize_all(settings: Settings, selection: str | None = None) -> MaterializeOutcome:
    import dagster as dg

    from dataops_platform.defs.assets import ASSETS
    from dataops_platform.defs.checks import CHECKS
    from dataops_platform.defs.resources import default_resources

    instance = dagster_instance(settings)
    result = dg.materialize(
        [*ASSETS, *CHECKS],
        instance=instance,
        resources=default_resources(settings.home_dir),
        raise_on_error=False,
        selection=selection,
        tags={"dataops/trigger": "cli"},
    )
    checks = [
        CheckOutcome(e.asset_key.to_user_string(), e.check_name, e.passed, e.severity.value)
        for e in result.get_asset_check_evaluations()
    ]
    return MaterializeOutcome(result.success, result.run_id, sorted(checks, key=lambda c: c.name))
