"""The one interface every data source implements (the model: Dagster's storage base classes)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dataops_platform.governance.datasets import ReadLimits


class DataSource(ABC):
    """A dataset where it lives.

    Guarantees of every backend: `members()` lists the data files (or table fragments) in a
    stable order and `records()` yields `(where, record)` for each record, raw as the format
    gives it, refusing anything hostile with `InvalidInput` (`TooLarge` over a limit) that names
    the source and the fix; `pin()` is what identifies these exact bytes without reading them all
    (sizes and modification times, ETags and object versions, table versions, snapshot ids);
    `copy_original()` keeps the original bytes, never a re-serialisation.
    """

    kind: str = "abstract"

    def __init__(self, uri: str, label: str) -> None:
        self.uri = uri  # what the version records (absolute, reproducible)
        self.label = label  # what messages call it (as the caller typed it)

    @property
    @abstractmethod
    def source_format(self) -> str:
        """jsonl, csv or parquet (delta / iceberg for tables)."""

    @abstractmethod
    def pin(self) -> dict[str, Any]:
        """The immutable identifiers of the data under the source, without its content digest."""

    @abstractmethod
    def records(self, limits: ReadLimits) -> Iterator[tuple[str, dict[str, Any]]]:
        """(where, record) for every record of every member, `where` naming member and line/row."""

    def copy_original(self, data_dir: Path) -> str | None:
        """Keep a content-addressed copy of the original bytes under `data_dir`; the relative
        location, or None when the backend cannot copy (tables)."""
        return None


def open_source(
    text: str, *, root: Path | None = None, label: str | None = None, settings: Any = None, pin: dict[str, Any] | None = None
) -> DataSource:
    """The backend for `text`, chosen by its scheme (the model: MLflow's store registry):
    `s3://` an S3-compatible store; anything else a local path, file:// URI, directory or glob.
    InvalidInput naming the source and the fix otherwise. `pin` (a registered version's) asks
    backends that keep history for the pinned data."""
    if isinstance(text, str) and text.startswith("s3://"):
        from dataops_platform.sources.s3 import open_s3

        return open_s3(text, settings, label=label, pin=pin)
    if isinstance(text, str) and text.startswith("iceberg:"):
        from dataops_platform.sources.iceberg import open_iceberg

        return open_iceberg(text, settings, label=label)
    if isinstance(text, str) and (text.startswith("delta:") or _is_delta_dir(text, root)):
        from dataops_platform.sources.delta import open_delta

        if root is not None:  # REST: tables inside the inbox only
            from dataops_platform.governance.datasets import resolve_data_path

            body = text[len("delta:") :] if text.startswith("delta:") else text
            location, _, version = body.partition("@")
            resolved = resolve_data_path(location, root, allow_directory=True)
            return open_delta(f"delta:{resolved}" + (f"@{version}" if version else ""), label=label)
        return open_delta(text, label=label)
    from dataops_platform.sources.local import open_local

    return open_local(text, root=root, label=label)


def _is_delta_dir(text: str, root: Path | None) -> bool:
    try:
        base = Path(text) if root is None else root / text
        return (base / "_delta_log").is_dir()
    except (OSError, ValueError):
        return False


def reopen_source(uri: str, settings: Any, pin: dict[str, Any] | None = None) -> DataSource:
    """The source a version recorded, opened again: as it is now (verify), or with `pin` at the
    pinned data where the backend keeps history (diff, training)."""
    from dataops_platform.sources.local import INBOX

    if uri.startswith(INBOX):
        return open_source(uri[len(INBOX) :], root=settings.inbox_dir, label=f"{settings.inbox_dir.name}/{uri[len(INBOX) :]}")
    return open_source(uri, label=uri, settings=settings, pin=pin)
