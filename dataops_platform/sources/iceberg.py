"""Iceberg tables at a snapshot id (the current snapshot when none is given), read with `pyiceberg`
through the catalog in settings (`iceberg_catalog_uri`: a SQL catalog, SQLite is enough).

Named `iceberg:NAMESPACE.TABLE` or `iceberg:NAMESPACE.TABLE@SNAPSHOT_ID`; the version records the
snapshot it read, so every re-read sees the same data; the pin is the snapshot id and metadata file.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dataops_platform.errors import InvalidInput
from dataops_platform.sources.base import DataSource

SCHEME = "iceberg:"


def _refuse(label: str, problem: str) -> InvalidInput:
    from dataops_platform.governance.datasets import shown_path

    return InvalidInput(f"{shown_path(label)}: {problem}", field="DATAFILE", value=shown_path(label))


def catalog(settings: Any, label: str) -> Any:
    from pyiceberg.catalog.sql import SqlCatalog

    uri = getattr(settings, "iceberg_catalog_uri", None)
    if not uri:
        raise _refuse(label, "no Iceberg catalog configured; set DATAOPS_ICEBERG_CATALOG_URI (e.g. sqlite:////path/catalog.db)")
    options = {"uri": uri}
    if warehouse := getattr(settings, "iceberg_warehouse", None):
        options["warehouse"] = warehouse
    try:
        return SqlCatalog("dataops", **options)
    except Exception as exc:  # noqa: BLE001
        raise _refuse(
            label, f"the Iceberg catalog cannot be opened ({type(exc).__name__}); check DATAOPS_ICEBERG_CATALOG_URI"
        ) from None


class IcebergSource(DataSource):
    kind = "iceberg"

    def __init__(self, name: str, snapshot: Any, label: str, table: Any) -> None:
        super().__init__(f"{SCHEME}{name}@{snapshot.snapshot_id}", label)
        self.name, self.snapshot, self.table = name, snapshot, table

    @property
    def source_format(self) -> str:
        return "iceberg"

    def pin(self) -> dict[str, Any]:
        return {"kind": self.kind, "table": self.name, "snapshot_id": self.snapshot.snapshot_id}

    def records(self, limits: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        from dataops_platform.governance.datasets import arrow_records

        summary = self.snapshot.summary
        total = None
        if summary is not None and (count := summary.additional_properties.get("total-records")) is not None:
            total = int(count)
        try:
            reader = self.table.scan(snapshot_id=self.snapshot.snapshot_id).to_arrow_batch_reader()
        except Exception as exc:  # noqa: BLE001 - data files gone
            raise _refuse(self.label, f"snapshot {self.snapshot.snapshot_id} cannot be read ({type(exc).__name__})") from None
        yield from arrow_records(iter(reader), reader.schema, self.label, limits, total)


def open_iceberg(text: str, settings: Any, label: str | None = None) -> IcebergSource:
    label = label or text
    body = text[len(SCHEME) :]
    name, _, wanted = body.partition("@")
    if "." not in name:
        raise _refuse(label, "name the table as iceberg:NAMESPACE.TABLE[@SNAPSHOT_ID]")
    try:
        table = catalog(settings, label).load_table(name)
    except InvalidInput:
        raise
    except Exception as exc:  # noqa: BLE001 - NoSuchTableError, NoSuchNamespaceError
        raise _refuse(label, f"no such Iceberg table in the catalog ({type(exc).__name__}); check NAMESPACE.TABLE") from None
    if wanted:
        if not wanted.isdigit():
            raise _refuse(label, f"snapshot id {wanted!r} is not a number")
        snapshot = table.snapshot_by_id(int(wanted))
        if snapshot is None:
            known = ", ".join(str(s.snapshot_id) for s in table.snapshots()[-5:]) or "none"
            raise _refuse(
                label, f"snapshot {wanted} does not exist (latest snapshots: {known}); omit @SNAPSHOT_ID for the current one"
            )
    else:
        snapshot = table.current_snapshot()
        if snapshot is None:
            raise _refuse(label, "the table has no snapshot yet (no data); append data first")
    return IcebergSource(name, snapshot, label, table)
