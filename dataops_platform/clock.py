"""Injected time. Services never call datetime.now() themselves, so scenarios and tests are deterministic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from dataops_platform.errors import InvalidInput


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to: for the demo and for tests."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> datetime:
        self._now += timedelta(**delta)
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def as_utc(moment: datetime) -> datetime:
    """The one rule for every timestamp the platform takes in or reads back: an aware datetime is
    converted to UTC (the same instant, offset dropped); a naive one *is* UTC. SQLite keeps no
    offset, so everything is stored as UTC and read back aware."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(
            f"time {moment.isoformat()} is outside the representable range once converted to UTC",
            field="time",
            value=moment.isoformat(),
        ) from None


def parse_instant(value: str, field: str) -> datetime:
    """An ISO-8601 text as an aware UTC datetime under the rule of `as_utc` (naive means UTC);
    InvalidInput naming `field` and the value otherwise."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except (ValueError, TypeError):
        raise InvalidInput(
            f"{field} {value!r} is not an ISO-8601 time (e.g. 2026-11-23T09:00:00+00:00; without an offset it is read as UTC)",
            field=field,
            value=value,
        ) from None
    try:
        return as_utc(moment)
    except InvalidInput as exc:
        raise InvalidInput(exc.message.replace("time ", f"{field} ", 1), field=field, value=value) from None


def iso(moment: datetime) -> str:
    """The canonical text of an instant: UTC, microseconds, `+00:00`. Audit records store this, so
    text order is time order."""
    return as_utc(moment).isoformat(timespec="microseconds")
