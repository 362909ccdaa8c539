"""Fuzzing the data-file readers (issue 12): whatever a file holds, `profile_file` returns a
profile or raises InvalidInput, never anything else, within a deadline and under 200 MB.

Python allocations are measured with tracemalloc per example; Arrow allocates outside Python's
allocator, so its pool's high-water mark is checked too.
"""

from __future__ import annotations

import json
import tempfile
import tracemalloc
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dataops_platform.demo.sample_data import sample_records
from dataops_platform.errors import InvalidInput
from dataops_platform.governance.datasets import REQUIRED_FIELDS, DatasetProfile, ReadLimits, profile_file

MEMORY_LIMIT = 200 * 1024 * 1024
LIMITS = ReadLimits(max_rows=10_000, max_bytes=20 * 1024 * 1024)
FUZZ = settings(max_examples=120, deadline=3000, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Fragments that have broken a reader before, mixed with ordinary JSON and CSV tokens.
HOSTILE = [
    "9" * 5000,
    "-" + "1" * 1200,
    "1e999",
    "-1e400",
    "NaN",
    "Infinity",
    "-Infinity",
    "[" * 2000,
    "]" * 2000,
    "{" * 40,
    '"\\ud800"',
    '"\\udfff"',
    '"\\u0000"',
    '"a\\ud83d\\ude00b"',
    "\x00",
    "\ud800",
    "\u2028",
    "\r",
    "\r\n",
    "\ufeff",
    '"' + "x" * 140_000 + '"',
]
JSON_TOKENS = ["{", "}", "[", "]", ":", ",", " ", "\n", '"id"', '"source"', '"x"', "null", "true", "0", "-1.5", '"[1]"', '"{}"']
CSV_TOKENS = [",", '"', '""', "\n", "\r\n", "id", "source", "x", "{", "[", "]", "}", "1", ""]


def _required_record(extra: dict) -> dict:
    return sample_records(1, seed=1)[0] | extra


def _check(name: str, content: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(content)
        _profile_bounded(path)


def _profile_bounded(path: Path) -> None:
    tracemalloc.start()
    try:
        result = profile_file(path, limits=LIMITS)
    except InvalidInput as refused:
        event(f"refused ({type(refused).__name__})")
        assert refused.message, "a refusal must say why"
        refused.message.encode("utf-8")  # storable: the audit log keeps it
        json.dumps(refused.facts, default=str).encode("utf-8")
    else:
        event("profiled")
        assert isinstance(result, DatasetProfile)
        assert result.row_count >= 1
        result.canonical_bytes  # noqa: B018 - must encode: no surrogate reaches the stored content
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < MEMORY_LIMIT, f"{path.name}: Python peak {peak / 2**20:.0f} MB"
    assert pa.default_memory_pool().max_memory() < MEMORY_LIMIT


json_text = st.lists(st.sampled_from(JSON_TOKENS + HOSTILE), max_size=40).map("".join)
csv_text = st.lists(st.sampled_from(CSV_TOKENS + HOSTILE), max_size=60).map("".join)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | st.sampled_from(HOSTILE),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=30,
)


@FUZZ
@given(content=st.binary(max_size=4096), suffix=st.sampled_from([".jsonl", ".csv", ".parquet"]))
def test_random_bytes(content: bytes, suffix: str) -> None:
    _check(f"random{suffix}", content)


@FUZZ
@given(lines=st.lists(json_text, min_size=1, max_size=6))
def test_random_json_ish_lines(lines: list[str]) -> None:
    _check("lines.jsonl", "\n".join(lines).encode("utf-8", "surrogatepass"))


@FUZZ
@given(values=st.lists(st.dictionaries(st.sampled_from([*REQUIRED_FIELDS, "label", "x"]), json_values, max_size=9), max_size=5))
def test_random_records_as_jsonl(values: list[dict]) -> None:
    """Records with the required fields (so some reach a full profile) holding anything JSON can."""
    lines = [json.dumps(_required_record(v), allow_nan=True) for v in values]
    _check("records.jsonl", "\n".join(lines).encode("utf-8", "surrogatepass"))


@FUZZ
@given(header=st.sampled_from([",".join(REQUIRED_FIELDS), "id,source", ""]), body=csv_text)
def test_random_csv_text(header: str, body: str) -> None:
    _check("table.csv", (header + "\n" + body).encode("utf-8", "surrogatepass"))


@FUZZ
@given(column=json_values, ids=st.sampled_from([["a", "b"], [1, 2], [{"k": 1}, {"k": 2}], [[1], [2]], [None, None]]))
def test_random_parquet_tables(column: object, ids: list) -> None:
    rows = [_required_record({"id": ident, "x": column}) for ident in ids]
    try:
        table = pa.Table.from_pylist(rows)
    except (pa.ArrowException, ValueError, TypeError, OverflowError):
        return  # not representable in Arrow: no such Parquet file can exist
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "table.parquet"
        try:
            pq.write_table(table, path)
        except (pa.ArrowException, ValueError, TypeError):
            return
        _profile_bounded(path)


@FUZZ
@given(flip=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8))
def test_corrupted_parquet(flip: list[tuple[int, int]]) -> None:
    """A valid Parquet file with a few bytes changed (footer and pages alike)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "flipped.parquet"
        pq.write_table(pa.Table.from_pylist(sample_records(20, seed=3)), path)
        raw = bytearray(path.read_bytes())
        for offset, byte in flip:
            raw[offset % len(raw)] = byte
        path.write_bytes(bytes(raw))
        _profile_bounded(path)
