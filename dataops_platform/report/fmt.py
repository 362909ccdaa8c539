"""How the report writes values, shared by the Markdown and the PDF so both print the same text."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dataops_platform.text import plural  # noqa: F401 - the report's wording helpers live here too

# Rows a table lists before it says how many more there are: the report stays a report (and
# renders in seconds) whatever the home holds; the counts above a cut table, and the aggregated
# view below it (per project, status, day or rule), cover every record.
LIST_LIMIT = 40


def num(value: Any, signed: bool = False) -> str:
    """A number for people: integers as they are, other numbers to 4 significant digits (0.662,
    36.5, 1,234); None is 'n/a'. The KPI table quotes p8_metrics.json verbatim instead (`quoted`)."""
    if value is None:
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    sign = "+" if signed and value >= 0 else ""
    if isinstance(value, int):
        return f"{sign}{value}"
    if abs(value) >= 1000:
        return f"{sign}{value:,.0f}"
    return f"{sign}{value:.4g}"


def rate(value: Any) -> str:
    """A share as a percentage to 4 significant digits: 0.6619597774925117 -> 66.2%, 1.0 -> 100%."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "n/a" if value is None else str(value)
    return f"{value * 100:.4g}%"


def quoted(value: Any) -> str:
    """A metric exactly as p8_metrics.json holds it: the KPI table rule 13 reads back."""
    return "n/a" if value is None else str(value)


def were(count: int) -> str:
    return "was" if count == 1 else "were"


def when(value: str | datetime | None) -> str:
    """An artifact timestamp in UTC to the minute."""
    if value is None:
        return "n/a"
    at = datetime.fromisoformat(value) if isinstance(value, str) else value
    if at.tzinfo is not None:
        at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%d %H:%M")


def more(total: int, shown: int, what: str, note: str = "") -> str:
    """'… and 3 more alerts (counted above, not listed).' (`what` singular); '' when all are shown."""
    rest = total - shown
    if rest <= 0:
        return ""
    return f"… and {rest:,} more {what if rest == 1 else what + 's'}{note} (counted above, not listed)."


def delta_cells(x: Any) -> list[str]:
    """One experiment's row of the metric-delta table after its id (the same in Markdown and PDF)."""
    delta = num(x.delta, signed=True) if x.delta is not None else "n/a (run failed)"
    return [x.project_id, x.dataset_version, x.status, x.baseline_ref, x.metric, num(x.value), delta, num(x.tolerance)]
