"""The artifact builders read SQLite timestamps as text (artifacts.build._sqlite_stamp): whatever is
stored, the artifact line is the one the column type's own reading gives, or the same error.

The oracle is the ordinary path: the same columns selected through SQLAlchemy (UtcDateTime gives
aware UTC datetimes) and encoded by the artifact encoder.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.orm import Session

from dataops_platform.artifacts.build import _iter_rows
from dataops_platform.artifacts.files import jsonl_line
from dataops_platform.store.models import Alert

BASE = {"alert_id": "a1", "project_id": "p", "severity": "high", "category": "data", "related_object": "version:v",
        "title": "t", "status": "open", "opened_by": "u"}  # fmt: skip


@pytest.fixture
def engine(tmp_path: Path):  # noqa: ANN201
    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    Alert.__table__.create(engine)
    yield engine
    engine.dispose()


def _oracle(session: Session) -> list[bytes]:
    columns = [getattr(Alert, c.key) for c in Alert.__mapper__.column_attrs]
    keys = [c.key for c in Alert.__mapper__.column_attrs]
    return [jsonl_line(dict(zip(keys, r, strict=True))) for r in session.execute(select(*columns).order_by(Alert.alert_id))]


def _store_raw(engine, value: object) -> None:  # noqa: ANN001
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM alerts"))
        conn.execute(insert(Alert.__table__).values(**BASE, opened_at=datetime(2026, 1, 1)))
        conn.execute(text("UPDATE alerts SET opened_at = :v"), {"v": value})


@pytest.mark.parametrize(
    "stored",
    [
        "2026-10-02 21:42:11.123456",  # as SQLAlchemy writes it
        "2026-10-02 21:42:11.000000",  # a whole second: str() drops the fraction
        "0001-01-01 00:00:00.000001",
        "9999-12-31 23:59:59.999999",
        "2026-10-02T21:42:11",  # written by hand: through the column type
        "2026-10-02 21:42:11",
        "2026-10-02",
        "2026-10-02 21:42:11.5",
        "2026-10-02 21:42:11.123456+05:00",  # an offset: converted to UTC by the column type
    ],
)
def test_stored_text_gives_the_column_types_line(engine, stored: str) -> None:  # noqa: ANN001
    _store_raw(engine, stored)
    with Session(engine) as session:
        assert [jsonl_line(r) for r in list(_iter_rows(session, Alert))] == _oracle(session)


@pytest.mark.parametrize("stored", ["2026-13-02 21:42:11.000000", "2026-02-30 00:00:00.000000", "yesterday", 5])
def test_what_the_column_type_cannot_read_fails_as_it_did(engine, stored: object) -> None:  # noqa: ANN001
    _store_raw(engine, stored)
    with Session(engine) as session:
        with pytest.raises((ValueError, TypeError)) as expected:
            _oracle(session)
        with pytest.raises(type(expected.value)):
            list(_iter_rows(session, Alert))


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)))
def test_any_time_written_through_sqlalchemy(tmp_path_factory: pytest.TempPathFactory, moment: datetime) -> None:
    engine = create_engine(f"sqlite:///{tmp_path_factory.mktemp('h') / 'store.db'}")
    Alert.__table__.create(engine)
    with engine.begin() as conn:
        conn.execute(insert(Alert.__table__).values(**BASE, opened_at=moment, resolved_at=moment.replace(microsecond=0)))
    with Session(engine) as session:
        assert [jsonl_line(r) for r in list(_iter_rows(session, Alert))] == _oracle(session)
    engine.dispose()
