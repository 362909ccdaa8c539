"""The vectorised canonical form (Arrow kernels over whole batches) is the row path's, byte for byte.

The row path (`canonical_record`, `_accepted`, `RowHasher.add`) is the specification of
`rowset-sha256/v1`; `canonical_lines` must give the very same lines, ids and quality signals for
any batch it takes, and decline (None) any batch it cannot judge exactly. Hypothesis draws batches
at the edges where Arrow's text and Python's differ (float notation, integral floats past 2**63,
-0.0, subnormals, text with quotes, backslashes, control characters, JSON-looking text).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dataops_platform.errors import InvalidInput
from dataops_platform.governance.datasets import (
    BatchLines,
    ReadLimits,
    RowHasher,
    _accepted,
    _csv_layout,
    accepted_records,
    canonical_lines,
    canonical_record,
    canonical_stream,
)
from dataops_platform.sources.local import LocalSource

LIMITS = ReadLimits(max_rows=1000, max_bytes=10**6)

EDGE_FLOATS = [
    0.0, -0.0, 1.0, -2.0, 17.99, 0.1 + 0.2, 1e-4, 9.999e-5, 1e-5, 1.5e-7, 5e-324, 2.2250738585072014e-308,
    1e9 - 0.5, 1e9 + 0.5, 1e10 - 0.5, 123456789012.5, 999999999999999.9, 1e15 + 0.5, 1e16, 1e21, 1e22,
    2.0**53, 2.0**53 + 2, 2.0**62, 2.0**62 - 1024, 2.0**63, -(2.0**63), 2.0**64, 1.7976931348623157e308,
    -1.7976931348623157e308, math.inf, -math.inf, math.nan,
]  # fmt: skip
JSONISH = [
    '{"a": 1}', '[1, 2.50, "x"]', "{", "[1", '{"b": {"c": null}}', "[]", "{}", '{"a": NaN}', "[1e999]",
    '{"z": 1, "a": [true, {"q": "\\n"}]}', "[" * 40 + "]" * 40, '{"k": "\\u0000"}', "{ }", "[-0.0, 1.0, 1e400]", "{x]", "[y}",
]  # fmt: skip
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",), max_codepoint=0x2FF), max_size=12)
floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(EDGE_FLOATS))
texts = st.one_of(TEXT, st.sampled_from(JSONISH + ["", '"', "\\", "a\tb", "\x01\x1f", "é\u2028", "null"]))


def _column(values: list, kind: pa.DataType) -> pa.Array:
    return pa.array(values, kind)


@st.composite
def batches(draw: st.DrawFn) -> pa.RecordBatch:
    n = draw(st.integers(1, 12))

    def col(strategy: st.SearchStrategy) -> list:
        return draw(st.lists(st.one_of(st.none(), strategy), min_size=n, max_size=n))

    columns = {
        "id": _column(col(TEXT), pa.string())
        if draw(st.booleans())
        else _column(col(st.integers(-(2**63), 2**63 - 1)), pa.int64()),
        "score": _column(col(floats), pa.float64()),
        "ratio": _column(col(floats), pa.float32()) if draw(st.booleans()) else pa.nulls(n),
        "text": _column(col(texts), pa.string()),
        "count": _column(col(st.integers(-(2**63), 2**63 - 1)), pa.int64()),
        "flag": _column(col(st.booleans()), pa.bool_()),
        "split_or_stage": _column(col(st.sampled_from(["train", "test", "", "{}", "[1]"])), pa.string()),
        "label": _column(col(st.sampled_from([0.5, 1.0, -0.0, 1e-7])), pa.float64()),
    }
    nulls = pa.array(draw(st.lists(st.booleans(), min_size=n, max_size=n))) if draw(st.booleans()) else None
    columns["metadata"] = pa.StructArray.from_arrays([columns["score"], columns["text"]], ["mean radius", "note é"], mask=nulls)
    names = sorted(columns, key=lambda k: draw(st.integers(0, 100)))  # any column order
    return pa.RecordBatch.from_arrays([columns[k] for k in names], names)


def _row_hasher(batch: pa.RecordBatch) -> RowHasher:
    hasher = RowHasher()
    for record in batch.to_pylist():
        hasher.add(record, _accepted(record, "row 1", "t"))
    return hasher


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=batches())
def test_vectorised_lines_and_signals_equal_the_row_path(batch: pa.RecordBatch) -> None:
    vectorised = canonical_lines(batch, signals=True)
    try:
        expected = _row_hasher(batch)
    except InvalidInput:
        event("refused by the row path")
        assert vectorised is None, "the vectorised path took a batch the row path refuses"
        return
    if vectorised is None:
        event("declined: row path")
        return
    event("vectorised")
    assert vectorised.lines.to_pylist() == [canonical_record(r) for r in batch.to_pylist()]
    got = RowHasher()
    got.add_lines(vectorised)
    assert got.row_hashes == expected.row_hashes
    assert got.id_hashes == expected.id_hashes
    assert got.fields == expected.fields
    assert {k: v for k, v in got.nulls.items() if v} == {k: v for k, v in expected.nulls.items() if v}
    assert got.splits == expected.splits and got.labels == expected.labels and got.has_label == expected.has_label
    assert got.samples == expected.samples


@pytest.mark.parametrize("value", EDGE_FLOATS)
def test_each_edge_float_gives_the_row_paths_text(value: float) -> None:
    batch = pa.RecordBatch.from_pydict({"id": ["a"], "x": pa.array([value], pa.float64())})
    vectorised = canonical_lines(batch)
    assert vectorised is not None  # floats never need the row path
    assert vectorised.lines.to_pylist() == [canonical_record({"id": "a", "x": value})]


def test_realistic_float_columns_take_the_vectorised_path() -> None:
    rows = [{"id": f"r{i}", "mean radius": 17.99 + i / 7, "area": float(i), "label": "normal"} for i in range(1000)]
    batch = pa.RecordBatch.from_pylist(rows)
    vectorised = canonical_lines(batch, signals=True)
    assert vectorised is not None
    assert vectorised.lines.to_pylist() == [canonical_record(r) for r in rows]


def test_nul_in_text_declines_so_the_row_path_refuses_it() -> None:
    batch = pa.RecordBatch.from_pydict({"id": ["a"], "text": ["x\x00y"]})
    assert canonical_lines(batch) is None
    with pytest.raises(InvalidInput, match="NUL"):
        _row_hasher(batch)


# -- CSV: Arrow's reader over plain RFC 4180 files, the csv module otherwise -----------------------
CELLS = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), max_codepoint=0x17F), max_size=8),
    st.sampled_from(JSONISH + ["", ",", '"', '""', "a\nb", "a\r\nb", " x ", "17.990", "NaN", "\r", "\ufeff"]),
)
CSV_HEADER = ["id", "source", "content_or_payload", "metadata", "quality_signals", "split_or_stage", "audit_trace"]


def _row_path(path: Path) -> tuple[str, object]:
    """What the csv module's row path makes of a file: ("ok", digest, signals) or ("refused", message)."""
    source = LocalSource(path.as_uri(), "t.csv", [(path, "t.csv")])
    hasher = RowHasher()
    try:
        for record, canonical in accepted_records(source, LIMITS):  # not batch mode: row by row
            hasher.add(record, canonical)
    except InvalidInput as refused:
        return "refused", refused.message
    return "ok", (hasher.digest() if hasher.count else None, hasher.count, hasher.fields, dict(hasher.splits))


def _batch_path(path: Path) -> tuple[str, object]:
    source = LocalSource(path.as_uri(), "t.csv", [(path, "t.csv")])
    hasher = RowHasher()
    try:
        for item in canonical_stream(source, LIMITS, signals=True):
            if isinstance(item, BatchLines):
                hasher.add_lines(item)
            else:
                for record, canonical in item:
                    hasher.add(record, canonical)
    except InvalidInput as refused:
        return "refused", refused.message
    return "ok", (hasher.digest() if hasher.count else None, hasher.count, hasher.fields, dict(hasher.splits))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.lists(CELLS, min_size=7, max_size=7), min_size=1, max_size=8),
    crlf=st.booleans(),
    damage=st.one_of(st.none(), st.tuples(st.integers(0, 10**4), st.sampled_from(['"', ",", "\n", "\r", "x", "\x00", "\ufeff"]))),
)
def test_csv_read_by_arrow_equals_the_csv_module(tmp_path_factory: pytest.TempPathFactory, rows, crlf, damage) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n" if crlf else "\n").writerows([CSV_HEADER, *rows])
    text = buffer.getvalue()
    if damage is not None:  # a byte put anywhere: ragged rows, stray quotes, lone CRs, NUL, a BOM
        at = damage[0] % (len(text) + 1)
        text = text[:at] + damage[1] + text[at:]
    path = tmp_path_factory.mktemp("csv") / "t.csv"
    path.write_bytes(text.encode("utf-8"))
    layout = _csv_layout(path.open("rb"), LIMITS)
    event("arrow" if layout is not None else "csv module")
    assert _batch_path(path) == _row_path(path)


def test_a_plain_csv_file_is_read_by_arrow_and_names_lines_when_it_refuses(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    deep = "[" * 40 + "]" * 40
    body = "".join(f'r{i},s,"multi\nline",{{}},{{}},train,{{}}\n' for i in range(5))
    path.write_text(",".join(CSV_HEADER) + "\n" + body + f"r9,s,x,{deep},{{}},train,{{}}\n")
    assert _csv_layout(path.open("rb"), LIMITS) is not None
    status, message = _batch_path(path)
    assert status == "refused" and "line 12" in message and "nested more than" in message
    assert (status, message) == _row_path(path)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(st.dictionaries(st.sampled_from(["id", "split_or_stage", "label", "x"]), JSON_VALUES), max_size=12))
def test_rows_added_a_chunk_at_a_time_equal_rows_added_one_by_one(records: list[dict]) -> None:
    accepted = []
    for record in records:
        try:
            accepted.append((record, _accepted(record, "line 1", "t")))
        except InvalidInput:
            continue
    one, chunk = RowHasher(), RowHasher()
    for record, canonical in accepted:
        one.add(record, canonical)
    chunk.add_rows(accepted)
    assert (chunk.row_hashes, chunk.id_hashes, chunk.count) == (one.row_hashes, one.id_hashes, one.count)
    assert chunk.samples == one.samples
    assert (chunk.fields, chunk.splits, chunk.labels, chunk.has_label) == (one.fields, one.splits, one.labels, one.has_label)
    assert {k: v for k, v in chunk.nulls.items() if v} == {k: v for k, v in one.nulls.items() if v}
