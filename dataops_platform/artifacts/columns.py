"""Projections of the JSONL artifacts: the fields their readers use, read by pyarrow's JSON reader.

Rule 11 asks a few fields of every audit record; parsing the audit log into Python dicts to answer
that was the largest cost and the largest memory of a run at a million objects (1.1 M records:
1.6 GB of dicts). pyarrow's reader parses the same text in C++ on every core and keeps only the
fields asked for, as columns. `PROJECTED` names the one field set read of each projected artifact
(the audit log, the dataset versions, the alerts), `PROJECTED_LISTS` that of the lineage graph's
lists; every reader (rules, metrics, report) shares one read per run through `files.PARSED`.

A projection is the records' exact view or it is not taken (`read` returns None, and the caller
reads the parsed records instead, which judge the file as before):
- only of a file the platform wrote, or that its refresh state vouches for, still of that file
  identity (`PARSED.owned`): every record of such a file has every field, so a null in a column
  is a null in the record, never a missing key;
- only when the whole file is valid UTF-8 and each line one `{...}` (`_object_lines`), and pyarrow
  reads it with the declared types (a value of another type, a lone surrogate, a duplicate key, a
  number too large: arrow refuses them, Python's json would not), one row for every line, each
  with its id, the file of the same identity after the read.
A violation found on projections is judged again on the parsed records (`rules.registry`), so a
verdict against the organisation never rests on this reader alone. docs/refresh.md has the rest.
"""

from __future__ import annotations

import codecs
import json
import operator
import os
import weakref
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from dataops_platform.artifacts.files import identity

# (name, kind): kind is "string", "int64", "bool", ("list", kind), ("struct", Fields), ("object", Fields): a
# struct the platform always writes with its first field set (a row where that is null is not taken: `{}`
# would read as every field null, and a reader asking whether the object is empty would be told no), or
# Fields (a record in a list)
Fields = tuple[tuple[str, Any], ...]

_BLOCK = 16 << 20  # bytes per parse block: large records (a version's schema, a review) fit many to a block
_BATCH = 65_536  # rows turned into Python dicts at a time when a projection is walked


class _Rows(Sequence):
    """Rows `_start`..`_stop` of some records: indexed as a list is (int indexes only, negative from
    the end), sliced into a view of the same records (`_view`), one row read by `_row`."""

    _start: int
    _stop: int

    def __len__(self) -> int:
        return self._stop - self._start

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                return list(self)[index]
            return self._view(self._start + start, self._start + max(start, stop))
        index, n = operator.index(index), len(self)  # an int, as a list takes (2.0 is refused)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(index)
        return self._row(self._start + index)

    def _view(self, start: int, stop: int) -> Any:
        raise NotImplementedError

    def _row(self, at: int) -> Any:
        raise NotImplementedError


class Projection(_Rows):
    """The records of one JSONL file, each a dict of the projected fields only. `source` is the
    file identity it was read from, as a `PARSED` entry's signature (what rule 11's cursor binds to).
    `file` is that very file, held open (`_File`): `whole()` reads its records again, every field,
    even once the path names another file."""

    def __init__(
        self, table: Any, source: tuple[int, ...], file: _File | None = None, start: int = 0, stop: int | None = None
    ) -> None:
        self.table = table
        self.source = source
        self.file = file
        self._start = start
        self._stop = table.num_rows if stop is None else stop

    def _view(self, start: int, stop: int) -> Projection:
        return Projection(self.table, self.source, self.file, start, stop)

    def _row(self, at: int) -> dict[str, Any]:
        return self.table.slice(at, 1).to_pylist()[0]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        names = self.table.column_names
        for at in range(self._start, self._stop, _BATCH):
            batch = self.table.slice(at, min(_BATCH, self._stop - at))
            # Column by column, then zipped: a third faster than the table's own to_pylist().
            columns = [batch.column(name).to_pylist() for name in names]
            yield from (dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True))

    def column(self, name: str) -> list[Any]:
        return self.table.column(name).slice(self._start, len(self)).to_pylist()

    def rows_table(self) -> Any:
        """The projected rows as one pyarrow table (for pyarrow compute)."""
        return self.table.slice(self._start, len(self))

    def whole(self) -> Iterator[dict[str, Any]]:
        """These rows' records with every field, parsed line by line (`ParsedLines`) from the file the projection
        was read from and dropped as they go: what a reader of free-form fields (an experiment's
        metrics and params) walks once without holding a million dicts. Raises ValueError when the
        file is not the one read any more, or its lines are not the projection's rows."""
        if self.file is None:
            raise ValueError("this projection keeps no file to read its records from")
        lines = ParsedLines(self.file, self.source, self.file.spans(self.source, self.table.num_rows), ())
        return lines[self._start : self._stop].whole()


# Binary (Windows would translate "\r\n" in a descriptor's reads otherwise), not inherited by children.
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)


def _pread(fd: int, size: int, offset: int) -> bytes:
    """`size` bytes at `offset` of `fd` (fewer at its end); without os.pread (Windows), a seek and a
    read, which is safe here: a projection's descriptor is only read by the thread walking it."""
    if hasattr(os, "pread"):
        return os.pread(fd, size, offset)
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, size)


class _File:
    """A projected file held open by its descriptor, closed when no projection refers to it."""

    def __init__(self, fd: int, path: Path) -> None:
        self.fd, self.path = fd, path
        self._spans: Any = None
        weakref.finalize(self, os.close, fd)

    def spans(self, source: tuple[int, ...], rows: int) -> Any:
        """The (offset, length) of each of the `rows` lines of this file, a projection's (one object a
        line, no carriage return: `_object_lines`), found once; ValueError when they are not that."""
        if self._spans is None:
            spans = _line_spans(self.fd) if self.unchanged(source) else None
            if spans is None or len(spans) != 2 * rows:
                raise ValueError(f"{self.path} changed while it was read: materialise again")
            self._spans = spans
        return self._spans

    def unchanged(self, source: tuple[int, ...]) -> bool:
        """Whether the file still has the identity `source`; once another file was renamed over its
        path (no link left to it) only its change time may have moved, which the unlink moves."""
        st = os.fstat(self.fd)
        now = identity(st)
        return now == source or (st.st_nlink == 0 and now[:3] == source[:3])


class ParsedLines(_Rows):
    """The records of a JSONL file parsed by Python's json, as `files.read_artifact` parses them,
    but line by line each time they are walked, nothing held: what a rule's exact verdict on a
    violation it found on a projection reads (`Artifacts.parsed_once`), without a million dicts of
    every field in memory. Walked, a record is the dict of `fields` it has (a missing one stays
    missing; a line that is not an object is given as it is); `whole()` gives every field. Built by
    `parse_lines` only after every line parsed once; the file is held open and must keep its
    identity (ValueError otherwise)."""

    def __init__(self, file: _File, source: tuple[int, ...], spans: Any, fields: tuple[str, ...], start: int = 0, stop: int = -1):
        self.file, self.source, self._spans, self._fields = file, source, spans, fields
        self._start, self._stop = start, len(spans) // 2 if stop < 0 else stop

    def _view(self, start: int, stop: int) -> ParsedLines:
        return ParsedLines(self.file, self.source, self._spans, self._fields, start, stop)

    def _row(self, at: int) -> Any:
        return list(self._walk(at, at + 1, self._fields))[0]  # walked to its end: the file checked after, too

    def __iter__(self) -> Iterator[Any]:
        return self._walk(self._start, self._stop, self._fields)

    def whole(self) -> Iterator[Any]:
        return self._walk(self._start, self._stop, ())

    def _walk(self, start: int, stop: int, fields: tuple[str, ...]) -> Iterator[Any]:
        fd, spans, loads, path = self.file.fd, self._spans, json.loads, self.file.path
        if not self._unchanged():
            raise ValueError(f"{path} changed while it was read: materialise again")
        buffer, base = b"", 0  # the bytes read ahead from offset `base`: records are read in order, 4 MiB at a time
        for i in range(start, stop):
            at, size = spans[2 * i], spans[2 * i + 1]
            if at < base or at + size > base + len(buffer):
                try:
                    buffer, base = _pread(fd, max(size, 1 << 22), at), at
                except OSError as exc:  # as a file that changed: the reader cannot be judged on it
                    raise ValueError(f"{path} could not be read again ({exc}): materialise again") from None
            try:
                record = loads(buffer[at - base : at - base + size].decode())
            except (ValueError, RecursionError) as exc:  # a file known to parse only by its projection's guards
                raise ValueError(f"{path} line {i + 1} does not parse: {exc}") from None
            if fields and type(record) is dict:
                record = {k: record[k] for k in fields if k in record}
            yield record
        if not self._unchanged():
            raise ValueError(f"{path} changed while it was read: materialise again")

    def _unchanged(self) -> bool:
        try:
            return self.file.unchanged(self.source)
        except OSError:
            return False


def parse_lines(path: Path, fields: tuple[str, ...], verified: tuple[int, ...] | None = None) -> ParsedLines | None:
    """`ParsedLines` of the JSONL file at `path` once every line of it parses (as read_artifact
    would read it); None when one does not, or the file holds a carriage return (read_artifact's
    universal newlines would split a line there) or changes meanwhile: the caller parses it whole
    and says what is wrong. `verified`: the identity of the file as a projection read it whole
    (`PARSED.verified`: valid UTF-8, each line one object): its lines are found, not parsed twice."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError:
        return None
    file = _File(fd, path)
    try:
        source = identity(os.fstat(fd))
        if verified is not None:
            spans = _line_spans(fd) if source == verified else None
            return None if spans is None or not file.unchanged(source) else ParsedLines(file, source, spans, fields)
        spans, offset, rest, loads = array("q"), 0, b"", json.loads
        while chunk := _pread(fd, 1 << 22, offset):
            base = offset - len(rest)  # the file offset of the first line below
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            for raw in lines:
                if b"\r" in raw:
                    return None
                text = raw.decode()
                if text.strip():
                    loads(text)
                    spans.extend((base, len(raw)))
                base += len(raw) + 1
            offset += len(chunk)
        if rest:
            if b"\r" in rest:
                return None
            text = rest.decode()
            if text.strip():
                loads(text)
                spans.extend((offset - len(rest), len(rest)))
        if identity(os.fstat(fd)) != source:
            return None
    except (OSError, ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    return ParsedLines(file, source, spans, fields)


def _line_spans(fd: int) -> Any:
    """(offset, length) of every line of a file known to be one `{...}` a line, each ended by a
    newline, found by numpy; None when it holds a carriage return."""
    import numpy as np

    starts, ends, offset = [np.zeros(1, dtype=np.int64)], [], 0
    while chunk := _pread(fd, 1 << 22, offset):
        data = np.frombuffer(chunk, dtype=np.uint8)
        if bool((data == 13).any()):
            return None
        newlines = np.flatnonzero(data == 10).astype(np.int64) + offset
        ends.append(newlines)
        starts.append(newlines + 1)
        offset += len(chunk)
    end = np.concatenate(ends) if ends else np.zeros(0, dtype=np.int64)
    start = np.concatenate(starts)[: len(end)]
    return array("q", np.column_stack((start, end - start)).astype(np.int64).ravel().tobytes())


def rows_where(records: Any, field: str, values: set[str]) -> Any:
    """The records whose `field` is one of `values`, in their order: of a projection, filtered by
    pyarrow before any row becomes a dict (a projection of the kept rows, which keeps no file)."""
    if not isinstance(records, Projection):
        return [r for r in records if r[field] in values]
    import pyarrow as pa
    import pyarrow.compute as pc

    table = records.rows_table()
    wanted = sorted(v for v in values if isinstance(v, str))  # nothing else equals a string column's value
    kept = table.filter(pc.is_in(table.column(field), value_set=pa.array(wanted, pa.string())))
    return Projection(kept, records.source)


def whole_records(records: Any) -> Any:
    """Every field of every record: a projection's file read again line by line (`Projection.whole`,
    `ParsedLines.whole`), or the parsed records themselves."""
    return records.whole() if isinstance(records, (Projection, ParsedLines)) else records


def only(records: Any, *names: str) -> Any:
    """The records with fields `names` at least: of a projection, a view of those columns only (a
    row read from it is a dict of them: a reader of five fields of a million records does not turn
    the others into Python objects); parsed records as they are."""
    if not isinstance(records, Projection):
        return records
    return Projection(records.table.select(list(names)), records.source, records.file, records._start, records._stop)


def record_at(records: Any, index: int) -> Any:
    """Every field of record `index` (negative from the end) of a projection or of parsed records."""
    if not isinstance(records, (Projection, ParsedLines)):
        return records[index]
    at, n = operator.index(index), len(records)  # an int, as a list takes (2.0 is refused)
    at += n if at < 0 else 0
    if not 0 <= at < n:
        raise IndexError(index)
    return next(iter(whole_records(records[at : at + 1])))


def column(records: Any, name: str) -> list[Any]:
    """Field `name` of every record: of a projection's column, or of parsed records (a record
    without it raises KeyError, as a rule reading it would)."""
    if isinstance(records, Projection):
        return records.column(name)
    return [r[name] for r in records]


def _strings(*names: str) -> Fields:
    return tuple((name, "string") for name in names)


_EXCEPTION = _strings(
    "exception_id", "project_id", "rule", "status", "approved_at", "effective_from", "expires_at", "effective_status"
)  # fmt: skip
_PARENT_DIFF: Fields = (
    ("rows_added", "int64"), ("rows_removed", "int64"), ("rows_changed", "int64"),
    ("columns_added", ("list", "string")), ("columns_removed", ("list", "string")), ("columns_type_changed", ("list", "string")),
)  # fmt: skip
# The artifacts read as projections, and the one set of fields of each that the rules, the metrics
# and the report read (one read serves them all): a reader of a projected artifact reads only
# these. pyarrow cannot hold an object of arbitrary keys, nor say whether one is empty: the few
# readers of an experiment's metrics, deltas and params walk `whole_records` once (nothing held),
# and an artifact whose rules read free-form values (a review's text) is not projected.
PROJECTED: dict[str, Fields] = {
    # What rule 11's audited-object test and the metrics ask of every record. The hash chain's walk
    # reads the records themselves (`whole_records`, `record_at`), and on a refresh only those past
    # its cursor: the chain's other fields (two hashes and the details, most of the bytes) are not
    # held as columns for the run (330 MB at a million objects).
    "audit_log": (("seq", "int64"), *_strings("action", "object_ref", "outcome")),
    "dataset_versions": (
        *_strings("version_id", "project_id", "status", "parent_version", "released_at", "created_at", "created_by"),
        *_strings("content_digest", "data_location"),
        ("is_current_release", "bool"), ("release_seq", "int64"),
        ("exceptions", ("list", _EXCEPTION)), ("parent_diff", ("struct", _PARENT_DIFF)),
    ),
    "alerts": _strings(
        "alert_id", "project_id", "severity", "status", "related_object", "opened_at", "acknowledged_at", "resolved_at"
    ),
    "experiment_runs": (
        *_strings("experiment_id", "project_id", "dataset_version", "status", "regression_kind", "recorded_at"),
        *_strings("mlflow_run_id", "baseline_ref"),
        ("mlflow_run", ("object", _strings("run_id", "status", "experiment_id", "lifecycle_stage"))),
    ),
}  # fmt: skip


# A JSON artifact made of lists (`files.write_lists`): each list projected from the file of its items.
PROJECTED_LISTS: dict[str, dict[str, Fields]] = {
    "lineage_graph": {
        "edges": _strings("source", "target", "type", "project_id", "created_at"),
        "nodes": _strings("ref", "kind", "project_id"),
    },
}


def projected(a: Any, name: str) -> Any:
    """The records of artifact `name` of `a`: its projection (`PROJECTED`; for a JSON artifact of
    lists, {list: projection}, `PROJECTED_LISTS`) when `a` offers one (an `Artifacts` root, or a
    view of one), else the parsed value. Raises KeyError as `a[name]`."""
    getter = getattr(a, "projection", None)
    return getter(name) if getter is not None else a[name]


def _arrow_type(kind: Any) -> Any:
    import pyarrow as pa

    if isinstance(kind, tuple) and kind[0] == "list":
        return pa.list_(_arrow_type(kind[1]))
    if isinstance(kind, tuple) and kind[0] in ("struct", "object"):
        return pa.struct([pa.field(name, _arrow_type(k)) for name, k in kind[1]])
    if isinstance(kind, tuple):  # a list of records
        return pa.struct([pa.field(name, _arrow_type(k)) for name, k in kind])
    return {"string": pa.string(), "int64": pa.int64(), "bool": pa.bool_()}[kind]


def read(path: Path, fields: Fields, expected: tuple[int, ...]) -> Projection | None:
    """The projection of `fields` of the JSONL file at `path`, which must have the file identity
    `expected` before and after; None when it cannot be the exact view. The first field is the
    records' id: a row without one is not a record of the platform's."""
    import pyarrow as pa
    import pyarrow.json as pj

    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError:
        return None
    file = _File(fd, path)  # the projection keeps it: `Projection.whole` reads the very file it was read from
    try:
        if identity(os.stat(path)) != expected or identity(os.fstat(fd)) != expected:
            return None
        # Before pyarrow sees it: what pyarrow would read and Python's json refuses (a BOM, invalid
        # UTF-8 in a field not projected, a line that is not one object: `null` even crashes it).
        lines = _object_lines(path)
        if lines is None:
            return None
        table = pj.read_json(
            str(path),
            read_options=pj.ReadOptions(block_size=_BLOCK),
            parse_options=pj.ParseOptions(
                explicit_schema=pa.schema([pa.field(name, _arrow_type(kind)) for name, kind in fields]),
                unexpected_field_behavior="ignore",
                newlines_in_values=False,
            ),
        )
        table.validate(full=True)  # strings are valid UTF-8
        if table.num_rows != lines or table.column(0).null_count or _empty_objects(table, fields):
            return None
        if identity(os.stat(path)) != expected:
            return None
    except (OSError, ValueError, pa.ArrowException):
        return None
    return Projection(table, expected, file)


def _empty_objects(table: Any, fields: Fields) -> bool:
    """Whether an "object" field of some row is present without its first field."""
    import pyarrow.compute as pc

    for name, kind in fields:
        if isinstance(kind, tuple) and kind[0] == "object":
            column = table.column(name)
            if pc.any(pc.and_(pc.is_valid(column), pc.is_null(pc.struct_field(column, [0])))).as_py():
                return True
    return False


def _object_lines(path: Path) -> int | None:
    """The number of lines when the file is valid UTF-8 and every line is `{...}` ended by a
    newline (a raw newline only ever ends a line: json escapes it in strings), else None."""
    import numpy as np

    decoder = codecs.getincrementaldecoder("utf-8")()
    lines, previous, expect_open = 0, b"", True  # the file's first byte, and each after a newline, opens a record
    try:
        with path.open("rb") as f:
            while chunk := f.read(1 << 22):
                decoder.decode(chunk)
                data = np.frombuffer(chunk, dtype=np.uint8)
                if bool((data == 13).any()):  # read_artifact's universal newlines would split a line at it
                    return None
                ends = np.flatnonzero(data == 10)
                if expect_open and data[0] != 123:  # "{"
                    return None
                if len(ends):
                    inner = ends[ends > 0]
                    if (ends[0] == 0 and previous != b"}") or bool((data[inner - 1] != 125).any()):  # "}\n"
                        return None
                    follow = ends[ends < len(data) - 1] + 1
                    if bool((data[follow] != 123).any()):  # "\n{"
                        return None
                lines += len(ends)
                expect_open, previous = data[-1] == 10, chunk[-1:]
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return None
    return lines if lines and previous == b"\n" else None
