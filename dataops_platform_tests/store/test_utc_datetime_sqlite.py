"""UtcDateTime reads SQLite's stored text with `datetime.fromisoformat` when it is as SQLAlchemy
wrote it: the same aware UTC datetime as SQLAlchemy's own reader followed by `as_utc`, and for
anything else (text written by hand, out of range, not text) the same value or the same error."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import DateTime
from sqlalchemy.dialects import sqlite

from dataops_platform.clock import as_utc
from dataops_platform.store.types import UtcDateTime

DIALECT = sqlite.dialect()
FAST = UtcDateTime().dialect_impl(DIALECT).result_processor(DIALECT, None)
SQLALCHEMY = DateTime().dialect_impl(DIALECT).result_processor(DIALECT, None)


def _outcome(read, value: object) -> tuple:  # noqa: ANN001
    try:
        result = read(value)
    except (ValueError, TypeError) as exc:
        return ("error", type(exc).__name__, str(exc))
    return ("value", result, None if result is None else result.tzinfo is UTC)


def _reference(value: object) -> object:
    read = SQLALCHEMY(value)
    return None if read is None else as_utc(read)


@pytest.mark.parametrize(
    "stored",
    [
        "2026-10-02 21:42:11.123456", "2026-10-02 21:42:11.000000", "0001-01-01 00:00:00.000000",
        "9999-12-31 23:59:59.999999", "2026-13-02 21:42:11.000000", "2026-02-30 00:00:00.000000",
        "2026-10-02 24:00:00.000000", "2026-10-02T21:42:11", "2026-10-02 21:42:11", "2026-10-02",
        "2026-10-02 21:42:11.123456+05:00", "２０２６-10-02 21:42:11.123456", "yesterday", "", None, 5,
    ],
)  # fmt: skip
def test_every_stored_value_reads_as_sqlalchemy_reads_it(stored: object) -> None:
    assert _outcome(FAST, stored) == _outcome(_reference, stored)


@settings(max_examples=500, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)))
def test_what_sqlalchemy_writes_reads_back_the_same_instant(moment: datetime) -> None:
    bind = UtcDateTime().dialect_impl(DIALECT).bind_processor(DIALECT)
    stored = bind(moment)
    assert _outcome(FAST, stored) == _outcome(_reference, stored) == ("value", moment, True)
