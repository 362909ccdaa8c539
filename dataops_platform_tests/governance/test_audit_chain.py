"""SPEC §7: the audit log is append-only and hash-chained; `audit.verify` names the first bad record
whatever was done to the table with raw SQL, the anchor sees a cut-off tail, and concurrent writers
never fork the chain.

Tampering runs as plain SQL on a connection whose transaction is rolled back afterwards, so each
hypothesis example starts from the same intact 30-record chain (checked again after every example).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from dataops_platform.clock import FixedClock
from dataops_platform.governance import audit
from dataops_platform.governance.platform import Platform, iso
from dataops_platform.settings import Settings, load_settings
from dataops_platform.spec.actions import ACTIONS
from dataops_platform.store import migrate
from dataops_platform.store.models import AuditRecord, IdCounter
from dataops_platform_tests.conftest import T0
from dataops_platform_tests.helpers import (
    A1,
    CHAIN_FIELDS,
    ROLE_USERS,
    append_worker,
    chain_rows,
    insert_record,
    matrix_platform,
    pg_scratch_database,
    shift_seqs_up,
    swap_contents,
)

N = 30
NULLABLE = {"role", "tenant", "project", "object_ref"}
PROPERTY = hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def entry(i: int) -> audit.AuditEntry:
    """Varied records: nulls, unicode, nested details, all three outcomes."""
    return audit.AuditEntry(
        at=iso(T0 + timedelta(seconds=7 * i)),
        actor=f"user{i % 4}",
        action=ACTIONS[i % len(ACTIONS)],
        outcome=audit.OUTCOMES[i % 3],
        role=None if i % 5 == 0 else "qa",
        tenant=None if i % 7 == 0 else "t01",
        project=None if i % 7 == 0 else f"p{i % 3}",
        object_ref=None if i % 4 == 0 else f"version:ds_v{i:03d}",
        details={"i": i, "note": "Prüfung ✓ — 検証", "nested": {"xs": [1, 2.5, None, True]}},
    )


def build_chain(settings: Settings) -> Platform:
    """A store holding exactly N records, each appended in its own platform.write() (anchor follows).
    The first write stands for `dataops init`'s bootstrap record: the only write that may start the
    anchor of an empty store."""
    migrate.upgrade(settings.store_url)
    platform = Platform(settings, FixedClock(T0))
    for i in range(1, N + 1):
        with platform.write(first_anchor=i == 1) as session:
            audit.append(session, [entry(i)])
    return platform


@contextlib.contextmanager
def tampering(platform: Platform) -> Iterator[Connection]:
    """A connection for raw-SQL tampering; everything it did is rolled back on exit."""
    with platform.store.engine.connect() as conn:
        trans = conn.begin()
        try:
            yield conn
        finally:
            trans.rollback()
    with platform.store.read() as session:
        assert audit.verify(session, platform.anchor).ok, "tampering leaked out of its transaction"


def verify(conn: Connection, platform: Platform, with_anchor: bool = True) -> audit.VerifyResult:
    with Session(bind=conn) as session:
        return audit.verify(session, platform.anchor if with_anchor else None)


def hash_at(conn: Connection, seq: int) -> str:
    if seq == 0:
        return audit.GENESIS_HASH
    return conn.execute(text("SELECT hash FROM audit_records WHERE seq = :s"), {"s": seq}).scalar_one()


# ---------------------------------------------------------------------------------------------
# The mutations. Each tampers through `conn` and returns the seq verify must name.
# ---------------------------------------------------------------------------------------------
def change_field(conn: Connection, seq: int, field: str, value: str | None) -> int:
    conn.execute(text(f"UPDATE audit_records SET {field} = :v WHERE seq = :s"), {"v": value, "s": seq})
    return seq


def delete_record(conn: Connection, seq: int) -> int:
    conn.execute(text("DELETE FROM audit_records WHERE seq = :s"), {"s": seq})
    return seq  # the newest one (seq N) is caught by the anchor, the others by the gap


def insert_bogus(conn: Connection, seq: int, actor: str, bogus_hash: str) -> int:
    """A forged record at `seq` (later ones shifted up) linked to its predecessor, with a bogus hash."""
    prev = hash_at(conn, seq - 1)
    shift_seqs_up(conn, seq)
    insert_record(conn, seq, {
        "at": iso(T0), "actor": actor, "role": "admin", "tenant": "t01", "project": "p1",
        "action": "version.release", "object_ref": "version:ds_v999", "outcome": "allowed",
        "details": "{}", "prev_hash": prev, "hash": bogus_hash,
    })  # fmt: skip
    return seq


def insert_rehashed(conn: Connection, seq: int, actor: str) -> int:
    """A forged record with a correctly computed hash: it is self-consistent, so its successor breaks."""
    prev = hash_at(conn, seq - 1)
    shift_seqs_up(conn, seq)
    values = {
        "at": iso(T0), "actor": actor, "role": "admin", "tenant": "t01", "project": "p1",
        "action": "version.release", "object_ref": "version:ds_v999", "outcome": "allowed",
        "details": "{}", "prev_hash": prev,
    }  # fmt: skip
    digest = audit.chain_hash(seq, *(values[f] for f in CHAIN_FIELDS[:-1]))
    insert_record(conn, seq, {**values, "hash": digest})
    return seq + 1


def swap_adjacent(conn: Connection, seq: int) -> int:
    swap_contents(conn, seq, seq + 1)
    return seq


def cut_tail(conn: Connection, n: int) -> int:
    conn.execute(text("DELETE FROM audit_records WHERE seq > :s"), {"s": N - n})
    return N - n + 1


def rewrite_from(conn: Connection, seq: int) -> int:
    """Change one record and recompute every hash from there on: only the anchor can tell."""
    rows = chain_rows(conn)
    prev = hash_at(conn, seq - 1)
    for row in rows[seq - 1 :]:
        values = {f: row[f] for f in CHAIN_FIELDS}
        if row["seq"] == seq:
            values["actor"] = "mallory"
        values["prev_hash"] = prev
        values["hash"] = prev = audit.chain_hash(row["seq"], *(values[f] for f in CHAIN_FIELDS[:-1]))
        assignments = ", ".join(f"{f} = :{f}" for f in CHAIN_FIELDS)
        update = text(f"UPDATE audit_records SET {assignments} WHERE seq = :seq")
        conn.execute(update, {**values, "seq": row["seq"]})
    return N


# ---------------------------------------------------------------------------------------------
# SQLite: properties over random positions
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sqlite_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    platform = build_chain(load_settings(tmp_path_factory.mktemp("chain") / "home"))
    yield platform
    platform.close()


def test_intact_chain_verifies(sqlite_chain: Platform) -> None:
    with sqlite_chain.store.read() as session:
        result = audit.verify(session, sqlite_chain.anchor)
        last = session.scalars(select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(1)).one()
    assert (result.ok, result.checked, result.bad_seq) == (True, N, None)
    assert result.head == audit.ChainHead(N, last.hash)
    assert sqlite_chain.anchor.read() == audit.ChainHead(N, last.hash)


@PROPERTY
@given(seq=st.integers(1, N), field=st.sampled_from(CHAIN_FIELDS), value=st.none() | st.text(max_size=70))
def test_changed_field_is_named(sqlite_chain: Platform, seq: int, field: str, value: str | None) -> None:
    with tampering(sqlite_chain) as conn:
        original = next(r for r in chain_rows(conn) if r["seq"] == seq)
        if value is None and field not in NULLABLE:
            value = ""
        if value == original[field] or (field == "hash" and value in {r["hash"] for r in chain_rows(conn)}):
            value = f"{original[field] or ''}~"
        expected = change_field(conn, seq, field, value)
        result = verify(conn, sqlite_chain)
    assert (result.ok, result.bad_seq) == (False, expected), result.reason
    assert f"seq {expected}" in result.reason
    assert ("prev_hash" if field == "prev_hash" else "changed") in result.reason


@PROPERTY
@given(seq=st.integers(1, N))
def test_deleted_record_is_named(sqlite_chain: Platform, seq: int) -> None:
    with tampering(sqlite_chain) as conn:
        expected = delete_record(conn, seq)
        result = verify(conn, sqlite_chain)
    assert (result.ok, result.bad_seq) == (False, expected), result.reason
    assert "missing" in result.reason or "removed" in result.reason


@PROPERTY
@given(seq=st.integers(1, N + 1), actor=st.text(min_size=1, max_size=20),
       bogus=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64))  # fmt: skip
def test_inserted_record_is_named(sqlite_chain: Platform, seq: int, actor: str, bogus: str) -> None:
    with tampering(sqlite_chain) as conn:
        expected = insert_bogus(conn, seq, actor, bogus)
        result = verify(conn, sqlite_chain)
    assert (result.ok, result.bad_seq) == (False, expected), result.reason


@PROPERTY
@given(seq=st.integers(1, N), actor=st.text(min_size=1, max_size=20))
def test_inserted_rehashed_record_breaks_its_successor(sqlite_chain: Platform, seq: int, actor: str) -> None:
    with tampering(sqlite_chain) as conn:
        expected = insert_rehashed(conn, seq, actor)
        result = verify(conn, sqlite_chain)
    assert (result.ok, result.bad_seq) == (False, expected), result.reason


@PROPERTY
@given(seq=st.integers(1, N - 1))
def test_swapped_neighbours_are_named(sqlite_chain: Platform, seq: int) -> None:
    with tampering(sqlite_chain) as conn:
        expected = swap_adjacent(conn, seq)
        assert [r["seq"] for r in chain_rows(conn)] == list(range(1, N + 1))  # seqs kept, contents moved
        result = verify(conn, sqlite_chain)
    assert (result.ok, result.bad_seq) == (False, expected), result.reason


@PROPERTY
@given(n=st.integers(1, N))
def test_cut_tail_is_caught_by_the_anchor(sqlite_chain: Platform, n: int) -> None:
    with tampering(sqlite_chain) as conn:
        expected = cut_tail(conn, n)
        unanchored = verify(conn, sqlite_chain, with_anchor=False)
        result = verify(conn, sqlite_chain)
    assert unanchored.ok and unanchored.checked == N - n  # the chain alone cannot see it...
    assert (result.ok, result.bad_seq) == (False, expected), result.reason  # ...the anchor does
    assert f"seq {N}" in result.reason


@PROPERTY
@given(seq=st.integers(1, N))
def test_consistently_rewritten_chain_is_caught_by_the_anchor(sqlite_chain: Platform, seq: int) -> None:
    with tampering(sqlite_chain) as conn:
        expected = rewrite_from(conn, seq)
        unanchored = verify(conn, sqlite_chain, with_anchor=False)
        result = verify(conn, sqlite_chain)
    assert unanchored.ok
    assert (result.ok, result.bad_seq) == (False, expected), result.reason


details_st = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


@hsettings(max_examples=30, deadline=None)
@given(entries=st.lists(st.builds(
    audit.AuditEntry, at=st.text(min_size=1, max_size=32), actor=st.text(min_size=1, max_size=20),
    action=st.sampled_from(ACTIONS), outcome=st.sampled_from(audit.OUTCOMES),
    role=st.none() | st.text(max_size=10), project=st.none() | st.text(max_size=10),
    details=st.dictionaries(st.text(max_size=8), details_st, max_size=4),
), min_size=1, max_size=5))  # fmt: skip
def test_any_appended_content_verifies(sqlite_chain: Platform, entries: list[audit.AuditEntry]) -> None:
    with tampering(sqlite_chain) as conn:
        with Session(bind=conn) as session:
            head = audit.append(session, entries)
            session.flush()
            result = audit.verify(session, sqlite_chain.anchor)
    assert result.ok, result.reason
    assert (result.checked, result.head) == (N + len(entries), head)


# ---------------------------------------------------------------------------------------------
# PostgreSQL: one example of every mutation kind
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pg_chain(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with pg_scratch_database(request.getfixturevalue("pg_server")) as url:
        platform = build_chain(load_settings(tmp_path_factory.mktemp("pgchain") / "home", database_url=url))
        yield platform
        platform.close()


PG_CASES: dict[str, Callable[[Connection], int]] = {
    "change_actor": lambda c: change_field(c, 12, "actor", "mallory"),
    "change_details": lambda c: change_field(c, 1, "details", '{"i": 1}'),
    "change_prev_hash": lambda c: change_field(c, 20, "prev_hash", "0" * 64),
    "change_hash": lambda c: change_field(c, 7, "hash", "f" * 64),
    "delete_middle": lambda c: delete_record(c, 15),
    "delete_first": lambda c: delete_record(c, 1),
    "insert_bogus": lambda c: insert_bogus(c, 9, "mallory", "e" * 64),
    "insert_rehashed": lambda c: insert_rehashed(c, 9, "mallory"),
    "swap_adjacent": lambda c: swap_adjacent(c, 22),
    "cut_tail": lambda c: cut_tail(c, 3),
    "rewrite_from": lambda c: rewrite_from(c, 25),
}


def test_pg_intact_chain_verifies(pg_chain: Platform) -> None:
    with pg_chain.store.read() as session:
        result = audit.verify(session, pg_chain.anchor)
    assert (result.ok, result.checked, result.head.seq) == (True, N, N)


@pytest.mark.parametrize("case", list(PG_CASES))
def test_pg_tampering_is_named(pg_chain: Platform, case: str) -> None:
    with tampering(pg_chain) as conn:
        expected = PG_CASES[case](conn)
        result = verify(conn, pg_chain)
    assert (result.ok, result.bad_seq) == (False, expected), result.reason


# ---------------------------------------------------------------------------------------------
# Concurrent writers through the real path: 4 processes x 500 actions, one transaction each
# ---------------------------------------------------------------------------------------------
WRITERS = {  # each an allowed mutating action of the SPEC §4 matrix in a1
    ROLE_USERS["data_engineer"]: "version.create",
    ROLE_USERS["qa"]: "version.validate",
    ROLE_USERS["platform_pm"]: "version.release",
    ROLE_USERS["ops"]: "alert.open",
}
PER_WRITER = 500


@pytest.mark.slow
def test_concurrent_writers_keep_one_chain(settings: Settings) -> None:
    platform = matrix_platform(settings, FixedClock(T0))
    with platform.store.read() as session:
        before = audit.read_head(session).seq
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(len(WRITERS)), ctx.Queue()
    procs = [
        ctx.Process(
            target=append_worker,
            args=(str(settings.home), settings.database_url, actor, action, A1, PER_WRITER, barrier, results),
        )  # fmt: skip
        for actor, action in WRITERS.items()
    ]
    for p in procs:
        p.start()
    outcomes: list[tuple[str, int, Any]] = []
    try:
        for _ in procs:
            outcomes.append(results.get(timeout=180))
    except queue.Empty:
        pytest.fail(f"writers did not finish in time; got {outcomes}")
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    assert [err for _, _, err in outcomes if err] == []
    assert sorted(outcomes) == sorted((actor, PER_WRITER, None) for actor in WRITERS)
    assert [p.exitcode for p in procs] == [0] * len(procs)

    total = before + PER_WRITER * len(WRITERS)
    with platform.store.read() as session:
        seqs = list(session.scalars(select(AuditRecord.seq).order_by(AuditRecord.seq)))
        result = audit.verify(session, platform.anchor)
        new = list(session.scalars(select(AuditRecord).where(AuditRecord.seq > before)))
        # The writers' counter: one per tenant when ids are numbered per tenant (all writers act in a1).
        counters = list(session.scalars(select(IdCounter).where(IdCounter.kind.startswith("concurrency"))))
        distinct_prev = session.scalar(select(func.count(func.distinct(AuditRecord.prev_hash))))
    assert seqs == list(range(1, total + 1))
    assert result.ok, result.reason
    assert (result.checked, result.head.seq) == (total, total)
    assert distinct_prev == total  # no two records hang off the same predecessor: no fork
    assert platform.anchor.read() == result.head
    per_actor = {actor: 0 for actor in WRITERS}
    for record in new:
        assert (record.outcome, record.project, record.action) == ("allowed", A1, WRITERS[record.actor])
        per_actor[record.actor] += 1
    assert per_actor == {actor: PER_WRITER for actor in WRITERS}
    refs = {record.object_ref.rpartition(".")[2] for record in new}  # without a tenant tag, if ids carry one
    assert len({record.object_ref for record in new}) == len(new)
    assert refs == {f"c_{i:05d}" for i in range(1, PER_WRITER * len(WRITERS) + 1)}  # ids allocated race-free
    assert [counter.last for counter in counters] == [PER_WRITER * len(WRITERS)]
    platform.close()
