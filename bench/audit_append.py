"""Audit-chain throughput on SQLite: append (real path and batched), verify, and their ceilings.

Everything runs in a temporary home (deleted afterwards) and every figure and ratio printed is
measured in this one run, wall clock:

  real path  records/s through `Platform.act` (authorize -> body -> audit -> commit -> anchor),
             one transaction per action
  batched    records/s through `audit.append(session, entries)`, BATCH entries per
             `platform.write()` transaction (entries are built outside the timed part)
  build      the same batched path growing the chain to --records (progress lines)
  verify     records/s of `audit.verify(session, anchor)` over the whole chain, as the platform
             runs it (it may split the walk across cores), and forced onto one process
  ceilings   raw hashlib.sha256 over the very same canonical payloads, raw sqlite3 reads of the
             chain rows, raw sqlite3 executemany of equivalent rows into a bare table

Goals (from the issue): batched >= 5,000 records/s and verify >= 200,000 records/s.

    python bench/audit_append.py                   # full run: a 1,000,000-record chain
    python bench/audit_append.py --records 200000
    python bench/audit_append.py --quick           # smoke run in seconds; figures indicative only

Exit status: 0 when the run completed and every correctness check held (a missed goal is
reported, not failed); 2 when the chain did not verify or a tamper was not named exactly.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import platform as host
import resource
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from dataops_platform.clock import FixedClock  # noqa: E402
from dataops_platform.governance import audit  # noqa: E402
from dataops_platform.governance.bootstrap import initialize  # noqa: E402
from dataops_platform.governance.platform import Platform, iso  # noqa: E402
from dataops_platform.governance.spec_apply import apply_spec  # noqa: E402
from dataops_platform.settings import load_settings  # noqa: E402
from dataops_platform.spec.loader import load_spec  # noqa: E402

EXAMPLE_SPEC = REPO / "examples" / "platform.yaml"
ADMIN = "alice"
USER, ROLE, TENANT, PROJECT, ACTION = "omar", "ops", "t01_retail", "p01_retail_search", "alert.open"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
GOAL_BATCHED = 5_000
GOAL_VERIFY = 200_000
CHUNK = 2_000  # rows per fetchmany for the read ceilings (what verify uses)
COLUMNS = "seq, at, actor, role, tenant, project, action, object_ref, outcome, details, prev_hash, hash"


def say(line: str = "") -> None:
    print(line, flush=True)


def rate(value: float) -> str:
    return f"{value:>12,.0f}"


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min) {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def entries_for(start: int, count: int, clock: FixedClock) -> list[audit.AuditEntry]:
    """`count` records as a service writes them: ops opens alerts in p01."""
    severities = ("low", "medium", "high", "critical")
    return [
        audit.AuditEntry(
            at=iso(clock.advance(microseconds=250)),
            actor=USER,
            role=ROLE,
            tenant=TENANT,
            project=PROJECT,
            action=ACTION,
            outcome="allowed",
            object_ref=f"alert_{i:07d}",
            details={"severity": severities[i % 4], "source": "bench", "n": i},
        )
        for i in range(start, start + count)
    ]


# -- phases ------------------------------------------------------------------------------------
def bench_real_path(platform: Platform, clock: FixedClock, n: int) -> float:
    """`Platform.act` with an allowed mutating action, one transaction (and anchor move) each."""
    t = time.perf_counter()
    for i in range(n):
        clock.advance(milliseconds=1)
        with platform.act(USER, ACTION, project=PROJECT, object_ref=f"alert_rp{i:05d}") as op:
            op.details = {"severity": "high", "source": "bench", "n": i}
    return n / (time.perf_counter() - t)


def append_batches(
    platform: Platform, clock: FixedClock, start: int, total: int, batch: int, progress_every: int = 0
) -> tuple[float, float]:
    """Append `total` records, `batch` per `platform.write()`; entries are built untimed.

    Returns (records/s over the timed appends, wall seconds including entry building)."""
    timed, wall0, done, next_report = 0.0, time.perf_counter(), 0, progress_every
    while done < total:
        count = min(batch, total - done)
        entries = entries_for(start + done, count, clock)
        t = time.perf_counter()
        with platform.write() as session:
            audit.append(session, entries)
        timed += time.perf_counter() - t
        done += count
        if progress_every and (done >= next_report or done == total):
            wall = time.perf_counter() - wall0
            say(f"      {done:>10,} / {total:,} appended  {done / timed:>9,.0f} records/s  {wall:6.1f} s")
            next_report += progress_every
    return total / timed, time.perf_counter() - wall0


def bench_verify(platform: Platform, one_process: bool) -> tuple[float, audit.VerifyResult, int]:
    """audit.verify as the platform calls it; `one_process` turns the parallel split off."""
    saved = audit._PARALLEL_MIN_RECORDS
    if one_process:
        audit._PARALLEL_MIN_RECORDS = sys.maxsize
    try:
        with platform.store.read() as session:
            plan = audit._parallel_plan(session)
        processes = len(plan[1]) - 1 if plan else 1
        gc.collect()
        with platform.store.read() as session:
            t = time.perf_counter()
            result = audit.verify(session, platform.anchor)
            elapsed = time.perf_counter() - t
    finally:
        audit._PARALLEL_MIN_RECORDS = saved
    return result.checked / elapsed, result, processes


def settle(db: Path) -> None:
    """Fold the WAL into the database and flush dirty pages, so the build's writeback does not
    land on the verify timings."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    os.sync()


def tamper_check(db: Path, platform: Platform, seq: int) -> bool:
    """Change one stored record behind the store's back: verify must name exactly that seq."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        (old,) = conn.execute("SELECT details FROM audit_records WHERE seq = ?", (seq,)).fetchone()
        conn.execute("UPDATE audit_records SET details = ? WHERE seq = ?", ('{"tampered":true}', seq))
        try:
            with platform.store.read() as session:
                result = audit.verify(session, platform.anchor)
        finally:
            conn.execute("UPDATE audit_records SET details = ? WHERE seq = ?", (old, seq))
    finally:
        conn.close()
    return (not result.ok) and result.bad_seq == seq and result.checked == seq - 1


def chain_chunks(db: Path) -> Iterator[list[tuple]]:
    conn = sqlite3.connect(db)
    try:
        cursor = conn.execute(f"SELECT {COLUMNS} FROM audit_records ORDER BY seq")
        while chunk := cursor.fetchmany(CHUNK):
            yield chunk
    finally:
        conn.close()


def ceiling_read(db: Path) -> float:
    """Raw sqlite3: every chain row in seq order, fetchmany(CHUNK), nothing else done with them."""
    n, t = 0, time.perf_counter()
    for chunk in chain_chunks(db):
        n += len(chunk)
    return n / (time.perf_counter() - t)


def ceiling_sha256(db: Path) -> float:
    """Raw hashlib.sha256(payload).hexdigest() over the chain's own canonical payloads.

    The payloads are the exact bytes verify hashes (audit.canonical_payload), built untimed."""
    sha256, payload = hashlib.sha256, audit.canonical_payload
    n, timed = 0, 0.0
    for chunk in chain_chunks(db):
        payloads = [payload(*row[:11]) for row in chunk]
        t = time.perf_counter()
        for p in payloads:
            sha256(p).hexdigest()
        timed += time.perf_counter() - t
        n += len(payloads)
    return n / timed


def ceiling_insert(db: Path, scratch: Path, total: int, batch: int, with_indexes: bool) -> float:
    """Raw sqlite3 executemany of the chain's first `total` rows, `batch` per transaction, into a
    bare table (or one with the audit table's four indexes), same pragmas as the store."""
    conn = sqlite3.connect(scratch, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE audit_bare (seq INTEGER PRIMARY KEY, at TEXT, actor TEXT, role TEXT,"
            " tenant TEXT, project TEXT, action TEXT, object_ref TEXT, outcome TEXT, details TEXT,"
            " prev_hash TEXT, hash TEXT)"
        )
        if with_indexes:
            conn.execute("CREATE UNIQUE INDEX ix_bare_hash ON audit_bare (hash)")
            conn.execute("CREATE INDEX ix_bare_at ON audit_bare (at)")
            conn.execute("CREATE INDEX ix_bare_actor ON audit_bare (actor)")
            conn.execute("CREATE INDEX ix_bare_project_action ON audit_bare (project, action)")
        sql = "INSERT INTO audit_bare VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        n, timed, pending = 0, 0.0, []
        for chunk in chain_chunks(db):
            pending.extend(chunk)
            while pending and (len(pending) >= batch or n + len(pending) >= total):
                rows, pending = pending[: min(batch, total - n)], pending[batch:]
                t = time.perf_counter()
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(sql, rows)
                conn.execute("COMMIT")
                timed += time.perf_counter() - t
                n += len(rows)
                if n >= total:
                    return n / timed
        return n / timed
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{scratch}{suffix}").unlink(missing_ok=True)


# -- main --------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, help="chain length verified (default 1,000,000, quick 20,000)")
    parser.add_argument("--quick", action="store_true", help="small smoke run; figures indicative only")
    args = parser.parse_args(argv)
    if args.quick:
        records, real_n, batch, batched_total = args.records or 20_000, 100, 1_000, 5_000
    else:
        records, real_n, batch, batched_total = args.records or 1_000_000, 2_000, 10_000, 100_000

    say(f"audit chain benchmark: Python {host.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"{host.machine()}; {load()}")  # fmt: skip
    if args.quick:
        say("quick run: small sizes, figures indicative only")
    with tempfile.TemporaryDirectory(prefix="dataops-bench-") as tmp:
        settings = load_settings(Path(tmp) / "home")
        clock = FixedClock(T0)
        platform = Platform(settings, clock)
        db = settings.home_dir / "governance.db"
        try:
            t = time.perf_counter()
            initialize(platform, ADMIN)
            apply_spec(platform, ADMIN, load_spec(EXAMPLE_SPEC), str(EXAMPLE_SPEC))
            with platform.store.read() as session:
                seeded = audit.read_head(session).seq
            say(f"home {settings.home_dir} (SQLite), init + spec apply {time.perf_counter() - t:.2f} s, "
                f"{seeded} audit records")  # fmt: skip
            say()

            say(f"[1/5] real path: {real_n:,} x Platform.act({USER!r}, {ACTION!r}, project={PROJECT!r}), "
                "one transaction each")  # fmt: skip
            real_rate = bench_real_path(platform, clock, real_n)
            say(f"      {rate(real_rate)} records/s")
            # The same path with the change feed's triggers dropped (issue 17): what they cost a write.
            from sqlalchemy import text

            from dataops_platform.store import feed

            with platform.store.engine.begin() as conn:
                for statement in feed.drop_statements("sqlite"):
                    conn.execute(text(statement))
            bare_rate = bench_real_path(platform, clock, real_n)
            with platform.store.engine.begin() as conn:
                feed.install(conn)
            say(f"      without the change feed's triggers: {rate(bare_rate)} records/s "
                f"(the feed costs {bare_rate / real_rate:.2f}x)")  # fmt: skip

            say(f"[2/5] batched: audit.append(session, entries), {batch:,} entries per platform.write(), "
                f"{batched_total:,} records")  # fmt: skip
            with platform.store.read() as session:
                start = audit.read_head(session).seq
            batched_rate, _ = append_batches(platform, clock, start, batched_total, batch)
            say(f"      {rate(batched_rate)} records/s")

            with platform.store.read() as session:
                have = audit.read_head(session).seq
            build_n = max(0, records - have)
            say(f"[3/5] build: the chain grows from {have:,} to {have + build_n:,} records, batched path")
            build_rate = 0.0
            if build_n:
                every = max(batch, records // 10)
                build_rate, wall = append_batches(platform, clock, have, build_n, batch, progress_every=every)
                say(f"      {rate(build_rate)} records/s appending ({wall:.1f} s wall with entry building)")
            with platform.store.read() as session:
                total = audit.read_head(session).seq

            say(f"[4/5] verify: audit.verify(session, anchor) over {total:,} records, each mode twice, alternating")
            settle(db)
            verify_rate = single_rate = 0.0
            intact, processes = True, 1
            for _ in range(2):
                for one_process in (False, True):
                    measured, result, used = bench_verify(platform, one_process)
                    intact = intact and result.ok and result.checked == total
                    mode = (
                        "forced onto 1 process"
                        if one_process
                        else f"as the platform runs it ({used} process{'es' if used > 1 else ''})"
                    )
                    say(f"      {rate(measured)} records/s  {mode}; ok={result.ok} checked={result.checked:,}")
                    if one_process:
                        single_rate = max(single_rate, measured)
                    else:
                        verify_rate, processes = max(verify_rate, measured), used
            tamper_seqs = sorted({max(1, total // 2), max(1, total // 2 + 1), max(1, total * 3 // 4)})
            detected = all(tamper_check(db, platform, seq) for seq in tamper_seqs)
            where = ", ".join(f"{seq:,}" for seq in tamper_seqs)
            say(f"      tamper checks (details UPDATEd via sqlite3 at seq {where}): "
                f"{'each named exactly' if detected else 'NOT NAMED CORRECTLY'}")  # fmt: skip

            say("[5/5] ceilings, same run, same data, one process")
            sha_rate = ceiling_sha256(db)
            say(f"      {rate(sha_rate)} records/s  hashlib.sha256(payload).hexdigest() over the "
                f"{total:,} canonical payloads")  # fmt: skip
            read_rate = ceiling_read(db)
            say(f"      {rate(read_rate)} rows/s     sqlite3 SELECT of the chain in seq order, "
                f"fetchmany({CHUNK:,})")  # fmt: skip
            scratch = Path(tmp) / "ceiling.db"
            insert_rate = ceiling_insert(db, scratch, batched_total, batch, with_indexes=False)
            say(f"      {rate(insert_rate)} rows/s     sqlite3 executemany into a bare table, {batch:,} rows "
                f"per transaction, {batched_total:,} rows")  # fmt: skip
            indexed_rate = ceiling_insert(db, scratch, batched_total, batch, with_indexes=True)
            say(f"      {rate(indexed_rate)} rows/s     the same, table with the audit table's 4 indexes")
        finally:
            platform.close()

    append_ceiling = 1 / (1 / sha_rate + 1 / insert_rate)  # hash each record, then insert it
    verify_ceiling = 1 / (1 / sha_rate + 1 / read_rate)  # read each record, then hash it
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    say()
    say("summary (records/s)")
    say(f"  real path, Platform.act             {rate(real_rate)}")
    say(f"  batched append                      {rate(batched_rate)}")
    if build_rate:
        say(f"  batched append, build phase         {rate(build_rate)}")
    say(f"  verify, as the platform runs it     {rate(verify_rate)}   (best of 2; {processes} process"
        f"{'es' if processes > 1 else ''})")  # fmt: skip
    say(f"  verify, forced onto 1 process       {rate(single_rate)}   (best of 2)")
    say(f"  ceiling: sha256 of the payloads     {rate(sha_rate)}")
    say(f"  ceiling: sqlite3 read               {rate(read_rate)}")
    say(f"  ceiling: read + sha256              {rate(verify_ceiling)}")
    say(f"  ceiling: sqlite3 insert, bare       {rate(insert_rate)}")
    say(f"  ceiling: sqlite3 insert, 4 indexes  {rate(indexed_rate)}")
    say(f"  ceiling: sha256 + bare insert       {rate(append_ceiling)}")
    say("ratios")
    say(f"  batched / bare-insert ceiling             {batched_rate / insert_rate:7.3f}")
    say(f"  batched / (sha256 + bare insert) ceiling  {batched_rate / append_ceiling:7.3f}")
    say(f"  verify / sha256 ceiling                   {verify_rate / sha_rate:7.3f}")
    say(f"  verify (1 process) / sha256 ceiling       {single_rate / sha_rate:7.3f}")
    say(f"  verify (1 process) / (read + sha256)      {single_rate / verify_ceiling:7.3f}")
    say(f"  real path / batched                       {real_rate / batched_rate:7.4f}")
    say("goals")
    quick = "  [quick run: indicative only]" if args.quick else ""
    say(f"  batched append >= {GOAL_BATCHED:,} records/s: "
        f"{'MET' if batched_rate >= GOAL_BATCHED else 'NOT MET'} ({batched_rate:,.0f}){quick}")  # fmt: skip
    say(f"  verify >= {GOAL_VERIFY:,} records/s over {total:,} records: "
        f"{'MET' if verify_rate >= GOAL_VERIFY else 'NOT MET'} ({verify_rate:,.0f}){quick}")  # fmt: skip
    say(f"  chain verified intact and every tamper named: {'yes' if intact and detected else 'NO'}")
    say(f"peak RSS {peak_mb:,.0f} MB; {load()}")
    return 0 if intact and detected else 2


if __name__ == "__main__":
    sys.exit(main())
