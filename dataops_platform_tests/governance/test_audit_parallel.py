"""The split verification (worker processes over spans of a SQLite file) gives exactly the verdict
of the sequential walk, including at the junctions between spans."""

from __future__ import annotations

import sqlite3

import pytest

from dataops_platform.governance import audit
from dataops_platform.governance.platform import Platform


def _chain(platform: Platform, n: int) -> None:
    entries = [audit.AuditEntry(at=f"2026-11-02T09:{i // 60:02d}:{i % 60:02d}", actor="omar", action="alert.open",
                                outcome="allowed", role="ops", tenant="t01_retail", project="p01_retail_search",
                                object_ref=f"alert:a{i}", details={"i": i}) for i in range(n)]  # fmt: skip
    with platform.write() as session:
        audit.append(session, entries)


def _verdicts(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> tuple[audit.VerifyResult, audit.VerifyResult]:
    with platform.store.read() as session:
        monkeypatch.setattr(audit, "_PARALLEL_MIN_RECORDS", 10**9)
        sequential = audit.verify(session, platform.anchor)
    with platform.store.read() as session:
        monkeypatch.setattr(audit, "_PARALLEL_MIN_RECORDS", 10)
        assert audit._parallel_plan(session) is not None, "the split must really be taken"
        split = audit.verify(session, platform.anchor)
    return sequential, split


@pytest.mark.parametrize("tamper", [None, "change", "delete", "swap"])
def test_split_verify_equals_sequential(sqlite_platform: Platform, monkeypatch: pytest.MonkeyPatch, tamper: str | None) -> None:
    _chain(sqlite_platform, 400)
    db = sqlite_platform.settings.home_dir / "governance.db"
    with sqlite3.connect(db) as conn:
        head = conn.execute("SELECT max(seq) FROM audit_records").fetchone()[0]
        middle = head // 2 + 1  # at or next to the junction of a 2-way split
        if tamper == "change":
            conn.execute("UPDATE audit_records SET actor = 'mallory' WHERE seq = ?", (middle,))
        elif tamper == "delete":
            conn.execute("DELETE FROM audit_records WHERE seq = ?", (middle,))
        elif tamper == "swap":
            rows = {r[0]: r[1:] for r in conn.execute("SELECT seq, actor, details, hash FROM audit_records WHERE seq IN (?, ?)",
                                                      (middle, middle + 1))}  # fmt: skip
            conn.execute("UPDATE audit_records SET hash = 'x' WHERE seq = ?", (middle,))
            conn.execute("UPDATE audit_records SET actor=?, details=?, hash=? WHERE seq=?", (*rows[middle], middle + 1))
            conn.execute("UPDATE audit_records SET actor=?, details=?, hash=? WHERE seq=?", (*rows[middle + 1], middle))
    sequential, split = _verdicts(sqlite_platform, monkeypatch)
    assert split == sequential
    assert split.ok is (tamper is None)
    if tamper:
        assert split.bad_seq == middle
