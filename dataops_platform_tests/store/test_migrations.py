"""SPEC §14: schema changes go through migrations, and the migrations build exactly the models.

`alembic upgrade head` on an empty database, then autogenerate's comparison against the ORM
metadata finds nothing to change, on SQLite and PostgreSQL; upgrading again is a no-op.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from dataops_platform.store import migrate
from dataops_platform.store.engine import make_engine
from dataops_platform.store.models import Base
from dataops_platform_tests.helpers import REPO


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return request.getfixturevalue("pg_database")
    return f"sqlite:///{tmp_path / 'empty.db'}"


def schema_diff(engine: Engine) -> list:
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def test_upgrade_builds_exactly_the_models(empty_url: str) -> None:
    engine = make_engine(empty_url)
    try:
        assert migrate.current_revision(engine) is None
        assert tables(engine) == set()
        migrate.upgrade(empty_url)
        assert migrate.current_revision(engine) == migrate.head_revision()
        assert tables(engine) == set(Base.metadata.tables) | {"alembic_version"}
        assert schema_diff(engine) == []
        # What the audit chain relies on: seq is the primary key and hash is unique, in the real schema.
        inspector = inspect(engine)
        assert inspector.get_pk_constraint("audit_records")["constrained_columns"] == ["seq"]
        unique = {tuple(u["column_names"]) for u in inspector.get_unique_constraints("audit_records")}
        unique |= {tuple(i["column_names"]) for i in inspector.get_indexes("audit_records") if i["unique"]}
        assert ("hash",) in unique
    finally:
        engine.dispose()


def test_upgrade_is_idempotent(empty_url: str) -> None:
    engine = make_engine(empty_url)
    try:
        migrate.upgrade(empty_url)
        first = {name: inspect(engine).get_columns(name) for name in sorted(tables(engine))}
        migrate.upgrade(empty_url)
        second = {name: inspect(engine).get_columns(name) for name in sorted(tables(engine))}
        assert migrate.current_revision(engine) == migrate.head_revision()
        assert repr(second) == repr(first)
        assert schema_diff(engine) == []
    finally:
        engine.dispose()


def test_alembic_command_line_from_a_checkout(tmp_path: Path) -> None:
    """The documented path (alembic.ini): DATAOPS_DATABASE_URL=... alembic upgrade head."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    proc = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(REPO / "alembic.ini"), "upgrade", "head"],
        cwd=REPO, env={"PATH": "/usr/bin:/bin", "DATAOPS_DATABASE_URL": url}, capture_output=True, text=True,
        check=False, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    engine = make_engine(url)
    try:
        assert migrate.current_revision(engine) == migrate.head_revision()
        assert schema_diff(engine) == []
    finally:
        engine.dispose()


def test_expected_revision_is_alembics_head() -> None:
    """The CLI's cheap schema check (file names) agrees with Alembic's own head."""
    from dataops_platform.store.engine import expected_revision
    from dataops_platform.store.migrate import head_revision

    assert expected_revision() == head_revision()


def test_a_store_behind_the_code_is_named_with_the_fix(tmp_path) -> None:  # noqa: ANN001
    from dataops_platform.store import migrate
    from dataops_platform_tests.helpers import run_cli

    home = tmp_path / "home"
    home.mkdir()
    migrate.upgrade(f"sqlite:///{home / 'governance.db'}", "0003")
    result = run_cli(home, "version", "list", user="alice")
    assert result.code == 2, result.stderr
    assert "revision 0003" in result.error_text and "dataops init --admin" in result.error_text
