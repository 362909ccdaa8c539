"""Rule 11's verified-prefix cursor: the hash-chain walk costs what was appended, not all history.

After rule 11 walked the `audit_log` artifact without finding a problem, `<artifacts>/.state/audit_chain.json`
remembers the seq and hash of the last record walked, the byte length of the file that held records
1..seq and the blake2b digest of those bytes. The next evaluation hashes the file's first `length`
bytes (one C-speed pass, no JSON): when they are the same bytes, records 1..seq are the records
already walked, so the walk starts after seq from the remembered hash. Anything else -- the file
shorter, other bytes, the state missing, unreadable, malformed or naming a seq the records do not
have there -- and the walk starts at seq 1, exactly as without a cursor. The verdict is the walk's
either way: the cursor only says where a walk that would pass anyway may begin.

Why the same bytes mean the same records: the state is written only for a file that ends with a
line end, so its bytes end at a record boundary (a file that grew after them keeps that boundary:
"\\r" followed by a new "\\n" is still one line end). And the records judged must be the ones
parsed from the bytes hashed: the cursor is used only for the value the process's `PARSED` cache
holds for that file, read back unchanged (same inode, size and mtime, or, for a file written
moments before its parse, the same content digest -- the cache's own test of freshness). Within
one process, a value the cache parsed from bytes a clean walk already covered is not hashed again
(a refresh evaluates rule 11 in its check and again for the metrics).

Trust point: the state sits next to the artifacts it vouches for, so whoever can write the
artifacts directory can also write a state that skips a tampered prefix. It protects nothing the
artifacts themselves do not: it is a cache of a walk over them. `dataops audit verify` (and its
sensor) walk the whole chain from the store, with the anchors, whatever this file says.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataops_platform.artifacts.columns import Projection, record_at
from dataops_platform.artifacts.files import (
    ARTIFACT_FILES,
    AUDIT_CURSOR_STATE,
    PARSED,
    Artifacts,
    identity,
    read_regular,
    replacing,
)
from dataops_platform.governance.chain import GENESIS_HASH

STATE_FILE = AUDIT_CURSOR_STATE
FORMAT = 1
_STATE_MAX_BYTES = 4096  # a real state is ~250 bytes: anything bigger is not one (and is not read)
_CHUNK = 1 << 20
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX32 = re.compile(r"[0-9a-f]{32}")
_LOCAL = type(Path())  # an object-store root (universal_pathlib) has no cheap stat: no cursor there


def _digest() -> Any:
    # blake2b-16, as the PARSED cache digests a file, so one pass serves both comparisons.
    return hashlib.blake2b(digest_size=16)


@dataclass(frozen=True)
class Saved:
    seq: int
    hash: str
    length: int
    digest: str


@dataclass(frozen=True)
class Scan:
    """One pass over the audit_log file: its size, content digest, last byte, and the digest of its
    first `at` bytes (None when the file is shorter)."""

    signature: tuple[int, ...]
    size: int
    digest: bytes
    ends_with_newline: bool
    prefix_digest: str | None


class ChainCursor:
    """Where rule 11's walk of these `records` may start, and how to remember a walk that passed."""

    def __init__(self, state_path: Path, records: Any, entry: tuple, scan: Scan | None, saved: Saved | None) -> None:
        self.state_path = state_path
        self.records = records
        self.entry = entry  # the PARSED cache's (signature, digest or None) for the records
        self.scan = scan  # None: this process already walked these very bytes (`_WALKED`)
        self.saved = saved

    @property
    def start(self) -> tuple[int, str]:
        """(records already verified, hash of the last of them): (0, genesis) unless the saved prefix holds."""
        s = self.saved
        if s is None or (self.scan is not None and self.scan.prefix_digest != s.digest) or s.seq > len(self.records):
            return 0, GENESIS_HASH
        try:
            last = record_at(self.records, s.seq - 1)  # of a projection, that record's line parsed
        except ValueError:  # the file changed under its projection: the walk from seq 1 says so
            return 0, GENESIS_HASH
        # The prefix holds records 1..seq when the state is true; a state that is not (a seq gap,
        # another hash) is ignored rather than believed.
        if type(last) is not dict or type(last.get("seq")) is not int or last["seq"] != s.seq or last.get("hash") != s.hash:
            return 0, GENESIS_HASH
        return s.seq, s.hash

    def remember(self) -> None:
        """The walk over every record passed: the whole file is the verified prefix now. Never raises."""
        records, scan = self.records, self.scan
        if scan is None or not records or not scan.ends_with_newline:
            return
        try:
            last = record_at(records, -1)
        except ValueError:
            return
        if not isinstance(last, dict) or type(last.get("seq")) is not int or not isinstance(last.get("hash"), str):
            return
        state = Saved(last["seq"], last["hash"], scan.size, scan.digest.hex())
        if last["seq"] != len(records) or not _HEX64.fullmatch(state.hash):
            return
        _WALKED[str(self.state_path)] = (self.entry[0], self.entry[1], scan.digest, state)
        if state != self.saved:
            _write_state(self.state_path, state)


# What this process's clean walks covered, by state path: (the PARSED entry's signature and digest
# then, the content's digest, the state). A later evaluation of a value the cache parsed from the
# same bytes needs no hashing: the same digest (an entry for a file written moments before its
# parse keeps one), or, for an entry with none both then and now, the same (inode, size, mtime, ctime) --
# the cache's own test that a file is unchanged. Small tuples only, dropped with the cache.
_WALKED: dict[str, tuple[tuple[int, ...], bytes | None, bytes, Saved]] = {}
PARSED.on_clear(_WALKED.clear)


def _walked_before(key: str, entry: tuple) -> Saved | None:
    walked = _WALKED.get(key)
    if walked is None:
        return None
    signature, cache_digest, content_digest, state = walked
    if entry[1] is not None:
        return state if entry[1] == content_digest else None
    return state if cache_digest is None and entry[0] == signature else None


def open_cursor(a: Any, records: Any) -> ChainCursor | None:
    """The cursor for `records` read from an `Artifacts` root's audit_log file; None for anything
    else (a plain mapping, an object store, a value not parsed from that file as it is now)."""
    if not isinstance(a, Artifacts) or type(a.root) is not _LOCAL:
        return None
    path = a.root / ARTIFACT_FILES["audit_log"]
    state_path = a.root / STATE_FILE
    if isinstance(records, Projection):  # read from the file with this identity (bound to the bytes by the scan below)
        entry: tuple | None = (records.source, None, records)
    elif isinstance(records, list):
        # The cache's entry is (signature, content digest while the file is fresh else None, value):
        # it says which bytes `records` were parsed from, without parsing them again.
        entry = PARSED.entry(path)
    else:
        return None
    if entry is None or entry[2] is not records:
        return None
    walked = _walked_before(str(state_path), entry)
    if walked is not None:
        return ChainCursor(state_path, records, entry, None, walked)
    saved = load_state(state_path)
    try:
        scan = _scan(path, saved.length if saved else None)
    except OSError:
        return None
    if not _bound(entry, scan):
        return None
    return ChainCursor(state_path, records, entry, scan, saved)


def _scan(path: Path, at: int | None) -> Scan:
    whole, prefix_digest, size, last = _digest(), None, 0, b""
    with path.open("rb") as f:
        before = os.fstat(f.fileno())
        if not stat.S_ISREG(before.st_mode):
            raise OSError(f"{path} is not a regular file")
        if at is not None and at <= before.st_size:
            size = _feed(f, whole, at)
            if size == at:
                prefix_digest = whole.copy().hexdigest()
        size += _feed(f, whole, None)
        if size:
            f.seek(size - 1)
            last = f.read(1)
        after = os.fstat(f.fileno())
    signature = identity(before)  # as the PARSED cache's
    if signature != identity(after) or size != before.st_size:
        raise OSError(f"{path} changed while it was read")
    return Scan(signature, size, whole.digest(), last == b"\n", prefix_digest)


def _feed(f: Any, digest: Any, limit: int | None) -> int:
    """Hash up to `limit` bytes (all that is left when None) from `f`; the number of bytes hashed."""
    done, buffer = 0, bytearray(_CHUNK)
    view = memoryview(buffer)
    while limit is None or done < limit:
        want = _CHUNK if limit is None else min(_CHUNK, limit - done)
        n = f.readinto(view[:want])
        if not n:
            break
        digest.update(view[:n])
        done += n
    return done


def _bound(entry: tuple, scan: Scan) -> bool:
    """Whether the value of the PARSED cache's `entry` was parsed from the bytes scanned."""
    signature, digest, _ = entry
    if digest is not None:
        return digest == scan.digest
    return signature == scan.signature


def load_state(path: Path) -> Saved | None:
    """The saved cursor, or None when there is none or it is anything but a well-formed state."""
    data = read_regular(path, _STATE_MAX_BYTES)  # a FIFO planted there must not block the rule
    if data is None:
        return None
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):  # not UTF-8, not JSON, too deep, a number too long
        return None
    if not isinstance(value, dict) or set(value) != {"format", "seq", "hash", "length", "digest"}:
        return None
    if type(value["format"]) is not int or value["format"] != FORMAT:
        return None
    seq, head, length, digest = value["seq"], value["hash"], value["length"], value["digest"]
    if type(seq) is not int or type(length) is not int or not 1 <= seq <= length < 1 << 62:
        return None
    if not isinstance(head, str) or not _HEX64.fullmatch(head) or not isinstance(digest, str) or not _HEX32.fullmatch(digest):
        return None
    return Saved(seq, head, length, digest)


def _write_state(path: Path, state: Saved) -> None:
    """Atomically (a new file of a random name renamed over it: nothing planted is followed); a
    state that cannot be written is skipped."""
    body = json.dumps({"format": FORMAT, "seq": state.seq, "hash": state.hash, "length": state.length, "digest": state.digest})
    try:
        with replacing(path) as out:
            out.write((body + "\n").encode("utf-8"))
    except OSError:
        pass
