"""SPEC §7, issue 12 finding 3: the anchor only moves forward from what it witnessed.

A write that finds the chain shorter than an anchor (or another hash at the anchored seq), or an
anchor missing, is refused -- nothing written, nothing re-anchored -- and an alarm is recorded in
`audit_alarms.jsonl` next to every anchor; `audit verify` keeps failing until a platform admin
re-anchors, which is itself audited. Anchor copies (DATAOPS_AUDIT_ANCHOR_COPIES) catch a home whose
own anchor was rewritten to match a cut chain.

Also findings 11 (the audit listing's total) and 1 (audit --since/--until with an offset).
Everything runs on real SQLite files and a real PostgreSQL server; tampering is plain SQL.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select, text

from dataops_platform.clock import FixedClock, iso
from dataops_platform.errors import AuditIntegrityError, InvalidInput, PermissionDenied
from dataops_platform.governance import audit
from dataops_platform.governance.audit_service import AuditFilter, count_records, list_records, reanchor, verify_chain
from dataops_platform.governance.bootstrap import initialize
from dataops_platform.governance.platform import Platform
from dataops_platform.settings import Settings, load_settings
from dataops_platform.store.models import AuditRecord
from dataops_platform_tests.conftest import ADMIN, T0, make_platform
from dataops_platform_tests.helpers import CliResult, head_seq, run_cli_inprocess

P01 = "p01_retail_search"


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def cut_tail(platform: Platform, n: int) -> int:
    """Delete the `n` newest records behind the store's back (committed); returns the new head seq."""
    with platform.store.engine.begin() as conn:
        newest = conn.execute(text("SELECT max(seq) FROM audit_records")).scalar_one()
        conn.execute(text("DELETE FROM audit_records WHERE seq > :s"), {"s": newest - n})
    return newest - n


def hash_at(platform: Platform, seq: int) -> str:
    with platform.store.read() as session:
        return session.scalars(select(AuditRecord.hash).where(AuditRecord.seq == seq)).one()


def ordinary_writes(platform: Platform, count: int) -> list[Exception | None]:
    """`count` commands as people would issue them, alternating a refused one (dan may not release:
    normally audited as denied) and an allowed one (omar opens an alert). Returns what each raised
    (None: it went through)."""
    raised: list[Exception | None] = []
    for i in range(count):
        actor, action = ("dan", "version.release") if i % 2 == 0 else ("omar", "alert.open")
        try:
            with platform.act(actor, action, project=P01, object_ref=f"probe:{i}"):
                pass
        except Exception as exc:  # noqa: BLE001 - collected and judged by the caller
            raised.append(exc)
        else:
            raised.append(None)
    return raised


def alarms(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def cli(settings: Settings, *args: str, user: str | None = ADMIN, as_json: bool = False) -> CliResult:
    env = {"DATAOPS_DATABASE_URL": settings.database_url} if settings.database_url else {}
    if settings.audit_anchor_copies:
        env["DATAOPS_AUDIT_ANCHOR_COPIES"] = ",".join(settings.audit_anchor_copies)
    return run_cli_inprocess(settings.home_dir, *args, user=user, as_json=as_json, env=env)


def assert_refused(exc: Exception | None, anchor_seq: int, head: int) -> None:
    assert isinstance(exc, AuditIntegrityError), repr(exc)
    assert exc.exit_code == 1
    assert (exc.facts["anchor_seq"], exc.facts["head_seq"]) == (anchor_seq, head)
    for fact in (f"witnessed seq {anchor_seq}", f"head is seq {head}", "dataops audit verify", "admin",
                 "dataops audit reanchor"):  # fmt: skip
        assert fact in exc.message, exc.message


@pytest.fixture
def busy(platform: Platform) -> Platform:
    """The reference organisation (SQLite and PostgreSQL) with ten more records: denials and alerts."""
    raised = ordinary_writes(platform, 10)
    assert [type(e) for e in raised] == [PermissionDenied, type(None)] * 5
    return platform


# ---------------------------------------------------------------------------------------------
# finding 3: a cut tail stays caught, however many writes follow
# ---------------------------------------------------------------------------------------------
def test_finding3_cut_tail_then_writes_still_fails_verify(busy: Platform) -> None:
    platform = busy
    settings = platform.settings
    newest = head_seq(platform)
    witnessed = platform.anchor.read()
    assert witnessed == audit.ChainHead(newest, hash_at(platform, newest))
    head = cut_tail(platform, 1)

    raised = ordinary_writes(platform, 2)  # two refused commands (on main: two new records, then "intact")
    for exc in raised:
        assert_refused(exc, newest, head)
    assert head_seq(platform) == head, "a write through a cut chain appended records"
    assert platform.anchor.read() == witnessed, "the anchor moved"
    token = cli(settings, "token", "create", "omar", user="omar")  # an ordinary CLI write: refused, exit 1
    assert token.code == 1, (token.stdout, token.stderr)
    assert "write refused" in token.error_text and f"witnessed seq {newest}" in token.error_text

    result = verify_chain(platform, ADMIN)
    assert (result.ok, result.bad_seq, result.head.seq) == (False, newest, head), result.reason
    assert "newest records removed" in result.reason
    verified = cli(settings, "audit", "verify", as_json=True)
    assert verified.code == 1
    assert (verified.json["ok"], verified.json["bad_seq"]) == (False, newest)

    found = alarms(settings.audit_alarms_path)
    assert len(found) == 3  # each refused write left one line outside the store
    assert {(a["kind"], a["severity"], a["anchor_seq"], a["head_seq"]) for a in found} == {
        ("audit.write_refused", "critical", newest, head)
    }
    assert found[0]["problems"][0]["kind"] == "ahead"
    assert len({a["id"] for a in found}) == 3


def test_finding3_cut_three_then_four_writes(busy: Platform) -> None:
    platform = busy
    newest = head_seq(platform)
    head = cut_tail(platform, 3)
    raised = ordinary_writes(platform, 4)  # on main: seq newest-2 .. newest+1 re-created, the anchor passed
    assert len(raised) == 4
    for exc in raised:
        assert_refused(exc, newest, head)
    assert head_seq(platform) == head
    result = verify_chain(platform, ADMIN)
    assert (result.ok, result.bad_seq) == (False, head + 1), result.reason
    assert f"seq {newest}" in result.reason


def test_finding3_rewritten_anchored_record_refuses_writes(busy: Platform) -> None:
    platform = busy
    """The same length, another history: the record at the anchored seq no longer has its hash."""
    newest = head_seq(platform)
    with platform.store.engine.begin() as conn:
        conn.execute(text("UPDATE audit_records SET hash = :h WHERE seq = :s"), {"h": "e" * 64, "s": newest})
    raised = ordinary_writes(platform, 1)
    assert_refused(raised[0], newest, newest)
    assert "chain rewritten" in raised[0].message
    assert head_seq(platform) == newest


# ---------------------------------------------------------------------------------------------
# finding 3: a missing anchor fails verify and refuses writes; nothing re-creates it silently
# ---------------------------------------------------------------------------------------------
def test_finding3_missing_anchor_fails_verify_and_refuses_writes(busy: Platform) -> None:
    platform = busy
    settings = platform.settings
    newest = head_seq(platform)
    settings.audit_anchor_path.unlink()

    result = verify_chain(platform, ADMIN)
    assert not result.ok and result.bad_seq is None
    assert "anchor missing" in result.reason and f"holds {newest} audit records" in result.reason
    assert "dataops audit reanchor --reason" in result.reason
    human = cli(settings, "audit", "verify")
    assert human.code == 1 and "anchor missing" in human.stdout

    raised = ordinary_writes(platform, 2)
    for exc in raised:
        assert isinstance(exc, AuditIntegrityError), repr(exc)
        assert exc.facts["anchor_seq"] is None and exc.facts["head_seq"] == newest
        assert "no anchor witnesses the chain" in exc.message and "anchor missing" in exc.message
    with pytest.raises(AuditIntegrityError):
        initialize(platform, ADMIN)  # `init` again is no way to re-create it
    assert head_seq(platform) == newest
    assert not settings.audit_anchor_path.exists(), "a write re-created the anchor"
    assert [a["head_seq"] for a in alarms(settings.audit_alarms_path)] == [newest] * 3
    assert alarms(settings.audit_alarms_path)[-1]["attempt"] == {"actor": ADMIN, "action": "platform.init"}
    assert not verify_chain(platform, ADMIN).ok


def test_finding3_wiped_store_without_anchor_fails_verify(platform: Platform) -> None:
    """Every record deleted and the anchor removed: on main "intact: 0 records"."""
    settings = platform.settings
    with platform.store.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_records"))
    settings.audit_anchor_path.unlink()
    result = verify_chain(platform, ADMIN)
    assert (result.ok, result.checked) == (False, 0)
    assert "anchor missing" in result.reason and "no audit records" in result.reason
    assert isinstance(ordinary_writes(platform, 1)[0], AuditIntegrityError)
    assert initialize(platform, ADMIN).created is False  # the admin exists: init writes nothing...
    assert not settings.audit_anchor_path.exists()  # ...so it creates no anchor either
    assert not verify_chain(platform, ADMIN).ok


def test_only_init_on_an_empty_store_creates_the_first_anchor(settings: Settings) -> None:
    from dataops_platform.store import migrate

    migrate.upgrade(settings.store_url)
    platform = Platform(settings, FixedClock(T0))
    try:
        with pytest.raises(AuditIntegrityError):  # a hand-made store: no anchor, no write
            platform.record([audit.AuditEntry(at=iso(T0), actor="x", action="alert.open", outcome="allowed")])
        assert not settings.audit_anchor_path.exists()
        assert initialize(platform, ADMIN).created
        assert platform.anchor.read() == audit.ChainHead(1, hash_at(platform, 1))
        assert verify_chain(platform, ADMIN).ok
    finally:
        platform.close()


# ---------------------------------------------------------------------------------------------
# finding 3: the admin re-anchor
# ---------------------------------------------------------------------------------------------
def test_finding3_reanchor_by_admin_is_audited(busy: Platform) -> None:
    platform = busy
    settings = platform.settings
    newest = head_seq(platform)
    old_anchor = platform.anchor.read()
    head = cut_tail(platform, 2)

    # A non-admin is denied; the chain refuses writes, so the denial lands in the alarm file.
    with pytest.raises(PermissionDenied) as denied:
        reanchor(platform, "priya", "let me fix it")
    assert (denied.value.actor, denied.value.action, denied.value.exit_code) == ("priya", "audit.reanchor", 3)
    assert "audit_alarms.jsonl" in denied.value.message
    assert head_seq(platform) == head
    assert alarms(settings.audit_alarms_path)[-1]["attempt"] == {"actor": "priya", "action": "audit.reanchor",
                                                                 "outcome": "denied"}  # fmt: skip
    assert cli(settings, "audit", "reanchor", "--reason", "x", user="omar").code == 3
    with pytest.raises(InvalidInput) as empty:
        reanchor(platform, ADMIN, "   ")
    assert empty.value.field == "reason"
    assert cli(settings, "audit", "reanchor", "--reason", "").code == 2
    assert cli(settings, "audit", "reanchor").code != 0  # --reason is required
    assert platform.anchor.read() == old_anchor

    done = cli(settings, "audit", "reanchor", "--reason", "INC-42: two records lost in a restore", as_json=True)
    assert done.code == 0, (done.stdout, done.stderr)
    assert done.json["head_seq"] == head + 1 and done.json["previous_anchor"]["seq"] == newest
    assert [p["kind"] for p in done.json["problems"]] == ["ahead"]
    assert done.json["chain_ok"] is True and done.json["unwritten"] == []

    with platform.store.read() as session:
        record = session.scalars(select(AuditRecord).where(AuditRecord.seq == head + 1)).one()
    assert (record.actor, record.role, record.action, record.outcome) == (ADMIN, "admin", "audit.reanchor", "allowed")
    details = json.loads(record.details)
    assert details["reason"] == "INC-42: two records lost in a restore"
    assert details["previous_anchor"] == {"seq": old_anchor.seq, "hash": old_anchor.hash}
    assert details["head_before"] == {"seq": head, "hash": hash_at(platform, head)}
    assert details["witnesses"]["seq"] == head + 1
    assert platform.anchor.read() == audit.ChainHead(record.seq, record.hash)
    assert verify_chain(platform, ADMIN).ok

    # Writes go on from the new anchor; a non-admin's attempt is now audited in the chain itself.
    assert [type(e) for e in ordinary_writes(platform, 2)] == [PermissionDenied, type(None)]
    before = head_seq(platform)
    with pytest.raises(PermissionDenied):
        reanchor(platform, "omar", "again")
    with platform.store.read() as session:
        denial = session.scalars(select(AuditRecord).where(AuditRecord.seq == before + 1)).one()
    assert (denial.actor, denial.action, denial.outcome) == ("omar", "audit.reanchor", "denied")
    assert verify_chain(platform, ADMIN).ok


def test_reanchor_after_missing_anchor(platform: Platform) -> None:
    platform.settings.audit_anchor_path.unlink()
    result = reanchor(platform, ADMIN, "anchor lost with the old volume")
    assert result.previous is None and [p["kind"] for p in result.problems] == ["missing"]
    assert platform.anchor.read() == result.head
    assert verify_chain(platform, ADMIN).ok


# ---------------------------------------------------------------------------------------------
# finding 3: anchor copies out of the home's reach
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def with_copies(settings: Settings, tmp_path: Path) -> Iterator[tuple[Platform, Path, str]]:
    """The reference organisation with two anchor copies: a directory and an fsspec memory:// URL."""
    copy_dir = tmp_path / "other_volume" / "anchors"
    url = f"memory://anchors-{uuid.uuid4().hex}"
    copied = settings.model_copy(update={"audit_anchor_copies": [str(copy_dir), url]})
    platform = make_platform(copied, FixedClock(T0))
    ordinary_writes(platform, 6)
    yield platform, copy_dir, url
    platform.close()


def test_finding3_anchor_copy_catches_rewritten_home_anchor(with_copies: tuple[Platform, Path, str]) -> None:
    from upath import UPath

    platform, copy_dir, url = with_copies
    settings = platform.settings
    newest = head_seq(platform)
    head_hash = hash_at(platform, newest)
    for where in (copy_dir / "audit_anchor.json", UPath(url) / "audit_anchor.json"):
        assert json.loads(where.read_text()) == {"seq": newest, "hash": head_hash}  # written on every advance

    # Someone with the database and the home cuts two records and rewrites the home anchor to match.
    head = cut_tail(platform, 2)
    settings.audit_anchor_path.write_text(json.dumps({"seq": head, "hash": hash_at(platform, head)}))
    result = verify_chain(platform, ADMIN)
    assert (result.ok, result.bad_seq) == (False, head + 1), result.reason
    assert "the anchor copy 1 saw" in result.reason and "the anchor copy 2 saw" in result.reason
    assert str(settings.home_dir) not in result.reason  # REST callers read this: no server paths
    assert result.witnessed == audit.ChainHead(newest, head_hash)  # the furthest of all copies

    raised = ordinary_writes(platform, 1)
    assert_refused(raised[0], newest, head)
    assert head_seq(platform) == head
    for where in (settings.audit_alarms_path, copy_dir / "audit_alarms.jsonl"):
        assert [a["kind"] for a in alarms(where)] == ["audit.write_refused"]
    assert "audit.write_refused" in (UPath(url) / "audit_alarms.jsonl").read_text()
    where = alarms(settings.audit_alarms_path)[0]["locations"]  # the alarm names the places; messages do not
    assert where["home anchor"] == str(settings.audit_anchor_path)
    assert where["anchor copy 1"] == str(copy_dir.resolve() / "audit_anchor.json")
    assert where["anchor copy 2"].endswith("/audit_anchor.json") and url.split("://")[1] in where["anchor copy 2"]
    human = cli(settings, "audit", "verify")
    assert human.code == 1 and f"anchor copy 1: {copy_dir.resolve()}" in " ".join(human.stdout.split())

    reanchor(platform, ADMIN, "INC-7: restore from backup lost two records")
    new_head = audit.ChainHead(head + 1, hash_at(platform, head + 1))
    assert json.loads((copy_dir / "audit_anchor.json").read_text()) == {"seq": new_head.seq, "hash": new_head.hash}
    assert verify_chain(platform, ADMIN).ok


def test_anchor_copy_missing_or_disagreeing_fails_verify_and_refuses_writes(with_copies: tuple[Platform, Path, str]) -> None:
    platform, copy_dir, _ = with_copies
    newest = head_seq(platform)
    (copy_dir / "audit_anchor.json").unlink()
    result = verify_chain(platform, ADMIN)
    assert not result.ok and "anchor missing: anchor copy 1 does not exist" in result.reason
    assert isinstance(ordinary_writes(platform, 1)[0], AuditIntegrityError)
    assert not (copy_dir / "audit_anchor.json").exists()

    # A copy at the head's seq naming another hash: a rewritten chain (or a copy of another store).
    (copy_dir / "audit_anchor.json").write_text(json.dumps({"seq": newest, "hash": "a" * 64}))
    result = verify_chain(platform, ADMIN)
    assert (result.ok, result.bad_seq) == (False, newest) and "chain rewritten" in result.reason
    assert isinstance(ordinary_writes(platform, 1)[0], AuditIntegrityError)
    (copy_dir / "audit_anchor.json").write_text("{not json")
    assert "anchor unreadable" in (verify_chain(platform, ADMIN).reason or "")


def test_anchor_copies_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATAOPS_AUDIT_ANCHOR_COPIES", f" {tmp_path / 'a'} , memory://b/c ,")
    assert load_settings(tmp_path / "home").audit_anchor_copies == [str(tmp_path / "a"), "memory://b/c"]
    monkeypatch.setenv("DATAOPS_AUDIT_ANCHOR_COPIES", json.dumps([str(tmp_path / "a")]))
    assert load_settings(tmp_path / "home").audit_anchor_copies == [str(tmp_path / "a")]
    monkeypatch.delenv("DATAOPS_AUDIT_ANCHOR_COPIES")
    assert load_settings(tmp_path / "home").audit_anchor_copies == []


# ---------------------------------------------------------------------------------------------
# finding 11: the listing's total is the real total
# ---------------------------------------------------------------------------------------------
def test_finding11_audit_total_is_real_total(busy: Platform) -> None:
    platform = busy
    every = list_records(platform, ADMIN, AuditFilter(limit=100_000))
    total = count_records(platform, ADMIN, AuditFilter(limit=5, offset=3))
    assert total == len(every) > 5 + 3  # on main the route reported min(total, limit + offset) = 8
    page = list_records(platform, ADMIN, AuditFilter(limit=5, offset=3))
    assert [r.seq for r in page] == [r.seq for r in every[3:8]]
    scoped = AuditFilter(project=P01, actor="alice", limit=1)
    assert count_records(platform, ADMIN, scoped) == len(list_records(platform, ADMIN, AuditFilter(P01, "alice", limit=10**5)))
    assert count_records(platform, "quinn", AuditFilter()) == len(list_records(platform, "quinn", AuditFilter(limit=10**5)))
    with pytest.raises(PermissionDenied):
        count_records(platform, "dan", AuditFilter())


# ---------------------------------------------------------------------------------------------
# finding 1: --since / --until compare instants, whatever offset they are written in
# ---------------------------------------------------------------------------------------------
def test_finding1_audit_since_with_offset(platform: Platform, clock: FixedClock) -> None:
    start = head_seq(platform)
    for _ in range(6):  # one record every 10 minutes from T0 + 10 min
        clock.advance(minutes=10)
        with platform.act("omar", "alert.open", project=P01):
            pass
    plus2 = timezone(timedelta(hours=2))
    since, until = T0 + timedelta(minutes=25), T0 + timedelta(minutes=55)  # records 3, 4 and 5
    utc = AuditFilter(actor="omar", since=since, until=until)
    shifted = AuditFilter(actor="omar", since=since.astimezone(plus2), until=until.astimezone(plus2))
    expected = [start + 5, start + 4, start + 3]
    assert [r.seq for r in list_records(platform, ADMIN, utc)] == expected
    assert [r.seq for r in list_records(platform, ADMIN, shifted)] == expected  # on main: [] (text compared)
    assert count_records(platform, ADMIN, shifted) == 3

    def listed(since_text: str, until_text: str) -> list[int]:
        result = cli(platform.settings, "audit", "list", "--actor", "omar", "--since", since_text, "--until", until_text,
                     as_json=True)  # fmt: skip
        assert result.code == 0, result.stderr
        return [r["seq"] for r in result.json]

    assert listed("2026-11-02T09:25:00+00:00", "2026-11-02T09:55:00Z") == expected
    assert listed("2026-11-02T11:25:00+02:00", "2026-11-02T04:55:00-05:00") == expected
    assert listed("2026-11-02T09:25:00", "2026-11-02T09:55:00") == expected  # naive is UTC


def test_init_refuses_to_start_a_chain_under_another_stores_copy(with_copies: tuple[Platform, Path, str], tmp_path: Path) -> None:
    """A fresh home (and store) pointed at copies that witnessed another chain: init is refused."""
    platform, copy_dir, url = with_copies
    fresh = load_settings(tmp_path / "fresh_home", audit_anchor_copies=[str(copy_dir), url])
    other = Platform(fresh, FixedClock(T0))
    try:
        with pytest.raises(AuditIntegrityError) as refused:
            initialize(other, ADMIN)
        assert "anchor copy 1 saw the chain reach" in refused.value.message
        assert not fresh.audit_anchor_path.exists()
        with other.store.read() as session:
            assert audit.read_head(session).seq == 0
    finally:
        other.close()
