"""The append-only, hash-chained audit log (SPEC §7).

Each record's hash is sha256 over a canonical JSON array of its fields and the previous
record's hash. Appends happen only inside `Store.write()`, which serialises writers, so the
chain can neither fork nor gap. The head (seq, hash) is also mirrored into an anchor file
outside the database: a chain alone cannot see its own newest records cut off.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from dataops_platform.store.models import AuditRecord

GENESIS_HASH = "0" * 64
OUTCOMES = ("allowed", "denied", "failed")
_CHAIN_COLUMNS = "seq, at, actor, role, tenant, project, action, object_ref, outcome, details, prev_hash, hash"


def canonical_details(details: dict[str, Any] | None) -> str:
    """Details as canonical JSON text: sorted keys, no whitespace, so its bytes are reproducible."""
    return json.dumps(details or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


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
    payload = json.dumps(
        [seq, at, actor, role, tenant, project, action, object_ref, outcome, details, prev_hash],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


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
    for entry in entries:
        if entry.outcome not in OUTCOMES:
            raise ValueError(f"audit outcome must be one of {OUTCOMES}, got {entry.outcome!r}")
        seq += 1
        details = canonical_details(entry.details)
        digest = chain_hash(
            seq, entry.at, entry.actor, entry.role, entry.tenant, entry.project,
            entry.action, entry.object_ref, entry.outcome, details, prev,
        )  # fmt: skip
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


def _iter_rows(session: Session, batch: int = 20_000) -> Iterator[tuple]:
    # Raw rows in seq order, fetched in batches: verify must stream millions of records.
    result = session.execute(text(f"SELECT {_CHAIN_COLUMNS} FROM audit_records ORDER BY seq"))
    while chunk := result.fetchmany(batch):
        yield from chunk


def verify(session: Session, anchor: AuditAnchor | None = None) -> VerifyResult:
    """Recompute the chain; name the first bad record and why, or confirm it is intact."""
    expected_seq, prev, checked = 1, GENESIS_HASH, 0
    for row in _iter_rows(session):
        seq, at, actor, role, tenant, project, action, object_ref, outcome, details, prev_hash, stored = row
        head = ChainHead(expected_seq - 1, prev)
        if seq != expected_seq:
            what = "missing (removed)" if seq > expected_seq else "out of order"
            return VerifyResult(False, checked, head, expected_seq, f"record seq {expected_seq} is {what}; next stored seq is {seq}")
        if prev_hash != prev:
            return VerifyResult(
                False, checked, head, seq,
                f"record seq {seq}: prev_hash does not match the hash of seq {seq - 1} (records removed, inserted or reordered)",
            )  # fmt: skip
        if chain_hash(seq, at, actor, role, tenant, project, action, object_ref, outcome, details, prev_hash) != stored:
            return VerifyResult(False, checked, head, seq, f"record seq {seq}: content does not match its hash (changed)")
        prev, expected_seq, checked = stored, expected_seq + 1, checked + 1
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
