"""The append-only, hash-chained audit log (SPEC §7).

Each record's hash is sha256 over a canonical JSON array of its fields and the previous
record's hash. Appends happen only inside `Store.write()`, which serialises writers, so the
chain can neither fork nor gap. The head (seq, hash) is also mirrored into an anchor file
outside the database: a chain alone cannot see its own newest records cut off.

Canonical serialisation -- unchanged since the first release, so every existing chain still
verifies -- is the UTF-8 encoding of

    json.dumps([seq, at, actor, role, tenant, project, action, object_ref, outcome, details, prev_hash],
               separators=(",", ":"), ensure_ascii=False)

i.e. a JSON array without whitespace: seq a JSON integer, None as `null`, every string a JSON
string in which only `"`, backslash and the control characters U+0000-U+001F are escaped
(non-ASCII stays literal). `details` is the canonical JSON text of the details dict
(`canonical_details`: sorted keys, no whitespace), embedded in the array as a JSON string.

How it is fast (bench/audit_append.py measures it):

* `canonical_payload` builds those exact bytes without a json.dumps call per record: it applies
  json's own string encoder (the C function json.dumps uses for a str when ensure_ascii=False)
  field by field; a field that is neither str nor None goes through a json encoder configured
  exactly like the json.dumps call, so it is encoded (or refused) as it always was.
* `verify` streams raw DBAPI rows in chunks (SQLite: the session's own cursor, no Row objects;
  other backends: a server-side cursor). For the usual record -- the eight short text fields set
  and free of anything json would escape -- it builds the same bytes with one join and one
  f-string. Any other record, and any record whose hash does not match on that path, is
  recomputed with `canonical_payload` before it is judged, so the verdicts are exactly those of a
  plain recomputation.
* On a SQLite file with at least `_PARALLEL_MIN_RECORDS` records and more than one usable core,
  `verify` splits the seq range into contiguous spans: it checks the first span itself, through
  the session, while stdlib-only worker processes (`python -m dataops_platform.governance.chain`,
  running the same `verify_span`) check the others on their own connections. The spans are then joined in seq
  order exactly as the sequential walk would meet them (seq continuity and prev_hash at each
  junction), so `ok`, `checked`, `head`, `bad_seq` and `reason` are those of a sequential run.
  Workers read the committed state, so the split is only used when no connection holds the write
  lock (in particular the caller's session has nothing uncommitted), and only up to the newest seq
  the session sees; a worker that fails for any reason has its span re-checked sequentially
  through the session.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dataops_platform.governance.chain import (
    CHAIN_COLUMNS,
    GENESIS_HASH,
    Failure,
    canonical_payload,
    chain_hash,
    verify_span,
)
from dataops_platform.store.models import AuditRecord

_encode_details = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode
__all__ = ["GENESIS_HASH", "canonical_payload", "chain_hash"]

OUTCOMES = ("allowed", "denied", "failed")


def canonical_details(details: dict[str, Any] | None) -> str:
    """Details as canonical JSON text: sorted keys, no whitespace, so its bytes are reproducible."""
    return _encode_details(details or {})


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
    newest = select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1)
    row = session.execute(newest).first()
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


_VERIFY_FETCH = 2_000  # rows per fetchmany where rows are fetched in chunks (server-side cursors)
_PARALLEL_MIN_RECORDS = 200_000  # below this, starting workers costs more than it saves
_MAX_WORKERS = 8


def _failure_result(failure: Failure, expected_seq: int, prev: str, checked: int) -> VerifyResult:
    kind, seq = failure
    head = ChainHead(expected_seq - 1, prev)
    if kind == "seq":
        what = "missing (removed)" if seq > expected_seq else "out of order"
        reason = f"record seq {expected_seq} is {what}; next stored seq is {seq}"
        return VerifyResult(False, checked, head, expected_seq, reason)
    if kind == "prev":
        return VerifyResult(
            False, checked, head, seq,
            f"record seq {seq}: prev_hash does not match the hash of seq {seq - 1} "
            "(records removed, inserted or reordered)",
        )  # fmt: skip
    reason = f"record seq {seq}: content does not match its hash (changed)"
    return VerifyResult(False, checked, head, seq, reason)


def _iter_chunks(
    session: Session, after: int | None = None, upto: int | None = None, batch: int = _VERIFY_FETCH
) -> Iterator[Sequence[Sequence[Any]]]:
    """The chain's raw rows in seq order (optionally after < seq <= upto), as iterables of rows,
    read in the session's own transaction; never the whole table in memory. On SQLite the one
    "chunk" is the DBAPI cursor itself: iterating it row by row beats fetchmany lists."""
    sql = f"SELECT {CHAIN_COLUMNS} FROM audit_records"
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        tests = [test for test, bound in (("seq > ?", after), ("seq <= ?", upto)) if bound is not None]
        if tests:
            sql += " WHERE " + " AND ".join(tests)
        cursor = connection.connection.cursor()  # the DBAPI cursor: plain tuples, no Row objects
        try:
            yield cursor.execute(sql + " ORDER BY seq", [bound for bound in (after, upto) if bound is not None])
        finally:
            cursor.close()
    else:
        if after is not None or upto is not None:
            raise ValueError("seq bounds are only used on SQLite")
        result = connection.exec_driver_sql(
            sql + " ORDER BY seq", execution_options={"stream_results": True, "max_row_buffer": batch}
        )
        try:
            while chunk := result.fetchmany(batch):
                yield chunk
        finally:
            result.close()


def _walk(
    session: Session,
    expected_seq: int,
    prev: str,
    checked: int,
    after: int | None = None,
    upto: int | None = None,
) -> tuple[int, str, int, Failure | None]:
    """_verify_span over the session's own rows (all of them, or after < seq <= upto)."""
    chunks = _iter_chunks(session, after, upto)
    try:
        return verify_span(chunks, expected_seq, prev, checked)
    finally:
        chunks.close()


# -- parallel verification (SQLite files) -----------------------------------------------------
def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _parallel_plan(session: Session) -> tuple[str, list[int]] | None:
    """(database file, span boundaries) when splitting the walk pays off and is exact, else None.

    Boundaries b0 < b1 < ... < bn: the session checks seq <= b1, worker i checks b(i) < seq <= b(i+1),
    where bn is the newest seq the session sees.
    """
    workers = min(_usable_cores(), _MAX_WORKERS)
    connection = session.connection()
    if workers < 2 or not sys.executable or connection.dialect.name != "sqlite":
        return None
    cursor = connection.connection.cursor()
    try:
        # Two subqueries: SQLite answers a lone min() or max() from the rowid b-tree, both at once by a scan.
        low, high = cursor.execute("SELECT (SELECT min(seq) FROM audit_records), (SELECT max(seq) FROM audit_records)").fetchone()
        databases = cursor.execute("PRAGMA database_list").fetchall()
    finally:
        cursor.close()
    if low is None or high - low + 1 < _PARALLEL_MIN_RECORDS:
        return None
    path = next((file for _, name, file in databases if name == "main"), "")
    if not path or not os.path.isfile(path):
        return None  # in-memory or temporary database: no other connection can see it
    # Workers read the committed state. Taking the write lock for an instant, without waiting,
    # proves that no connection -- the caller's session included -- has uncommitted writes.
    try:
        probe = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
        finally:
            probe.close()
    except sqlite3.Error:
        return None
    span = (high - low + 1) / workers
    bounds = [low - 1] + [low - 1 + round(span * i) for i in range(1, workers)] + [high]
    return path, bounds


def _start_worker(path: str, after: int, upto: int) -> subprocess.Popen[bytes] | None:
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "dataops_platform.governance.chain", json.dumps([path, after, upto])],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    except OSError:
        return None


def _worker_report(worker: subprocess.Popen[bytes] | None) -> dict[str, Any] | None:
    if worker is None:
        return None
    out, _ = worker.communicate()
    if worker.returncode != 0:
        return None
    try:
        report = json.loads(out)
    except ValueError:
        return None
    if not isinstance(report, dict) or "first" not in report:
        return None
    if report["first"] is not None and not {"state", "failure"} <= report.keys():
        return None
    return report


def _verify_parallel(session: Session, path: str, bounds: list[int]) -> tuple[int, str, int, Failure | None]:
    spans = list(zip(bounds[1:-1], bounds[2:], strict=True))
    workers = [_start_worker(path, after, upto) for after, upto in spans]
    try:
        expected_seq, prev, checked, failure = _walk(session, 1, GENESIS_HASH, 0, upto=bounds[1])
        for (after, upto), worker in zip(spans, workers, strict=True):
            if failure is not None:
                break
            report = _worker_report(worker)
            if report is None:  # the worker failed: its span is walked here, as the sequence would
                state = _walk(session, expected_seq, prev, checked, after, upto)
                expected_seq, prev, checked, failure = state
                continue
            if report["first"] is None:
                continue  # no records in this span
            first_seq, first_prev_hash = report["first"]
            # The junction: what the sequential walk checks on the span's first row before its hash.
            if first_seq != expected_seq:
                failure = ("seq", first_seq)
            elif first_prev_hash != prev:
                failure = ("prev", first_seq)
            else:
                span_expected, span_prev, span_checked = report["state"]
                expected_seq, prev, checked = span_expected, span_prev, checked + span_checked
                failure = tuple(report["failure"]) if report["failure"] else None  # type: ignore[assignment]
        return expected_seq, prev, checked, failure
    finally:
        for worker in workers:  # stop the workers no longer needed (a failure came first)
            if worker is not None:
                if worker.poll() is None:
                    worker.kill()
                worker.wait()
                if worker.stdout is not None:
                    worker.stdout.close()


def verify(session: Session, anchor: AuditAnchor | None = None) -> VerifyResult:
    """Recompute the chain; name the first bad record and why, or confirm it is intact."""
    plan = _parallel_plan(session)
    if plan is not None:
        expected_seq, prev, checked, failure = _verify_parallel(session, *plan)
    else:
        expected_seq, prev, checked, failure = _walk(session, 1, GENESIS_HASH, 0)
    if failure is not None:
        return _failure_result(failure, expected_seq, prev, checked)
    head = ChainHead(expected_seq - 1, prev)
    witnessed = anchor.read() if anchor else None
    if witnessed is not None:
        if witnessed.seq > head.seq:
            return VerifyResult(
                False, checked, head, head.seq + 1,
                f"record seq {head.seq + 1} is missing: the anchor saw the chain reach seq {witnessed.seq}, "
                f"the store ends at {head.seq} (newest records removed)",
            )  # fmt: skip
        witnessed_hash = session.execute(select(AuditRecord.hash).where(AuditRecord.seq == witnessed.seq)).scalar_one_or_none()
        if witnessed.seq > 0 and witnessed_hash != witnessed.hash:
            return VerifyResult(
                False, checked, head, witnessed.seq,
                f"record seq {witnessed.seq}: hash differs from the anchored head (chain rewritten)",
            )  # fmt: skip
    return VerifyResult(True, checked, head)
