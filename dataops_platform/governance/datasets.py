"""Reading dataset files and computing what a version records about its content (SPEC §3).

A version's identity is its content, not its file: records are brought to a canonical form
(nested keys sorted, scalars as text, blanks as null, JSON text in CSV cells parsed) and the
digest is sha256 over the sorted canonical lines. The same records therefore give the same
digest whether they arrive as JSONL, CSV or Parquet, in any key order.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataops_platform.errors import InvalidInput

REQUIRED_FIELDS = ("id", "source", "content_or_payload", "metadata", "quality_signals", "split_or_stage", "audit_trace")
FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}
LABEL_FIELD = "label"


@dataclass(frozen=True)
class DatasetProfile:
    """Everything registration learns from a file."""

    source_format: str
    records: list[dict[str, Any]]
    canonical_lines: list[str]
    digest: str
    row_count: int
    schema_fields: list[str]
    quality_signals: dict[str, Any]

    @property
    def canonical_bytes(self) -> bytes:
        return ("\n".join(self.canonical_lines) + "\n").encode()


def _canonical(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ndarray":
        return [_canonical(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if text == "":
        return None
    if text[:1] in "{[":
        try:
            return _canonical(json.loads(text))
        except ValueError:
            return text
    return text


def canonical_record(record: dict[str, Any]) -> str:
    return json.dumps(_canonical(record), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _read_jsonl(text: str, path: Path) -> list[dict[str, Any]]:
    records = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise InvalidInput(
                f"{path}: line {lineno} is not JSON ({exc.msg}); fix or remove it", field=f"line {lineno}", value=line[:80]
            ) from None
        if not isinstance(record, dict):
            raise InvalidInput(f"{path}: line {lineno} is not a JSON object", field=f"line {lineno}", value=line[:80])
        records.append(record)
    return records


def _read_csv(text: str) -> list[dict[str, Any]]:
    return [dict(row) for row in csv.DictReader(io.StringIO(text))]


def _read_parquet(path: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq  # lazy: pyarrow is heavy and only parquet needs it

    try:
        return pq.read_table(path).to_pylist()
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for a bad file
        raise InvalidInput(f"{path}: not a readable Parquet file ({exc})", field="DATAFILE", value=str(path)) from None


def read_records(path: Path) -> tuple[str, list[dict[str, Any]]]:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InvalidInput(
            f"{path}: unknown data format {path.suffix or '(no suffix)'!r}; use one of {', '.join(sorted(FORMATS))}",
            field="DATAFILE",
            value=str(path),
        )
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file", field="DATAFILE", value=str(path))
    if fmt == "parquet":
        records = _read_parquet(path)
    else:
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"{path}: not UTF-8 text (bad byte at offset {exc.start}); re-encode the file as UTF-8",
                field="DATAFILE",
                value=str(path),
            ) from None
        records = _read_jsonl(text, path) if fmt == "jsonl" else _read_csv(text)
    if not records:
        raise InvalidInput(f"{path}: the file holds no records", field="DATAFILE", value=str(path))
    return fmt, records


def quality_signals(canonical: list[dict[str, Any]]) -> dict[str, Any]:
    """Duplicate-id rate, null rate per required field, split and (when present) label distribution."""
    n = len(canonical)
    ids = Counter(r.get("id") for r in canonical)
    duplicates = sum(count - 1 for count in ids.values() if count > 1)
    nulls = {f: round(sum(1 for r in canonical if r.get(f) in (None, {}, [])) / n, 6) for f in REQUIRED_FIELDS}
    splits = Counter(str(r.get("split_or_stage")) for r in canonical)
    signals: dict[str, Any] = {
        "duplicate_id_rate": round(duplicates / n, 6),
        "duplicate_ids": sorted(str(i) for i, c in ids.items() if c > 1)[:20],
        "null_rate": nulls,
        "split_distribution": dict(sorted(splits.items())),
    }
    if any(LABEL_FIELD in r for r in canonical):
        labels = Counter(str(r.get(LABEL_FIELD)) for r in canonical)
        signals["label_distribution"] = dict(sorted(labels.items()))
    return signals


def profile_file(path: Path) -> DatasetProfile:
    """Read a data file and compute digest, row count, schema and quality signals; raise InvalidInput on bad data."""
    fmt, records = read_records(path)
    fields = sorted({key for record in records for key in record})
    missing = [f for f in REQUIRED_FIELDS if f not in fields]
    if missing:
        raise InvalidInput(
            f"{path}: required field(s) {', '.join(missing)} missing; every record needs {', '.join(REQUIRED_FIELDS)}",
            field=missing[0],
            value=None,
        )
    canonical = [_canonical(r) for r in records]
    lines = sorted(json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False) for r in canonical)
    digest = hashlib.sha256(("\n".join(lines) + "\n").encode()).hexdigest()
    return DatasetProfile(fmt, records, lines, digest, len(records), fields, quality_signals(canonical))


def store_content(profile: DatasetProfile, data_dir: Path) -> str:
    """Write the canonical records to content-addressed storage (read-only); returns the relative location."""
    relative = Path(profile.digest[:2]) / f"{profile.digest}.jsonl"
    target = data_dir / relative
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(profile.canonical_bytes)
        os.chmod(tmp, 0o444)
        os.replace(tmp, target)  # atomic: a crash never leaves a half-written version
    return relative.as_posix()
