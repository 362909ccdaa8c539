"""Column types shared by every model."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator

from dataops_platform.clock import as_utc


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that round-trips as the same instant on every backend.

    SQLite's DATETIME keeps no offset (an aware 14:03+05:00 would come back as 14:03 UTC), so every
    value is converted to UTC on the way in (naive values are UTC, the rule of `clock.as_utc`) and
    comes back aware UTC. PostgreSQL's timestamptz gets the same UTC values.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        utc = as_utc(value)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        return None if value is None else as_utc(value)

    def result_processor(self, dialect: Any, coltype: Any) -> Callable[[Any], datetime | None]:
        """On SQLite, the text SQLAlchemy wrote (naive UTC, six-digit microseconds) read by the C
        `datetime.fromisoformat` (SQLAlchemy's reader is a regular expression and a constructor
        call: most of the cost of reading a table's rows); anything else, as SQLAlchemy reads it."""
        read = super().result_processor(dialect, coltype)
        if dialect.name != "sqlite" or read is None:
            return read

        def process(value: Any) -> datetime | None:
            moment = sqlite_stored_instant(value)
            return moment if moment is not None else read(value)

        return process


SQLITE_STORED = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", re.ASCII)  # how SQLAlchemy writes a DateTime there


def sqlite_stored_instant(value: Any) -> datetime | None:
    """The aware UTC time of a SQLite value that is exactly the text SQLAlchemy writes for a
    DateTime, by the C `datetime.fromisoformat`; None for anything else (text written by hand, or in
    shape but not a time, month 13), which SQLAlchemy's own reader must take, or refuse."""
    if type(value) is str and SQLITE_STORED.fullmatch(value):
        try:
            return datetime.fromisoformat(value + "+00:00")  # aware UTC (datetime.UTC itself)
        except ValueError:
            return None
    return None
