"""Delta Lake tables at a table version (the latest when none is given), read with `deltalake`.

Named `delta:PATH` or `delta:PATH@VERSION` (PATH a directory or file:// URI); a local directory
holding `_delta_log/` is recognised as a Delta table too. The version records `delta:PATH@VERSION`
with the version it read, so every re-read sees the same snapshot; the pin is the table version.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dataops_platform.errors import InvalidInput
from dataops_platform.sources.base import DataSource

SCHEME = "delta:"
BATCH_ROWS = 10_000


def _refuse(label: str, problem: str) -> InvalidInput:
    from dataops_platform.governance.datasets import shown_path

    return InvalidInput(f"{shown_path(label)}: {problem}", field="DATAFILE", value=shown_path(label))


class DeltaSource(DataSource):
    kind = "delta"

    def __init__(self, location: str, version: int, label: str, table: Any) -> None:
        super().__init__(f"{SCHEME}{location}@{version}", label)
        self.location, self.version, self.table = location, version, table

    @property
    def source_format(self) -> str:
        return "delta"

    def pin(self) -> dict[str, Any]:
        return {"kind": self.kind, "table": self.location, "table_version": self.version}

    def records(self, limits: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        from dataops_platform.governance.datasets import arrow_records

        try:
            dataset = self.table.to_pyarrow_dataset()
            total = dataset.count_rows()
        except Exception as exc:  # noqa: BLE001 - data files vacuumed or unreadable
            raise _refuse(self.label, f"version {self.version} cannot be read ({type(exc).__name__}: {str(exc)[:160]})") from None
        yield from arrow_records(iter(dataset.to_batches(batch_size=BATCH_ROWS)), dataset.schema, self.label, limits, total)


def open_delta(text: str, label: str | None = None) -> DeltaSource:
    from deltalake import DeltaTable

    label = label or text
    body = text[len(SCHEME) :] if text.startswith(SCHEME) else text
    location, _, wanted = body.rpartition("@") if "@" in body else (body, "", "")
    version: int | None = None
    if wanted:
        if not wanted.isdigit():
            raise _refuse(label, f"table version {wanted!r} is not a number; write delta:PATH@VERSION")
        version = int(wanted)
    if location.startswith("file://"):
        location = location[len("file://") :]
    if not Path(location).is_dir():
        raise _refuse(label, "no Delta table there (no such directory); check the path")
    location = str(Path(location).resolve())
    try:
        table = DeltaTable(location)
    except Exception as exc:  # noqa: BLE001 - TableNotFoundError, DeltaError
        raise _refuse(label, f"is not a Delta table ({type(exc).__name__}); check the path (it needs a _delta_log/)") from None
    latest = table.version()
    if version is not None and version != latest:
        if version > latest:
            raise _refuse(label, f"table version {version} does not exist (latest is {latest}); omit @VERSION for the latest")
        try:
            table = DeltaTable(location, version=version)
        except Exception as exc:  # noqa: BLE001
            raise _refuse(
                label, f"table version {version} cannot be loaded ({type(exc).__name__}); its log may be cleaned up"
            ) from None
    return DeltaSource(location, table.version(), label, table)
