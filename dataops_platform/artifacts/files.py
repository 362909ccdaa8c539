"""Artifact names, their files (the seed's names, SPEC §8), and reading/writing them."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from dataops_platform.artifacts import collector

ARTIFACT_FILES: dict[str, str] = {
    "platform_scope": "processed/platform_scope.json",
    "architecture_spec": "processed/architecture_spec.json",
    "api_catalog": "processed/api_catalog.json",
    "task_queues": "processed/task_queues.json",
    "governance_policy": "processed/governance_policy.json",
    "operating_model": "processed/operating_model.json",
    "dataset_versions": "processed/dataset_versions.jsonl",
    "experiment_runs": "processed/experiment_runs.jsonl",
    "lineage_graph": "processed/lineage_graph.json",
    "rollback_events": "processed/rollback_events.jsonl",
    "alerts": "processed/alerts.jsonl",
    "audit_log": "processed/audit_log.jsonl",
    "audit_anchor": "processed/audit_anchor.json",
    "incident_reviews": "processed/incident_reviews.jsonl",
    "sla_report": "processed/sla_report.json",
    "ui_panels": "console/ui_panels.json",
    "platform_metrics": "reports/p8_metrics.json",
    "report_md": "reports/p8_report.md",
    "report_pdf": "reports/p8_report.pdf",
    "test_results": "reports/p8_test_results.json",
    "test_report_md": "reports/p8_test_report.md",
}
# Rule 11's verified-prefix cursor (rules/chain_cursor.py); the audit_log refresh drops it when the
# file is rebuilt or a record in it rewritten, so such a file is walked from seq 1.
AUDIT_CURSOR_STATE = ".state/audit_chain.json"
# Written by test_report itself, so not yet present while it evaluates the rules.
TEST_REPORT_OUTPUTS = ("test_results", "test_report_md")


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def _process_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _process_umask()  # read once, at import: os.umask can only be read by setting it


@contextmanager
def replacing(path: Path) -> Iterator[IO[bytes]]:
    """A new file for `path`, renamed over it when the block ends well (a reader never sees half a
    file), removed when it fails. Made with a random name and O_EXCL beside the target, so nobody can
    plant a symlink at a fixed temporary name and have the write follow it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes it 0600: a file as open() would have made it
        with os.fdopen(fd, "wb") as out:
            yield out
        os.replace(temporary, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def identity(st: os.stat_result) -> tuple[int, int, int, int]:
    """How the platform recognises a file it wrote: (inode, size, mtime, ctime). Every write renames
    a new file into place (a new inode); an edit in place moves the mtime, and one whose mtime is
    put back afterwards (`touch -d`, os.utime) still moves the ctime, which cannot be set."""
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def read_regular(path: Path, limit: int) -> bytes | None:
    """The bytes of the regular file at `path`, or None when there is none, it is something else (a
    FIFO, which would block the reader, a directory, a device), a symlink, or larger than `limit`:
    how the platform reads its own state files, which nobody else should have put there."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                return None
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def write_artifact(root: Path, name: str, value: Any) -> Path:
    """Write one artifact: JSONL for lists of records, JSON, Markdown or PDF bytes otherwise.

    On a local disk through a temporary file and a rename, so a reader never sees half a file, and
    a JSONL artifact record by record (a million-record artifact is never one string in memory);
    on an object store (a `universal_pathlib` root) one PUT, which is atomic there already."""
    path = root / ARTIFACT_FILES[name]
    path.parent.mkdir(parents=True, exist_ok=True)
    local = isinstance(path, Path)
    if local and path.suffix == ".jsonl":
        digest = hashlib.blake2b(digest_size=16)
        with replacing(path) as out:
            for line in _jsonl_lines(value):
                data = line.encode("utf-8")
                digest.update(data)
                out.write(data)
        PARSED.wrote(path, digest.digest())
        return path
    if local and path.suffix == ".json":
        with replacing(path) as out:
            out.writelines(chunk.encode("utf-8") for chunk in _json_chunks(value))
        return path
    if path.suffix == ".jsonl":
        data: str | bytes = "".join(_jsonl_lines(value))
    elif path.suffix == ".json":
        data = _dump(value) + "\n"
    else:
        data = value if isinstance(value, bytes) else str(value)
    raw = data if isinstance(data, bytes) else data.encode("utf-8")
    if local:
        with replacing(path) as out:
            out.write(raw)
    else:
        path.write_bytes(raw)
    return path


# A JSON artifact holding a list longer than this is written on one line: nobody reads a
# million-node lineage graph by eye, and indenting goes through the standard library's pure-Python
# encoder (its C encoder only writes without indentation): seconds at a million objects.
COMPACT_ABOVE = 10_000


def _json_chunks(value: Any, batch: int = 8192) -> Iterator[str]:
    """The JSON text of `value` and a newline, in pieces (never one string in memory): indented as
    `_dump` writes it, or, above `COMPACT_ABOVE` items in a list, exactly what
    `json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)` writes."""
    if _longest_list(value) > COMPACT_ABOVE:
        yield from _compact_chunks(value, batch)
    else:
        pieces = _INDENTED.iterencode(value)
        while chunk := "".join(itertools.islice(pieces, batch)):
            yield chunk
    yield "\n"


def _longest_list(value: Any) -> int:
    if isinstance(value, dict):
        return max((_longest_list(v) for v in value.values()), default=0)
    if isinstance(value, (list, tuple)):
        return len(value)
    return 0


def _compact_chunks(value: Any, batch: int) -> Iterator[str]:
    """One-line JSON through the C encoder, a long list `batch` items per call; the separators are
    the encoder's own (", " and ": "), so the pieces joined are its one-call output."""
    if isinstance(value, dict) and all(type(k) is str for k in value):
        yield "{"
        for i, (key, item) in enumerate(sorted(value.items())):
            yield (", " if i else "") + _COMPACT.encode(key) + ": "
            yield from _compact_chunks(item, batch)
        yield "}"
    elif isinstance(value, (list, tuple)) and len(value) > batch:
        yield "["
        for start in range(0, len(value), batch):
            yield (", " if start else "") + _COMPACT.encode(list(value[start : start + batch]))[1:-1]
        yield "]"
    else:
        yield _COMPACT.encode(value)


_INDENTED = json.JSONEncoder(indent=2, sort_keys=True, default=str, ensure_ascii=False)
_COMPACT = json.JSONEncoder(sort_keys=True, default=str, ensure_ascii=False)


def _jsonl_lines(records: Any) -> Iterator[str]:
    for r in records:
        yield _encode_one(r) + "\n"


def _one_item_encoder() -> Callable[[Any], str]:
    """`json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)` for one value at a time,
    through one C encoder made once (`json.dumps` with arguments makes an encoder on every call,
    a third of the time of a small record). Records hold no cycles: no circular check."""
    try:
        from json.encoder import c_encode_basestring, c_make_encoder  # type: ignore[attr-defined]
    except ImportError:  # an interpreter without the C accelerator
        c_make_encoder = None
    if c_make_encoder is None or c_encode_basestring is None:
        return lambda value: json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    encoder = c_make_encoder(None, str, c_encode_basestring, None, ": ", ", ", True, False, True)
    return lambda value: "".join(encoder(value, 0))


_encode_one = _one_item_encoder()


def jsonl_line(record: Any) -> bytes:
    """One record's line of a JSONL artifact, as `write_artifact` writes it."""
    return (_encode_one(record) + "\n").encode("utf-8")


def compact_item(value: Any) -> bytes:
    """One item of a long list in a one-line JSON artifact, as `write_artifact` encodes it, and a newline."""
    return (_encode_one(value) + "\n").encode("utf-8")


def write_lists(root: Path, name: str, lists: dict[str, tuple[Path, int]]) -> Path:
    """Write the JSON artifact `name`, an object of lists, from files holding each list's items
    (`compact_item` lines) and their counts: the same bytes as `write_artifact` of the parsed object.
    Above `COMPACT_ABOVE` items the file is one line made by streaming the items through; below,
    the items are parsed and indented as any small artifact."""
    if max((count for _, count in lists.values()), default=0) <= COMPACT_ABOVE:
        value = {}
        for key, (items, _) in lists.items():
            value[key] = [json.loads(line) for line in items.read_bytes().split(b"\n") if line]
        return write_artifact(root, name, value)
    path = root / ARTIFACT_FILES[name]
    with replacing(path) as out:
        out.write(b"{")
        for i, (key, (items, _)) in enumerate(sorted(lists.items())):
            out.write((", " if i else "").encode() + _COMPACT.encode(key).encode("utf-8") + b": [")
            held = b""  # every item ends with "\n", written as the ", " before the next one
            with items.open("rb") as source:
                while chunk := source.read(1 << 22):
                    data = held + chunk.replace(b"\n", b", ")
                    out.write(data[:-2])
                    held = data[-2:]
            out.write(b"]")
        out.write(b"}\n")
    return path


def read_artifact(path: Path) -> Any:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().split("\n") if line.strip()]
    if path.suffix == ".json":
        return json.loads(path.read_text())
    if path.suffix == ".pdf":
        data = path.read_bytes()
        if not data.startswith(b"%PDF-"):
            raise ValueError("not a PDF file")
        return data
    return path.read_text()


class ParseCache:
    """Each artifact file parsed once per process while it is unchanged.

    One materialisation runs every check, the metrics, the report and the test report in one
    process (in-process executor), and each of them reads the artifacts: without this every file
    was parsed about 15 times a run. An entry is keyed by the file's (inode, size, mtime_ns,
    ctime_ns);
    `write_artifact` renames a new file into place, so a rewrite changes the inode. A file changed
    in place (an editor, a test corrupting it) keeps its inode, and file times are coarse (a
    kernel tick), so, as git does with its index, an entry whose file was modified within
    `RACY_SECONDS` of being read is "racy": until it is older, a hit is confirmed against the
    content's digest. Callers only read what they get: the parsed values are shared."""

    RACY_SECONDS = 2.0
    IDLE_SECONDS = 30.0  # no step for this long: the values are dropped (an idle worker holds none)

    def __init__(self) -> None:
        self._entries: dict[str, tuple[tuple[int, ...], bytes | None, Any]] = {}
        self._written: dict[str, bytes | tuple[int, ...]] = {}  # path -> digest or signature of a JSONL file written here
        self._own: dict[str, tuple[int, ...]] = {}  # path -> identity of a file the platform wrote (kept after reads)
        self._projections: dict[tuple[str, tuple], Any] = {}  # (path, fields) -> (identity read, its projection)
        self._lists: dict[str, dict[str, tuple[Path, tuple[int, ...]]]] = {}  # JSON of lists -> its items files
        self._verified: dict[str, tuple[int, ...]] = {}  # path -> identity of a file a projection read whole
        self._vouchers: list[Callable[[Path], tuple[int, ...] | None]] = []
        self._scope: str | None = None
        self._on_clear: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._active = 0  # steps running in this process
        self._generation = 0  # bumped by every step that starts

    def begin(self, scope: str) -> None:
        """Entering a run: a long-lived process (a Celery worker) keeps one run's artifacts, not every run's."""
        if scope != self._scope:
            self.clear()
            self._scope = scope

    @contextmanager
    def step(self, scope: str) -> Iterator[None]:
        """One Dagster step of run `scope`. The values stay for the run's next step in this process
        (the in-process executor runs them back to back); once no step has started for
        `IDLE_SECONDS` they are dropped, so a Celery worker does not hold a run's artifacts while idle."""
        with self._lock:
            self._active += 1
            self._generation += 1
        try:
            self.begin(scope)
            yield
        finally:
            with self._lock:
                self._active -= 1
                generation, idle = self._generation, self._active == 0
            if idle:
                collector.give_back()
            timer = threading.Timer(self.IDLE_SECONDS, self._drop_if_idle, (generation,))
            timer.daemon = True
            timer.start()

    def _drop_if_idle(self, generation: int) -> None:
        with self._lock:
            if self._active == 0 and self._generation == generation:
                self.clear()
                self._scope = None

    def on_clear(self, forget: Callable[[], None]) -> None:
        """Also call `forget` on clearing: results memoised from the values this cache shares."""
        self._on_clear.append(forget)

    def read(self, path: Path) -> Any:
        if type(path) not in _LOCAL_PATHS:  # an object store: no cheap signature, parse every time
            return read_artifact(path)
        key = str(path)
        st = path.stat()
        signature = identity(st)
        entry = self._entries.get(key)
        if entry is not None and entry[0] == signature:
            digest = entry[1]
            if digest is None:
                return entry[2]
            if hashlib.blake2b(path.read_bytes(), digest_size=16).digest() == digest:
                self._entries[key] = (signature, digest if self._racy(st) else None, entry[2])
                return entry[2]
        self._entries.pop(key, None)  # the old value is not kept alive while the new one parses
        content = path.read_bytes()
        digest = hashlib.blake2b(content, digest_size=16).digest()
        written = self._written.pop(key, None)
        own = written == digest or written == signature
        with collector.paused():
            value = _own_jsonl(content, path) if own and path.suffix == ".jsonl" else _parse(path, content)
        self._entries[key] = (signature, digest if self._racy(st) else None, value)
        return value

    def wrote(self, path: Path, digest: bytes) -> None:
        """`write_artifact` wrote this JSONL content here: read back, while the bytes are still those,
        it is parsed in one call (one record a line, as written) rather than line by line."""
        self._written[str(path)] = digest

    def wrote_file(self, path: Path, vouched: tuple[int, ...] | None = None) -> None:
        """The platform wrote the JSONL file at `path` (`jsonl_line` lines): `wrote` by the file's
        `identity` rather than a digest of bytes it never held. `vouched`: the identity a refresh
        state vouches for and the refresh checked, for a file this run did not write; the file is
        taken as written only while it still has that identity."""
        self._written[str(path)] = self._own[str(path)] = vouched if vouched is not None else identity(path.stat())

    def wrote_lists(self, path: Path, lists: dict[str, Path]) -> None:
        """The platform wrote the JSON artifact at `path` from these files of its lists' items
        (`write_lists`): it parses by construction, and each list can be projected from its file."""
        self._own[str(path)] = identity(path.stat())
        self._lists[str(path)] = {key: (items, identity(items.stat())) for key, items in lists.items()}

    def list_projections(self, path: Path, fields: dict[str, tuple[tuple[str, Any], ...]]) -> tuple[tuple, dict] | None:
        """(the JSON's identity, {list: `columns.Projection`}) of the JSON artifact at `path` made by
        `wrote_lists`, while it and the items files are unchanged; None when any cannot be taken."""
        from dataops_platform.artifacts import columns

        own, lists = self.owned(path), self._lists.get(str(path))
        if own is None or lists is None or set(lists) != set(fields) or not all(_same(i, x) for i, x in lists.values()):
            return None

        def read() -> dict[str, Any] | None:
            out = {}
            for name, (items, expected) in sorted(lists.items()):
                view = columns.read(items, fields[name], expected)
                if view is None:
                    return None
                out[name] = view
            return out

        value = self._projected((str(path), tuple(sorted(fields))), path, own, read)
        return None if value is None else (own, value)

    def owned(self, path: Path) -> tuple[int, ...] | None:
        """The identity of the file at `path` when it is still the file `wrote_file` (a JSONL artifact)
        or `wrote_lists` (a JSON one of lists) was told of, or one a refresh's state vouches for (a
        refresh in another process: `vouch_with`): the platform's own encoding, every record a line
        and every field present. None otherwise."""
        own = self._own.get(str(path))
        if own is not None and _same(path, own):
            return own
        for voucher in self._vouchers:
            own = voucher(path)
            if own is not None and _same(path, own):
                self._own[str(path)] = own
                return own
        return None

    def vouch_with(self, voucher: Callable[[Path], tuple[int, ...] | None]) -> None:
        """Also take as the platform's own a file whose identity `voucher` vouches for."""
        self._vouchers.append(voucher)

    def projection(self, path: Path, fields: tuple[tuple[str, Any], ...]) -> Any:
        """`columns.read` of an owned file, kept while it is unchanged; None when it cannot be taken."""
        from dataops_platform.artifacts import columns

        own = self.owned(path)
        if own is None:
            return None
        return self._projected((str(path), fields), path, own, lambda: columns.read(path, fields, own))

    def _projected(self, key: tuple, path: Path, own: tuple[int, ...], read: Callable[[], Any]) -> Any:
        """The projection kept under `key` while the file at `path` keeps the identity `own`, else
        `read()`, kept (and the file known to parse: `verified`) when it is not None."""
        kept = self._projections.get(key)
        if kept is not None and kept[0] == own:
            return kept[1]
        self._projections.pop(key, None)  # the old columns are not kept alive while new ones are read
        with collector.paused():
            value = read()
        if value is not None:
            self._projections[key] = (own, value)
            self._verified[str(path)] = own
        return value

    def verified_as(self, path: Path) -> tuple[int, ...] | None:
        """The identity of the file at `path` when a projection read it whole (`verified`)."""
        done = self._verified.get(str(path))
        return done if done is not None and _same(path, done) else None

    def verified(self, path: Path) -> bool:
        """Whether pyarrow read every line of the file at `path`, as it is now, for a projection: it
        parses, as json would read it (columns.read refuses what json would not take)."""
        done = self._verified.get(str(path))
        return done is not None and _same(path, done)

    def kept(self, path: Path) -> Any:
        """The parsed value kept for the file at `path` when it is certainly current (its identity
        unchanged and not racy), else None: what a reader may use without reading the file."""
        entry = self._entries.get(str(path))
        return entry[2] if entry is not None and entry[1] is None and _same(path, entry[0]) else None

    def _racy(self, st: os.stat_result) -> bool:
        return time.time_ns() - st.st_mtime_ns <= self.RACY_SECONDS * 1e9

    def __contains__(self, path: object) -> bool:
        """Whether the file at `path` has a parsed value kept."""
        return str(path) in self._entries

    def entry(self, path: Path) -> tuple[tuple[int, ...], bytes | None, Any] | None:
        """What is kept for `path`: (signature when parsed, content digest while racy else None,
        the parsed value), or None. Read only: for a reader that must know a value came from these bytes."""
        return self._entries.get(str(path))

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()
        self._written.clear()
        self._own.clear()
        self._projections.clear()
        self._lists.clear()
        self._verified.clear()
        for forget in self._on_clear:
            forget()


_LOCAL_PATHS = (type(Path()),)


def _same(path: Path, expected: tuple[int, ...]) -> bool:
    try:
        return identity(path.stat()) == expected
    except OSError:
        return False


def _parse(path: Path, content: bytes) -> Any:
    """`read_artifact` on bytes already read (the same decoding, the same errors)."""
    if path.suffix == ".pdf":
        if not content.startswith(b"%PDF-"):
            raise ValueError("not a PDF file")
        return content
    text = content.decode()
    if "\r" in text:  # what read_text's universal newlines make of it
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if path.suffix == ".jsonl":
        loads = json.loads  # records are split at "\n" only: a string may hold U+2028, which splitlines() splits at
        return [loads(line) for line in text.split("\n") if line.strip()]
    if path.suffix == ".json":
        return json.loads(text)
    return text


def _own_jsonl(content: bytes, path: Path) -> list[Any]:
    """The records of a JSONL file exactly as `write_artifact` wrote it (each line one `json.dumps`
    of a record, none empty, none holding a raw "\\n"): one `json.loads` of them as an array gives the
    same records as a parse line by line, faster, and with each key string shared by every record
    (the decoder's key memo lasts one call), a third less memory for a large artifact. Should the
    array hold another number of records than the file has lines (a line holding two records, or
    none), the file is not as written: it is parsed line by line, which says what is wrong."""
    text = content.decode()
    if "\r" in text:  # read_artifact's universal newlines split a line there: parsed as it parses
        return _parse(path, content)
    try:
        records = json.loads("[" + text[:-1].replace("\n", ",") + "]") if text else []
    except ValueError:
        records = None
    return records if records is not None and len(records) == text.count("\n") else _parse(path, content)


PARSED = ParseCache()


MISSING = object()  # `Artifacts.version` of an artifact that is not there


@dataclass(frozen=True)
class Owned:
    """`Artifacts.version` of a file the platform wrote: equal while it is the same file, unchanged."""

    path: str
    identity: tuple[int, ...]


def same_version(a: Any, b: Any) -> bool:
    return a is b or (type(a) is Owned and a == b)


def version_of(artifacts: Any, name: str) -> Any:
    """`Artifacts.version` of `artifacts` (or of a view offering it); of a plain mapping, the value
    itself, or `MISSING`."""
    version = getattr(artifacts, "version", None)
    if version is not None:
        return version(name)
    return artifacts[name] if name in artifacts else MISSING


class Artifacts(MutableMapping):
    """Parsed artifacts by name; `problems` names files that are missing or do not parse.

    Each file is parsed when it is first asked for (a check reads its rule's few artifacts, not
    every one, so a check early in a refresh no longer parses the big files that are about to be
    rewritten), through the process's `PARSED` cache: a file unchanged since the last `Artifacts`
    is not parsed again, and its value is the same object (so results memoised by the identity of
    the artifacts they read are shared too). Which files exist is taken when it is made; iterating,
    `len` and `problems` parse every file. Read-only in spirit: never change a value in place."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._values: dict[str, Any] = {}
        self._problems: dict[str, str] = {}
        self._unread: dict[str, Path] = {}
        self._set: set[str] = set()  # names given a value on this object rather than read from a file
        self._tokens: dict[str, Owned] = {}  # name -> the platform's own file this object read it from
        for name, relative in ARTIFACT_FILES.items():
            path = root / relative
            if path.exists():
                self._unread[name] = path
            else:
                self._problems[name] = f"{relative} is missing"

    def _read(self, name: str) -> None:
        path = self._unread.pop(name, None)
        if path is None:
            return
        relative = ARTIFACT_FILES[name]
        try:
            self._values[name] = PARSED.read(path)
            entry = PARSED.entry(path)  # none kept for an object store's file
            if entry is not None:
                self._own_read(name, path, entry[0])
        except (ValueError, UnicodeDecodeError) as exc:
            self._problems[name] = f"{relative} does not parse: {exc}"
        except RecursionError:  # json's own limit: no platform writer nests that deep
            self._problems[name] = f"{relative} does not parse: a value nested too deeply"
        except FileNotFoundError:  # removed since it was seen
            self._problems[name] = f"{relative} is missing"

    def _own_read(self, name: str, path: Path, read_from: tuple[int, ...]) -> None:
        """This object read `name` from the file of identity `read_from`: when that is the
        platform's own file, its identity stands for what was read (`version`)."""
        if type(path) in _LOCAL_PATHS and PARSED.owned(path) == read_from:
            self._tokens[name] = Owned(str(path), read_from)
        else:
            self._tokens.pop(name, None)

    def _read_all(self) -> None:
        for name in list(self._unread):
            self._read(name)

    @property
    def problems(self) -> dict[str, str]:
        """Files missing or not parsing. A file a projection read whole, unchanged since
        (`PARSED.verified`), is not parsed again to find that out."""
        for name, path in list(self._unread.items()):
            if type(path) not in _LOCAL_PATHS or not PARSED.verified(path):
                self._read(name)
        return self._problems

    def projection(self, name: str, fields: tuple[tuple[str, Any], ...] | None = None) -> Any:
        """The records of the JSONL artifact `name` with only `fields` (by default its
        `columns.PROJECTED` fields): a `columns.Projection` when one can be taken
        (`PARSED.projection`), else the parsed records, every field of them (as for an artifact that
        is not projected, a value set on this object, or one kept parsed already)."""
        from dataops_platform.artifacts.columns import PROJECTED, PROJECTED_LISTS

        fields = fields or PROJECTED.get(name)
        path = self._unread.get(name)
        if path is not None and name in PROJECTED_LISTS and PARSED.kept(path) is None:
            lists = PARSED.list_projections(path, PROJECTED_LISTS[name])
            if lists is not None:
                self._own_read(name, path, lists[0])
                return lists[1]
        if path is not None and fields:
            value = PARSED.kept(path)
            if value is not None:
                return self[name]
            value = PARSED.projection(path, fields)
            if value is not None:
                self._own_read(name, path, value.source)
                return value
        return self[name]

    def parsed_once(self, name: str, fields: tuple[tuple[str, Any], ...] | None = None) -> Any:
        """The parsed records of artifact `name`, not kept by the parse cache when it holds none yet:
        a projected artifact read by Python's json, for a rule's exact verdict on a violation it
        found on the projection, is not held for the rest of the run. A JSONL file comes as
        `columns.ParsedLines` (parsed line by line each time it is walked, each record only its
        `fields`, by default the projected ones; every field through `columns.whole_records`), once
        every line has parsed. KeyError when missing or unparsable, as for `self[name]`."""
        from dataops_platform.artifacts.columns import PROJECTED, parse_lines

        path = self._unread.get(name)
        if path is None or type(path) not in _LOCAL_PATHS or path in PARSED:
            return self[name]
        fields = fields or PROJECTED.get(name)
        if path.suffix == ".jsonl" and fields:
            lines = parse_lines(path, tuple(f for f, _ in fields), PARSED.verified_as(path))
            if lines is not None:
                return lines
        try:  # parsed whole, not kept; or, when it does not parse, read as every reader is (which says why)
            with collector.paused():
                return read_artifact(path)
        except (OSError, ValueError, RecursionError):
            return self[name]  # says why, as every reader is told

    def version(self, name: str) -> Any:
        """What stands for the artifact's content when results computed from it are remembered: the
        identity of the platform's own file this object read it from (`PARSED.owned`), or, not read
        yet, that the file has now; otherwise the value itself (compared by identity: the parse
        cache shares each unchanged file's value), or `MISSING`. Never the file on disk for what
        this object did not read from it (a value set, an artifact deleted or missing here)."""
        if name in self._set:
            return self._values[name] if name in self._values else MISSING
        token = self._tokens.get(name)
        if token is not None:
            return token
        path = self._unread.get(name)
        if path is not None and type(path) in _LOCAL_PATHS:
            own = PARSED.owned(path)
            if own is not None:
                return Owned(str(path), own)
        return self[name] if name in self else MISSING

    def names(self) -> list[str]:
        """The artifacts present (found when this was made, or set since), without parsing any."""
        known = set(self._values) | set(self._unread)
        return [n for n in ARTIFACT_FILES if n in known] + [n for n in self._values if n not in ARTIFACT_FILES]

    def __getitem__(self, name: str) -> Any:
        self._read(name)
        return self._values[name]

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            self._read(name)
        return name in self._values

    def __iter__(self) -> Iterator[str]:
        self._read_all()
        return iter([n for n in ARTIFACT_FILES if n in self._values] + [n for n in self._values if n not in ARTIFACT_FILES])

    def __len__(self) -> int:
        self._read_all()
        return len(self._values)

    def __setitem__(self, name: str, value: Any) -> None:
        self._unread.pop(name, None)  # a problem found for the file stays listed, as it was found
        self._values[name] = value
        self._set.add(name)
        self._tokens.pop(name, None)

    def __delitem__(self, name: str) -> None:
        self._read(name)
        del self._values[name]
        self._tokens.pop(name, None)

    def __repr__(self) -> str:
        return f"Artifacts({self.root!s}, read={sorted(self._values)}, problems={sorted(self._problems)})"
