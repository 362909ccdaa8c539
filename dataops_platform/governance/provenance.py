"""Provenance of a version registered by a team's own pipeline: the Dagster run and asset that wrote
its data (issue 14). Recorded on the version, in its audit record, and in lineage as the edge
`dagster_run:<run id> -produced-> version:<id>`.

The values come from another code location over REST, so every one is refused unless it has the
shape Dagster gives it; a refusal names the field, the value and the fix (InvalidInput).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dataops_platform.errors import InvalidInput
from dataops_platform.text import text_problem

MAX_TEXT = 200
RUN_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"  # Dagster's run ids are UUIDs; its CLI and tests also use short ids
FIELDS = ("dagster_run_id", "dagster_asset_key", "dagster_code_location")
FIXES = {
    "dagster_run_id": "send the Dagster run id (context.run_id): 1-64 letters, digits, '_' or '-'",
    "dagster_asset_key": (
        f"send the asset key as Dagster's user string (context.asset_key.to_user_string(), e.g. 'team/raw/orders'): "
        f"at most {MAX_TEXT} printable characters, no empty component"
    ),
    "dagster_code_location": f"send the code location's name (at most {MAX_TEXT} printable characters) or leave it out",
}


class Provenance(BaseModel):
    """The Dagster run and asset that produced a version's data (a team's code location)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    dagster_run_id: str = Field(pattern=RUN_ID_PATTERN, description="the Dagster run id (context.run_id)")
    dagster_asset_key: str = Field(
        min_length=1, max_length=MAX_TEXT, description="the asset key as Dagster's user string, e.g. 'team/raw/orders'"
    )
    dagster_code_location: str | None = Field(
        default=None, min_length=1, max_length=MAX_TEXT, description="the Dagster code location that ran the asset"
    )


def _shown(value: Any) -> Any:
    """A rejected value as an error may quote it: short, and never text that cannot be stored."""
    if isinstance(value, str):
        return None if text_problem(value) else (value if len(value) <= 80 else value[:77] + "...")
    return value if isinstance(value, (int, float, bool)) or value is None else type(value).__name__


def _refuse(key: str, problem: str, value: Any) -> InvalidInput:
    field = f"provenance.{key}" if key else "provenance"
    fix = FIXES.get(key, f"send an object with the keys {', '.join(FIELDS)} (the last one optional)")
    shown = _shown(value)
    quoted = f" ({shown!r})" if shown is not None and key else ""
    return InvalidInput(f"{field}{quoted} {problem}; {fix}", field=field, value=shown)


def parse_provenance(value: Provenance | dict[str, Any] | None) -> Provenance | None:
    """`value` as a Provenance (None stays None), or InvalidInput naming the first bad field."""
    if value is None or isinstance(value, Provenance):
        return value
    if not isinstance(value, dict):
        raise _refuse("", f"must be an object, not {type(value).__name__}", value)
    for key, item in value.items():
        if not isinstance(key, str) or key not in FIELDS:
            shown = _shown(key)
            raise InvalidInput(
                f"provenance has an unknown key {shown!r}; allowed: {', '.join(FIELDS)}", field="provenance", value=shown
            )
        if isinstance(item, str) and (problem := text_problem(item)):
            raise _refuse(key, problem, item)
    try:
        parsed = Provenance(**value)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = str(err["loc"][0]) if err.get("loc") else ""
        raise _refuse(key, _wording(err), value.get(key) if key else value) from None
    for key in ("dagster_asset_key", "dagster_code_location"):
        text = getattr(parsed, key)
        if text is not None and not text.isprintable():
            raise _refuse(key, "holds a control or other non-printable character", text)
    if "" in parsed.dagster_asset_key.split("/"):
        raise _refuse("dagster_asset_key", "has an empty component (a leading, trailing or double '/')", parsed.dagster_asset_key)
    return parsed


def _wording(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    if kind == "missing":
        return "is required"
    if kind in ("string_type", "string_sub_type"):
        return f"must be text, not {type(err.get('input')).__name__}"
    if kind == "string_pattern_mismatch":
        found = err.get("input")
        too_long = isinstance(found, str) and len(found) > 64
        return f"is {len(found)} characters long (at most 64)" if too_long else "does not match " + RUN_ID_PATTERN
    return re.sub(r"^String should", "should", str(err.get("msg", "is invalid")))


def as_record(provenance: Provenance | None) -> dict[str, Any] | None:
    """What the version's column and its audit record hold."""
    return provenance.model_dump() if provenance is not None else None
