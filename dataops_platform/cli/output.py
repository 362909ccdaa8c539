"""Rendering for humans (Rich) and machines (--json), and errors mapped to SPEC §13 exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from dataops_platform.text import plural  # noqa: F401 - the commands print counts through it

# Piped output is read by people and by grep: never let Rich fold it to 80 columns. Markup is off:
# every text the CLI prints holds values (reasons, ids, paths, titles) in which `[...]` is data, e.g.
# `null_rate[quality_signals] 1.0 > 0.0`; the few styled words go through `labelled`.
console = Console(width=None if sys.stdout.isatty() else 200, markup=False)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 200, markup=False)




def labelled(label: str, style: str, text: str = "") -> Text:
    """`label` in `style`, then `text` exactly as given (never read as Rich markup)."""
    return Text.assemble((label, style), text)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    view = Table(title=title, show_lines=False)
    for column in columns:
        view.add_column(column)
    for row in rows:
        view.add_row(*("" if cell is None else str(cell) for cell in row))
    console.print(view)


def error(exc: Exception, as_json: bool) -> int:
    from dataops_platform.errors import DataOpsError

    code = exc.exit_code if isinstance(exc, DataOpsError) else 1
    if as_json:
        payload = {"error": getattr(exc, "kind", "error"), "message": getattr(exc, "message", str(exc))}
        payload.update({k: v for k, v in getattr(exc, "facts", {}).items() if v is not None})
        sys.stderr.write(json.dumps(payload, default=str) + "\n")
    else:
        err_console.print(labelled("error", "bold red", f": {getattr(exc, 'message', str(exc))}"), highlight=False)
    return code


def as_data(obj: Any) -> dict[str, Any]:
    """A record as plain JSON data: an API model (what both the local and the remote client answer),
    or a dict already."""
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json", by_alias=True)
    return dict(obj)


def emit_rows(as_json: bool, title: str, rows: Sequence[Any], columns: Sequence[str]) -> None:
    """A list of records: every field as JSON, or the named columns as a table."""
    data = [as_data(r) for r in rows]
    if as_json:
        emit_json(data)
    else:
        table(title, columns, [[_cell(r.get(c)) for c in columns] for r in data])


def emit_object(as_json: bool, title: str, obj: Any, extra: dict[str, Any] | None = None) -> None:
    """One record (plus extra facts) as JSON, or as a two-column table."""
    data = as_data(obj) | (extra or {})
    if as_json:
        emit_json(data)
    else:
        table(title, ["field", "value"], [(k, _cell(v)) for k, v in data.items()])


def _cell(value: Any) -> Any:
    return json.dumps(value, default=str) if isinstance(value, (dict, list)) else value
