"""How the report writes values, shared by the Markdown and the PDF so both print the same text."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# Rows a table lists before it says how many more there are: the report stays a report (and
# renders in seconds) when the home holds 100k objects; the counts above each table cover all.
LIST_LIMIT = 40


def num(value: Any, signed: bool = False) -> str:
    """A number as the artifacts hold it (no rounding beyond theirs); None is 'n/a'."""
    if value is None:
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:+}" if signed else str(value)


def percent(value: Any) -> str:
    return f"{value:.0%}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def when(value: str | datetime | None) -> str:
    """An artifact timestamp in UTC to the minute."""
    if value is None:
        return "n/a"
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    if at.tzinfo is not None:
        at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%d %H:%M")


def more(total: int, shown: int, what: str) -> str:
    return f"… and {total - shown:,} more {what} (counted above, not listed)." if total > shown else ""


def delta_cells(x: Any) -> list[str]:
    """One experiment's row of the metric-delta table after its id (the same in Markdown and PDF)."""
    delta = num(x.delta, signed=True) if x.delta is not None else "n/a (run failed)"
    return [x.project_id, x.dataset_version, x.status, x.baseline_ref, x.metric, num(x.value), delta, num(x.tolerance)]
