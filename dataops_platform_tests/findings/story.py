"""The stories of issue 15 part 2, played through the real services with real training logged to
real MLflow runs: a hyperparameter sweep on the current release, and a data regression found on
the current release after it was released.

Each story is built once per module (`build_*`) and copied for a test that changes it (`copy_home`),
as conftest's demo home is. The clock starts five days before the wall clock: materialising reads
the wall clock (SLA, exception expiry), so an exception approved in a story is valid when the
assets are built, and one that lasts a day has expired.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg

from dataops_platform.clock import FixedClock
from dataops_platform.defs.assets import ASSETS
from dataops_platform.defs.checks import CHECKS
from dataops_platform.defs.resources import default_resources
from dataops_platform.demo.sample_data import sample_records, write_records
from dataops_platform.demo.training import run_experiment
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.versions import register_version, release_version, validate_version
from dataops_platform.settings import Settings, load_settings
from dataops_platform.store.models import Experiment
from dataops_platform.tracking.client import Tracking
from dataops_platform.tracking.sync import SyncReport, sync_runs
from dataops_platform_tests.conftest import make_platform

PROJECT = "p02_legal_sft"  # lena data_engineer, quinn qa, priya platform_pm, omar ops, alice admin
GOOD = {"C": 4.0, "max_iter": 300}
BAD_C = {"C": 0.001, "max_iter": 300}  # trains, but predicts no positive at all: f1 0
CRASH = {"C": -1.0, "max_iter": 300}  # scikit-learn refuses it: the run raises


def story_start() -> datetime:
    return (datetime.now(UTC) - timedelta(days=5)).replace(second=0, microsecond=0)


@dataclass
class Story:
    settings: Settings
    platform: Platform
    tracking: Tracking
    clock: FixedClock
    versions: dict[str, str]  # story name -> version id
    facts: dict[str, Any]

    def version(self, name: str, seed: int, parent: str | None = None, noise: float = 0.0) -> str:
        path = write_records(
            sample_records(120, seed, source="case_law", label_noise=noise), self.settings.home_dir / "data_in" / f"{name}.jsonl"
        )
        self.versions[name] = register_version(self.platform, "lena", PROJECT, path, parent, [name]).version_id
        return self.versions[name]

    def validate(self, version_id: str) -> None:
        validate_version(self.platform, "quinn", version_id)

    def release(self, version_id: str) -> None:
        release_version(self.platform, "priya", version_id)

    def train(self, version_id: str, params: dict[str, Any], name: str) -> str | None:
        """A real training run logged to MLflow as lena; None when it crashed (the run is FAILED)."""
        try:
            return run_experiment(self.platform, self.tracking, "lena", version_id, params, name)
        except ValueError:
            return None

    def sync(self) -> SyncReport:
        return sync_runs(self.platform, self.tracking)

    def later(self, minutes: float = 10) -> None:
        self.clock.advance(minutes=minutes)

    def experiment(self, experiment_id: str) -> Experiment:
        with self.platform.store.read() as session:
            return session.get(Experiment, experiment_id)


def new_story(home: Path, start: datetime | None = None) -> Story:
    settings = load_settings(home)
    clock = FixedClock(start or story_start())
    platform = make_platform(settings, clock)
    return Story(settings, platform, Tracking(settings.tracking_uri, settings.mlflow_artifact_root), clock, {}, {})


def copy_home(source: Settings, target: Path) -> Settings:
    shutil.copytree(source.home_dir, target)
    return load_settings(target)


def reopen(settings: Settings, at: datetime) -> Story:
    """A story on a copied home, its clock at `at`."""
    clock = FixedClock(at)
    return Story(
        settings, Platform(settings, clock), Tracking(settings.tracking_uri, settings.mlflow_artifact_root), clock, {}, {}
    )


def released_line(story: Story) -> None:
    """v1 and v2 released, each with a baseline run in the baseline configuration; v2 is current."""
    v1 = story.version("v1", 21)
    story.validate(v1)
    story.release(v1)
    story.train(v1, GOOD, "v1-baseline")
    story.sync()
    story.later()
    v2 = story.version("v2", 22, parent=v1)
    story.validate(v2)
    story.release(v2)
    story.later()
    story.train(v2, GOOD, "v2-baseline")
    story.sync()
    story.later()


def build_sweep(home: Path) -> Story:
    """The sweep of issue 15: on the current release v2, one run with a bad C and one that crashes."""
    story = new_story(home)
    released_line(story)
    story.train(story.versions["v2"], BAD_C, "sweep-c-0.001")
    assert story.train(story.versions["v2"], CRASH, "sweep-c-neg") is None
    story.facts["sweep"] = story.sync()
    story.later()
    return story


def build_data_regression(home: Path) -> Story:
    """v3 (45% of its labels flipped) released on top of v2; then the baseline configuration,
    trained on v3, does far worse: a data regression on the current release, found after it."""
    story = new_story(home)
    released_line(story)
    v3 = story.version("v3", 23, parent=story.versions["v2"], noise=0.45)
    story.validate(v3)
    story.release(v3)
    story.later()
    story.train(v3, GOOD, "v3-eval")
    story.facts["regression"] = story.sync()
    story.later()
    return story


def materialize(settings: Settings, assets: list[str] | None = None) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [*ASSETS, *CHECKS],
        instance=dg.DagsterInstance.ephemeral(),
        resources=default_resources(settings.home_dir),
        selection=dg.AssetSelection.assets(*assets) if assets else None,
        raise_on_error=False,
    )


def check_outcomes(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    """passed | violation (failed with ERROR) | finding (failed with WARN), by check name."""
    return {
        e.check_name: "passed" if e.passed else "violation" if e.severity == dg.AssetCheckSeverity.ERROR else "finding"
        for e in result.get_asset_check_evaluations()
    }


def check_metadata(result: dg.ExecuteInProcessResult, check: str) -> dict[str, Any]:
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == check]
    return {k: getattr(v, "value", v) for k, v in evaluation.metadata.items()}


def materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
