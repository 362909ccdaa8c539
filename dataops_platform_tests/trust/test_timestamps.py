"""Issue 12, finding 1: every timestamp is the same instant on SQLite and PostgreSQL.

One rule (`clock.as_utc`): an aware value is converted to UTC, a naive one is UTC. The store's
`UtcDateTime` applies it on the way in and hands back aware UTC on the way out.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, Table, create_engine, insert, select

from dataops_platform.clock import FixedClock, as_utc, parse_instant
from dataops_platform.demo.sample_data import sample_records, write_records
from dataops_platform.errors import InvalidInput
from dataops_platform.governance.exceptions import approve_exception, request_exception
from dataops_platform.governance.gate import active_exception
from dataops_platform.governance.tokens import create_token, list_tokens
from dataops_platform.governance.versions import register_version
from dataops_platform.settings import load_settings
from dataops_platform.store.engine import make_engine
from dataops_platform.store.models import Base
from dataops_platform.store.types import UtcDateTime
from dataops_platform_tests.helpers import A1, ROLE_USERS, ROOT, matrix_platform, pg_scratch_database

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
TIMESTAMP_COLUMNS = [
    (table.name, column.name)
    for table in Base.metadata.sorted_tables
    for column in table.columns
    if isinstance(column.type, UtcDateTime)
]


def test_every_datetime_column_is_utc_datetime() -> None:
    """No timestamp column escapes the rule (a plain DateTime would lose the offset on SQLite)."""
    from sqlalchemy import DateTime

    plain = [
        f"{table.name}.{column.name}"
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, DateTime) and not isinstance(column.type, UtcDateTime)
    ]
    assert TIMESTAMP_COLUMNS and not plain


@pytest.fixture(params=["sqlite", "postgresql"])
def engine_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('ts') / 'ts.db'}"
    else:
        server = request.getfixturevalue("pg_server")
        with pg_scratch_database(server) as url:
            yield url


offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
instants = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moments=st.lists(st.tuples(instants, st.one_of(st.none(), offsets)), min_size=1, max_size=8))
def test_property_round_trip_every_timestamp_column(engine_url: str, moments: list) -> None:
    """Random instants, written with random offsets (or naive: UTC by the rule), come back as the
    same instant, aware UTC, through the column type of every timestamp column."""
    engine = make_engine(engine_url) if engine_url.startswith("sqlite") else create_engine(engine_url)
    meta = MetaData()
    tables = [
        Table(f"rt_{table}_{column}", meta, Column("id", Integer, primary_key=True), Column("at", UtcDateTime()))
        for table, column in TIMESTAMP_COLUMNS
    ]
    meta.create_all(engine)
    try:
        with engine.begin() as conn:
            for table in tables:
                conn.execute(table.delete())
                conn.execute(insert(table), [{"id": i, "at": naive.replace(tzinfo=tz)} for i, (naive, tz) in enumerate(moments)])
        with engine.connect() as conn:
            for table in tables:
                back = dict(conn.execute(select(table.c.id, table.c.at)).all())
                for i, (naive, tz) in enumerate(moments):
                    sent = naive.replace(tzinfo=tz or UTC)
                    assert back[i] == sent and back[i].utcoffset() == timedelta(0), (table.name, sent, back[i])
    finally:
        meta.drop_all(engine)
        engine.dispose()


def test_parse_instant_rule() -> None:
    assert parse_instant("2026-12-01T14:03:09+05:00", "--expires") == datetime(2026, 12, 1, 9, 3, 9, tzinfo=UTC)
    assert parse_instant("2026-12-01T09:03:09", "--expires") == datetime(2026, 12, 1, 9, 3, 9, tzinfo=UTC)  # naive = UTC
    for bad in ("tomorrow", "2026-13-01", "NaN", "0001-01-01T00:00:00+05:00", ""):
        with pytest.raises(InvalidInput) as caught:
            parse_instant(bad, "--expires")
        assert caught.value.field == "--expires"
    assert as_utc(datetime(2026, 1, 1, 23, 0, tzinfo=timezone(timedelta(hours=-5)))) == datetime(2026, 1, 2, 4, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def org(request: pytest.FixtureRequest, tmp_path: Path):  # noqa: ANN201
    overrides = {}
    scratch = None
    if request.param == "postgresql":
        scratch = pg_scratch_database(request.getfixturevalue("pg_server"))
        overrides["database_url"] = scratch.__enter__()
    clock = FixedClock(T0)
    platform = matrix_platform(load_settings(tmp_path / "home", **overrides), clock)
    yield platform, clock, tmp_path
    platform.close()
    if scratch is not None:
        scratch.__exit__(None, None, None)


def _version(platform, tmp_path: Path) -> str:  # noqa: ANN001
    path = write_records(sample_records(20, 3), tmp_path / "v.jsonl")
    return register_version(platform, ROLE_USERS["data_engineer"], A1, path).version_id


def test_finding1_exception_expiry_with_offset_is_the_same_instant(org) -> None:  # noqa: ANN001
    """`--expires 2026-12-01T14:03:09+05:00` is 09:03:09Z: the exception no longer waives at 09:03:20Z."""
    platform, clock, tmp_path = org
    version = _version(platform, tmp_path)
    exc = request_exception(platform, ROLE_USERS["data_engineer"], version, "experiment_status", "hotfix",
                            parse_instant("2026-12-01T14:03:09+05:00", "--expires"))  # fmt: skip
    approve_exception(platform, ROLE_USERS["platform_pm"], exc.exception_id)
    with platform.store.read() as session:
        clock.set(datetime(2026, 12, 1, 9, 3, 0, tzinfo=UTC))
        assert active_exception(session, version, "experiment_status", clock.now()) is not None
        clock.set(datetime(2026, 12, 1, 9, 3, 20, tzinfo=UTC))
        assert active_exception(session, version, "experiment_status", clock.now()) is None


def test_finding1_token_expiry_with_offset_is_listed_in_utc(org) -> None:  # noqa: ANN001
    platform, _, _ = org
    create_token(platform, ROOT, ROOT, parse_instant("2031-06-01T18:00:00+05:00", "--expires"))
    (token,) = list_tokens(platform, ROOT)
    assert token.expires_at == datetime(2031, 6, 1, 13, 0, tzinfo=UTC)
    assert token.expires_at.utcoffset() == timedelta(0)


def test_finding1_rest_exception_with_plus_14(org) -> None:  # noqa: ANN001
    """REST POST /exceptions with +14:00 is stored 14 h earlier in UTC, not 14 h late."""
    from dataops_platform_tests.api.conftest import live_server

    platform, _, tmp_path = org
    version = _version(platform, tmp_path)
    with live_server(platform, ROOT) as live:
        body = {"version": version, "rule": "experiment_status", "reason": "hotfix", "expires_at": "2026-12-02T20:00:00+14:00"}
        response = live.call("POST", "exceptions", ROLE_USERS["data_engineer"], json=body)
        assert response.status_code == 201, response.text
        stored = parse_instant(response.json()["expires_at"], "expires_at")
    assert stored == datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
