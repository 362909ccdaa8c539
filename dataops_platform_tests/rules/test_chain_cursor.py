"""Rule 11's verified-prefix cursor (rules/chain_cursor.py) on a real audit chain: where the walk
starts (after the prefix a clean walk verified, or at seq 1) and that the verdict is always the
full walk's, whatever happened to the file or to the state."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataops_platform.artifacts.files import ARTIFACT_FILES, PARSED, Artifacts, write_artifact
from dataops_platform.clock import FixedClock
from dataops_platform.demo.materialize import MaterializeOutcome
from dataops_platform.governance.audit import canonical_details
from dataops_platform.governance.chain import GENESIS_HASH, chain_hash
from dataops_platform.governance.platform import Platform
from dataops_platform.rules import chain_cursor, checks
from dataops_platform.rules.chain_cursor import STATE_FILE, load_state, open_cursor
from dataops_platform.rules.registry import CANNOT_EVALUATE
from dataops_platform.settings import Settings
from dataops_platform_tests.helpers import materialize_assets as materialize

AUDIT_LOG = ARTIFACT_FILES["audit_log"]
FIELDS = ("seq", "at", "actor", "role", "tenant", "project", "action", "object_ref", "outcome", "details", "prev_hash")


# -- helpers --------------------------------------------------------------------------------------
def state_of(root: Path) -> dict | None:
    path = root / STATE_FILE
    return json.loads(path.read_text()) if path.exists() else None


def cursor_start(root: Path) -> tuple[int, str] | None:
    """Where rule 11 would start its walk on this root now (None: no cursor at all)."""
    arts = Artifacts(root)
    cursor = open_cursor(arts, arts["audit_log"])
    return cursor.start if cursor else None


def judge(root: Path, *, fresh: bool = True) -> tuple[dict, dict]:
    """Rule 11 on the `Artifacts` root (through the cursor) and on a plain mapping of the very same
    values (the full walk, as the rules are specified), as result dicts. Each call is a fresh
    evaluation (a new run) unless not `fresh`: rules' results remembered on the same parsed values
    (rules.registry) are forgotten with the parsed values."""
    if fresh:
        PARSED.clear()
    arts = Artifacts(root)
    through_cursor = checks.audit_trail_intact(arts).as_dict()
    plain = {name: arts[name] for name in ARTIFACT_FILES if name in arts}
    return through_cursor, checks.audit_trail_intact(plain).as_dict()


def continuation(last: dict, n: int, *, prev: str | None = None) -> list[dict]:
    """`n` records after `last`, shaped like it and hashed with the chain's own hashing."""
    out, seq, prev_hash = [], last["seq"], prev or last["hash"]
    for i in range(n):
        seq += 1
        record = dict(last, seq=seq, prev_hash=prev_hash, actor="omar", action="alert.acknowledge",
                      details=canonical_details({"appended": i}), outcome="allowed")  # fmt: skip
        record["hash"] = prev_hash = chain_hash(*(record[k] for k in FIELDS))
        out.append(record)
    return out


def jsonl(records: list[dict], newline: bytes = b"\n") -> bytes:
    return b"".join(json.dumps(r, sort_keys=True, ensure_ascii=False).encode() + newline for r in records)


def write_bytes(root: Path, data: bytes) -> None:
    """Replace the audit_log file as a refresh does (a new file renamed into place)."""
    path = root / AUDIT_LOG
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


@pytest.fixture
def root(demo_home: tuple[Settings, MaterializeOutcome], tmp_path: Path) -> Path:
    """A copy of the demo's artifacts (a real audit chain and the objects it audits), no cursor state yet."""
    settings, _ = demo_home
    target = tmp_path / "artifacts"
    shutil.copytree(settings.artifacts_dir, target, ignore=shutil.ignore_patterns(".state"))
    return target


def records_of(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / AUDIT_LOG).read_bytes().splitlines() if line.strip()]


@pytest.fixture
def walks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, str]]:
    """Where every chain walk rule 11 made started (records already verified, hash to start from)."""
    seen: list[tuple[int, str]] = []
    real = checks.chain_problems

    def spy(records: list[dict], anchor: dict | None, verified: tuple[int, str] = (0, GENESIS_HASH)) -> list[str]:
        seen.append(verified)
        return real(records, anchor, verified)

    monkeypatch.setattr(checks, "chain_problems", spy)
    return seen


def audit_check(result: dg.ExecuteInProcessResult) -> bool:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}["audit_trail_intact"]


# -- in a real materialisation ------------------------------------------------------------------
def test_a_refresh_walks_only_what_was_appended(demo_copy: Settings, walks: list[tuple[int, str]]) -> None:
    root = demo_copy.artifacts_dir
    # A copied home's first refresh rebuilds the audit log in full (new files), which drops the
    # cursor: that run walks from seq 1 and leaves a cursor for the whole file.
    assert audit_check(materialize(demo_copy, ["audit_log"])) is True
    assert walks[0] == (0, GENESIS_HASH)
    walks.clear()
    state = state_of(root)
    log = (root / AUDIT_LOG).read_bytes()
    records = records_of(root)
    assert state == {  # the cursor that run left, for the whole file
        "format": 1, "seq": len(records), "hash": records[-1]["hash"],
        "length": len(log), "digest": hashlib.blake2b(log, digest_size=16).hexdigest(),
    }  # fmt: skip
    platform = Platform(demo_copy, FixedClock(datetime(2026, 11, 20, 9, 0, tzinfo=UTC)))
    try:
        for i in range(3):
            with platform.act("omar", "alert.open", project="p01_retail_search", object_ref=f"alert:cursor_{i}") as op:
                op.details = {"n": i}
    finally:
        platform.close()
    result = materialize(demo_copy, ["audit_log"])
    assert audit_check(result) is True
    assert walks and walks[0] == (len(records), records[-1]["hash"])  # the first walk of the run: 3 records
    grown = records_of(root)
    assert len(grown) == len(records) + 3 and grown[:-3] == records
    assert state_of(root)["seq"] == len(grown) and state_of(root)["hash"] == grown[-1]["hash"]
    assert all(start == (len(grown), grown[-1]["hash"]) for start in walks[1:])  # later walks: nothing left to walk


def test_an_audit_record_edited_with_sql_fails_as_before(demo_copy: Settings, walks: list[tuple[int, str]]) -> None:
    root = demo_copy.artifacts_dir
    before = state_of(root)
    with sqlite3.connect(demo_copy.home_dir / "governance.db") as conn:
        conn.execute("UPDATE audit_records SET actor = 'mallory' WHERE seq = 5")
    assert audit_check(materialize(demo_copy, ["audit_log"])) is False
    assert walks and all(start == (0, GENESIS_HASH) for start in walks)  # other bytes: the walk starts at seq 1
    assert before is not None and state_of(root) is None  # a record rewritten: the cursor dropped; a failed walk writes none
    through_cursor, full = judge(root)
    assert through_cursor == full and "audit seq 5 content does not match its hash" in full["violations"]


def test_a_cursor_forged_for_the_rewritten_bytes_is_not_trusted(demo_copy: Settings, tmp_path: Path,
                                                                walks: list[tuple[int, str]]) -> None:  # fmt: skip
    """Someone who can write `.state/` edits an audit record in the store and plants the cursor a
    clean walk of the bytes the next refresh will write would leave. The refresh rewrote a record
    (not only appended), so it drops the cursor: rule 11 walks from seq 1 and finds the edit."""
    root = demo_copy.artifacts_dir
    with sqlite3.connect(demo_copy.home_dir / "governance.db") as conn:
        conn.execute("UPDATE audit_records SET actor = 'mallory' WHERE seq = 5")
    twin = tmp_path / "twin"
    shutil.copytree(demo_copy.home_dir, twin)
    twin_settings = Settings(home=twin)
    materialize(twin_settings, ["audit_log"])  # what the refresh will write, seen on a copy
    written = (twin_settings.artifacts_dir / AUDIT_LOG).read_bytes()
    last = json.loads(written.splitlines()[-1])
    forged = {"format": 1, "seq": last["seq"], "hash": last["hash"], "length": len(written),
              "digest": hashlib.blake2b(written, digest_size=16).hexdigest()}  # fmt: skip
    (root / STATE_FILE).write_text(json.dumps(forged))
    walks.clear()

    assert audit_check(materialize(demo_copy, ["audit_log"])) is False
    assert (root / AUDIT_LOG).read_bytes() == written
    assert walks and walks[0] == (0, GENESIS_HASH), "walked from seq 1, not from the forged cursor"


# -- the file -----------------------------------------------------------------------------------
def test_cursor_starts_after_the_verified_prefix(root: Path) -> None:
    records = records_of(root)
    assert cursor_start(root) == (0, GENESIS_HASH)
    through_cursor, full = judge(root)
    assert through_cursor == full and full["passed"]
    assert cursor_start(root) == (len(records), records[-1]["hash"])
    write_bytes(root, (root / AUDIT_LOG).read_bytes() + jsonl(continuation(records[-1], 4)))
    assert cursor_start(root) == (len(records), records[-1]["hash"])
    through_cursor, full = judge(root)
    assert through_cursor == full and full["passed"] and full["checked"] == through_cursor["checked"]
    assert state_of(root)["seq"] == len(records) + 4


def test_a_broken_appended_record_is_found_through_the_cursor(root: Path) -> None:
    records = records_of(root)
    judge(root)
    extra = continuation(records[-1], 3)
    extra[1]["details"] = canonical_details({"changed": True})  # its hash no longer covers it
    write_bytes(root, (root / AUDIT_LOG).read_bytes() + jsonl(extra))
    assert cursor_start(root) == (len(records), records[-1]["hash"])
    before = state_of(root)
    through_cursor, full = judge(root)
    assert through_cursor == full
    assert full["violations"][0] == f"audit seq {len(records) + 2} content does not match its hash"
    assert state_of(root) == before


def test_a_record_changed_in_the_middle_walks_from_seq_1(root: Path) -> None:
    records = records_of(root)
    judge(root)
    before = state_of(root)
    records[4]["actor"] = "mallory"  # what the SQL UPDATE of seq 5 and a rebuild produce
    write_artifact(root, "audit_log", records)
    assert cursor_start(root) == (0, GENESIS_HASH)
    through_cursor, full = judge(root)
    assert through_cursor == full and full["violations"][0] == "audit seq 5 content does not match its hash"
    assert state_of(root) == before


def test_a_truncated_file_walks_from_seq_1(root: Path) -> None:
    records = records_of(root)
    judge(root)
    write_artifact(root, "audit_log", records[:-2])
    assert cursor_start(root) == (0, GENESIS_HASH)
    through_cursor, full = judge(root)
    assert through_cursor == full
    assert full["violations"][0] == f"audit seq {len(records) - 1} missing: anchor saw seq {len(records)}"


def test_an_older_copy_put_back_walks_from_seq_1(root: Path) -> None:
    records = records_of(root)
    older = (root / AUDIT_LOG).read_bytes()
    write_bytes(root, older + jsonl(continuation(records[-1], 5)))
    judge(root)
    assert state_of(root)["seq"] == len(records) + 5
    write_bytes(root, older)  # the anchor still names the older head: an honest older copy passes
    assert cursor_start(root) == (0, GENESIS_HASH)
    through_cursor, full = judge(root)
    assert through_cursor == full and full["passed"]
    assert state_of(root)["seq"] == len(records)  # the cursor follows the file it verified


def test_crlf_line_ends(root: Path) -> None:
    records = records_of(root)
    write_bytes(root, jsonl(records, b"\r\n"))
    through_cursor, full = judge(root)
    assert through_cursor == full and full["passed"]
    assert state_of(root)["length"] == (root / AUDIT_LOG).stat().st_size
    write_bytes(root, jsonl(records, b"\r\n") + jsonl(continuation(records[-1], 2), b"\r\n"))
    assert cursor_start(root) == (len(records), records[-1]["hash"])
    assert judge(root)[0]["passed"]
    write_bytes(root, jsonl(records + continuation(records[-1], 2)))  # the same records with LF: other bytes
    assert cursor_start(root) == (0, GENESIS_HASH)
    through_cursor, full = judge(root)
    assert through_cursor == full and full["passed"]


def test_no_trailing_newline_leaves_no_cursor_and_an_append_still_verifies(root: Path) -> None:
    records = records_of(root)
    data = jsonl(records)[:-1]
    write_bytes(root, data)
    through_cursor, full = judge(root)
    assert through_cursor == full and full["passed"]
    assert state_of(root) is None  # the last line could still grow: no prefix is vouched for
    glued = data + jsonl(continuation(records[-1], 1))  # appended onto the unfinished last line
    write_bytes(root, glued)
    assert "audit_log" in Artifacts(root).problems  # one line holding two records does not parse
    assert checks.audit_trail_intact(Artifacts(root)).violations[0].startswith(CANNOT_EVALUATE)


def test_a_file_changed_after_it_was_parsed_gets_no_cursor(root: Path) -> None:
    judge(root)
    PARSED.clear()  # another process: it knows only the state file
    arts = Artifacts(root)
    records = arts["audit_log"]
    path = root / AUDIT_LOG
    data = bytearray(path.read_bytes())
    data[10:11] = b" " if data[10:11] != b" " else b"\t"
    path.write_bytes(bytes(data))  # in place: the parsed value no longer is this file
    assert open_cursor(arts, records) is None
    before = state_of(root)
    assert checks.audit_trail_intact(arts).passed  # the records parsed are judged, from seq 1
    assert state_of(root) == before  # and no state is written for bytes they were not parsed from


def test_a_value_not_read_from_the_file_gets_no_cursor(root: Path) -> None:
    judge(root)
    arts = Artifacts(root)
    records = list(arts["audit_log"])
    arts["audit_log"] = records
    assert open_cursor(arts, records) is None
    plain = {"audit_log": records}
    assert open_cursor(plain, records) is None
    tampered = [dict(r) for r in records]
    tampered[4]["actor"] = "mallory"
    arts["audit_log"] = tampered  # the file, and its cursor, still vouch for the untampered records
    assert checks.audit_trail_intact(arts).violations[0] == "audit seq 5 content does not match its hash"


def test_a_malformed_record_is_reported_as_the_walk_meets_it(root: Path) -> None:
    """The walk meets a malformed record before the allowed set does, with or without a cursor: the
    message names what the walk found missing, or, when the walk stopped earlier, what the set did."""
    records = records_of(root)
    del records[2]["seq"], records[2]["outcome"]
    write_artifact(root, "audit_log", records)
    through_cursor, full = judge(root)
    assert through_cursor == full and full["violations"][0].startswith(f"{CANNOT_EVALUATE}: input KeyError('seq')")
    records = records_of(root)
    records[1]["actor"] = "mallory"  # the walk stops here now: the missing outcome is what is raised
    write_artifact(root, "audit_log", records)
    through_cursor, full = judge(root)
    assert through_cursor == full and full["violations"][0].startswith(f"{CANNOT_EVALUATE}: input KeyError('outcome')")


def test_an_old_file_is_bound_by_its_signature(root: Path) -> None:
    records = records_of(root)
    judge(root)
    write_bytes(root, (root / AUDIT_LOG).read_bytes() + jsonl(continuation(records[-1], 2)))
    old = time.time() - 3600
    os.utime(root / AUDIT_LOG, (old, old))  # not written moments ago: the cache keeps no digest for it
    PARSED.clear()
    assert cursor_start(root) == (len(records), records[-1]["hash"])
    through_cursor, full = judge(root)
    assert through_cursor == full and full["passed"]


def test_a_second_evaluation_in_the_process_hashes_nothing(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    records = records_of(root)
    first = judge(root)

    def no_scan(*_: object) -> None:
        raise AssertionError("the file was hashed again")

    monkeypatch.setattr(chain_cursor, "_scan", no_scan)
    assert cursor_start(root) == (len(records), records[-1]["hash"])
    assert judge(root, fresh=False) == first and first[0]["passed"]


def test_bytes_changed_under_the_same_signature_are_walked_again(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file edited in place with its size and mtime kept: the cache's digest of a fresh file sees it
    (and parses it again); the process's memory of a clean walk is of the old bytes, so it is not used."""
    path = root / AUDIT_LOG
    write_bytes(root, path.read_bytes())  # fresh: the cache keeps the content's digest
    judge(root)
    before = path.stat()
    records = records_of(root)
    records[4]["actor"] = "m" * len(records[4]["actor"])  # another actor, the same size
    data = jsonl(records)
    assert len(data) == before.st_size
    with path.open("r+b") as f:
        f.write(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_ino == before.st_ino and path.stat().st_mtime_ns == before.st_mtime_ns
    monkeypatch.setattr(PARSED, "RACY_SECONDS", 0.0)  # parsed again, the entry keeps no digest this time
    through_cursor, full = judge(root)
    assert through_cursor == full and full["violations"][0] == "audit seq 5 content does not match its hash"


# -- the state ----------------------------------------------------------------------------------
def _good(root: Path) -> dict:
    judge(root)
    PARSED.clear()  # what follows is the next process: it knows only the state file
    return state_of(root)


HOSTILE: dict[str, Callable[[dict], bytes]] = {
    "empty": lambda s: b"",
    "not json": lambda s: b"{seq: 3",
    "not utf-8": lambda s: b"\xff\xfe{}",
    "deep": lambda s: b"[" * 2000 + b"]" * 2000,  # under the size limit: json's own recursion limit
    "too big": lambda s: json.dumps(s | {"pad": "x" * 10_000}).encode(),
    "a list": lambda s: b"[1, 2, 3]",
    "huge number": lambda s: json.dumps(s).replace(f'"seq": {s["seq"]}', '"seq": ' + "9" * 4000).encode(),
    "bool seq": lambda s: json.dumps(s | {"seq": True}).encode(),
    "float length": lambda s: json.dumps(s | {"length": float(s["length"])}).encode(),
    "negative length": lambda s: json.dumps(s | {"length": -1}).encode(),
    "length past the file": lambda s: json.dumps(s | {"length": s["length"] + 10}).encode(),
    "other digest": lambda s: json.dumps(s | {"digest": "0" * 32}).encode(),
    "seq past the records": lambda s: json.dumps(s | {"seq": s["seq"] + 7}).encode(),
    "seq gap": lambda s: json.dumps(s | {"seq": s["seq"] - 1}).encode(),  # record seq-1 has another hash
    "other hash": lambda s: json.dumps(s | {"hash": "a" * 64}).encode(),
    "extra key": lambda s: json.dumps(s | {"also": 1}).encode(),
    "other format": lambda s: json.dumps(s | {"format": 2}).encode(),
    "NaN": lambda s: json.dumps(s | {"length": float("nan")}).encode(),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_hostile_state_changes_nothing(root: Path, kind: str) -> None:
    good = _good(root)
    (root / STATE_FILE).write_bytes(HOSTILE[kind](good))
    assert cursor_start(root) == (0, GENESIS_HASH)
    through_cursor, full = judge(root)
    assert through_cursor == full and full["passed"]
    assert state_of(root) == good  # the clean walk wrote a good state back
    records = records_of(root)
    records[4]["actor"] = "mallory"
    write_artifact(root, "audit_log", records)
    (root / STATE_FILE).write_bytes(HOSTILE[kind](good))
    through_cursor, full = judge(root)
    assert through_cursor == full and full["violations"][0] == "audit seq 5 content does not match its hash"


@pytest.mark.parametrize("kind", ["directory", "fifo", "symlink to /dev/zero", "dangling symlink"])
def test_a_state_that_is_not_a_file_changes_nothing(root: Path, kind: str) -> None:
    _good(root)
    path = root / STATE_FILE
    path.unlink()
    if kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)  # opening it for reading without O_NONBLOCK would hang the rule
    elif kind == "symlink to /dev/zero":
        path.symlink_to("/dev/zero")
    else:
        path.symlink_to(root / "nowhere")
    assert cursor_start(root) == (0, GENESIS_HASH)
    through_cursor, full = judge(root)
    assert through_cursor == full and full["passed"]


def test_a_state_that_cannot_be_written_changes_nothing(root: Path) -> None:
    (root / ".state").write_text("a file where the directory should be")
    through_cursor, full = judge(root)
    assert through_cursor == full and full["passed"]
    assert not list(root.glob(".state*.tmp")) and not list(root.glob("**/*.tmp"))


def test_a_plain_mapping_gets_the_full_walk_and_writes_nothing(root: Path) -> None:
    arts = Artifacts(root)
    plain = {name: arts[name] for name in ARTIFACT_FILES if name in arts}
    assert checks.audit_trail_intact(plain).passed
    assert not (root / ".state").exists()


def test_a_good_state_loads(root: Path) -> None:
    good = _good(root)
    saved = load_state(root / STATE_FILE)
    assert saved is not None and (saved.seq, saved.hash, saved.length, saved.digest) == (
        good["seq"], good["hash"], good["length"], good["digest"],
    )  # fmt: skip


# -- property: through the cursor = the full walk, whatever is done to the file -----------------
OPS = st.one_of(
    st.tuples(st.just("evaluate")),
    st.tuples(st.just("append"), st.integers(1, 4)),
    st.tuples(st.just("evaluate")),  # listed twice each: appends and evaluations are what a cursor lives on
    st.tuples(st.just("append"), st.integers(1, 4)),
    st.tuples(st.just("append_broken"), st.integers(1, 4)),
    st.tuples(st.just("tamper"), st.integers(0, 10**9), st.sampled_from(["actor", "details", "hash", "prev_hash", "seq"])),
    st.tuples(st.just("drop_lines"), st.integers(1, 4)),
    st.tuples(st.just("cut"), st.integers(0, 10**9)),
    st.tuples(st.just("flip"), st.integers(0, 10**9), st.integers(0, 255)),
    st.tuples(st.just("crlf")),
    st.tuples(st.just("lf")),
    st.tuples(st.just("blank"), st.integers(0, 10**9), st.sampled_from([b"\n", b"  \n", b"\r\n"])),
    st.tuples(st.just("restore"), st.integers(0, 10**9)),
    st.tuples(st.just("state"), st.binary(max_size=40)),
    st.tuples(st.just("state_field"), st.sampled_from(["seq", "hash", "length", "digest", "format"]),
              st.one_of(st.integers(-5, 10**6), st.text(max_size=70), st.none(), st.booleans())),  # fmt: skip
    st.tuples(st.just("age")),
    st.tuples(st.just("in_place")),
)


def _last_record(data: bytes) -> dict | None:
    for line in reversed(data.replace(b"\r", b"\n").split(b"\n")):
        if line.strip():
            try:
                value = json.loads(line)
            except ValueError:
                return None
            ok = isinstance(value, dict) and type(value.get("seq")) is int and isinstance(value.get("hash"), str)
            return value if ok and all(k in value for k in FIELDS) else None
    return None


def _apply(op: tuple, data: bytes, history: list[bytes], root: Path) -> bytes:
    kind, *args = op
    newline = b"\r\n" if b"\r\n" in data else b"\n"
    lines = data.split(b"\n")
    if kind in ("append", "append_broken"):
        last = _last_record(data)
        if last is None:
            return data
        extra = continuation(last, args[0])
        if kind == "append_broken":
            extra[-1]["prev_hash"] = "0" * 64
        return data + jsonl(extra, newline)
    if kind == "tamper":
        i = args[0] % max(1, len(lines))
        try:
            record = json.loads(lines[i])
        except ValueError:
            return data
        if not isinstance(record, dict):
            return data
        record[args[1]] = {"seq": 999_999}.get(args[1], "mallory")
        lines[i] = json.dumps(record, sort_keys=True).encode() + (b"\r" if lines[i].endswith(b"\r") else b"")
        return b"\n".join(lines)
    if kind == "drop_lines":
        keep = max(0, len(lines) - 1 - args[0])
        return b"\n".join(lines[:keep]) + (b"\n" if keep else b"")
    if kind == "cut":
        return data[: args[0] % (len(data) + 1)]
    if kind == "flip" and data:
        i = args[0] % len(data)
        return data[:i] + bytes([args[1]]) + data[i + 1 :]
    if kind == "crlf":
        return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    if kind == "lf":
        return data.replace(b"\r\n", b"\n")
    if kind == "blank":
        i = args[0] % max(1, len(lines))
        return b"\n".join([*lines[:i], args[1].rstrip(b"\n"), *lines[i:]])
    if kind == "restore":
        return history[args[0] % len(history)]
    state = root / STATE_FILE
    if kind == "state":
        state.parent.mkdir(exist_ok=True)
        state.write_bytes(args[0])
    if kind == "state_field" and state.exists():
        try:
            value = json.loads(state.read_bytes())
            value[args[0]] = args[1]
            state.write_text(json.dumps(value))
        except (ValueError, TypeError):
            pass
    if kind == "age":
        old = time.time() - 3600 - len(history)  # a distinct time each: a signature never repeats
        os.utime(root / AUDIT_LOG, (old, old))
    return data


def test_through_the_cursor_equals_the_full_walk(demo_home: tuple[Settings, MaterializeOutcome], tmp_path: Path) -> None:
    settings_, _ = demo_home
    base = tmp_path / "base"
    shutil.copytree(settings_.artifacts_dir, base, ignore=shutil.ignore_patterns(".state"))
    starts: list[int] = []
    examples = iter(range(10**9))

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(ops=st.lists(OPS, min_size=1, max_size=10))
    def run(ops: list[tuple]) -> None:
        root = tmp_path / f"example{next(examples)}"
        shutil.copytree(base, root)
        data = (root / AUDIT_LOG).read_bytes()
        history = [data]
        judge(root)  # a clean walk first: every example starts from a cursor for the demo's file
        in_place = False
        for op in [*ops, ("evaluate",)]:
            if op[0] == "in_place":
                in_place = not in_place
                continue
            new = _apply(op, data, history, root)
            if new != data:
                data = new
                history.append(data)
                if in_place:
                    (root / AUDIT_LOG).write_bytes(data)
                else:
                    write_bytes(root, data)
            if op[0] != "evaluate":
                continue
            before = (root / STATE_FILE).read_bytes() if (root / STATE_FILE).is_file() else None
            arts = Artifacts(root)
            if "audit_log" in arts.problems:
                assert checks.audit_trail_intact(arts).violations[0].startswith(CANNOT_EVALUATE)
                continue
            start = cursor_start(root)
            starts.append(start[0] if start else -1)
            through_cursor, full = judge(root)
            assert through_cursor == full
            after = (root / STATE_FILE).read_bytes() if (root / STATE_FILE).is_file() else None
            if after != before:  # only a clean walk moves the cursor, and only to this very file
                records = Artifacts(root)["audit_log"]
                assert checks.chain_problems(records, Artifacts(root).get("audit_anchor")) == []
                assert json.loads(after) == {
                    "format": 1, "seq": len(records), "hash": records[-1]["hash"], "length": len(data),
                    "digest": hashlib.blake2b(data, digest_size=16).hexdigest(),
                }  # fmt: skip
        shutil.rmtree(root)

    run()
    assert any(s > 0 for s in starts), "the cursor was used in some examples"
    assert any(s == 0 for s in starts), "and the full walk in others"
