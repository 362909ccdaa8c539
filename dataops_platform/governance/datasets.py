"""Reading dataset files and computing what a version records about its content (SPEC §3).

A version's identity is its content, not its file: records are brought to a canonical form
(nested keys sorted, scalars as text, blanks as null, JSON text in CSV cells parsed) and the
digest (`rowset-sha256/v1`, docs/datasets.md) is sha256 over the sorted sha256 of each canonical
line. The same records therefore give the same digest whether they arrive as JSONL, CSV, Parquet
or a table, in any row or key order. The row-by-row form (`canonical_record`) is the
specification; Arrow batches are canonicalised with Arrow kernels to the very same bytes.

Every file is hostile until read: whatever a file holds, reading it either gives a profile or
raises `InvalidInput` (`TooLarge` over a limit) naming the file, the line or row, the field and
the value, never another exception. The rules, the same for every reader:

- the file is opened without following it into a FIFO, a device or a directory (it must be a
  regular file, checked on the opened descriptor, so reading never blocks);
- at most `max_rows` records and `max_bytes` bytes of data (for Parquet: decompressed, checked
  from the footer before any data is read, then again on the decoded batches);
- text is UTF-8 without lone surrogates or NUL, in values and in field names
  (`dataops_platform.text`);
- JSON is RFC 8259 JSON: `NaN`, `Infinity` and `-Infinity` are refused in JSONL (write null);
  in a CSV cell they make the cell plain text, like any other text that is not JSON;
- numbers are at most `MAX_NUMBER_DIGITS` characters long and finite;
- records, and JSON text in cells, nest at most `MAX_NESTING` levels;
- `id` is a scalar: text, an integer or null, never an object, a list or a struct (nor a CSV
  cell holding JSON object or array text);
- a CSV row has exactly as many fields as the header, which names each column once.
"""

from __future__ import annotations

import contextvars
import csv
import errno
import hashlib
import json
import math
import os
import queue
import stat
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import IO, Any

from dataops_platform.errors import InvalidInput, TooLarge
from dataops_platform.text import find_bad_text, text_problem

REQUIRED_FIELDS = ("id", "source", "content_or_payload", "metadata", "quality_signals", "split_or_stage", "audit_trace")
FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}
LABEL_FIELD = "label"

# What one registration may cost. Today's readers hold every record as Python objects (about
# 2-3 KB per sample record, raw and canonical), so the defaults keep one registration near a
# few GB at worst; the streaming reader can afford more. A deployment sets
# DATAOPS_MAX_DATASET_ROWS / DATAOPS_MAX_DATASET_BYTES (Settings.max_dataset_rows / _bytes).
MAX_DATASET_ROWS = 1_000_000
MAX_DATASET_BYTES = 1024**3
MAX_NESTING = 32  # levels, the record itself being the first
MAX_NUMBER_DIGITS = 1000  # characters of one number literal (Python refuses int text over 4300 digits)
MAX_NAME_BYTES = 255  # one path component (NAME_MAX on Linux and macOS)
PARQUET_BATCH_ROWS = 16_384  # rows per Arrow batch: kernel calls stay cheap, a batch stays a few MB (and in cache)
SHOWN_CHARS = 80


@dataclass(frozen=True)
class ReadLimits:
    """Bounds on what reading one file may cost."""

    max_rows: int
    max_bytes: int

    @classmethod
    def default(cls) -> ReadLimits:
        return cls(MAX_DATASET_ROWS, MAX_DATASET_BYTES)

    @classmethod
    def from_settings(cls, settings: object) -> ReadLimits:
        """The deployment's limits (`settings.max_dataset_rows`, `settings.max_dataset_bytes`), else the defaults."""
        rows = getattr(settings, "max_dataset_rows", None)
        size = getattr(settings, "max_dataset_bytes", None)
        return cls(MAX_DATASET_ROWS if rows is None else int(rows), MAX_DATASET_BYTES if size is None else int(size))


def shown(value: Any) -> str:
    """A value as a message may quote it: repr (so surrogates, NUL and control characters stay
    escaped and the text is always storable), cut to a readable length."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


# -- paths -------------------------------------------------------------------------------------
def shown_path(path_text: str) -> str:
    """A path as a message may quote it: repr, its middle cut when long (the file name stays)."""
    text = repr(path_text)
    return text if len(text) <= 2 * SHOWN_CHARS else f"{text[: SHOWN_CHARS // 2]}...{text[-SHOWN_CHARS:]}"


def _os_problem(exc: BaseException) -> str:
    """What went wrong, without the absolute path an OSError's text carries."""
    if isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == errno.ELOOP:
        return "is a symlink loop (too many levels of symbolic links)"
    code = getattr(exc, "errno", None)
    if code == errno.ENOENT:
        return "does not exist (no such file)"
    if code == errno.ENAMETOOLONG:
        return "has a name too long for the file system"
    if code in (errno.EACCES, errno.EPERM):
        return "cannot be read (permission denied)"
    if code == errno.ENOTDIR:
        return "does not exist (a component of the path is not a directory)"
    return f"cannot be read ({os.strerror(code) if code else type(exc).__name__})"


def _kind_problem(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a directory; name one data file"
    if stat.S_ISFIFO(mode):
        return "is a FIFO (named pipe), not a regular file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a regular file"
    return "is a device, not a regular file"


def resolve_data_path(path_text: str, root: Path | None = None, *, allow_directory: bool = False) -> Path:
    """The regular file `path_text` names, with every link resolved; InvalidInput naming it otherwise.

    Without `root` the path is the caller's own (the CLI): relative to the working directory, and
    messages quote it as given. With `root` (the REST API's inbox) the path must be relative and
    stay inside `root`: absolute paths, `..` traversal and links leading out are refused, and
    messages call the file `<root's name>/<path_text>`, never showing where `root` is. Refused
    alike: invalid text, a component over 255 bytes, a symlink loop, a missing file, a directory,
    a FIFO, a socket or device, a file that cannot be read. Nothing is opened.
    """
    label = f"{root.name}/{path_text}" if root is not None and not PurePath(path_text).is_absolute() else path_text

    def refuse(problem: str) -> InvalidInput:
        return InvalidInput(f"data file {shown_path(label)} {problem}", field="DATAFILE", value=shown_path(label))

    if not isinstance(path_text, str) or not path_text:
        raise refuse("is empty; name a JSONL, CSV or Parquet file")
    if problem := text_problem(path_text):
        raise refuse(problem)
    for part in PurePath(path_text).parts:
        size = len(os.fsencode(part))
        if size > MAX_NAME_BYTES and part != "/":
            raise refuse(
                f"has a path component of {size} bytes ({shown(part)}), over the {MAX_NAME_BYTES}-byte limit of file names"
            )
    if root is None:
        candidate = Path(path_text)
    else:
        if PurePath(path_text).is_absolute():
            raise refuse(f"must be relative to the data inbox ({root.name}/)")
        # Lexically first, so whether a file outside the inbox exists is never revealed.
        if os.path.normpath(path_text).split(os.sep, 1)[0] == os.pardir:
            raise refuse(f"leaves the data inbox ({root.name}/)")
        candidate = root / path_text
    try:
        resolved = candidate.resolve()  # non-strict: a link out of the inbox is refused whether or not its target exists
        if root is not None and not resolved.is_relative_to(root.resolve()):
            raise refuse(f"leaves the data inbox ({root.name}/) through a symbolic link")
        info = os.stat(resolved)
    except InvalidInput:
        raise
    except (OSError, RuntimeError, ValueError) as exc:
        raise refuse(_os_problem(exc)) from None
    if allow_directory and stat.S_ISDIR(info.st_mode):
        problem = None
    elif problem := _kind_problem(info.st_mode):
        raise refuse(problem)
    if not os.access(resolved, os.R_OK):
        raise refuse("cannot be read (permission denied)")
    return resolved


def _open_regular(path: Path, label: str) -> IO[bytes]:
    """The file opened for reading, or InvalidInput: never blocks on a FIFO, never reads a directory."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except (OSError, ValueError) as exc:
        raise _file_error(label, _os_problem(exc)) from None
    try:
        mode = os.fstat(fd).st_mode
        problem = _kind_problem(mode)
    except OSError as exc:
        os.close(fd)
        raise _file_error(label, _os_problem(exc)) from None
    if problem:
        os.close(fd)
        raise _file_error(label, problem)
    return os.fdopen(fd, "rb")


def _file_error(label: str, problem: str) -> InvalidInput:
    return InvalidInput(f"{label}: {problem}", field="DATAFILE", value=shown(label))


# -- JSON under bounds ----------------------------------------------------------------------------
class _Unacceptable(Exception):
    """Well-formed but over a bound (nesting, number size, range): refused wherever it occurs."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path: list[str] = []

    def where(self) -> str:
        path = "".join(self.path).lstrip(".")
        return path if len(path) <= SHOWN_CHARS else path[: SHOWN_CHARS - 3] + "..."


class _NotJSON(ValueError):
    """A literal JSON does not have (NaN, Infinity)."""


def _json_int(text: str) -> int:
    if len(text) > MAX_NUMBER_DIGITS:
        raise _Unacceptable(f"holds a number of {len(text)} characters, over the limit of {MAX_NUMBER_DIGITS}")
    return int(text)


def _json_float(text: str) -> float:
    if len(text) > MAX_NUMBER_DIGITS:
        raise _Unacceptable(f"holds a number of {len(text)} characters, over the limit of {MAX_NUMBER_DIGITS}")
    value = float(text)
    if not math.isfinite(value):
        raise _Unacceptable(f"holds the number {shown(text)}, out of the range of a 64-bit float")
    return value


def _json_constant(name: str) -> Any:
    raise _NotJSON(f"{name} is not JSON; write null (or the value as text)")


_DECODER = json.JSONDecoder(parse_int=_json_int, parse_float=_json_float, parse_constant=_json_constant)


def _parse_json(text: str) -> Any:
    """Strict JSON under the number bounds. Raises ValueError (not JSON) or _Unacceptable."""
    try:
        return _DECODER.decode(text)
    except RecursionError:  # the C scanner's own guard, far above MAX_NESTING: report the bound
        raise _Unacceptable(f"is nested more than {MAX_NESTING} levels deep") from None


# -- canonical form -------------------------------------------------------------------------------
def _canonical(value: Any, depth: int = 1) -> Any:
    kind = type(value)
    if kind is str and value and value[0] not in "{[":  # the common cases first: plain text, integers
        return value
    if kind is int:
        return str(value)
    if value is None:
        return None
    if isinstance(value, dict):
        if depth > MAX_NESTING:
            raise _Unacceptable(f"is nested more than {MAX_NESTING} levels deep")
        out = {}
        for key, item in value.items():
            try:
                out[str(key)] = _canonical(item, depth + 1)
            except _Unacceptable as bad:
                bad.path.insert(0, f".{_segment(key)}")
                raise
        return out
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ndarray":
        if depth > MAX_NESTING:
            raise _Unacceptable(f"is nested more than {MAX_NESTING} levels deep")
        items = []
        for index, item in enumerate(value):
            try:
                items.append(_canonical(item, depth + 1))
            except _Unacceptable as bad:
                bad.path.insert(0, f"[{index}]")
                raise
        return items
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
            parsed = _parse_json(text)
        except ValueError:  # not JSON (NaN and Infinity included): the text itself
            return text
        return _canonical(parsed, depth)  # JSON text stands for its value, at the same level
    return text


# One encoder for every canonical line: json.dumps with these options would build a new one per call.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_record(record: dict[str, Any]) -> str:
    return _ENCODER.encode(_canonical(record))


def _accepted(record: dict[str, Any], where: str, label: str) -> dict[str, Any]:
    """The record's canonical form, or InvalidInput naming file, line, field and value."""
    raw_id = record.get("id")
    scalar_id = (
        raw_id is None
        or isinstance(raw_id, str)
        or (isinstance(raw_id, int) and not isinstance(raw_id, bool))
        or (isinstance(raw_id, float) and math.isnan(raw_id))  # Parquet's missing float: null
    )
    try:
        canonical = _canonical(record)
    except _Unacceptable as bad:
        field = bad.where() or "record"
        top = record.get(bad.path[0][1:]) if bad.path and bad.path[0].startswith(".") else None
        raise InvalidInput(
            f"{label}: {where}: field {field} {bad.problem}", field=f"{where}: {field}", value=shown(top)
        ) from None
    if not scalar_id or not isinstance(canonical.get("id"), (str, type(None))):
        kind = _kind(raw_id) if not scalar_id else f"text holding {_kind(canonical['id'])} in JSON"
        raise InvalidInput(
            f"{label}: {where}: id must be text or an integer, not {kind} {shown(raw_id)}",
            field=f"{where}: id",
            value=shown(raw_id),
        )
    if type(record) is _PlainJSON:
        return canonical  # its text can hold neither NUL nor a lone surrogate
    for key, value in canonical.items():
        if problem := text_problem(key):
            raise InvalidInput(
                f"{label}: {where}: field name {shown(key)} {problem}", field=f"{where}: field name", value=shown(key)
            )
        found = find_bad_text(value, key)
        if found is not None:
            path, problem = found
            raise InvalidInput(f"{label}: {where}: field {path} {problem}", field=f"{where}: {path}", value=None)
    return canonical


def _segment(key: Any) -> str:
    """A field name as a message may show it: as is when it is short, acceptable text."""
    text = str(key)
    return text if len(text) <= 40 and text_problem(text) is None and "." not in text else shown(key)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ndarray":
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float):
        return "a float"
    return f"a {type(value).__name__}"


# -- readers --------------------------------------------------------------------------------------
def _too_many_rows(label: str, limits: ReadLimits, seen: str) -> TooLarge:
    return TooLarge(
        f"{label}: {seen} rows, over the limit of {limits.max_rows:,} rows per version (max_dataset_rows); "
        "split the file, or raise the limit with DATAOPS_MAX_DATASET_ROWS",
        field="DATAFILE",
        value=shown(label),
        limit="max_dataset_rows",
        max_rows=limits.max_rows,
    )


def _too_many_bytes(label: str, limits: ReadLimits, seen: str) -> TooLarge:
    return TooLarge(
        f"{label}: {seen} bytes of data, over the limit of {limits.max_bytes:,} bytes per version (max_dataset_bytes); "
        "split the file, or raise the limit with DATAOPS_MAX_DATASET_BYTES",
        field="DATAFILE",
        value=shown(label),
        limit="max_dataset_bytes",
        max_bytes=limits.max_bytes,
    )


def _lines(fh: IO[bytes], label: str, limits: ReadLimits) -> Iterator[tuple[int, str]]:
    """(line number, text) of each physical line (ending kept), strictly UTF-8, within max_bytes."""
    offset = 0
    lineno = 0
    while True:
        raw = fh.readline(limits.max_bytes - offset + 1)
        if not raw:
            return
        lineno += 1
        if offset + len(raw) > limits.max_bytes:
            raise _too_many_bytes(label, limits, f"more than {limits.max_bytes:,}")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"{label}: not UTF-8 text (bad byte at offset {offset + exc.start}, line {lineno}); re-encode the file as UTF-8",
                field=f"line {lineno}",
                value=shown(raw[max(0, exc.start - 20) : exc.start + 20]),
            ) from None
        offset += len(raw)
        yield lineno, text


class _PlainJSON(dict):
    """A JSONL record whose line holds no \\u escape. The line is strict UTF-8 (no lone surrogate) and
    JSON refuses raw control characters in strings, so only an escape could bring NUL or a lone
    surrogate into its text (nested JSON text included): the text checks can be skipped."""


def _read_jsonl(fh: IO[bytes], label: str, limits: ReadLimits) -> Iterator[tuple[str, dict[str, Any]]]:
    count = 0
    for lineno, line in _lines(fh, label, limits):
        if not line.strip():
            continue
        try:
            record = _parse_json(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"{label}: line {lineno} is not JSON ({exc.msg} at column {exc.colno}); fix or remove it",
                field=f"line {lineno}",
                value=shown(line[:SHOWN_CHARS]),
            ) from None
        except _NotJSON as exc:
            raise InvalidInput(
                f"{label}: line {lineno}: {exc}", field=f"line {lineno}", value=shown(line[:SHOWN_CHARS])
            ) from None
        except _Unacceptable as bad:
            raise InvalidInput(
                f"{label}: line {lineno} {bad.problem}", field=f"line {lineno}", value=shown(line[:SHOWN_CHARS])
            ) from None
        if not isinstance(record, dict):
            raise InvalidInput(
                f"{label}: line {lineno} is not a JSON object", field=f"line {lineno}", value=shown(line[:SHOWN_CHARS])
            )
        count += 1
        if count > limits.max_rows:
            raise _too_many_rows(label, limits, f"more than {limits.max_rows:,}")
        yield f"line {lineno}", (_PlainJSON(record) if "\\u" not in line else record)


def _read_csv(fh: IO[bytes], label: str, limits: ReadLimits) -> Iterator[tuple[str, Any]]:
    """Records of a CSV file: as Arrow batches when the consumer takes batches and the file is plain
    RFC 4180 (`_csv_layout`), else row by row."""
    layout = _csv_layout(fh, limits) if _BATCH_MODE.get() and fh.seekable() else None
    if layout is None:
        yield from _read_csv_rows(fh, label, limits)
    else:
        yield from _read_csv_batches(fh, layout, label, limits)


def _read_csv_rows(fh: IO[bytes], label: str, limits: ReadLimits) -> Iterator[tuple[str, dict[str, Any]]]:
    lines = _lines(fh, label, limits)
    reader = csv.reader(text for _, text in lines)
    header: list[str] | None = None
    count = 0
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problem = str(exc)
            if "field larger than field limit" in problem:
                problem = (
                    f"a field is longer than the CSV reader's limit of {csv.field_size_limit():,} characters; "
                    "keep long values in JSONL or Parquet"
                )
            elif "new-line character seen in unquoted field" in problem:
                problem = "a carriage return (\\r) inside an unquoted field; quote the field or end lines with \\n"
            raise InvalidInput(f"{label}: line {start}: {problem}", field=f"line {start}", value=None) from None
        if not row:
            continue  # a blank line, as csv.DictReader skips it
        if header is None:
            duplicated = sorted(name for name, n in Counter(row).items() if n > 1)
            if duplicated:
                raise InvalidInput(
                    f"{label}: line {start}: the header names column {shown(duplicated[0])} more than once",
                    field="header",
                    value=shown(duplicated[0]),
                )
            header = row
            continue
        if len(row) != len(header):
            extra = "extra" if len(row) > len(header) else "missing"
            raise InvalidInput(
                f"{label}: line {start} has {len(row)} fields where the header has {len(header)} "
                f"({extra} values, e.g. {shown(row[len(header)] if len(row) > len(header) else header[len(row)])}); "
                "quote values holding commas",
                field=f"line {start}",
                value=shown(",".join(row)[:SHOWN_CHARS]),
            )
        count += 1
        if count > limits.max_rows:
            raise _too_many_rows(label, limits, f"more than {limits.max_rows:,}")
        yield f"line {start}", dict(zip(header, row, strict=True))


# -- CSV as Arrow batches ---------------------------------------------------------------------------
# Python's csv module (the row path) and Arrow's CSV reader split RFC 4180 text the same way; where a
# file is anything else (stray quotes, a lone carriage return, a BOM, invalid UTF-8, ragged rows,
# duplicate header names, very long fields, NUL), the two could disagree, so a vectorised scan of
# the bytes first decides whether the file is plain RFC 4180, and only then does Arrow read it
# (every column as text, as the row path reads cells). Anything else takes the row path, which
# names what it refuses.
_CSV_SCAN_CHUNK = 8 << 20
_CSV_BLOCK = 4 << 20  # bytes per Arrow CSV block (some 10k rows of typical width)


@dataclass
class _CsvLayout:
    header: list[str]
    records: int  # data records (blank lines not counted)
    start_lines: Any  # numpy int64: the physical line each data record starts on, or None when it is record + 2
    chunks: list[tuple[int, int, int]]  # (first byte, end byte, records): whole records, about _CSV_BLOCK bytes each


def _csv_layout(fh: IO[bytes], limits: ReadLimits) -> _CsvLayout | None:
    """The file's header and record lines when it is plain RFC 4180 CSV (see above), else None.
    One vectorised pass over the bytes; leaves the stream at its start."""
    import codecs

    import numpy as np

    quote, comma, newline, cr = ord('"'), ord(","), ord("\n"), ord("\r")
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    parity, prev_byte, position = 0, newline, 0  # quotes so far (mod 2); the file start is a line start
    record_start, fields = 0, 1  # the record being read: where it starts, its fields so far
    starts, ends, widths, newlines = [], [], [], []
    quoted_newline = False
    try:
        fh.seek(0)
        if fh.read(3).startswith(codecs.BOM_UTF8):
            return None
        fh.seek(0)
        while chunk := fh.read(_CSV_SCAN_CHUNK):
            decoder.decode(chunk, final=False)  # invalid UTF-8: the row path names the byte
            b = np.frombuffer(chunk, dtype=np.uint8)
            q = np.flatnonzero(b == quote)

            def outside(at: Any, q: Any = q, parity: int = parity) -> Any:  # an even number of quotes before
                return ((np.searchsorted(q, at) + parity) & 1) == 0

            opens = ((np.arange(len(q)) + parity) & 1) == 0

            def before(at: Any, b: Any = b, prev_byte: int = prev_byte) -> Any:  # the byte before each position
                return np.where(at > 0, b[np.maximum(at - 1, 0)], prev_byte)

            if (b == 0).any() or not np.isin(before(q[opens]), [comma, newline, quote]).all():
                return None  # NUL, or a quote opening inside a field
            closers = q[~opens]
            if len(closers) and closers[-1] == len(b) - 1:
                following = fh.read(1)
                fh.seek(position + len(b))
                closers = closers[:-1]
                if following and following[0] not in (comma, newline, cr, quote):
                    return None
            if not np.isin(b[closers + 1], [comma, newline, cr, quote]).all():
                return None  # text after a closing quote
            crs = np.flatnonzero(b == cr)
            if len(crs) and (crs[-1] == len(b) - 1 or not (b[crs + 1] == newline).all() or not outside(crs).all()):
                return None  # a CR that does not end a line
            nl = np.flatnonzero(b == newline)
            rec = nl[outside(nl)]
            quoted_newline |= len(rec) != len(nl)
            newlines.append(nl + position)
            commas = np.flatnonzero(b == comma)
            commas = commas[outside(commas)]
            per = np.diff(np.searchsorted(commas, rec), prepend=0) + 1
            if len(rec):
                per[0] += fields - 1
                fields = len(commas) - int(np.searchsorted(commas, rec[-1])) + 1
                starts.append(np.concatenate(([record_start], rec[:-1] + position + 1)))
                ends.append(rec + position - (before(rec) == cr))  # CR LF ends a line too
                widths.append(per)
                record_start = int(rec[-1]) + position + 1
            else:
                fields += len(commas)
            parity = (parity + len(q)) & 1
            prev_byte = int(b[-1]) if len(b) else prev_byte
            position += len(b)
        decoder.decode(b"", final=True)
        if parity:
            return None  # a quote never closed
        if record_start < position:  # the last record has no final newline
            starts.append(np.array([record_start]))
            ends.append(np.array([position]))
            widths.append(np.array([fields]))
        if not starts:
            return None
        start, end, width = np.concatenate(starts), np.concatenate(ends), np.concatenate(widths)
        lengths = end - start
        present = np.flatnonzero(lengths > 0)  # blank lines: skipped by both readers
        if not len(present) or int(lengths.max()) > csv.field_size_limit():
            return None  # a field may be over the csv module's limit: the row path says so
        fh.seek(int(start[present[0]]))
        header = next(csv.reader([fh.read(int(lengths[present[0]])).decode("utf-8")]), [])
    except (UnicodeDecodeError, OSError, ValueError, csv.Error):
        return None
    finally:
        try:
            fh.seek(0)
        except (OSError, ValueError):
            pass
    rows = present[1:]
    if not header or len(set(header)) != len(header) or (width[present] != len(header)).any() or len(rows) > limits.max_rows:
        return None  # duplicate names, ragged rows, too many rows: the row path names them
    start_lines = None
    if quoted_newline or len(present) != len(start):
        start_lines = np.searchsorted(np.concatenate(newlines), start[rows]) + 1
    row_starts, chunks, k = start[rows], [], 0
    while k < len(row_starts):
        following = max(int(np.searchsorted(row_starts, row_starts[k] + _CSV_BLOCK)), k + 1)
        stop = int(row_starts[following]) if following < len(row_starts) else position
        chunks.append((int(row_starts[k]), stop, following - k))
        k = following
    return _CsvLayout(header, len(rows), start_lines, chunks)


def _read_csv_batches(fh: IO[bytes], layout: _CsvLayout, label: str, limits: ReadLimits) -> Iterator[tuple[str, Any]]:
    """(where, ArrowBatch) over a plain RFC 4180 file, every column read as text (as the row path
    reads cells), a chunk of whole records at a time; a batch the vectorised path declines names its
    rows by their lines."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    def unreadable(exc: Exception) -> InvalidInput:
        detail = " ".join(str(exc).split())[:200]
        problem = f"not readable as CSV ({type(exc).__name__}: {detail})"
        return InvalidInput(f"{label}: {problem}", field="DATAFILE", value=shown(label))

    # Each chunk is parsed from bytes in memory, synchronously: Arrow's streaming reader would read
    # the file from its own threads, which may still touch it after a refusal has closed it.
    options = {
        "read_options": pacsv.ReadOptions(column_names=layout.header, use_threads=False, block_size=_CSV_BLOCK + 1),
        "parse_options": pacsv.ParseOptions(newlines_in_values=True, ignore_empty_lines=True),
        "convert_options": pacsv.ConvertOptions(
            column_types={name: pa.string() for name in layout.header}, strings_can_be_null=False
        ),
    }
    seen = 0
    for begin, end, records in layout.chunks:
        fh.seek(begin)
        try:
            # A blank first line (skipped) keeps Arrow from taking a row's leading U+FEFF for a BOM.
            table = pacsv.read_csv(pa.py_buffer(b"\n" + fh.read(end - begin)), **options)
        except Exception as exc:  # noqa: BLE001 - the scan said plain CSV: a reader error is a bad file
            raise unreadable(exc) from None
        if table.num_rows != records:
            raise unreadable(ValueError(f"{table.num_rows} records where the scan found {records}"))
        for batch in table.to_batches():
            if not batch.num_rows:
                continue
            first = seen
            seen += batch.num_rows
            if seen > limits.max_rows:
                raise _too_many_rows(label, limits, f"more than {limits.max_rows:,}")
            item = ArrowBatch(batch, first, unreadable)
            item.unit = "line"
            item.line_numbers = (
                list(range(first + 2, first + 2 + batch.num_rows))
                if layout.start_lines is None
                else layout.start_lines[first : first + batch.num_rows].tolist()
            )
            yield f"line {item.line_numbers[0]}", item


def _type_depth(arrow_type: Any) -> int:
    """Nesting levels of an Arrow type (a scalar is 0), without recursion."""
    deepest, stack = 0, [(arrow_type, 0)]
    while stack:
        current, depth = stack.pop()
        children = [current.field(i).type for i in range(getattr(current, "num_fields", 0))]
        if children:
            deepest = max(deepest, depth + 1)
            if deepest > MAX_NESTING:
                return deepest
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _read_parquet(fh: IO[bytes], label: str, limits: ReadLimits) -> Iterator[tuple[str, dict[str, Any]]]:
    import pyarrow.parquet as pq  # lazy: pyarrow is heavy and only parquet needs it

    def unreadable(exc: Exception) -> InvalidInput:
        detail = " ".join(str(exc).split())[:200]
        return InvalidInput(
            f"{label}: not a readable Parquet file ({type(exc).__name__}: {detail})", field="DATAFILE", value=shown(label)
        )

    try:
        parquet = pq.ParquetFile(fh)
        meta = parquet.metadata
        rows = meta.num_rows
        size = sum(max(0, meta.row_group(i).total_byte_size) for i in range(meta.num_row_groups))
        schema = parquet.schema_arrow
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for a bad file
        raise unreadable(exc) from None
    # The footer alone decides the first bounds: no data page is read for a file over a limit.
    if rows > limits.max_rows:
        raise _too_many_rows(label, limits, f"{rows:,} (from the Parquet footer)")
    if size > limits.max_bytes:
        raise _too_many_bytes(label, limits, f"{size:,} (uncompressed, from the Parquet footer)")
    # The footer may lie (and dictionary pages expand): what is decoded is counted too.
    yield from _bounded_batches(parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS), schema, label, limits, unreadable)


_READERS = {"jsonl": _read_jsonl, "csv": _read_csv, "parquet": _read_parquet}


def data_format(path: Path, label: str | None = None) -> str:
    """The format named by the file's suffix, or InvalidInput."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        label = label or str(path)
        raise InvalidInput(
            f"{label}: unknown data format {shown(path.suffix) if path.suffix else '(no suffix)'}; "
            f"use one of {', '.join(sorted(FORMATS))}",
            field="DATAFILE",
            value=shown(label),
        )
    return fmt


def iter_records(
    path: Path, *, label: str | None = None, limits: ReadLimits | None = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, record) for each record of a data file (`where` is "line N" or "row N"), raw as
    the format gives it; InvalidInput on anything a reader cannot take, TooLarge over a limit."""
    path = Path(path)
    label = label or str(path)
    limits = limits or ReadLimits.default()
    fmt = data_format(path, label)
    with _open_regular(path, label) as fh:
        yield from read_stream(fh, fmt, label, limits, os.fstat(fh.fileno()).st_size)


def read_stream(fh: IO[bytes], fmt: str, label: str, limits: ReadLimits, size: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, record) from an open binary stream of `size` bytes (a local file, an object in a
    store): the same readers and rules whatever the stream comes from."""
    if fmt != "parquet" and size > limits.max_bytes:
        raise _too_many_bytes(label, limits, f"{size:,}")
    yield from _READERS[fmt](fh, label, limits)


# -- streaming profile and digest -----------------------------------------------------------------
# Specified in docs/datasets.md so another tool can recompute it:
#   line_i   = canonical JSON of record i (keys sorted at every level, scalars as text, see _canonical),
#              UTF-8, no trailing newline
#   h_i      = sha256(line_i)                       (32 bytes)
#   digest   = sha256(h_(1) || h_(2) || ... || h_(n)), the h_i sorted bytewise ascending, duplicates kept
# Memory: 32 bytes per row (plus 8 per id for the duplicate count), never the rows themselves.
DIGEST_ALGORITHM = "rowset-sha256/v1"
# What versions registered before carried: sha256 over the sorted canonical lines, each followed by "\n".
LEGACY_DIGEST_ALGORITHM = "sorted-lines-sha256/v0"
MAX_CATEGORIES = 1000  # distinct split / label values counted one by one; the rest under "(other)"
SAMPLE_LINES = 3


@dataclass(frozen=True)
class DatasetProfile:
    """Everything registration learns from a source, in bounded memory."""

    source_format: str
    digest: str
    row_count: int
    schema_fields: list[str]
    quality_signals: dict[str, Any]
    schema_types: dict[str, str]
    digest_algorithm: str = DIGEST_ALGORITHM
    sample_lines: tuple[str, ...] = ()

    @property
    def canonical_lines(self) -> list[str]:
        """The first canonical lines, in file order (a sample: the content itself is never held)."""
        return list(self.sample_lines)

    @property
    def canonical_bytes(self) -> bytes:
        """The sample of canonical lines as UTF-8 (a surrogate never reaches it: hashing refuses it first)."""
        return "".join(line + "\n" for line in self.sample_lines).encode()


def _value_type(value: Any) -> str:
    if type(value) is str and value and value[0] not in "{[":
        return "string"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ndarray":
        return "list"
    if value == "":
        return "null"  # blank is null in the canonical form
    if isinstance(value, str) and value[:1] in ("{", "[") and value[-1:] in ("}", "]"):
        return "object" if value[:1] == "{" else "list"  # JSON text in a CSV cell
    return type(value).__name__ if not isinstance(value, str) else "string"


def _merged_type(kinds: set[str]) -> str:
    kinds = kinds - {"null"}
    if not kinds:
        return "null"
    if kinds == {"integer", "float"}:
        return "float"
    return kinds.pop() if len(kinds) == 1 else "mixed(" + ",".join(sorted(kinds)) + ")"


def check_member_schema(path: Any, name: str, label: str, previous: Any, opener: Any = None) -> Any:
    """The member's schema (Parquet: the Arrow schema; CSV: the header), refusing one that clashes
    with the members before it. Returns what the next member is compared with. `opener()` opens
    the member as a binary stream (default: the local file)."""
    fmt = data_format(Path(str(path)), name)
    opener = opener or (lambda: _open_regular(path, name))
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            with opener() as fh:
                schema = {f.name: str(f.type) for f in pq.read_schema(fh)}
        except Exception:  # noqa: BLE001 - the reader names an unreadable file itself
            return previous
    elif fmt == "csv":
        with opener() as fh:
            first = fh.readline(1 << 20).decode("utf-8", "replace")
        try:
            schema = {column: "csv" for column in next(csv.reader([first]), [])}
        except csv.Error:  # the reader refuses the file itself, naming the line
            return previous
    else:
        return None  # JSONL records carry their own keys: the profile's types decide
    if previous is not None and schema != previous:
        added = sorted(set(schema) - set(previous))
        removed = sorted(set(previous) - set(schema))
        retyped = sorted(c for c in set(schema) & set(previous) if schema[c] != previous[c])
        parts = [f"columns {', '.join(added)} only here"] if added else []
        parts += [f"columns {', '.join(removed)} missing here"] if removed else []
        parts += [f"{c} is {schema[c]} here but {previous[c]} before" for c in retyped]
        raise InvalidInput(
            f"{label}: {name} has a schema that clashes with the files before it ({'; '.join(parts)}); "
            "every file of one dataset needs the same columns and types",
            field="DATAFILE",
            value=shown(name),
        )
    return schema


class RowHasher:
    """Consumes accepted records (or vectorised batches); keeps 32 bytes per row (row hash) and 8 per id."""

    def __init__(self) -> None:
        self.row_hashes = bytearray()
        self.id_hashes = bytearray()
        self.count = 0
        self.fields: dict[str, set[str]] = {}
        self.nulls = Counter()
        self.splits: Counter = Counter()
        self.labels: Counter = Counter()
        self.has_label = False
        self.samples: list[str] = []

    def add(self, record: dict[str, Any], canonical: dict[str, Any]) -> None:
        line = _ENCODER.encode(canonical)
        self.row_hashes += hashlib.sha256(line.encode()).digest()
        self.id_hashes += id_hash(canonical.get("id")).to_bytes(8, "little", signed=True)
        self.count += 1
        if len(self.samples) < SAMPLE_LINES:
            self.samples.append(line)
        for key, value in record.items():
            kinds = self.fields.get(key)
            if kinds is None:
                kinds = self.fields[str(key)] = set()
            kinds.add(_value_type(value))
        for name in REQUIRED_FIELDS:
            if canonical.get(name) in (None, {}, []):
                self.nulls[name] += 1
        _count_category(self.splits, str(canonical.get("split_or_stage")))
        if LABEL_FIELD in canonical:
            self.has_label = True
        _count_category(self.labels, str(canonical.get(LABEL_FIELD)))

    def add_rows(self, rows: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
        """`add` for each (raw, canonical) of a chunk, the per-row bookkeeping done a chunk at a time."""
        canonicals = [canonical for _, canonical in rows]
        lines = [_ENCODER.encode(canonical) for canonical in canonicals]
        sha256 = hashlib.sha256
        self.row_hashes += b"".join([sha256(line.encode()).digest() for line in lines])
        self.id_hashes += _id_hashes([canonical.get("id") for canonical in canonicals])
        self.count += len(rows)
        if len(self.samples) < SAMPLE_LINES:
            self.samples += lines[: SAMPLE_LINES - len(self.samples)]
        seen = {(key, _value_type(value)) for record, _ in rows for key, value in record.items()}
        for key, kind in seen:
            self.fields.setdefault(str(key), set()).add(kind)
        for name in REQUIRED_FIELDS:
            self.nulls[name] += sum(1 for canonical in canonicals if canonical.get(name) in (None, {}, []))
        for value, count in Counter(str(canonical.get("split_or_stage")) for canonical in canonicals).items():
            _count_category_n(self.splits, value, count)
        if any(LABEL_FIELD in canonical for canonical in canonicals):
            self.has_label = True
        for value, count in Counter(str(canonical.get(LABEL_FIELD)) for canonical in canonicals).items():
            _count_category_n(self.labels, value, count)

    def add_lines(self, item: BatchLines) -> None:
        """A whole batch's canonical lines (see `canonical_lines`, with its signals)."""
        self.row_hashes += _hash_lines(item.lines)
        self.id_hashes += _id_hashes(item.ids)
        self.count += item.rows
        if len(self.samples) < SAMPLE_LINES:
            self.samples += item.lines.slice(0, SAMPLE_LINES - len(self.samples)).to_pylist()
        if not item.rows:
            return
        for name, kinds in item.kinds.items():
            self.fields.setdefault(name, set()).update(kinds)
        for name in REQUIRED_FIELDS:
            self.nulls[name] += item.empty.get(name, item.rows)
        for value, count in (item.splits or {}).items():
            _count_category_n(self.splits, value, count)
        if item.labels is not None:
            self.has_label = True
        for value, count in (item.labels or {"None": item.rows}).items():
            _count_category_n(self.labels, value, count)

    def digest(self) -> str:
        import numpy as np

        hashes = np.frombuffer(self.row_hashes, dtype="S32")  # a view: sorted in place, never copied
        hashes.sort()
        return hashlib.sha256(memoryview(hashes).cast("B")).hexdigest()

    def duplicates(self) -> tuple[int, set[int]]:
        """(rows whose id an earlier row already had, the hashes of the ids that repeat)."""
        import numpy as np

        ids = np.frombuffer(self.id_hashes, dtype="<i8")  # sorted in place: only counted from here on
        ids.sort()
        if len(ids) < 2:
            return 0, set()
        same = ids[1:] == ids[:-1]
        return int(same.sum()), set(np.unique(ids[1:][same]).tolist())


def _count_category(counter: Counter, value: str) -> None:
    if value in counter or len(counter) < MAX_CATEGORIES:
        counter[value] += 1
    else:
        counter["(other)"] += 1


def id_hash(ident: Any) -> int:
    """An id's 64-bit hash for counting duplicates and joining a diff inside one process: Python's
    own keyed hash of the canonical id (SipHash, its key random per process), so ids cannot be
    chosen to collide; never stored."""
    return hash(ident)


def accepted_records(source: Any, limits: ReadLimits, batches: bool = False) -> Iterator[tuple[Any, Any]]:
    """(raw, canonical) for every record of a source, each checked, at most max_rows in all.

    With `batches`, Arrow readers (Parquet, Delta, Iceberg) hand over whole record batches instead:
    (ArrowBatch, where of its first row); the consumer hashes them vectorised, or calls `rows()`."""
    count = 0
    token = _BATCH_MODE.set(batches)
    try:
        with closing(source.records(limits)) as rows:
            for where, record in rows:
                if isinstance(record, ArrowBatch):
                    count += record.batch.num_rows
                    if count > limits.max_rows:
                        raise _too_many_rows(source.label, limits, f"more than {limits.max_rows:,}")
                    record.prefix = where[: where.rfind(f"{record.unit} ")]
                    record.label = source.label
                    yield record, where
                    continue
                count += 1
                if count > limits.max_rows:
                    raise _too_many_rows(source.label, limits, f"more than {limits.max_rows:,}")
                yield record, _accepted(record, where, source.label)
    finally:
        try:
            _BATCH_MODE.reset(token)
        except ValueError:  # closed from another context: that context never saw the flag
            pass


ROW_CHUNK = 2048  # row-path records handed over together (one queue hand-off per chunk, not per row)
READ_AHEAD = 2  # batches read and vectorised ahead of the hashing


def canonical_stream(source: Any, limits: ReadLimits, columns: set[str] | None = None, signals: bool = False) -> Iterator[Any]:
    """The source's records, checked, as `BatchLines` for each Arrow batch the vectorised path takes
    and as lists of (raw, canonical) for the rest (CSV, JSONL, batches only the row rules judge).

    Reading, checking and the Arrow kernels run READ_AHEAD items ahead in a thread (Parquet, Delta
    and Iceberg readers and Arrow kernels release the GIL) while the caller hashes; memory stays
    a few batches. A refusal raised while reading reaches the caller unchanged."""

    def produce() -> Iterator[Any]:
        chunk: list[tuple[Any, Any]] = []
        for raw, canonical in accepted_records(source, limits, batches=True):
            if not isinstance(raw, ArrowBatch):
                chunk.append((raw, canonical))
                if len(chunk) >= ROW_CHUNK:
                    yield chunk
                    chunk = []
                continue
            if chunk:
                yield chunk
                chunk = []
            lines = canonical_lines(raw.batch, columns, signals)
            if lines is not None:
                yield lines
                continue
            for row in raw.rows():
                chunk.append(row)
                if len(chunk) >= ROW_CHUNK:
                    yield chunk
                    chunk = []
        if chunk:
            yield chunk

    if source.source_format == "jsonl":  # read row by row: a thread would only contend for the GIL
        return produce()
    return _read_ahead(produce(), READ_AHEAD)


def _read_ahead(items: Iterator[Any], depth: int) -> Iterator[Any]:
    """The items of `items`, produced up to `depth` ahead by a thread; an exception there is raised
    here; closing this generator stops the thread and closes `items` in it."""
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def put(entry: tuple[Any, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                slots.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((end, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put((end, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # in this thread, which ran the generator: its cleanup runs where it ran

    worker = _pool("read-ahead").submit(contextvars.copy_context().run, run)
    try:
        while True:
            item, error = slots.get()
            if item is end:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        worker.result()  # run() never raises: this waits until it has closed `items`


_POOLS: dict[str, Any] = {}
_POOLS_LOCK = threading.Lock()


def _pool(name: str) -> Any:
    """A long-lived thread pool (threads are reused, never started and stopped per read): read-ahead
    producers only ever wait for their own consumer, so a busy pool delays a read, never deadlocks."""
    from concurrent.futures import ThreadPoolExecutor

    with _POOLS_LOCK:
        if name not in _POOLS:
            _POOLS[name] = ThreadPoolExecutor(max_workers=8, thread_name_prefix=f"dataops-{name}")
        return _POOLS[name]


def profile_source(source: Any, limits: ReadLimits | None = None) -> DatasetProfile:
    """Stream a source once and compute digest, row count, typed schema and quality signals.

    Raises InvalidInput (TooLarge over a limit) naming the source, the file, the line or row, the
    field and the value; never another exception for anything a source holds. Memory: a few
    batches of records plus 40 bytes per row (a second pass, only when ids repeat, names them).
    """
    import numpy as np

    limits = limits or ReadLimits.default()
    hasher = RowHasher()
    with closing(canonical_stream(source, limits, signals=True)) as stream:  # closed at once, even on an error: its thread stops
        for item in stream:
            if isinstance(item, BatchLines):
                hasher.add_lines(item)
            else:
                hasher.add_rows(item)
    label = source.label
    if not hasher.count:
        raise InvalidInput(f"{label}: the source holds no records", field="DATAFILE", value=shown(label))
    fields = sorted(hasher.fields)
    missing = [f for f in REQUIRED_FIELDS if f not in fields]
    if missing:
        raise InvalidInput(
            f"{label}: required field(s) {', '.join(missing)} missing; every record needs {', '.join(REQUIRED_FIELDS)}",
            field=missing[0],
            value=None,
        )
    n = hasher.count
    digest = hasher.digest()
    duplicates, repeated = hasher.duplicates()
    duplicate_ids: list[str] = []
    if repeated:  # rare: a second pass (the ids only) names them
        seen: set[str] = set()
        wanted = np.array(sorted(repeated), dtype="<i8")
        with closing(canonical_stream(source, limits, columns={"id"})) as stream:
            for item in stream:
                ids = item.ids.to_pylist() if isinstance(item, BatchLines) else [c.get("id") for _, c in item]
                hashes = np.frombuffer(_id_hashes(ids), dtype="<i8")
                for index in np.flatnonzero(np.isin(hashes, wanted)).tolist():
                    if len(seen) < 10_000:
                        seen.add(str(ids[index]))
        duplicate_ids = sorted(seen)[:20]
    signals: dict[str, Any] = {
        "duplicate_id_rate": round(duplicates / n, 6),
        "duplicate_ids": duplicate_ids,
        "null_rate": {f: round(hasher.nulls[f] / n, 6) for f in REQUIRED_FIELDS},
        "split_distribution": dict(sorted(hasher.splits.items())),
    }
    if hasher.has_label:
        signals["label_distribution"] = dict(sorted(hasher.labels.items()))
    types = {name: _merged_type(kinds) for name, kinds in sorted(hasher.fields.items())}
    return DatasetProfile(source.source_format, digest, n, fields, signals, types, DIGEST_ALGORITHM, tuple(hasher.samples))


def legacy_digest(source: Any, limits: ReadLimits | None = None) -> str:
    """The v0 digest (sha256 over the sorted canonical lines, each ending in a newline), to verify
    versions registered before rowset-sha256/v1. Holds the lines: meant for those small datasets."""
    limits = limits or ReadLimits.default()
    lines = sorted(_ENCODER.encode(c) for _, c in accepted_records(source, limits))
    return hashlib.sha256(("\n".join(lines) + "\n").encode()).hexdigest()


def profile_file(path: Path, *, label: str | None = None, limits: ReadLimits | None = None) -> DatasetProfile:
    """One data file profiled (see `profile_source`); refusals name `label` (default: the path as given)."""
    from dataops_platform.sources.local import LocalSource

    path = Path(path)
    label = label or str(path)
    data_format(path, label)
    with _open_regular(path, label):  # refuses a directory, FIFO or device before anything else
        pass
    return profile_source(LocalSource(path.resolve().as_uri(), label, [(path, label)]), limits)


def read_records(path: Path, *, label: str | None = None, limits: ReadLimits | None = None) -> tuple[str, list[dict[str, Any]]]:
    """The format and every record of a small data file, each checked (training and tests)."""
    from dataops_platform.sources.local import LocalSource

    label = label or str(path)
    source = LocalSource(Path(path).resolve().as_uri(), label, [(Path(path), label)])
    return source.source_format, [record for record, _ in accepted_records(source, limits or ReadLimits.default())]


def version_records(version: Any, settings: Any, limits: ReadLimits | None = None) -> Iterator[dict[str, Any]]:
    """The records of a registered version, read from where it lives (its copy when it has one,
    else its recorded source; legacy versions from their canonical JSONL). For small data: dicts."""
    from dataops_platform.sources.base import reopen_source

    source = version_source(version, settings)
    if source is None:
        source = reopen_source(version.source_uri, settings, pin=version.source_pin)
    for record, _ in accepted_records(source, limits or ReadLimits.from_settings(settings)):
        yield record


def version_source(version: Any, settings: Any) -> Any:
    """A LocalSource over the version's kept bytes (copy or legacy canonical file), or None."""
    from dataops_platform.sources.local import LocalSource

    location = getattr(version, "copy_location", None)
    if getattr(version, "source_uri", None) is None and version.data_location:
        location = version.data_location  # legacy: the canonical JSONL under data_dir
    if not location:
        return None
    path = settings.data_dir / location
    if path.suffix == ".manifest":
        files = [(settings.data_dir / line.split("\t")[0], line.split("\t")[1]) for line in path.read_text().splitlines()]
        return LocalSource(path.as_uri(), version.version_id, files)
    return LocalSource(path.as_uri(), version.version_id, [(path, version.version_id)])


# -- diff by id, out of core ----------------------------------------------------------------------
EXAMPLES = 5


@dataclass
class RowIndex:
    """One row hash per distinct id (the id's rows, sorted and hashed together when it repeats), in
    id-hash order: 24 bytes per row (id hash, the first 8 bytes of the row's sha256, its position)
    plus the ids as Arrow string arrays, never the records. A changed row looks unchanged only if
    its old and new lines share 64 bits of sha256."""

    id_hashes: Any  # numpy int64, sorted, unique
    row_hashes: Any  # numpy uint64 (the row sha256's first 8 bytes), aligned
    positions: Any  # numpy int64: the row (in read order) each id was first seen at, aligned
    ids: Any  # pyarrow chunked array of the id text, in read order
    row_count: int


def row_index(source: Any, limits: ReadLimits | None = None, columns: set[str] | None = None) -> RowIndex:
    """The source's rows by id; with `columns`, each row hashed on those columns only (a diff
    compares rows on the columns both versions have: added and removed columns are reported apart)."""
    import numpy as np
    import pyarrow as pa

    limits = limits or ReadLimits.default()
    rows = bytearray()  # the first 8 bytes of each row's sha256: enough to tell a changed row
    idhs = bytearray()
    chunks: list[Any] = []
    with closing(canonical_stream(source, limits, columns)) as stream:  # closed at once, even on an error: its thread stops
        for item in stream:
            if isinstance(item, BatchLines):
                rows += _first_8(_hash_lines(item.lines))
                idhs += _id_hashes(item.ids)
                chunks.append(item.ids)
                continue
            lines, ids = [], []
            for _, canonical in item:
                if columns is not None:
                    canonical = {k: v for k, v in canonical.items() if k in columns}
                lines.append(_ENCODER.encode(canonical))
                ids.append(canonical.get("id"))
            rows += _first_8(b"".join([hashlib.sha256(line.encode()).digest() for line in lines]))
            idhs += _id_hashes(ids)
            chunks.append(pa.array(ids, pa.string()))
    ids_all = pa.chunked_array(chunks, pa.string())
    idh = np.frombuffer(idhs, dtype="<i8")
    order = np.argsort(idh)
    idh = idh[order]
    short = np.frombuffer(rows, dtype="<u8")[order]
    del rows
    count = len(idh)
    if count:
        starts = np.flatnonzero(np.concatenate(([True], idh[1:] != idh[:-1])))
        ends = np.append(starts[1:], count)
        merged = short[starts]
        for group in np.flatnonzero(ends - starts > 1).tolist():  # an id on several rows: the multiset of its rows
            members = np.sort(short[starts[group] : ends[group]])
            merged[group] = int.from_bytes(hashlib.sha256(members.tobytes()).digest()[:8], "little")
        idh, short, positions = idh[starts], merged, order[starts]
    else:
        positions = order
    return RowIndex(idh, short, positions, ids_all, count)


def row_indexes(sources: list[Any], limits: ReadLimits | None = None, columns: set[str] | None = None) -> list[RowIndex]:
    """`row_index` of each source, read at the same time (a diff's two sides): each side's Arrow
    work runs in its own threads, so two sides keep both cores busy where one leaves the hashing
    thread waiting on its reader. A refusal from either side is raised here."""
    futures = [_pool("diff-side").submit(contextvars.copy_context().run, row_index, s, limits, columns) for s in sources]
    return [f.result() for f in futures]


def _first_8(digests: bytes) -> bytes:
    """The first 8 bytes of each 32-byte digest, concatenated."""
    import numpy as np

    return np.frombuffer(digests, dtype="<u8")[::4].tobytes()


def _examples(ids: Any, positions: Any) -> list[str]:
    import pyarrow as pa

    if len(positions) == 0:
        return []
    chosen = ids.take(pa.array(positions[: EXAMPLES * 20])).to_pylist()
    return sorted(str(i) for i in chosen)[:EXAMPLES]


def _found_in(keys: Any, sorted_keys: Any) -> tuple[Any, Any]:
    """(whether each key is in the sorted unique array, where it is there)."""
    import numpy as np

    if not len(sorted_keys):
        return np.zeros(len(keys), dtype=bool), np.zeros(len(keys), dtype=np.int64)
    where = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[where] == keys, where


def diff_rows(old: RowIndex, new: RowIndex) -> dict[str, Any]:
    """Rows added, removed and changed by id between two row indexes (counts and example ids)."""
    import numpy as np

    in_old, at_old = _found_in(new.id_hashes, old.id_hashes)
    in_new, _ = _found_in(old.id_hashes, new.id_hashes)
    added = np.flatnonzero(~in_old)
    removed = np.flatnonzero(~in_new)
    common = np.flatnonzero(in_old)
    changed = common[new.row_hashes[common] != old.row_hashes[at_old[common]]]
    return {
        "rows_added": int(len(added)),
        "rows_removed": int(len(removed)),
        "rows_changed": int(len(changed)),
        "examples": {
            "added": _examples(new.ids, np.sort(new.positions[added])),
            "removed": _examples(old.ids, np.sort(old.positions[removed])),
            "changed": _examples(new.ids, np.sort(new.positions[changed])),
        },
    }


def diff_columns(old_types: dict[str, str], new_types: dict[str, str]) -> dict[str, Any]:
    """Columns added, removed and retyped (null-only columns retype to nothing)."""
    retyped = sorted(
        c for c in set(old_types) & set(new_types) if "null" not in (old_types[c], new_types[c]) and old_types[c] != new_types[c]
    )
    return {
        "columns_added": sorted(set(new_types) - set(old_types)),
        "columns_removed": sorted(set(old_types) - set(new_types)),
        "columns_type_changed": retyped,
        "column_types": {c: {"from": old_types[c], "to": new_types[c]} for c in retyped},
    }


def diff_signals(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Shifts of the split and label distributions and of the quality signals."""

    def shares(counts: dict[str, int] | None) -> dict[str, float]:
        total = sum((counts or {}).values()) or 1
        return {k: v / total for k, v in (counts or {}).items()}

    out: dict[str, Any] = {}
    for key in ("split_distribution", "label_distribution"):
        a, b = shares(old.get(key)), shares(new.get(key))
        out[key] = {k: round(b.get(k, 0.0) - a.get(k, 0.0), 6) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}
    out["duplicate_id_rate"] = round(new.get("duplicate_id_rate", 0) - old.get("duplicate_id_rate", 0), 6)
    nulls_a, nulls_b = old.get("null_rate", {}), new.get("null_rate", {})
    out["null_rate"] = {
        f: round(nulls_b.get(f, 0) - nulls_a.get(f, 0), 6)
        for f in sorted(set(nulls_a) | set(nulls_b))
        if nulls_a.get(f) != nulls_b.get(f)
    }
    return out


# -- Arrow tables (Delta, Iceberg) ------------------------------------------------------------------
def arrow_records(
    batches: Iterator[Any], schema: Any, label: str, limits: ReadLimits, total_rows: int | None = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, record) from a stream of Arrow record batches (a table format's scan), under the same
    bounds as a Parquet file: rows from the table's metadata first, nesting from its schema, then
    rows and decoded bytes counted on the batches."""

    def unreadable(exc: Exception) -> InvalidInput:
        detail = " ".join(str(exc).split())[:200]
        return InvalidInput(
            f"{label}: the table cannot be read ({type(exc).__name__}: {detail})", field="DATAFILE", value=shown(label)
        )

    if total_rows is not None and total_rows > limits.max_rows:
        raise _too_many_rows(label, limits, f"{total_rows:,} (from the table's metadata)")
    yield from _bounded_batches(batches, schema, label, limits, unreadable)


def _bounded_batches(
    batches: Iterator[Any], schema: Any, label: str, limits: ReadLimits, unreadable: Any
) -> Iterator[tuple[str, Any]]:
    """(where, record) -- or (where, ArrowBatch) in batch mode -- from Arrow record batches (a Parquet
    file's or a table format's), refusing nesting past MAX_NESTING from the schema and counting the
    rows and decoded bytes of every batch against the limits; a reader error becomes `unreadable`."""
    for column in schema:
        if _type_depth(column.type) + 1 > MAX_NESTING:
            raise InvalidInput(
                f"{label}: column {shown(column.name)} is nested more than {MAX_NESTING} levels deep",
                field=f"column {column.name!r}"[:SHOWN_CHARS],
                value=None,
            )
    seen_rows = seen_bytes = 0
    while True:
        try:
            batch = next(batches, None)
            if batch is None:
                return
            seen_rows += batch.num_rows
            seen_bytes += batch.nbytes
            if seen_rows > limits.max_rows:
                raise _too_many_rows(label, limits, f"more than {limits.max_rows:,}")
            if seen_bytes > limits.max_bytes:
                raise _too_many_bytes(label, limits, f"more than {limits.max_bytes:,} (decoded)")
            records = None if _BATCH_MODE.get() else batch.to_pylist()
        except InvalidInput:
            raise
        except Exception as exc:  # noqa: BLE001 - a bad page, a missing data file, a value Python cannot hold (year > 9999)
            raise unreadable(exc) from None
        first = seen_rows - batch.num_rows + 1
        if records is None:  # batch mode: the consumer hashes the batch vectorised (or asks for its rows)
            yield f"row {first}", ArrowBatch(batch, first, unreadable)
            continue
        for index, record in enumerate(records):
            yield f"row {first + index}", record


# -- vectorised canonical form of Arrow batches ----------------------------------------------------
# The row path (`_canonical`, `canonical_record`) is the specification; the functions below build the
# very same canonical lines for a whole Arrow batch with Arrow kernels and numpy, and give up (None)
# on anything they cannot judge exactly, which then takes the row path. Equality with the row path is
# a property test (dataops_platform_tests/data/test_vectorised_canonical.py).
_BATCH_MODE: contextvars.ContextVar[bool] = contextvars.ContextVar("dataops_arrow_batch_mode", default=False)
# Arrow's float -> text cast gives the shortest round-trip digits like Python's repr, but in fixed
# notation only for 1e-6 <= |x| < 1e10 where repr uses it for 1e-4 <= |x| < 1e16: inside the narrower
# band (with a margin) the two agree; integral floats go through int64, the rest through repr.
_FLOAT_BAND = (1e-4, 1e9)
_INT_SAFE = float(2**62)
_HASH_SLICE = 4096  # rows hashed between two GIL hand-overs
# json.dumps(ensure_ascii=False) escapes these (NUL never gets here: the row path refuses it).
_JSON_ESCAPES = {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r"}


class ArrowBatch:
    """A record batch an Arrow reader handed over whole (batch mode)."""

    def __init__(self, batch: Any, first_row: int, unreadable: Any) -> None:
        self.batch, self.first_row, self.unreadable = batch, first_row, unreadable
        self.prefix, self.label = "", ""
        self.unit = "row"  # how messages name a record: "row N" (Parquet, tables) or "line N" (CSV)
        self.line_numbers: list[int] | None = None  # CSV: the line each row starts on

    def rows(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """(raw, canonical) of each row, checked like any record (the row-by-row path), a slice of the
        batch at a time as Python objects."""
        for start in range(0, self.batch.num_rows, ROW_CHUNK):
            try:
                records = self.batch.slice(start, ROW_CHUNK).to_pylist()
            except Exception as exc:  # noqa: BLE001 - a value Python cannot hold
                raise self.unreadable(exc) from None
            for index, record in enumerate(records, start):
                number = self.first_row + index if self.line_numbers is None else self.line_numbers[index]
                yield record, _accepted(record, f"{self.prefix}{self.unit} {number}", self.label)


class _NeedsRows(Exception):
    """A value only the row path may judge (it refuses it, naming where it is)."""


@dataclass
class _Column:
    """One column's canonical JSON text as join pieces (literal text or Arrow string arrays, never
    null), with what the profile counts: the row path's value types and the rows whose canonical
    value is null, {} or []."""

    pieces: list[Any]
    kinds: set[str]
    empty: int
    jsonish: int = 0  # text cells holding JSON-looking text (an id must not)


@dataclass
class BatchLines:
    """A batch's canonical lines and ids, plus its quality signals (the profile's share)."""

    lines: Any  # pyarrow string array: the canonical line of each row
    ids: Any  # pyarrow string array: the canonical id of each row (null for none)
    rows: int
    kinds: dict[str, set[str]]
    empty: dict[str, int]
    splits: dict[str, int] | None = None
    labels: dict[str, int] | None = None


def _np_valid(array: Any) -> Any:
    import numpy as np

    if array.null_count == 0:
        return np.ones(len(array), dtype=bool)
    return array.is_valid().to_numpy(zero_copy_only=False)


def _json_text_cell(text: str, depth: int) -> str:
    """The canonical JSON of one text cell that starts with { or [ (JSON text stands for its value)."""
    try:
        parsed = _parse_json(text)
    except ValueError:  # not JSON (NaN and Infinity included): the text itself
        return _ENCODER.encode(text)
    except _Unacceptable:
        raise _NeedsRows from None
    try:
        value = _canonical(parsed, depth)
    except _Unacceptable:
        raise _NeedsRows from None
    # The text is UTF-8 without NUL: only a \u escape can bring a NUL or a lone surrogate in.
    if "\\u" in text and find_bad_text(value, "") is not None:
        raise _NeedsRows
    return _ENCODER.encode(value)


def _string_column(array: Any, depth: int) -> _Column:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(array)
    if array.offset:
        array = pa.concat_arrays([array])
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)[: n + 1]
    base = int(offsets[0])
    data = np.frombuffer(array.buffers()[2] or b"", dtype=np.uint8)[base : int(offsets[-1])]
    lengths = np.diff(offsets)
    valid = _np_valid(array)
    blank = valid & (lengths == 0)
    full = valid & (lengths > 0)
    starts = offsets[:-1][full] - base
    first, last = data[starts], data[offsets[1:][full] - base - 1]
    brace, bracket = first == ord("{"), first == ord("[")
    closed = (last == ord("}")) | (last == ord("]"))  # the row path types a text by its brackets, parsed or not
    kinds: set[str] = set()
    if len(first) > int(((brace | bracket) & closed).sum()):
        kinds.add("string")
    if (brace & closed).any():
        kinds.add("object")
    if (bracket & closed).any():
        kinds.add("list")
    if len(first) < n:
        kinds.add("null")
    special = data[(data < 0x20) | (data == ord('"')) | (data == ord("\\"))]
    text = array
    if len(special):
        present = set(np.unique(special).tolist())
        if 0 in present:
            raise _NeedsRows  # NUL: refused by the row path, which names the field
        for byte in [ord("\\"), ord('"')] + sorted(present - {ord("\\"), ord('"')}):
            if byte in present:
                escaped = "\\" + chr(byte) if byte in (ord("\\"), ord('"')) else _JSON_ESCAPES.get(byte, f"\\u{byte:04x}")
                text = pc.replace_substring(text, chr(byte), escaped)
    empty = n - len(first)
    jsonish = np.zeros(n, dtype=bool)
    jsonish[np.flatnonzero(full)[brace | bracket]] = True
    count = int(jsonish.sum())
    if not count and empty == 0:
        return _Column(['"', text, '"'], kinds, 0)
    quoted = pc.binary_join_element_wise('"', text, '"', "")
    if blank.any():
        quoted = pc.if_else(pa.array(blank), pa.scalar(None, pa.string()), quoted)
    if count:
        # Each distinct JSON-looking text canonicalised once (CSV cells repeat a few shapes).
        encoded = pc.dictionary_encode(array.filter(pa.array(jsonish)))
        cells = [_json_text_cell(t, depth) for t in encoded.dictionary.to_pylist()]
        values = pa.array(cells, pa.string()).take(encoded.indices)
        quoted = pc.replace_with_mask(quoted, pa.array(jsonish), values)
        empty += int(pc.sum(pc.is_in(values, pa.array(["{}", "[]"]))).as_py() or 0)
    return _Column([pc.fill_null(quoted, "null")], kinds, empty, count)


def _float_column(array: Any) -> _Column:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    values = array if pa.types.is_float64(array.type) else array.cast(pa.float64())  # float32 widens exactly
    x = values.to_numpy(zero_copy_only=False)  # nulls as NaN: both canonicalise to null
    missing = np.isnan(x)
    with np.errstate(invalid="ignore"):
        size = np.abs(x)
        finite = np.isfinite(x)
        integral = finite & (x == np.floor(x)) & (size < _INT_SAFE)
        band = finite & (x != np.floor(x)) & (size >= _FLOAT_BAND[0]) & (size < _FLOAT_BAND[1])
    rest = ~(missing | integral | band)
    as_int = pc.cast(pa.array(np.where(integral, x, 0).astype(np.int64)), pa.string())
    text = pc.if_else(pa.array(integral), as_int, pc.cast(values, pa.string()))
    if rest.any():  # infinities, huge integral values, tiny and large fractions: Python's own text
        exact = [str(int(v)) if v.is_integer() else repr(v) for v in x[rest].tolist()]
        text = pc.replace_with_mask(text, pa.array(rest), pa.array(exact, pa.string()))
    kinds = ({"null"} if missing.any() else set()) | ({"float"} if not missing.all() else set())
    empty = int(missing.sum())
    if not empty:
        return _Column(['"', text, '"'], kinds, 0)
    quoted = pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), pc.binary_join_element_wise('"', text, '"', ""))
    return _Column([pc.fill_null(quoted, "null")], kinds, empty)


def _plain_names(names: list[str]) -> bool:
    return bool(names) and len(set(names)) == len(names) and all(isinstance(n, str) and text_problem(n) is None for n in names)


def _column_json(array: Any, depth: int) -> _Column:
    """The canonical JSON of each value of `array` (at nesting `depth`), or _NeedsRows."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if pa.types.is_dictionary(kind):
        array, kind = array.dictionary_decode(), kind.value_type
    n, nulls = len(array), array.null_count
    if pa.types.is_large_string(kind):
        array, kind = array.cast(pa.string()), pa.string()  # one batch is far below 2 GiB of text
    if pa.types.is_string(kind):
        return _string_column(array, depth)
    missing = {"null"} if nulls else set()
    if pa.types.is_null(kind):
        return _Column(["null"], {"null"}, n)
    if pa.types.is_integer(kind):
        text = pc.cast(array, pa.string())
        kinds = missing | ({"integer"} if nulls < n else set())
        if not nulls:
            return _Column(['"', text, '"'], kinds, 0)
        return _Column([pc.fill_null(pc.binary_join_element_wise('"', text, '"', ""), "null")], kinds, nulls)
    if pa.types.is_boolean(kind):
        kinds = missing | ({"boolean"} if nulls < n else set())
        return _Column([pc.fill_null(pc.if_else(array, '"true"', '"false"'), "null")], kinds, nulls)
    if pa.types.is_float32(kind) or pa.types.is_float64(kind):
        return _float_column(array)
    if pa.types.is_struct(kind):
        names = [kind.field(i).name for i in range(kind.num_fields)]
        if not _plain_names(names):
            raise _NeedsRows
        children = dict(zip(names, array.flatten(), strict=True))  # the struct's offset applied
        pieces: list[Any] = []
        for name in sorted(names):
            pieces += [("," if pieces else "{") + json.dumps(name, ensure_ascii=False) + ":"]
            pieces += _column_json(children[name], depth + 1).pieces
        pieces.append("}")
        kinds = missing | ({"object"} if nulls < n else set())
        if not nulls:
            return _Column(pieces, kinds, 0)
        joined = _join(pieces, n)
        return _Column([pc.if_else(pc.is_null(array), pa.scalar("null"), joined)], kinds, nulls)
    raise _NeedsRows  # lists, maps, binary, decimals, dates and times: the row path's rules


def _join(pieces: list[Any], rows: int) -> Any:
    """Concatenate literal text and string arrays element-wise into one string array."""
    import pyarrow as pa
    import pyarrow.compute as pc

    merged: list[Any] = []
    for piece in pieces:
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        else:
            merged.append(piece)
    if not any(not isinstance(p, str) for p in merged):
        return pa.array(["".join(merged)] * rows, pa.string())
    return pc.binary_join_element_wise(*merged, "")


def _category_counts(array: Any) -> dict[str, int]:
    """Counts of str(canonical value), as the row path counts split and label values."""
    import pyarrow.compute as pc

    counts: Counter = Counter()
    try:
        distinct = pc.value_counts(array).to_pylist()
    except Exception:  # noqa: BLE001 - a type value_counts does not take: value by value
        distinct = [{"values": v, "counts": 1} for v in array.to_pylist()]
    for item in distinct:
        counts[str(_canonical(item["values"], 2))] += item["counts"]
    return dict(counts)


def canonical_lines(batch: Any, columns: set[str] | None = None, signals: bool = False) -> BatchLines | None:
    """The canonical line and id of each row, computed with Arrow kernels: exactly the text
    `canonical_record` gives row by row; None when the batch needs the row-by-row path. With
    `signals`, what the profile counts (types, empty required fields, split and label values)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    schema_names = batch.schema.names
    names = [n for n in schema_names if columns is None or n in columns]
    if len(set(schema_names)) != len(schema_names) or any(not isinstance(n, str) or text_problem(n) for n in schema_names):
        return None  # the row path names the field name it refuses
    if "id" in schema_names:
        id_type = batch.schema.field("id").type
        if pa.types.is_dictionary(id_type):
            id_type = id_type.value_type
        if not (pa.types.is_string(id_type) or pa.types.is_large_string(id_type) or pa.types.is_integer(id_type)):
            return None  # objects, lists, structs and floats as ids: the row path names them
    try:
        batch.validate(full=True)  # invalid UTF-8 in a string column: the row path refuses it
        built = {name: _column_json(batch.column(name), 2) for name in (schema_names if signals else names)}
    except _NeedsRows:
        return None
    except Exception:  # noqa: BLE001 - anything unexpected: the row path judges it
        return None
    if "id" in built and built["id"].jsonish:
        return None  # id text holding JSON: the row path names it
    n = batch.num_rows
    pieces: list[Any] = []
    for name in sorted(names):
        pieces += [("," if pieces else "{") + json.dumps(name, ensure_ascii=False) + ":", *built[name].pieces]
    lines = _join(pieces + ["}"] if pieces else ["{}"], n)
    if "id" in schema_names:
        ids = batch.column("id")
        ids = ids.dictionary_decode() if pa.types.is_dictionary(ids.type) else ids
        ids = pc.cast(ids, pa.string())
        ids = pc.if_else(pc.equal(ids, ""), pa.scalar(None, pa.string()), ids) if len(ids) else ids
    else:
        ids = pa.nulls(n, pa.string())
    result = BatchLines(lines, ids, n, {k: c.kinds for k, c in built.items()}, {k: c.empty for k, c in built.items()})
    if signals:
        try:
            result.splits = _category_counts(batch.column("split_or_stage")) if "split_or_stage" in schema_names else {"None": n}
            result.labels = _category_counts(batch.column(LABEL_FIELD)) if LABEL_FIELD in schema_names else None
        except _Unacceptable:
            return None
    return result


def _hash_lines(array: Any) -> bytes:
    """sha256 of each string of an Arrow string array, concatenated (32 bytes each), straight from
    its buffers: one hashlib call per row and no Python string."""
    import numpy as np
    import pyarrow as pa

    if pa.types.is_large_string(array.type):
        array = array.cast(pa.string())
    array = pa.concat_arrays([array]) if array.offset else array
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)[: len(array) + 1].tolist()
    data = memoryview(array.buffers()[2] or b"")
    sha256 = hashlib.sha256
    out: list[bytes] = []
    for first in range(0, len(offsets) - 1, _HASH_SLICE):
        bounds = offsets[first : first + _HASH_SLICE + 1]
        out += [sha256(data[start:end]).digest() for start, end in zip(bounds, bounds[1:], strict=False)]
        time.sleep(0)  # let the read-ahead thread take the GIL back between its Arrow kernels
    return b"".join(out)


def _id_hashes(ids: Any) -> bytes:
    """The 8-byte id hash of each canonical id (see `id_hash`), concatenated."""
    import numpy as np

    values = ids.to_pylist() if not isinstance(ids, list) else ids
    return np.fromiter(map(hash, values), dtype="<i8", count=len(values)).tobytes()


def _count_category_n(counter: Counter, value: str, count: int) -> None:
    if value in counter or len(counter) < MAX_CATEGORIES:
        counter[value] += count
    else:
        counter["(other)"] += count
