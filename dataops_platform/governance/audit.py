"""The append-only, hash-chained audit log (SPEC §7).

Each record's hash is sha256 over a canonical JSON array of its fields and the previous
record's hash. Appends happen only inside `Store.write()`, which serialises writers, so the
chain can neither fork nor gap. The head (seq, hash) is also mirrored into an anchor file
outside the database: a chain alone cannot see its own newest records cut off.

Canonical serialisation (unchanged since the first release, so every existing chain still
verifies): the UTF-8 bytes of

    json.dumps([seq, at, actor, role, tenant, project, action, object_ref, outcome, details, prev_hash],
               separators=(",", ":"), ensure_ascii=False)

that is a JSON array without whitespace; seq a JSON integer; None as `null`; each string a JSON
string in which only `"`, `\\` and the control characters U+0000-U+001F are escaped (non-ASCII
stays literal); `details` is the canonical JSON text of the details dict (`canonical_details`:
sorted keys, no whitespace), itself embedded as a JSON string.

Speed (bench/audit_append.py): `canonical_payload` produces those exact bytes without a json.dumps
call per record: it applies json's own C string encoder (the one json.dumps uses for str with
ensure_ascii=False) field by field, and falls back to a reusable json encoder for any field that
is not a str or None. `verify` streams raw DBAPI rows (SQLite) or a server-side cursor (other
backends) in chunks and, for the usual record whose short text fields need no escaping at all,
builds the same bytes with one join and one f-string; any other record, and any record whose hash
does not match on that path, is recomputed with `canonical_payload` before it is judged.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import json.encoder
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from dataops_platform.store.models import AuditRecord

GENESIS_HASH = "0" * 64
OUTCOMES = ("allowed", "denied", "failed")
_CHAIN_COLUMNS = "seq, at, actor, role, tenant, project, action, object_ref, outcome, details, prev_hash, hash"


# json.dumps(..., separators=(",", ":"), ensure_ascii=False) encodes each str with exactly this
# function (the C one when available), None as null and an int with int.__repr__.
_encode_json_str = json.encoder.encode_basestring
# Reusable encoders configured exactly as the json.dumps calls they replace (json.dumps builds a new
# JSONEncoder for every call with non-default arguments; the output is identical).
_encode_array = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_encode_details = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode
# With the '"' count checked separately: the characters json would escape in a field.
_needs_escape = re.compile(r"[\\\x00-\x1f]").search


def canonical_details(details: dict[str, Any] | None) -> str:
    """Details as canonical JSON text: sorted keys, no whitespace, so its bytes are reproducible."""
    return _encode_details(details or {})


def canonical_payload(
    seq: int,
    at: str,
    actor: str,
    role: str | None,
    tenant: str | None,
    project: str | None,
    action: str,
    object_ref: str | None,
    outcome: str,
    details: str,
    prev_hash: str,
) -> bytes:
    """The exact bytes a record's hash covers (see the module docstring)."""
    fields = (at, actor, role, tenant, project, action, object_ref, outcome, details, prev_hash)
    if type(seq) is int:
        try:
            return f"[{seq},{','.join(['null' if v is None else _encode_json_str(v) for v in fields])}]".encode()
        except TypeError:
            pass  # a field that is neither str nor None: json encodes it (or refuses it) as it always did
    return _encode_array([seq, *fields]).encode()


def chain_hash(
    seq: int,
    at: str,
    actor: str,
    role: str | None,
    tenant: str | None,
    project: str | None,
    action: str,
    object_ref: str | None,
    outcome: str,
    details: str,
    prev_hash: str,
) -> str:
    """sha256 over the canonical serialisation of one record (positional, so key order cannot vary)."""
    payload = canonical_payload(seq, at, actor, role, tenant, project, action, object_ref, outcome, details, prev_hash)
    return hashlib.sha256(payload).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    """What a service wants recorded; seq, prev_hash and hash are assigned by the chain."""

    at: str
    actor: str
    action: str
    outcome: str
    role: str | None = None
    tenant: str | None = None
    project: str | None = None
    object_ref: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChainHead:
    seq: int
    hash: str


def read_head(session: Session) -> ChainHead:
    row = session.execute(select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1)).first()
    return ChainHead(row.seq, row.hash) if row else ChainHead(0, GENESIS_HASH)


def append(session: Session, entries: Iterable[AuditEntry]) -> ChainHead:
    """Append entries to the chain inside the caller's (serialised) write transaction."""
    head = read_head(session)
    seq, prev = head.seq, head.hash
    rows = []
    sha256 = hashlib.sha256
    for entry in entries:
        if entry.outcome not in OUTCOMES:
            raise ValueError(f"audit outcome must be one of {OUTCOMES}, got {entry.outcome!r}")
        seq += 1
        details = canonical_details(entry.details)
        digest = sha256(canonical_payload(
            seq, entry.at, entry.actor, entry.role, entry.tenant, entry.project,
            entry.action, entry.object_ref, entry.outcome, details, prev,
        )).hexdigest()  # fmt: skip
        rows.append(
            {
                "seq": seq, "at": entry.at, "actor": entry.actor, "role": entry.role,
                "tenant": entry.tenant, "project": entry.project, "action": entry.action,
                "object_ref": entry.object_ref, "outcome": entry.outcome, "details": details,
                "prev_hash": prev, "hash": digest,
            }
        )  # fmt: skip
        prev = digest
    if rows:
        session.execute(AuditRecord.__table__.insert(), rows)
    return ChainHead(seq, prev)


class AuditAnchor:
    """The chain head mirrored into a file the database cannot rewrite; only ever moves forward."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> ChainHead | None:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        return ChainHead(int(data["seq"]), str(data["hash"]))

    def advance(self, head: ChainHead) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            current = self.read()
            if current is not None and current.seq >= head.seq:
                return
            tmp = self.path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps({"seq": head.seq, "hash": head.hash}))
            os.replace(tmp, self.path)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    head: ChainHead
    bad_seq: int | None = None
    reason: str | None = None


_VERIFY_FETCH = 2_000  # rows per fetchmany: big enough to amortise the call, small enough to stay in cache


def _iter_chunks(session: Session, batch: int = _VERIFY_FETCH) -> Iterator[Sequence[tuple]]:
    """The chain's raw rows in seq order, in chunks, inside the session's own transaction.

    verify must stream millions of records: on SQLite through the session's DBAPI cursor (no
    Row objects), elsewhere through a server-side cursor (never the whole table in memory).
    """
    sql = f"SELECT {_CHAIN_COLUMNS} FROM audit_records ORDER BY seq"
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        cursor = connection.connection.cursor()
        try:
            cursor.execute(sql)
            while chunk := cursor.fetchmany(batch):
                yield chunk
        finally:
            cursor.close()
    else:
        result = connection.exec_driver_sql(sql, execution_options={"stream_results": True, "max_row_buffer": batch})
        try:
            while chunk := result.fetchmany(batch):
                yield chunk
        finally:
            result.close()


def verify(session: Session, anchor: AuditAnchor | None = None) -> VerifyResult:
    """Recompute the chain; name the first bad record and why, or confirm it is intact."""
    expected_seq, prev, checked = 1, GENESIS_HASH, 0
    failure: VerifyResult | None = None
    sha256, encode_str, needs_escape = hashlib.sha256, _encode_json_str, _needs_escape
    chunks = _iter_chunks(session)
    try:
        for chunk in chunks:
            for seq, at, actor, role, tenant, project, action, object_ref, outcome, details, prev_hash, stored in chunk:
                if seq != expected_seq:
                    what = "missing (removed)" if seq > expected_seq else "out of order"
                    failure = VerifyResult(
                        False, checked, ChainHead(expected_seq - 1, prev), expected_seq,
                        f"record seq {expected_seq} is {what}; next stored seq is {seq}",
                    )  # fmt: skip
                    break
                if prev_hash != prev:
                    failure = VerifyResult(
                        False, checked, ChainHead(expected_seq - 1, prev), seq,
                        f"record seq {seq}: prev_hash does not match the hash of seq {seq - 1} "
                        "(records removed, inserted or reordered)",
                    )  # fmt: skip
                    break
                digest = None
                if role is not None and tenant is not None and project is not None and object_ref is not None:
                    # Fast path, byte-identical to canonical_payload: the 8 short fields are str (join
                    # refuses anything else) holding no character json would escape (14 quotes are the
                    # separators'); prev_hash equals the previous stored hash, which matched a hexdigest
                    # (or is the genesis hash), so it is plain hex.
                    try:
                        middle = '","'.join((at, actor, role, tenant, project, action, object_ref, outcome))
                        if type(seq) is int and middle.count('"') == 14 and needs_escape(middle) is None:
                            digest = sha256(f'[{seq},"{middle}",{encode_str(details)},"{prev_hash}"]'.encode()).hexdigest()
                    except TypeError:
                        pass
                if digest != stored:
                    payload = canonical_payload(
                        seq, at, actor, role, tenant, project, action, object_ref, outcome, details, prev_hash
                    )
                    if sha256(payload).hexdigest() != stored:
                        failure = VerifyResult(
                            False, checked, ChainHead(expected_seq - 1, prev), seq,
                            f"record seq {seq}: content does not match its hash (changed)",
                        )  # fmt: skip
                        break
                prev, expected_seq, checked = stored, expected_seq + 1, checked + 1
            if failure is not None:
                break
    finally:
        chunks.close()
    if failure is not None:
        return failure
    head = ChainHead(expected_seq - 1, prev)
    witnessed = anchor.read() if anchor else None
    if witnessed is not None:
        if witnessed.seq > head.seq:
            return VerifyResult(
                False, checked, head, head.seq + 1,
                f"record seq {head.seq + 1} is missing: the anchor saw the chain reach seq {witnessed.seq}, "
                f"the store ends at {head.seq} (newest records removed)",
            )  # fmt: skip
        witnessed_hash = session.execute(
            select(AuditRecord.hash).where(AuditRecord.seq == witnessed.seq)
        ).scalar_one_or_none()
        if witnessed.seq > 0 and witnessed_hash != witnessed.hash:
            return VerifyResult(
                False, checked, head, witnessed.seq,
                f"record seq {witnessed.seq}: hash differs from the anchored head (chain rewritten)",
            )  # fmt: skip
    return VerifyResult(True, checked, head)
