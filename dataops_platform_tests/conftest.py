"""Shared fixtures: real SQLite homes under tmp_path and a real PostgreSQL server.

PostgreSQL comes from DATAOPS_TEST_PG_URL (`.ci/start-postgres.sh` prints one). Outside CI the
PostgreSQL half of a parametrised test is skipped when no server answers; in CI (CI=true) it
fails instead, so a missing server can never pass silently.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from dataops_platform.clock import FixedClock
from dataops_platform.demo.materialize import MaterializeOutcome, materialize_all
from dataops_platform.demo.scenario import play_scenario
from dataops_platform.governance.bootstrap import initialize
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.spec_apply import apply_spec
from dataops_platform.settings import Settings, load_settings
from dataops_platform.spec.loader import load_spec

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_SPEC = REPO / "examples" / "platform.yaml"
ADMIN = "alice"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _pg_admin_url() -> str | None:
    return os.environ.get("DATAOPS_TEST_PG_URL")


@pytest.fixture(scope="session")
def pg_server() -> str:
    url = _pg_admin_url()
    reason = None
    if not url:
        reason = "DATAOPS_TEST_PG_URL is not set (run .ci/start-postgres.sh)"
    else:
        try:
            engine = create_engine(url)
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            engine.dispose()
        except Exception as exc:  # noqa: BLE001
            reason = f"PostgreSQL at {url} is not reachable: {exc}"
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must test on PostgreSQL: {reason}")
        pytest.skip(reason)
    return url  # type: ignore[return-value]


@pytest.fixture
def pg_database(pg_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    name = f"dataops_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(pg_server).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def settings(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> Settings:
    """Settings for a fresh home; the governance store on the parametrised backend."""
    overrides: dict[str, object] = {}
    if backend == "postgresql":
        overrides["database_url"] = request.getfixturevalue("pg_database")
    return load_settings(tmp_path / "home", **overrides)


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return load_settings(tmp_path / "home")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


def make_platform(settings: Settings, clock: FixedClock, spec_path: Path = EXAMPLE_SPEC) -> Platform:
    """An initialised platform with the spec applied by the admin, as a user would do it."""
    platform = Platform(settings, clock)
    initialize(platform, ADMIN)
    apply_spec(platform, ADMIN, load_spec(spec_path), str(spec_path))
    return platform


@pytest.fixture
def platform(settings: Settings, clock: FixedClock) -> Iterator[Platform]:
    """The reference organisation on the parametrised backend (SQLite and PostgreSQL)."""
    p = make_platform(settings, clock)
    yield p
    p.close()


@pytest.fixture
def sqlite_platform(sqlite_settings: Settings, clock: FixedClock) -> Iterator[Platform]:
    """The reference organisation on SQLite only, for tests of pure service behaviour."""
    p = make_platform(sqlite_settings, clock)
    yield p
    p.close()


# One demo home per test session: the reference scenario is played once and copied where a
# test needs to corrupt it.


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
