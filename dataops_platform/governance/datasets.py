"""Reading dataset files and computing what a version records about its content (SPEC §3).

A version's identity is its content, not its file: records are brought to a canonical form
(nested keys sorted, scalars as text, blanks as null, JSON text in CSV cells parsed) and the
digest is sha256 over the sorted canonical lines. The same records therefore give the same
digest whether they arrive as JSONL, CSV or Parquet, in any key order.

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
import re
import stat
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
PARQUET_BATCH_ROWS = 10_000
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


def canonical_record(record: dict[str, Any]) -> str:
    return json.dumps(_canonical(record), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


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
        yield f"line {lineno}", record


def _read_csv(fh: IO[bytes], label: str, limits: ReadLimits) -> Iterator[tuple[str, dict[str, Any]]]:
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
    """Consumes accepted records one by one; keeps 32 bytes per row (row hash) and 8 per id."""

    def __init__(self, keep_ids: bool = False) -> None:
        self.row_hashes = bytearray()
        self.id_hashes = bytearray()
        self.ids: list[str | None] | None = [] if keep_ids else None
        self.count = 0
        self.fields: dict[str, set[str]] = {}
        self.nulls = Counter()
        self.splits: Counter = Counter()
        self.labels: Counter = Counter()
        self.has_label = False
        self.samples: list[str] = []

    def add(self, record: dict[str, Any], canonical: dict[str, Any]) -> None:
        line = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        self.row_hashes += hashlib.sha256(line.encode()).digest()
        ident = canonical.get("id")
        self.id_hashes += hashlib.blake2b(json.dumps(ident, ensure_ascii=False).encode(), digest_size=8).digest()
        if self.ids is not None:
            self.ids.append(ident)
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

    def add_batch(self, item: ArrowBatch) -> None:
        """A whole Arrow batch: vectorised canonical lines when its types allow, else row by row."""
        lines = canonical_lines(item.batch)
        if lines is None:
            for record, canonical in item.rows():
                self.add(record, canonical)
            return
        line_array, id_array = lines
        self.row_hashes += _hash_each(line_array, hashlib.sha256, None)
        self.id_hashes += _hash_each(id_array, hashlib.blake2b, 8)
        if self.ids is not None:
            self.ids.extend(_id_values(item.batch))
        self.count += item.batch.num_rows
        if len(self.samples) < SAMPLE_LINES:
            self.samples += line_array.slice(0, SAMPLE_LINES - len(self.samples)).to_pylist()
        _batch_signals(self, item.batch)

    def digest(self) -> str:
        import numpy as np

        hashes = np.frombuffer(self.row_hashes, dtype="S32")  # a view: sorted in place, never copied
        hashes.sort()
        return hashlib.sha256(memoryview(hashes).cast("B")).hexdigest()

    def duplicate_id_hashes(self) -> set[int]:
        import numpy as np

        ids = np.frombuffer(self.id_hashes, dtype="<u8")
        ids.sort()
        if len(ids) < 2:
            return set()
        repeated = ids[1:][ids[1:] == ids[:-1]]
        return set(np.unique(repeated).tolist())


def _count_category(counter: Counter, value: str) -> None:
    if value in counter or len(counter) < MAX_CATEGORIES:
        counter[value] += 1
    else:
        counter["(other)"] += 1


def id_hash(ident: Any) -> int:
    return int.from_bytes(hashlib.blake2b(json.dumps(ident, ensure_ascii=False).encode(), digest_size=8).digest(), "little")


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
                    record.prefix = where[: where.rfind("row ")]
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


def profile_source(source: Any, limits: ReadLimits | None = None) -> DatasetProfile:
    """Stream a source once and compute digest, row count, typed schema and quality signals.

    Raises InvalidInput (TooLarge over a limit) naming the source, the file, the line or row, the
    field and the value; never another exception for anything a source holds. Memory: one batch
    of records plus 40 bytes per row (a second pass, only when ids repeat, names them).
    """
    limits = limits or ReadLimits.default()
    hasher = RowHasher()
    for record, canonical in accepted_records(source, limits, batches=True):
        if isinstance(record, ArrowBatch):
            hasher.add_batch(record)
        else:
            hasher.add(record, canonical)
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
    repeated = hasher.duplicate_id_hashes()
    duplicates = _duplicate_rows(hasher)
    duplicate_ids: list[str] = []
    if repeated:  # rare: a second pass names them
        seen: set[str] = set()
        for _, canonical in accepted_records(source, limits):
            ident = canonical.get("id")
            if id_hash(ident) in repeated and len(seen) < 10_000:
                seen.add(str(ident))
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
    return DatasetProfile(
        source.source_format, hasher.digest(), n, fields, signals, types, DIGEST_ALGORITHM, tuple(hasher.samples)
    )


def _duplicate_rows(hasher: RowHasher) -> int:
    """Rows whose id an earlier row already had (count - distinct ids)."""
    import numpy as np

    ids = np.frombuffer(hasher.id_hashes, dtype="<u8")
    return int(len(ids) - len(np.unique(ids)))


def legacy_digest(source: Any, limits: ReadLimits | None = None) -> str:
    """The v0 digest (sha256 over the sorted canonical lines, each ending in a newline), to verify
    versions registered before rowset-sha256/v1. Holds the lines: meant for those small datasets."""
    limits = limits or ReadLimits.default()
    lines = sorted(
        json.dumps(c, sort_keys=True, separators=(",", ":"), ensure_ascii=False) for _, c in accepted_records(source, limits)
    )
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
_ID_CHUNK = 100_000


@dataclass
class RowIndex:
    """One hash per distinct id (the id's rows, sorted and hashed when it repeats), in id-hash order:
    40 bytes per row plus the ids as an Arrow string array, never the records."""

    id_hashes: Any  # numpy uint64, sorted, unique
    row_hashes: Any  # numpy S32, aligned
    ids: Any  # pyarrow array of the id text, aligned
    row_count: int


def row_index(source: Any, limits: ReadLimits | None = None, columns: set[str] | None = None) -> RowIndex:
    """The source's rows by id; with `columns`, each row hashed on those columns only (a diff
    compares rows on the columns both versions have: added and removed columns are reported apart)."""
    import numpy as np
    import pyarrow as pa

    limits = limits or ReadLimits.default()
    rows = bytearray()
    idhs = bytearray()
    chunks: list[Any] = []
    pending: list[str | None] = []
    count = 0
    for raw, canonical in accepted_records(source, limits, batches=True):
        if isinstance(raw, ArrowBatch):
            lines = canonical_lines(raw.batch, columns)
            if lines is not None:
                rows += _hash_each(lines[0], hashlib.sha256, None)
                idhs += _hash_each(lines[1], hashlib.blake2b, 8)
                if pending:  # keep the ids aligned with the hashes
                    chunks.append(pa.array(pending, pa.string()))
                    pending = []
                chunks.append(_id_array(raw.batch))
                count += raw.batch.num_rows
                continue
            _index_rows(raw.rows(), columns, rows, idhs, pending)
            count += raw.batch.num_rows
            continue
        if columns is not None:
            canonical = {k: v for k, v in canonical.items() if k in columns}
        line = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        rows += hashlib.sha256(line.encode()).digest()
        ident = canonical.get("id")
        idhs += hashlib.blake2b(json.dumps(ident, ensure_ascii=False).encode(), digest_size=8).digest()
        pending.append(ident)
        count += 1
        if len(pending) >= _ID_CHUNK:
            chunks.append(pa.array(pending, pa.string()))
            pending = []
    chunks.append(pa.array(pending, pa.string()))
    ids = pa.chunked_array(chunks, pa.string()).combine_chunks() if chunks else pa.array([], pa.string())
    idh = np.frombuffer(idhs, dtype="<u8")
    rowh = np.frombuffer(rows, dtype="S32")
    order = np.argsort(idh, kind="stable")  # rows of a repeated id are sorted by hash below
    idh, rowh = idh[order], rowh[order]
    ids = ids.take(pa.array(order))
    if len(idh):
        starts = np.flatnonzero(np.concatenate(([True], idh[1:] != idh[:-1])))
        repeated = np.flatnonzero(np.diff(np.append(starts, len(idh))) > 1)
        merged = rowh[starts].copy()
        ends = np.append(starts[1:], len(idh))
        for group in repeated:  # rare: an id on several rows stands for the multiset of its rows
            merged[group] = hashlib.sha256(np.sort(rowh[starts[group] : ends[group]]).tobytes()).digest()
        idh, rowh, ids = idh[starts], merged, ids.take(pa.array(starts))
    return RowIndex(idh, rowh, ids, count)


def _index_rows(rows: Any, columns: set[str] | None, out_rows: bytearray, out_ids: bytearray, pending: list) -> None:
    for _, canonical in rows:
        if columns is not None:
            canonical = {k: v for k, v in canonical.items() if k in columns}
        line = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        out_rows += hashlib.sha256(line.encode()).digest()
        ident = canonical.get("id")
        out_ids += hashlib.blake2b(json.dumps(ident, ensure_ascii=False).encode(), digest_size=8).digest()
        pending.append(ident)


def _examples(ids: Any, positions: Any) -> list[str]:
    import pyarrow as pa

    if len(positions) == 0:
        return []
    chosen = ids.take(pa.array(positions[: EXAMPLES * 20])).to_pylist()
    return sorted(str(i) for i in chosen)[:EXAMPLES]


def diff_rows(old: RowIndex, new: RowIndex) -> dict[str, Any]:
    """Rows added, removed and changed by id between two row indexes (counts and example ids)."""
    import numpy as np

    in_old = np.isin(new.id_hashes, old.id_hashes, assume_unique=True)
    in_new = np.isin(old.id_hashes, new.id_hashes, assume_unique=True)
    added = np.flatnonzero(~in_old)
    removed = np.flatnonzero(~in_new)
    common_new = np.flatnonzero(in_old)
    common_old = np.searchsorted(old.id_hashes, new.id_hashes[common_new])
    changed = common_new[new.row_hashes[common_new] != old.row_hashes[common_old]]
    return {
        "rows_added": int(len(added)),
        "rows_removed": int(len(removed)),
        "rows_changed": int(len(changed)),
        "examples": {
            "added": _examples(new.ids, added),
            "removed": _examples(old.ids, removed),
            "changed": _examples(new.ids, changed),
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
_BATCH_MODE: contextvars.ContextVar[bool] = contextvars.ContextVar("dataops_arrow_batch_mode", default=False)


class ArrowBatch:
    """A record batch an Arrow reader handed over whole (batch mode)."""

    def __init__(self, batch: Any, first_row: int, unreadable: Any) -> None:
        self.batch, self.first_row, self.unreadable = batch, first_row, unreadable
        self.prefix, self.label = "", ""

    def rows(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """(raw, canonical) of each row, checked like any record (the row-by-row path)."""
        try:
            records = self.batch.to_pylist()
        except Exception as exc:  # noqa: BLE001 - a value Python cannot hold
            raise self.unreadable(exc) from None
        for index, record in enumerate(records):
            yield record, _accepted(record, f"{self.prefix}row {self.first_row + index}", self.label)


_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_ .:/-]{1,200}$")
_NEEDS_PYTHON = re.compile(r"^[\[{]|[\x00-\x1f]")


def _canonical_column(array: Any) -> Any:
    """The canonical JSON text of each value (null as `null`), or None when a value needs the
    row-by-row rules (floats, lists, JSON-looking text, control characters, unusual names)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if pa.types.is_dictionary(kind):
        array, kind = array.dictionary_decode(), kind.value_type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        if pa.types.is_large_string(kind):
            array = array.cast(pa.string())  # one batch is far below 2 GiB of text
        if pc.any(pc.match_substring_regex(array, _NEEDS_PYTHON.pattern)).as_py():
            return None
        escaped = pc.replace_substring(pc.replace_substring(array, "\\", "\\\\"), '"', '\\"')
        quoted = pc.binary_join_element_wise('"', escaped, '"', "")
        quoted = pc.if_else(pc.equal(array, ""), pa.scalar(None, quoted.type), quoted)  # blank is null
        return pc.fill_null(quoted, "null")
    if pa.types.is_integer(kind):
        return pc.fill_null(pc.binary_join_element_wise('"', pc.cast(array, pa.string()), '"', ""), "null")
    if pa.types.is_boolean(kind):
        return pc.fill_null(pc.if_else(array, '"true"', '"false"'), "null")
    if pa.types.is_null(kind):
        return pa.array(["null"] * len(array), pa.string())
    if pa.types.is_struct(kind):
        names = [kind.field(i).name for i in range(kind.num_fields)]
        if not names or any(not _PLAIN_NAME.match(n) or '"' in n for n in names):
            return None
        pieces = []
        for name in sorted(names):
            child = _canonical_column(array.field(name))
            if child is None:
                return None
            pieces += [("," if pieces else "{") + json.dumps(name) + ":", pc.cast(child, pa.string())]
        joined = pc.binary_join_element_wise(*pieces, "}", "")
        return pc.if_else(pc.is_null(array), pa.scalar("null"), joined) if array.null_count else joined
    return None


def canonical_lines(batch: Any, columns: set[str] | None = None) -> tuple[Any, Any] | None:
    """(canonical line of each row, canonical JSON of each id) computed with Arrow kernels, exactly
    the text `canonical_record` gives row by row; None when the batch needs the row-by-row path."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = [n for n in batch.schema.names if columns is None or n in columns]
    if len(set(names)) != len(names) or any(not _PLAIN_NAME.match(n) or '"' in n for n in names):
        return None
    if "id" in batch.schema.names:
        id_type = batch.schema.field("id").type
        if not (pa.types.is_string(id_type) or pa.types.is_large_string(id_type) or pa.types.is_integer(id_type)):
            return None  # objects, lists, structs and floats as ids: the row path names them
    try:
        batch.validate(full=True)  # invalid UTF-8 in a string column: the row path refuses it
    except Exception:  # noqa: BLE001
        return None
    pieces: list[Any] = []
    for name in sorted(names):
        column = _canonical_column(batch.column(name))
        if column is None:
            return None
        pieces += [("," if pieces else "{") + json.dumps(name) + ":", pc.cast(column, pa.string())]
    if not pieces:
        return None
    lines = pc.binary_join_element_wise(*pieces, "}", "")
    ids = pc.cast(_canonical_column(batch.column("id")), pa.string()) if "id" in batch.schema.names else None
    if ids is None:
        ids = pa.array(["null"] * batch.num_rows, pa.string())
    return lines, ids


def _hash_each(array: Any, algorithm: Any, size: int | None) -> bytes:
    """The digest of each string of an Arrow string array, concatenated, without making Python strings."""
    import numpy as np
    import pyarrow as pa

    if pa.types.is_large_string(array.type):
        array = array.cast(pa.string())
    array = pa.concat_arrays([array]) if array.offset else array
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)[: len(array) + 1].tolist()
    data = memoryview(array.buffers()[2] or b"")
    out = bytearray()
    if size is None:
        for start, end in zip(offsets, offsets[1:], strict=False):
            out += algorithm(data[start:end]).digest()
    else:
        for start, end in zip(offsets, offsets[1:], strict=False):
            out += algorithm(data[start:end], digest_size=size).digest()
    return bytes(out)


def _id_array(batch: Any) -> Any:
    """The canonical id of each row as an Arrow string array (blank as null)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if "id" not in batch.schema.names:
        return pa.nulls(batch.num_rows, pa.string())
    ids = pc.cast(batch.column("id"), pa.string())
    return pc.if_else(pc.equal(ids, ""), pa.scalar(None, pa.string()), ids)


def _id_values(batch: Any) -> list[str | None]:
    return _id_array(batch).to_pylist()


def _arrow_type_name(kind: Any) -> str:
    import pyarrow as pa

    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_boolean(kind):
        return "boolean"
    if pa.types.is_integer(kind):
        return "integer"
    if pa.types.is_floating(kind):
        return "float"
    if pa.types.is_struct(kind) or pa.types.is_map(kind):
        return "object"
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return "list"
    if pa.types.is_null(kind):
        return "null"
    return "string" if (pa.types.is_string(kind) or pa.types.is_large_string(kind)) else str(kind)


def _batch_signals(hasher: RowHasher, batch: Any) -> None:
    """Field types, required-field nulls and the split / label counts of a batch, vectorised."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = batch.num_rows
    for name in batch.schema.names:
        column = batch.column(name)
        kinds = hasher.fields.setdefault(name, set())
        kinds.add("null" if column.null_count == n else _arrow_type_name(column.type))
    for name in REQUIRED_FIELDS:
        if name not in batch.schema.names:
            hasher.nulls[name] += n
            continue
        column = batch.column(name)
        missing = pc.is_null(column)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            missing = pc.or_(missing, pc.fill_null(pc.equal(column, ""), False))
        hasher.nulls[name] += pc.sum(missing).as_py() or 0

    def counts(name: str) -> dict[str, int]:
        if name not in batch.schema.names:
            return {"None": n}
        text = pc.cast(batch.column(name), pa.string())
        text = pc.fill_null(pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text), "None")
        return {str(v["values"]): v["counts"] for v in pc.value_counts(text).to_pylist()}

    for value, count in counts("split_or_stage").items():
        _count_category_n(hasher.splits, value, count)
    if LABEL_FIELD in batch.schema.names:
        hasher.has_label = True
    for value, count in counts(LABEL_FIELD).items():
        _count_category_n(hasher.labels, value, count)


def _count_category_n(counter: Counter, value: str, count: int) -> None:
    if value in counter or len(counter) < MAX_CATEGORIES:
        counter[value] += count
    else:
        counter["(other)"] += count
