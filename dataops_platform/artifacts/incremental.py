"""Incremental refresh of a keyed list of records: rebuild what changed since the last build, splice it in.

A keyed list is an artifact's records in key order (a JSONL artifact, or one list of the lineage
graph), each item one encoded line. Its state, in `<artifacts>/.state/`, is the feed cursor of the
last build, the item keys in file order with each item's byte offset, and the signature of the file
written. A refresh reads the change feed past the cursor (`store.feed`), asks the list which keys
those changes touch, rebuilds only those items from the store and writes the new file by copying
the unchanged byte ranges of the old one around them (`os.copy_file_range`: no JSON work for
what did not change). The output is byte-identical to a full build of the same store: the property
test `dataops_platform_tests/scale/test_incremental_equals_full.py` holds it to that.

A full build instead, when: asked (`full=True`); there is no state, or it is of another format,
unreadable, or for files that are no longer the ones it describes (deleted, edited by hand,
replaced); the feed's triggers are missing; a change the list cannot localise (None from
`dirty`); the list's own time boundary passed (`stale`); or the last full build is older than
`FULL_EVERY`, which bounds how long anything the feed cannot see (an MLflow run purged) can go
unnoticed.

Files are recognised by their `files.identity` (inode, size, mtime, ctime): after writing, the
file's mtime is set 2 s into the past, so an edit in place later (which stamps the current time)
always changes it, however coarse the file clock.
"""

from __future__ import annotations

import bisect
import json
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

import dataops_platform
from dataops_platform.artifacts.files import ARTIFACT_FILES, PARSED, identity, read_regular, replacing
from dataops_platform.errors import DataOpsError
from dataops_platform.store import feed
from dataops_platform.text import plural

STATE_DIRNAME = ".state"
FORMAT = 1  # bump when an item's encoding or a list's content changes: every state is rebuilt in full
FULL_EVERY = timedelta(hours=24)
GAP_PATIENCE = timedelta(minutes=15)  # how long a seq missing below the cursor (a transaction still open) is waited for
_BACKDATE_NS = 2_000_000_000
_SIDECAR_MAX_BYTES = 4 << 30  # a key index: tens of bytes a key
_STATE_MAX_BYTES = 256 << 20  # a list's state is small (its `extra` the largest part): anything bigger is not one
MAX_CHANGES = 200_000  # more changes than this (and than the list has items) since the last build: rebuild
CODE = f"{dataops_platform.__version__}/{FORMAT}"  # a state written by other code is not trusted

Key = Any


@dataclass
class KeyedList:
    """One list of records keyed by an id, built from the store.

    - `tables`: the feed tables whose changes can touch its items;
    - `dirty(changes, session, extra)`: the keys those changes touch (and whatever changed outside the
      store since the last build, which the list tracks in `extra`, kept with its state), or None
      when they cannot be localised; called on every refresh, changes or not;
    - `snapshot(session)`: the `extra` of a full build;
    - `items(session, keys, extra)`: `(key, line)` for those keys that exist (every key when None),
      in key order (a key asked for and not returned is deleted), noting in `extra` what it must
      watch outside the store; an iterable read once (a full build writes the items as they come);
    - `stale(session, built_at, now)`: a reason when time alone changed items since `built_at`."""

    name: str
    tables: frozenset[str]
    dirty: Callable[[list[feed.Change], Session, dict[str, Any]], set[Key] | None]
    items: Callable[[Session, set[Key] | None, dict[str, Any]], Iterable[tuple[Key, bytes]]]
    snapshot: Callable[[Session], dict[str, Any]] = lambda _s: {}
    stale: Callable[[Session, datetime, datetime], str | None] = lambda _s, _b, _n: None


@dataclass
class Outcome:
    mode: str  # "full" | "incremental" | "unchanged"
    reason: str
    items: int  # items in the list now
    rebuilt: int  # items built from the store in this refresh (all of them on a full build)
    path: Path
    rewrote: bool = False  # an item that was there before replaced or removed (not only items appended)
    vouched: list[int] | None = None  # "unchanged": the signature the state vouched for and the refresh checked


@dataclass
class _State:
    cursor: int  # the feed seq read up to
    token: str | None  # the token of the change at `cursor` when it was read
    items: int
    built_at: str
    full_at: str
    signature: list[int]  # (inode, size, mtime_ns) of the file written
    sidecars: list[list[int]]  # the same of the keys and the offsets written with it
    schema: str | None  # the store's schema revision
    code: str
    gaps: dict[str, str] = field(default_factory=dict)  # seq -> when first seen missing
    extra: dict[str, Any] = field(default_factory=dict)


def state_dir(root: Path) -> Path:
    return root / STATE_DIRNAME


def refresh(lst: KeyedList, session: Session, root: Path, target: Path, now: datetime, *, full: bool = False) -> Outcome:
    """Bring `target` (the list's file) up to the store `session` reads."""
    if not is_local(target):  # an object store: no cheap file identity to trust, one PUT of the whole list
        lines = [line for _, line in sorted(lst.items(session, None, {}), key=lambda kv: kv[0])]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"".join(lines))
        return Outcome("full", "the artifacts are not on a local disk", len(lines), len(lines), target)
    try:
        with exclusive(state_dir(root) / f"{lst.name}.lock"):  # two runs at once would splice into one file
            return _refresh_local(lst, session, root, target, now, full=full)
    except PermissionError as exc:
        raise DataOpsError(
            f"cannot write {exc.filename or state_dir(root)}: the artifacts directory and its {STATE_DIRNAME}/ must be "
            "writable by whoever materialises (the platform's own user); fix its owner or mode, then materialise again"
        ) from exc
    except (FileExistsError, IsADirectoryError, NotADirectoryError) as exc:  # .state a file, a state file a directory
        where = Path(exc.filename) if exc.filename else None
        if where is None or not where.is_relative_to(state_dir(root)):
            raise
        raise _not_ours(where) from exc


@contextmanager
def exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `lock_path` (created if need be) for the block, waiting for it. The
    lock file is opened without following a symlink and must be a regular file: a FIFO or a link
    planted there would block the run or create a file elsewhere."""
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise _not_ours(lock_path.parent) from exc
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        if isinstance(exc, PermissionError):
            raise
        raise _not_ours(lock_path) from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _not_ours(lock_path)
        try:
            import fcntl
        except ImportError:  # not POSIX: no advisory locks; one materialisation at a time is then the operator's
            yield
            return
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _not_ours(path: Path) -> DataOpsError:
    return DataOpsError(
        f"{path} is not what the platform keeps there (a symlink, a FIFO, a file where a directory belongs or the "
        f"reverse): it is the refresh's own bookkeeping; remove it (or the whole {STATE_DIRNAME}/ directory: the next "
        "run rebuilds in full), then materialise again"
    )


def _refresh_local(lst: KeyedList, session: Session, root: Path, target: Path, now: datetime, *, full: bool) -> Outcome:
    head = feed.head(session)
    paths = _paths(root, lst.name)
    state = None if full else _load_state(paths[0])
    reason = "full rebuild asked for" if full else _why_full(lst, session, target, now, state, paths, head)
    if reason is None and state is not None:
        changes, gaps, reason = _changes(session, lst, state, head, now)
        extra = dict(state.extra)
        dirty = lst.dirty(changes, session, extra) if reason is None else None
        if reason is not None:
            pass
        elif dirty is None:
            reason = "a change the list cannot localise"
        elif not dirty:
            _save_state(
                session, paths, state, head, gaps, now, target, extra, state.items, full_build=False, signature=state.signature
            )
            return Outcome("unchanged", "no change touches it", state.items, 0, target, vouched=state.signature)
        else:
            built = dict(lst.items(session, dirty, extra))
            changed = sorted((k, built.get(k)) for k in dirty)
            try:
                total, rewrote = _splice(target, paths[1], paths[2], changed)
            except StateMismatch as exc:
                reason = str(exc)
            else:
                _save_state(session, paths, state, head, gaps, now, target, extra, total, full_build=False)
                return Outcome("incremental", f"{plural(len(built), 'record')} rebuilt for {plural(len(dirty), 'changed key')}",
                               total, len(built), target, rewrote)  # fmt: skip
    extra = lst.snapshot(session)  # taken before the items: what changes meanwhile is seen again next time
    try:
        total = _write_full(target, paths[1], paths[2], lst.items(session, None, extra))
    except _Unordered:  # the store's order is not the key order (a collation): read again, held, sorted
        extra = lst.snapshot(session)
        items = sorted(lst.items(session, None, extra), key=lambda kv: kv[0])
        total = _write_full(target, paths[1], paths[2], items, ordered=False)
    _save_state(session, paths, None, head, _recent_gaps(session, head, now), now, target, extra, total, full_build=True)
    return Outcome("full", reason or "no previous build", total, total, target)


def vouched(path: Path) -> tuple[int, ...] | None:
    """The file identity the refresh state of the JSONL record artifact at `path` vouches for, as a
    refresh does before it trusts the file (`_why_full`); None when no state of this code's names
    it. Lets a process that did not run the refresh (a Celery worker's check) read it as the
    platform's own (`PARSED.owned`)."""
    if not is_local(path) or len(path.parents) < 2:
        return None
    root = path.parents[1]
    name = next((n for n, rel in ARTIFACT_FILES.items() if rel.endswith(".jsonl") and root / rel == path), None)
    state = _load_state(_paths(root, name)[0]) if name is not None else None
    return tuple(state.signature) if state is not None and state.code == CODE else None


PARSED.vouch_with(vouched)


def is_local(path: Path) -> bool:
    """A plain local path (not a `universal_pathlib` one, even file://): what the state can describe."""
    return type(path) is type(Path())


def _paths(root: Path, name: str) -> tuple[Path, Path, Path]:
    base = state_dir(root)
    return base / f"{name}.json", base / f"{name}.keys.json", base / f"{name}.offsets"


def _why_full(
    lst: KeyedList, session: Session, target: Path, now: datetime, state: _State | None, paths: tuple[Path, ...], head: int
) -> str | None:
    """Why this refresh cannot trust its state and must rebuild the list in full; None when it can."""
    if state is None:
        return "no previous build"
    _, keys_path, offsets_path = paths
    if not target.exists() or not keys_path.exists() or not offsets_path.exists():
        return "a file of the last build is missing"
    if _signature(target) != state.signature:
        return f"{target.name} changed since the platform wrote it"
    if [_signature(keys_path), _signature(offsets_path)] != state.sidecars:
        return "its key index is not the one written with the file"
    if state.schema != feed.schema_revision(session) or state.code != CODE:
        return "the schema or the platform's code changed since the last build"
    if not feed.feed_installed(session):
        return "the change feed's triggers are missing or disabled (`dataops init` reinstalls them)"
    built_at, full_at = state_instant(state.built_at), state_instant(state.full_at)
    if built_at is None or full_at is None or built_at > now:
        return "the last build's time is unreadable or in the future"
    if now - full_at >= FULL_EVERY:
        return f"the last full build is older than {FULL_EVERY}"
    if state.cursor > head:
        return "the change feed is behind the last build (a store restored from a backup, or another database)"
    oldest = feed.oldest(session)
    if oldest is not None and oldest > state.cursor + 1:  # pruned past this cursor (another artifacts directory did)
        return "the change feed no longer holds every change since the last build"
    if state.cursor and feed.token_at(session, state.cursor) != state.token:
        return "the change feed is not the one last read (a store restored from a backup, or another database)"
    if head - state.cursor > max(MAX_CHANGES, state.items):
        return f"{head - state.cursor:,} changes since the last build: rebuilding is cheaper"
    return lst.stale(session, built_at, now)


def state_instant(text: Any) -> datetime | None:
    """A time this module wrote in a state (aware ISO-8601), or None for anything else."""
    try:
        value = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return value if value.tzinfo else None


def _changes(
    session: Session, lst: KeyedList, state: _State, head: int, now: datetime
) -> tuple[list[feed.Change], dict[str, str], str | None]:
    """The changes past the cursor, and those that were missing below it and have committed since;
    the seqs still missing; and why the list must rebuild in full instead, if it must.

    A seq is missing when a transaction took it and has not committed yet (PostgreSQL hands sequence
    values out at insert time), when it rolled back (a gap for good: every refused write on
    PostgreSQL leaves some), or when someone deleted the change. SQLite never leaves a gap (one
    writer; a rolled-back insert gives its seq back), so a missing change there was deleted: a full
    rebuild. On PostgreSQL each gap remembers the transaction horizon when it was seen
    (`feed.horizon`): once every transaction that could hold it has ended, a gap still missing was
    rolled back and is dropped; one held open longer than `GAP_PATIENCE` rebuilds the list rather
    than being forgotten."""
    changes = list(feed.changes_between(session, state.cursor, head, lst.tables))
    gaps = dict(state.gaps)
    postgres = session.get_bind().dialect.name == "postgresql"
    finished_below = feed.horizon(session)[0] if postgres and gaps else None  # before the rows are looked for
    if gaps:
        changes = feed.changes_at(session, [int(s) for s in gaps], lst.tables) + changes
        present = feed.present(session, [int(s) for s in gaps])
        gaps = {s: mark for s, mark in gaps.items() if int(s) not in present and not _ended(mark, finished_below)}
    if head > state.cursor:
        seen = feed.present(session, range(state.cursor + 1, head + 1))
        missing = [s for s in range(state.cursor + 1, head + 1) if s not in seen]
        if missing and not postgres:
            return changes, gaps, f"{plural(len(missing), 'change')} missing from the feed (deleted by hand?)"
        if missing:
            mark = _gap_mark(session, now)
            gaps |= {str(s): mark for s in missing}
    overdue = [s for s, mark in gaps.items() if now - _gap_seen(mark, now) >= GAP_PATIENCE]
    if overdue:
        return (
            changes,
            gaps,
            f"a transaction took change {min(overdue, key=int)} more than {GAP_PATIENCE} ago and never committed it",
        )
    return changes, gaps, None


def _gap_mark(session: Session, now: datetime) -> str:
    """What a gap remembers: the first transaction id not yet handed out when it was seen, and when."""
    return f"{feed.horizon(session)[1]} {now.isoformat()}"


def _ended(mark: str, finished_below: int | None) -> bool:
    """Whether every transaction that could hold this gap has ended (it was rolled back then)."""
    xid, _, _ = mark.partition(" ")
    return finished_below is not None and xid.isdigit() and finished_below >= int(xid)


def _gap_seen(mark: str, now: datetime) -> datetime:
    return state_instant(mark.partition(" ")[2]) or now


def prunable(root: Path, names: Iterable[str], now: datetime) -> int | None:
    """The seq every list of `names` with a usable state here has read up to, and waits for nothing
    below: the feed may forget what is older. A list whose state is unreadable or due for its daily
    full rebuild holds nothing back (its next build reads no feed). None when no list has a state."""
    through = []
    for name in names:
        state = _load_state(_paths(root, name)[0])
        full_at = state_instant(state.full_at) if state is not None else None
        if state is None or full_at is None or now - full_at >= FULL_EVERY:
            continue
        through.append(min([state.cursor, *(int(s) for s in state.gaps)]))
    return min(through) if through else None


def _recent_gaps(session: Session, head: int, now: datetime, window: int = 10_000) -> dict[str, str]:
    """PostgreSQL: seqs missing among the newest `window` below `head` at a full build, which
    transactions still open may commit (the build could not see them). SQLite has none."""
    if session.get_bind().dialect.name != "postgresql":
        return {}
    oldest = feed.oldest(session)
    if oldest is None:
        return {}
    start = max(1, head - window + 1, oldest)
    seen = feed.present(session, range(start, head + 1))
    mark = _gap_mark(session, now)
    return {str(s): mark for s in range(start, head + 1) if s not in seen}


def _load_state(path: Path) -> _State | None:
    """The state at `path`, or None for anything that is not exactly a state this code wrote."""
    raw = read_regular(path, _STATE_MAX_BYTES)  # not a FIFO (it would block the run), not a symlink
    if raw is None:
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return None
        gaps, extra = data.get("gaps", {}), data.get("extra", {})
        if not isinstance(gaps, dict) or not isinstance(extra, dict):
            return None
        state = _State(
            cursor=_int(data["cursor"]),
            token=data["token"] if isinstance(data["token"], str) or data["token"] is None else _bad(),
            items=_int(data["items"]),
            built_at=str(data["built_at"]),
            full_at=str(data["full_at"]),
            signature=[_int(x) for x in data["signature"]],
            sidecars=[[_int(x) for x in sig] for sig in data["sidecars"]],
            schema=data["schema"] if isinstance(data["schema"], str) or data["schema"] is None else _bad(),
            code=str(data["code"]),
            gaps={str(_int(k)): str(v) for k, v in gaps.items()},
            extra=extra,
        )
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):  # a state file nobody should trust
        return None
    return state if len(state.signature) == 4 and len(state.sidecars) == 2 and state.items >= 0 and state.cursor >= 0 else None


def _int(value: Any) -> int:
    if type(value) is int:
        return value
    if isinstance(value, str) and value.isdigit() and len(value) < 20:
        return int(value)
    raise ValueError(f"not a count: {value!r}")


def _bad() -> Any:
    raise ValueError("malformed state")


def _save_state(
    session: Session, paths: tuple[Path, Path, Path], old: _State | None, cursor: int, gaps: dict[str, str], now: datetime,
    target: Path, extra: dict[str, Any], items: int, *, full_build: bool, signature: list[int] | None = None,
) -> None:  # fmt: skip
    """Write the state last, once the file and its index are in place. `signature` is the file's
    as checked, for a refresh that did not write it: never re-read, so an edit made since the check
    is not vouched for."""
    state_path, keys_path, offsets_path = paths
    if signature is None:
        _backdate(target)
        for sidecar in (keys_path, offsets_path):
            _backdate(sidecar)
    data = {
        "format": FORMAT,
        "code": CODE,
        "schema": feed.schema_revision(session),
        "cursor": cursor,
        "token": feed.token_at(session, cursor) if cursor else None,
        "items": items,
        "built_at": now.isoformat(),
        "full_at": now.isoformat() if full_build or old is None else old.full_at,
        "signature": signature if signature is not None else _signature(target),
        "sidecars": old.sidecars
        if signature is not None and old is not None
        else [_signature(keys_path), _signature(offsets_path)],
        "gaps": gaps,
        "extra": extra,
    }
    _atomic_write(state_path, json.dumps(data, sort_keys=True).encode())


def _signature(path: Path) -> list[int]:
    """The file's `files.identity`, as a state keeps it (a JSON list)."""
    return list(identity(path.stat()))


def _backdate(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - _BACKDATE_NS))


def _atomic_write(path: Path, data: bytes) -> None:
    with replacing(path) as out:
        out.write(data)


def _load_keys(keys_path: Path) -> list[Key]:
    raw = read_regular(keys_path, _SIDECAR_MAX_BYTES)  # not a FIFO: it would block the run, holding the list's lock
    if raw is None:
        raise StateMismatch(f"{keys_path.name} is not a regular file of the platform's")
    try:
        keys = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise StateMismatch(f"{keys_path.name} is unreadable ({exc.__class__.__name__})") from None
    if not isinstance(keys, list):
        raise StateMismatch(f"{keys_path.name} is not a list of keys")
    return keys


def _write_keys(keys_path: Path, keys: list[Key]) -> None:
    _atomic_write(keys_path, json.dumps(keys, ensure_ascii=False).encode())


def _write_offsets(offsets_path: Path, offsets: Any) -> None:
    import numpy as np

    with replacing(offsets_path) as out:
        out.write(np.asarray(offsets, dtype=np.int64).tobytes())


def _load_offsets(offsets_path: Path) -> Any:
    import numpy as np

    return np.fromfile(offsets_path, dtype=np.int64)


class _Unordered(Exception):
    """The items did not come in strictly increasing key order."""


def _write_full(
    target: Path, keys_path: Path, offsets_path: Path, items: Iterable[tuple[Key, bytes]], *, ordered: bool = True
) -> int:
    """The list's file, written as its items come, then its keys and offsets (the state, written
    after them, vouches for all three); how many items. With `ordered`, raises _Unordered, leaving
    the file as it was, when a key is not greater than the one before it."""
    from array import array

    offsets, keys = array("q", [0]), []
    with replacing(target) as out:
        position = 0
        for key, line in items:
            if ordered and keys and not keys[-1] < key:
                raise _Unordered
            keys.append(key)
            out.write(line)
            position += len(line)
            offsets.append(position)
    _write_keys(keys_path, keys)
    _write_offsets(offsets_path, offsets)
    return len(keys)


def _splice(target: Path, keys_path: Path, offsets_path: Path, changed: list[tuple[Key, bytes | None]]) -> tuple[int, bool]:
    """Write `target` anew: the old items, with each changed key's item replaced, inserted (a key not
    there before) or left out (None), unchanged byte ranges copied by the kernel. The items now, and
    whether a change fell at or before the last old key (more than items appended)."""
    import numpy as np

    keys = _load_keys(keys_path)
    for path in (offsets_path, target):  # regular files only: a FIFO would block the run, holding the list's lock
        if not stat.S_ISREG(path.lstat().st_mode):
            raise StateMismatch(f"{path.name} is not a regular file of the platform's")
    if offsets_path.stat().st_size != 8 * (len(keys) + 1):  # before reading it: a forged state may vouch for 2 GB
        raise StateMismatch(f"{offsets_path.name} does not describe {target.name}")
    offsets = _load_offsets(offsets_path)
    size = target.stat().st_size
    if len(offsets) != len(keys) + 1 or int(offsets[0]) != 0 or int(offsets[-1]) != size or bool((np.diff(offsets) <= 0).any()):
        raise StateMismatch(f"{keys_path.name} does not describe {target.name}")
    try:
        ordered = all(a < b for a, b in zip(keys, keys[1:], strict=False))  # what bisect below relies on
    except TypeError:
        ordered = False
    if not ordered:
        raise StateMismatch(f"{keys_path.name} holds keys out of order or of another kind")
    new_keys: list[Key] = []
    pieces: list[Any] = []  # offsets of the new file, segment by segment
    position = 0
    try:
        with target.open("rb") as old, replacing(target) as out:
            cursor = 0  # the next old item not yet copied or dropped
            for key, line in changed:
                at = bisect.bisect_left(keys, key, lo=cursor)
                position = _copy(old, out, offsets, cursor, at, position, pieces)
                new_keys += keys[cursor:at]
                cursor = at + 1 if at < len(keys) and keys[at] == key else at
                if line is not None:
                    out.write(line)
                    pieces.append(np.array([position], dtype=np.int64))
                    position += len(line)
                    new_keys.append(key)
            position = _copy(old, out, offsets, cursor, len(keys), position, pieces)
            new_keys += keys[cursor:]
    except TypeError:  # keys of another type than the list's (a hand-made keys file): nothing was replaced
        raise StateMismatch(f"{keys_path.name} holds keys of another kind") from None
    pieces.append(np.array([position], dtype=np.int64))
    _write_keys(keys_path, new_keys)
    _write_offsets(offsets_path, np.concatenate(pieces))
    return len(new_keys), bool(keys) and bool(changed) and changed[0][0] <= keys[-1]


def _copy(old: Any, out: Any, offsets: Any, start: int, stop: int, position: int, pieces: list[Any]) -> int:
    """Copy old items [start, stop) to `out` at `position`; their new offsets go to `pieces`."""
    if stop <= start:
        return position
    begin, end = int(offsets[start]), int(offsets[stop])
    pieces.append(offsets[start:stop] - begin + position)
    _copy_range(old, out, begin, end - begin)
    return position + end - begin


def _copy_range(old: Any, out: Any, offset: int, length: int) -> None:
    out.flush()
    done = 0
    try:
        while done < length:
            sent = os.copy_file_range(old.fileno(), out.fileno(), length - done, offset + done)
            if sent == 0:
                break
            done += sent
    except (AttributeError, OSError):  # no copy_file_range here (another OS, another filesystem pair)
        pass
    if done < length:
        old.seek(offset + done)
        remaining = length - done
        while remaining:
            chunk = old.read(min(remaining, 1 << 20))
            if not chunk:
                raise StateMismatch("the old file ended before its recorded offsets")
            out.write(chunk)
            remaining -= len(chunk)
    else:
        out.seek(0, os.SEEK_END)


class StateMismatch(RuntimeError):
    """The state does not describe the file it names: the caller rebuilds in full."""


def chunks(values: Iterable[Any], size: int = 500) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
