"""One demo home per test session: the reference scenario is played once and copied where a
test needs to corrupt it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from dataops_platform.demo.materialize import MaterializeOutcome, materialize_all
from dataops_platform.demo.scenario import play_scenario
from dataops_platform.settings import Settings, load_settings


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, MaterializeOutcome]:
    """The reference scenario, played and materialised once on the home's own Dagster instance."""
    settings = load_settings(tmp_path_factory.mktemp("demo") / "home")
    demo = play_scenario(settings, progress=lambda _msg: None)
    demo.platform.close()
    return settings, materialize_all(settings)


@pytest.fixture
def demo_copy(demo_home: tuple[Settings, MaterializeOutcome], tmp_path: Path) -> Iterator[Settings]:
    """A private copy of the demo home for a test that corrupts it."""
    source, _ = demo_home
    target = tmp_path / "home"
    shutil.copytree(source.home_dir, target)
    yield load_settings(target)
