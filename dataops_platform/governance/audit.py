"""The append-only, hash-chained audit log (SPEC §7).

Each record's hash is sha256 over a canonical JSON array of its fields and the previous
record's hash. Appends happen only inside `Store.write()`, which serialises writers, so the
chain can neither fork nor gap. The head (seq, hash) is also mirrored outside the database -- the
home's `audit_anchor.json` and every copy of DATAOPS_AUDIT_ANCHOR_COPIES -- because a chain alone
cannot see its own newest records cut off. The anchor only moves forward from what it witnessed:
every write checks the chain against every anchor first (`guard_tail`, inside the write lock) and
is refused, with an alarm outside the store, when the chain is shorter, differs at an anchored seq
or an anchor is missing; only `dataops init` creates the first anchor and only an admin's audited
`dataops audit reanchor` moves one elsewhere (docs/audit.md).

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
import logging
import os
import socket
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dataops_platform.errors import AuditIntegrityError
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


# Plain SQL on the session's connection: every write reads the head (the tail guard, `append`, the
# anchor after the body), and an ORM select costs several times this one indexed lookup. Audit
# records are only ever inserted with Core statements executed at once, never as pending ORM
# objects, so there is nothing to autoflush first.
_HEAD_SQL = "SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1"


def read_head(session: Session) -> ChainHead:
    """The newest record's (seq, hash), or (0, genesis) for an empty chain."""
    row = session.connection().exec_driver_sql(_HEAD_SQL).first()
    return ChainHead(row[0], row[1]) if row else ChainHead(0, GENESIS_HASH)


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


# -- the anchor: the chain head kept where the database cannot rewrite it -----------------------
ANCHOR_FILE = "audit_anchor.json"
ALARM_FILE = "audit_alarms.jsonl"
_log = logging.getLogger("dataops_platform.audit")


class AnchorLocation:
    """One place the chain head is mirrored: the home's own anchor file, or a copy kept in a
    directory (another volume) or under an fsspec URL (`s3://`, `memory://`, `file://`).

    A local file is replaced atomically under an flock, so concurrent writers can only move it
    forward. An object store has no lock: two writers racing can leave a copy a few records
    behind the head (never ahead of it, never naming a head that was not committed), which the
    next write moves forward again; a copy behind the head is never a finding.
    """

    def __init__(self, path: Path, label: str, *, local: bool) -> None:
        self.path = path  # a pathlib.Path when local, else a upath.UPath
        # Messages name a location by its label only ("home anchor", "anchor copy 2"): they reach
        # REST callers, who must not learn server paths. Alarms and the CLI add `where`.
        self.label = label
        self.local = local

    @property
    def where(self) -> str:
        return str(self.path)

    @classmethod
    def copy(cls, where: str, number: int) -> AnchorLocation:
        """Copy `number` (1-based, in DATAOPS_AUDIT_ANCHOR_COPIES order): a directory or a URL."""
        where = where.strip()
        label = f"anchor copy {number}"
        if "://" in where and not where.startswith("file://"):
            from upath import UPath

            return cls(UPath(where) / ANCHOR_FILE, label, local=False)  # type: ignore[arg-type]
        if where.startswith("file://"):
            from upath import UPath

            directory = Path(UPath(where).path)
        else:
            directory = Path(where).expanduser()
        return cls(directory.resolve() / ANCHOR_FILE, label, local=True)

    @property
    def alarm_path(self) -> Path:
        return self.path.parent / ALARM_FILE

    def read(self) -> ChainHead | None:
        """The head this location witnessed; None when it does not exist. Raises AnchorUnreadable
        when it exists but cannot be read or parsed (a store that cannot answer, a damaged file)."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 - fsspec backends raise anything; unreadable is the verdict
            raise AnchorUnreadable(self.label, f"{type(exc).__name__}: {exc}"[:300]) from exc
        try:
            data = json.loads(text)
            head = ChainHead(int(data["seq"]), str(data["hash"]))
        except (ValueError, TypeError, KeyError) as exc:
            raise AnchorUnreadable(self.label, f"not an anchor ({type(exc).__name__}: {exc})"[:300]) from exc
        if head.seq < 0:
            raise AnchorUnreadable(self.label, f"not an anchor (seq {head.seq})")
        return head

    def write(self, head: ChainHead, *, only_forward: bool, create: bool) -> bool:
        """Mirror `head` here; True when written. With `only_forward` an anchor at or beyond
        head.seq is left alone; without `create` a missing (or unreadable) anchor is not re-made."""
        payload = json.dumps({"seq": head.seq, "hash": head.hash})
        if not self.local:
            current = self._current()
            if not self._should_write(current, head, only_forward, create):
                return False
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(payload)
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not self._should_write(self._current(), head, only_forward, create):
                return False
            tmp = self.path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(payload)
            os.replace(tmp, self.path)
            return True

    def _current(self) -> ChainHead | None | AnchorUnreadable:
        try:
            return self.read()
        except AnchorUnreadable as exc:
            return exc

    @staticmethod
    def _should_write(current: ChainHead | None | AnchorUnreadable, head: ChainHead, only_forward: bool, create: bool) -> bool:
        if isinstance(current, AnchorUnreadable) or current is None:
            return create  # never silently replace what is missing or damaged: that is evidence
        return not only_forward or current.seq < head.seq

    def append_alarm(self, line: str) -> None:
        path = self.alarm_path
        if self.local:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as out:  # O_APPEND: one line lands whole
                out.write(line)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with path.open("a", encoding="utf-8") as out:
                out.write(line)
        except (NotImplementedError, ValueError):  # an object store without append: rewrite the object
            try:
                before = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                before = ""
            path.write_text(before + line, encoding="utf-8")


class AnchorUnreadable(Exception):
    def __init__(self, label: str, detail: str) -> None:
        super().__init__(f"{label}: {detail}")
        self.label, self.detail = label, detail


@dataclass(frozen=True)
class AnchorReading:
    location: AnchorLocation
    head: ChainHead | None
    error: str | None = None


@dataclass(frozen=True)
class AnchorProblem:
    """Why an anchor location and the chain disagree. `bad_seq` is the first record the finding
    is about (None for a missing or unreadable anchor: no record can be named)."""

    location: str
    kind: str  # "missing" | "unreadable" | "ahead" (records cut off) | "differs" (chain rewritten)
    bad_seq: int | None
    witnessed: ChainHead | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        witnessed = {"seq": self.witnessed.seq, "hash": self.witnessed.hash} if self.witnessed else None
        return {"location": self.location, "kind": self.kind, "bad_seq": self.bad_seq, "witnessed": witnessed,
                "message": self.message}  # fmt: skip


class AuditAnchor:
    """The chain head mirrored outside the database: the home's `audit_anchor.json` plus every
    copy of DATAOPS_AUDIT_ANCHOR_COPIES. Each location only ever moves forward from what it
    witnessed; `reanchor` (an audited admin act) is the one exception. Alarms -- what the store
    cannot record while its chain is in doubt -- go to `audit_alarms.jsonl` next to each one."""

    def __init__(self, path: Path, copies: Sequence[str] = ()) -> None:
        self.path = path
        self.locations = [AnchorLocation(path, "home anchor", local=True)]
        self.locations += [AnchorLocation.copy(where, i) for i, where in enumerate([c for c in copies if c.strip()], 1)]

    def readings(self) -> list[AnchorReading]:
        """What every location witnessed (one small file read each)."""
        out = []
        for location in self.locations:
            try:
                out.append(AnchorReading(location, location.read()))
            except AnchorUnreadable as exc:
                out.append(AnchorReading(location, None, exc.detail))
        return out

    def read(self) -> ChainHead | None:
        """The effective witnessed head: the furthest head any readable location saw."""
        heads = [r.head for r in self.readings() if r.head is not None]
        return max(heads, key=lambda h: h.seq) if heads else None

    def advance(self, head: ChainHead, *, create: bool = False) -> None:
        """Move every location forward to `head` (after the commit that made it). A missing location
        is only created with `create` (`dataops init`'s first anchor): otherwise a deleted anchor
        would silently come back and switch the tail check off."""
        for location in self.locations:
            try:
                location.write(head, only_forward=True, create=create)
            except Exception as exc:  # noqa: BLE001 - committed already; a lagging copy is no finding
                _log.error("audit anchor %s could not be advanced to seq %d: %s", location.label, head.seq, exc)

    def reanchor(self, head: ChainHead) -> list[str]:
        """Overwrite every location with `head`, whatever it held: only `dataops audit reanchor`.
        Returns the labels of locations that could not be written."""
        failed = []
        for location in self.locations:
            try:
                location.write(head, only_forward=False, create=True)
            except Exception as exc:  # noqa: BLE001 - reported to the admin, who retries
                _log.error("audit anchor %s could not be re-anchored to seq %d: %s", location.label, head.seq, exc)
                failed.append(f"{location.label}: {type(exc).__name__}: {exc}"[:300])
        return failed

    def raise_alarm(self, kind: str, message: str, **facts: Any) -> dict[str, Any]:
        """Record an alarm where people see it without the database: one JSON line appended to
        `audit_alarms.jsonl` next to every anchor location, and an ERROR log record. Never raises
        (an alarm that cannot be written is logged)."""
        now = datetime.now(UTC)  # wall-clock time, not the injected clock: an alarm is evidence of when
        alarm = {
            "id": uuid.uuid4().hex, "at": now.isoformat(timespec="microseconds"), "severity": "critical",
            "kind": kind, "message": message, "host": socket.gethostname(), "pid": os.getpid(),
            "locations": {location.label: location.where for location in self.locations}, **facts,
        }  # fmt: skip
        line = json.dumps(alarm, ensure_ascii=False, default=str, sort_keys=True) + "\n"
        _log.error("AUDIT ALARM %s: %s", kind, message)
        for location in self.locations:
            try:
                location.append_alarm(line)
            except Exception as exc:  # noqa: BLE001
                _log.error("audit alarm could not be written next to %s: %s", location.label, exc)
        return alarm


def anchor_problems(
    session: Session, head: ChainHead, readings: Sequence[AnchorReading], *, first_anchor: bool = False
) -> list[AnchorProblem]:
    """Every way the anchors disagree with a chain whose newest record is `head`.

    Cost: one indexed lookup of the record at a witnessed seq, and only when that seq is neither
    the head (the usual case: each write advances the anchor to the head) nor 0. With
    `first_anchor` (`dataops init`), an empty chain without any anchor is no problem."""
    if first_anchor and head.seq == 0 and all(r.head is None and r.error is None for r in readings):
        return []
    known = {0: GENESIS_HASH, head.seq: head.hash}
    problems = []
    for reading in readings:
        label, witnessed = reading.location.label, reading.head
        if reading.error is not None:
            problems.append(AnchorProblem(label, "unreadable", None, None, f"anchor unreadable: {label}: {reading.error}"))
        elif witnessed is None:
            held = (
                f"the store holds {head.seq} audit records (head seq {head.seq})"
                if head.seq
                else "the store holds no audit records (an initialised store always has both: were they deleted?)"
            )
            problems.append(AnchorProblem(label, "missing", None, None, (
                f"anchor missing: {label} does not exist but {held}; have a platform admin investigate "
                "and run `dataops audit reanchor --reason ...`"
            )))  # fmt: skip
        elif witnessed.seq > head.seq:
            problems.append(AnchorProblem(label, "ahead", head.seq + 1, witnessed, (
                f"record seq {head.seq + 1} is missing: the {label} saw the chain reach seq {witnessed.seq}, "
                f"the store ends at {head.seq} (newest records removed)"
            )))  # fmt: skip
        else:
            if witnessed.seq not in known:
                query = select(AuditRecord.__table__.c.hash).where(AuditRecord.__table__.c.seq == witnessed.seq)
                known[witnessed.seq] = session.connection().execute(query).scalar_one_or_none()
            if known[witnessed.seq] != witnessed.hash:
                problems.append(AnchorProblem(label, "differs", witnessed.seq, witnessed, (
                    f"record seq {witnessed.seq}: hash differs from the head the {label} witnessed (chain rewritten)"
                )))  # fmt: skip
    return problems


def integrity_error(head: ChainHead, problems: Sequence[AnchorProblem], witnessed: ChainHead | None) -> AuditIntegrityError:
    """The refusal of a write through a chain that no longer reaches what its anchors witnessed."""
    anchor_seq = witnessed.seq if witnessed else None
    seen = f"the anchors witnessed seq {anchor_seq}" if witnessed else "no anchor witnesses the chain"
    return AuditIntegrityError(
        f"audit chain integrity: write refused, nothing was changed: {seen}, the store's head is seq {head.seq}: "
        + "; ".join(p.message for p in problems)
        + ". Run `dataops audit verify`; a platform admin must investigate, then re-anchor with "
        "`dataops audit reanchor --reason TEXT`.",
        anchor_seq=anchor_seq,
        head_seq=head.seq,
        problems=[p.as_dict() for p in problems],
    )


def guard_tail(session: Session, anchor: AuditAnchor, *, first_anchor: bool = False) -> AuditIntegrityError | None:
    """Inside the serialised write transaction, before anything is appended: the refusal to raise
    when the chain is shorter than (or differs from) what an anchor witnessed, or an anchor is
    missing or unreadable; None when the write may go on."""
    readings = anchor.readings()
    head = read_head(session)
    problems = anchor_problems(session, head, readings, first_anchor=first_anchor)
    if not problems:
        return None
    heads = [r.head for r in readings if r.head is not None]
    return integrity_error(head, problems, max(heads, key=lambda h: h.seq) if heads else None)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    head: ChainHead
    bad_seq: int | None = None
    reason: str | None = None
    witnessed: ChainHead | None = None  # the furthest head any anchor location saw (None: no anchor read)
    problems: tuple[AnchorProblem, ...] = ()  # every anchor finding, when the chain itself held


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
    """Recompute the chain; name the first bad record and why, or confirm it is intact.

    With `anchor`, every anchor location is compared with the chain once it has walked clean: a
    location missing or unreadable, beyond the head (newest records removed) or naming another
    hash at its seq (chain rewritten) fails the verdict. `bad_seq` is the lowest record named
    (None when only a missing or unreadable anchor is found); `reason` lists every finding."""
    plan = _parallel_plan(session)
    if plan is not None:
        expected_seq, prev, checked, failure = _verify_parallel(session, *plan)
    else:
        expected_seq, prev, checked, failure = _walk(session, 1, GENESIS_HASH, 0)
    if failure is not None:
        return _failure_result(failure, expected_seq, prev, checked)
    head = ChainHead(expected_seq - 1, prev)
    if anchor is None:
        return VerifyResult(True, checked, head)
    readings = anchor.readings()
    heads = [r.head for r in readings if r.head is not None]
    witnessed = max(heads, key=lambda h: h.seq) if heads else None
    problems = anchor_problems(session, head, readings)
    if not problems:
        return VerifyResult(True, checked, head, witnessed=witnessed)
    ordered = sorted(problems, key=lambda p: (p.bad_seq is None, p.bad_seq or 0))
    reason = "; ".join(p.message for p in ordered)
    return VerifyResult(False, checked, head, ordered[0].bad_seq, reason, witnessed, tuple(ordered))
