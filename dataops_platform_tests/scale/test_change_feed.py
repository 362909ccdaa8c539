"""The change feed (store/feed.py) and the refresh built on it (artifacts/incremental.py): every write
is seen, raw SQL included, on SQLite and PostgreSQL; whatever the feed or the state cannot vouch for
makes the refresh rebuild in full, and says why; and the files are the same bytes either way."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import text

from dataops_platform.artifacts.files import ARTIFACT_FILES, compact_item, jsonl_line
from dataops_platform.artifacts.incremental import STATE_DIRNAME
from dataops_platform.artifacts.record_lists import KEYED_ARTIFACTS
from dataops_platform.defs.assets import ASSETS, REFRESH_TAG
from dataops_platform.settings import Settings, load_settings
from dataops_platform.store import feed, migrate
from dataops_platform.store.engine import make_engine
from dataops_platform_tests.helpers import materialize_assets

RECORD_ASSETS = list(KEYED_ARTIFACTS)


def _refresh(settings: Settings, assets: list[str] = RECORD_ASSETS, *, full: bool = False) -> dict[str, dict]:
    """Materialise `assets`; the refresh metadata each wrote, by asset."""
    result = materialize_assets(settings, assets, {REFRESH_TAG: "full"} if full else None)
    out = {}
    for event in result.get_asset_materialization_events():
        metadata = event.materialization.metadata
        if REFRESH_TAG not in metadata:
            continue  # not a record artifact
        out[event.asset_key.to_user_string()] = {
            "mode": metadata[REFRESH_TAG].value,
            "reason": metadata["refresh_reason"].value,
            "rebuilt": metadata["records_rebuilt"].value,
        }
    return out


def _sql(settings: Settings, statement: str) -> None:
    with sqlite3.connect(settings.home_dir / "governance.db") as conn:
        conn.execute(statement)


def _files(settings: Settings) -> dict[str, bytes]:
    return {name: (settings.artifacts_dir / ARTIFACT_FILES[name]).read_bytes() for name in KEYED_ARTIFACTS}


def _full_copy(settings: Settings, tmp_path: Path) -> dict[str, bytes]:
    """The record artifacts a full rebuild of a copy of the same store writes."""
    target = tmp_path / "full-copy"
    shutil.copytree(settings.home_dir, target)
    copy = load_settings(target)
    shutil.rmtree(copy.artifacts_dir / STATE_DIRNAME)
    assert {m["mode"] for m in _refresh(copy).values()} == {"full"}
    return _files(copy)


def test_raw_sql_writes_are_in_the_feed_with_old_and_new_links(demo_copy: Settings) -> None:
    engine = make_engine(f"sqlite:///{demo_copy.home_dir / 'governance.db'}")
    with engine.connect() as conn:
        before = conn.execute(text("SELECT coalesce(max(seq), 0) FROM graph_changes")).scalar_one()
    _sql(demo_copy, "UPDATE experiments SET dataset_version = 't01_retail.ds_v002' WHERE experiment_id = 't01_retail.exp_001'")
    _sql(demo_copy, "DELETE FROM lineage_edges WHERE id = 1")
    _sql(demo_copy, "UPDATE audit_records SET actor = 'mallory' WHERE seq = 5")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT tbl, key, link FROM graph_changes WHERE seq > :s ORDER BY seq"), {"s": before}).all()
        edge = conn.execute(text("SELECT 1")).all()
    engine.dispose()
    assert edge
    experiment = [r for r in rows if r[0] == "experiments"]
    assert {r[2] for r in experiment} == {"t01_retail.ds_v001", "t01_retail.ds_v002"}, "the old and the new version both"
    assert all(r[1] == "t01_retail.exp_001" for r in experiment)
    edges = [r for r in rows if r[0] == "lineage_edges"]
    assert len(edges) == 2 and {r[1] for r in edges} == {"1"}, "a deleted edge names both of its ends"
    assert ("audit_records", "5", None) in rows


def test_the_feed_sees_writes_on_postgresql(pg_database: str) -> None:
    migrate.upgrade(pg_database)
    engine = make_engine(pg_database)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO tenants (id, name, max_projects, max_dataset_versions) VALUES ('t1', 'T', 1, 1)"))
            conn.execute(text("INSERT INTO users (id, display_name, is_system) VALUES ('u1', 'U', false)"))
            conn.execute(
                text(
                    "INSERT INTO projects (id, tenant_id, name, domain, owner, current_release) "
                    "VALUES ('p1', 't1', 'P', 'd', 'u1', 'v1')"
                )
            )
            conn.execute(text("UPDATE projects SET current_release = 'v2' WHERE id = 'p1'"))
            conn.execute(text("DELETE FROM projects WHERE id = 'p1'"))
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT tbl, key, link FROM graph_changes ORDER BY seq")).all()
            installed = feed.feed_installed(_session(conn))
    finally:
        engine.dispose()
    assert rows[:2] == [("tenants", "t1", None), ("users", "u1", None)]
    assert [r for r in rows if r[0] == "projects"] == [
        ("projects", "p1", "v1"), ("projects", "p1", "v1"), ("projects", "p1", "v2"), ("projects", "p1", "v2"),
    ]  # fmt: skip
    assert installed


def _session(conn):  # noqa: ANN001, ANN202
    from sqlalchemy.orm import Session

    return Session(bind=conn)


def test_a_refresh_rebuilds_only_what_changed_and_equals_a_full_rebuild(demo_copy: Settings, tmp_path: Path) -> None:
    first = _refresh(demo_copy)
    assert {m["mode"] for m in first.values()} <= {"incremental", "unchanged", "full"}
    quiet = _refresh(demo_copy)
    assert {m["mode"] for m in quiet.values()} == {"unchanged"}, quiet
    assert all(m["rebuilt"] == 0 for m in quiet.values())
    _sql(demo_copy, "UPDATE alerts SET title = 'renamed' WHERE alert_id = 't01_retail.alert_001'")
    _sql(demo_copy, "UPDATE experiments SET status = 'regressed' WHERE experiment_id = 't02_legal.exp_002'")
    _sql(demo_copy, "DELETE FROM lineage_edges WHERE id = 3")
    changed = _refresh(demo_copy)
    one = "alerts.jsonl: 1 record rebuilt for 1 changed key"
    assert changed["alerts"] == {"mode": "incremental", "reason": one, "rebuilt": 1}
    assert changed["experiment_runs"]["mode"] == "incremental" and changed["experiment_runs"]["rebuilt"] == 1
    assert changed["dataset_versions"]["mode"] == "incremental", "the experiment's version shows its gate"
    assert changed["rollback_events"]["mode"] == "unchanged"
    assert _files(demo_copy) == _full_copy(demo_copy, tmp_path)


@pytest.mark.parametrize(
    "spoil, reason",
    [
        (lambda s: (s.artifacts_dir / "processed/alerts.jsonl").write_text("{}\n"), "changed since the platform wrote it"),
        (lambda s: (s.artifacts_dir / "processed/alerts.jsonl").unlink(), "missing"),
        (lambda s: (s.artifacts_dir / STATE_DIRNAME / "alerts.json").write_text('{"format": 1, "cursor": '), "no previous build"),
        (lambda s: (s.artifacts_dir / STATE_DIRNAME / "alerts.json").write_text("[" * 100_000), "no previous build"),
        (lambda s: (s.artifacts_dir / STATE_DIRNAME / "alerts.keys.json").unlink(), "missing"),
        (lambda s: _sql(s, "DROP TRIGGER graph_feed_alerts_update"), "triggers are missing"),
    ],
    ids=["edited", "deleted", "state-malformed", "state-deep", "keys-missing", "trigger-dropped"],
)
def test_what_the_state_cannot_vouch_for_is_rebuilt_in_full(demo_copy: Settings, tmp_path: Path, spoil, reason: str) -> None:  # noqa: ANN001
    _spoilt_then_refreshed(demo_copy, tmp_path, spoil, reason)


def _edit_keeping_size_and_mtime(settings: Settings) -> None:
    path = settings.artifacts_dir / "processed/alerts.jsonl"
    st, data = path.stat(), path.read_bytes()
    path.write_bytes(data.replace(b'"severity": "', b'"severity": "X', 1).replace(b'"status": "', b'"status":"', 1))
    assert path.stat().st_size == st.st_size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # the inode, size and mtime of the file the state vouches for


def test_an_edit_that_puts_the_size_and_mtime_back_is_still_seen(demo_copy: Settings, tmp_path: Path) -> None:
    _spoilt_then_refreshed(demo_copy, tmp_path, _edit_keeping_size_and_mtime, "changed since the platform wrote it")


def _spoilt_then_refreshed(demo_copy: Settings, tmp_path: Path, spoil, reason: str) -> None:  # noqa: ANN001
    _refresh(demo_copy, ["alerts"])
    spoil(demo_copy)
    _sql(demo_copy, "UPDATE alerts SET title = 'after' WHERE alert_id = 't01_retail.alert_001'")
    outcome = _refresh(demo_copy, ["alerts"])["alerts"]
    assert outcome["mode"] == "full" and reason in outcome["reason"], outcome
    assert _files(demo_copy)["alerts"] == _full_copy(demo_copy, tmp_path)["alerts"]


def test_offsets_that_do_not_describe_the_file_make_a_full_rebuild(demo_copy: Settings, tmp_path: Path) -> None:
    _refresh(demo_copy, ["alerts"])
    offsets = demo_copy.artifacts_dir / STATE_DIRNAME / "alerts.offsets"
    offsets.write_bytes(offsets.read_bytes()[:-8])
    _sql(demo_copy, "UPDATE alerts SET title = 'after' WHERE alert_id = 't01_retail.alert_001'")
    outcome = _refresh(demo_copy, ["alerts"])["alerts"]
    assert outcome["mode"] == "full" and "key index is not the one written" in outcome["reason"], outcome
    assert _files(demo_copy)["alerts"] == _full_copy(demo_copy, tmp_path)["alerts"]


def test_a_run_tagged_full_rebuilds_everything(demo_copy: Settings) -> None:
    _refresh(demo_copy)
    outcomes = _refresh(demo_copy, full=True)
    assert {m["mode"] for m in outcomes.values()} == {"full"}
    assert all(m["reason"].endswith("full rebuild asked for") for m in outcomes.values())


def test_a_policy_change_rebuilds_every_gate(demo_copy: Settings) -> None:
    _refresh(demo_copy, ["dataset_versions"])
    _sql(demo_copy, "UPDATE platform_config SET value = value WHERE key = 'governance_policy'")
    outcome = _refresh(demo_copy, ["dataset_versions"])["dataset_versions"]
    assert outcome["mode"] == "full" and "cannot localise" in outcome["reason"]


def test_state_files_are_plain_json(demo_copy: Settings) -> None:
    _refresh(demo_copy, ["alerts"])
    state = json.loads((demo_copy.artifacts_dir / STATE_DIRNAME / "alerts.json").read_text())
    assert state["format"] == 1 and state["cursor"] > 0 and len(state["signature"]) == 4  # inode, size, mtime, ctime


def test_the_feed_forgets_what_every_list_has_read_and_a_lagging_reader_rebuilds(demo_copy: Settings, tmp_path: Path) -> None:
    _refresh(demo_copy)
    engine = make_engine(f"sqlite:///{demo_copy.home_dir / 'governance.db'}")
    try:
        with engine.connect() as conn:
            left = conn.execute(text("SELECT count(*) FROM graph_changes")).scalar_one()
    finally:
        engine.dispose()
    assert left == 1, "every list read every change: only the one at their cursor is kept (its token is checked)"
    # A reader whose cursor is behind what the feed still holds (another artifacts directory on the
    # same store, pruned past by this one) cannot know what it missed.
    state_path = demo_copy.artifacts_dir / STATE_DIRNAME / "alerts.json"
    state = json.loads(state_path.read_text())
    state["cursor"] -= 5
    state_path.write_text(json.dumps(state))
    _sql(demo_copy, "UPDATE alerts SET title = 'two' WHERE alert_id = 't01_retail.alert_001'")
    outcome = _refresh(demo_copy, ["alerts"])["alerts"]
    assert outcome["mode"] == "full" and "no longer holds every change" in outcome["reason"], outcome
    assert _files(demo_copy)["alerts"] == _full_copy(demo_copy, tmp_path)["alerts"]


def test_a_copied_home_rebuilds_in_full_once(demo_copy: Settings, tmp_path: Path) -> None:
    """A backup restored, a home copied: new files (new inodes) are not the ones the state describes."""
    _refresh(demo_copy, ["alerts"])
    target = tmp_path / "restored"
    shutil.copytree(demo_copy.home_dir, target)
    restored = load_settings(target)
    assert _refresh(restored, ["alerts"])["alerts"]["mode"] == "full"
    assert _refresh(restored, ["alerts"])["alerts"]["mode"] == "unchanged"


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(st.characters(exclude_categories=("Cs",))),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)


@given(_json_values)
@hypothesis_settings(max_examples=300, deadline=None)
def test_one_item_encoding_is_what_the_full_writer_writes(value: object) -> None:
    """A spliced item is encoded by one reused C encoder: byte for byte json.dumps, NaN and U+2028 included."""
    assert jsonl_line(value) == (json.dumps(value, sort_keys=True, default=str, ensure_ascii=False) + "\n").encode()
    assert compact_item(value) == (json.dumps(value, sort_keys=True, default=str, ensure_ascii=False) + "\n").encode()


def _run_of(settings: Settings, experiment_id: str) -> str:
    with sqlite3.connect(settings.home_dir / "governance.db") as conn:
        (run_id,) = conn.execute("SELECT mlflow_run_id FROM experiments WHERE experiment_id = ?", (experiment_id,)).fetchone()
    return run_id


def test_what_mlflow_changes_is_seen_without_any_governance_write(demo_copy: Settings, tmp_path: Path) -> None:
    """A run deleted and restored in MLflow, and a run recorded while still RUNNING that then
    finishes, change the experiment's record although no governance row changed."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=demo_copy.tracking_uri)
    deleted, running = _run_of(demo_copy, "t01_retail.exp_001"), _run_of(demo_copy, "t01_retail.exp_002")
    client.update_run(running, status="RUNNING")
    _refresh(demo_copy, ["experiment_runs"], full=True)
    client.delete_run(deleted)
    client.update_run(running, status="FINISHED")
    outcome = _refresh(demo_copy, ["experiment_runs"])["experiment_runs"]
    assert outcome["mode"] == "incremental" and outcome["rebuilt"] == 2, outcome
    records = (demo_copy.artifacts_dir / ARTIFACT_FILES["experiment_runs"]).read_text()
    assert '"lifecycle_stage": "deleted"' in records
    assert _files(demo_copy)["experiment_runs"] == _full_copy(demo_copy, tmp_path)["experiment_runs"]
    client.restore_run(deleted)
    restored = _refresh(demo_copy, ["experiment_runs"])["experiment_runs"]
    assert restored["mode"] == "incremental" and restored["rebuilt"] == 1, restored
    assert '"lifecycle_stage": "deleted"' not in (demo_copy.artifacts_dir / ARTIFACT_FILES["experiment_runs"]).read_text()
    assert _refresh(demo_copy, ["experiment_runs"])["experiment_runs"]["mode"] == "unchanged", "settled: not asked again"
    client.set_terminated(deleted, "KILLED")  # a finished run terminated again: its end time moves
    killed = _refresh(demo_copy, ["experiment_runs"])["experiment_runs"]
    assert killed["mode"] == "incremental" and killed["rebuilt"] == 1, killed
    assert _files(demo_copy)["experiment_runs"] == _full_copy(demo_copy, tmp_path / "after-kill")["experiment_runs"]


def test_artifacts_on_an_object_store_root_are_rebuilt_in_full_with_the_same_bytes(
    demo_copy: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `universal_pathlib` artifacts root (here file://, as s3:// reads): no state there, one write
    per artifact, the bytes a local full rebuild writes; the feed is not kept for it."""
    local = _full_copy(demo_copy, tmp_path)
    shared = tmp_path / "shared"
    monkeypatch.setenv("DATAOPS_ARTIFACT_ROOT", shared.as_uri())
    outcomes = _refresh(demo_copy, [key.to_user_string() for asset in ASSETS for key in asset.keys])  # a fresh root: everything
    assert {m["mode"] for m in outcomes.values()} == {"full"}
    assert all("not on a local disk" in m["reason"] for m in outcomes.values())
    written = {name: (shared / ARTIFACT_FILES[name]).read_bytes() for name in KEYED_ARTIFACTS}
    assert written == local
    assert not (shared / STATE_DIRNAME).exists()
    with sqlite3.connect(demo_copy.home_dir / "governance.db") as conn:
        assert conn.execute("SELECT count(*) FROM graph_changes").fetchone() == (0,)


def test_two_refreshes_at_once_write_one_consistent_file(demo_copy: Settings, tmp_path: Path) -> None:
    """Two materialisations at once (a schedule and a person): each list's refresh holds its lock,
    so the second one splices the first one's file, never the same temporary file at once."""
    import threading

    from dataops_platform.artifacts.record_lists import refresh_artifact
    from dataops_platform.clock import SystemClock
    from dataops_platform.governance.platform import Platform

    _refresh(demo_copy, ["alerts", "audit_log"])
    for i in range(20):
        _sql(demo_copy, f"UPDATE alerts SET title = 'title {i}' WHERE alert_id = 't01_retail.alert_001'")
    modes: list[str] = []
    errors: list[BaseException] = []

    def one() -> None:
        platform = Platform(demo_copy)
        try:
            with platform.store.read() as session:
                for name in ("alerts", "audit_log"):
                    done = refresh_artifact(name, session, demo_copy.artifacts_dir, SystemClock().now(), None, full=False)
                    modes.extend(o.mode for o in done)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            platform.close()

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert "incremental" in modes
    full = _full_copy(demo_copy, tmp_path)
    assert _files(demo_copy)["alerts"] == full["alerts"] and _files(demo_copy)["audit_log"] == full["audit_log"]
    assert _refresh(demo_copy, ["alerts"])["alerts"]["mode"] == "unchanged", "the state describes the file written last"


# -- what a hostile review found (each once diverged from a full rebuild, or failed the run) ---------


def _equal_to_full(settings: Settings, tmp_path: Path, assets: list[str] = RECORD_ASSETS) -> dict[str, dict]:
    outcomes = _refresh(settings, assets)
    full = _full_copy(settings, tmp_path)
    mine = _files(settings)
    assert {k: v for k, v in mine.items() if v != full[k]} == {}, "the refresh equals a full rebuild of the same store"
    return outcomes


def test_a_store_restored_from_a_backup_is_not_read_past(demo_copy: Settings, tmp_path: Path) -> None:
    db = demo_copy.home_dir / "governance.db"
    _refresh(demo_copy)
    with sqlite3.connect(db) as conn, sqlite3.connect(tmp_path / "backup.db") as backup:
        conn.backup(backup)
    _sql(demo_copy, "UPDATE alerts SET title = 'Y1' WHERE alert_id = 't02_legal.alert_001'")
    _refresh(demo_copy)
    with sqlite3.connect(tmp_path / "backup.db") as backup, sqlite3.connect(db) as conn:
        backup.backup(conn)  # restored: the feed hands the same seqs out again
    _sql(demo_copy, "UPDATE alerts SET title = 'after restore' WHERE alert_id = 't01_retail.alert_001'")
    _sql(demo_copy, "UPDATE alerts SET title = 'after restore 2' WHERE alert_id = 't01_retail.alert_002'")
    outcome = _equal_to_full(demo_copy, tmp_path, ["alerts"])["alerts"]
    assert outcome["mode"] == "full" and "restored from a backup" in outcome["reason"], outcome


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT OR REPLACE INTO experiments SELECT experiment_id, project_id, 't01_retail.ds_v001', mlflow_run_id, params, "
        "status, metric_summary, baseline_ref, deltas, requires_review, alert_ids, error, regression_kind, run_ended_at, "
        "recorded_by, recorded_at FROM experiments WHERE experiment_id = 't01_retail.exp_002'",
        "UPDATE OR REPLACE alerts SET alert_id = 't01_retail.alert_002' WHERE alert_id = 't01_retail.alert_001'",
        "INSERT OR REPLACE INTO projects SELECT id, tenant_id, name, domain, owner, NULL FROM projects "
        "WHERE id = 'p01_retail_search'",
    ],
    ids=["insert-or-replace-experiment", "update-or-replace-alert", "insert-or-replace-project"],
)
def test_sqlite_replace_deletes_are_seen(demo_copy: Settings, tmp_path: Path, statement: str) -> None:
    """REPLACE deletes the clashing row without firing delete triggers: the feed records it before."""
    _refresh(demo_copy)
    _sql(demo_copy, statement)
    _equal_to_full(demo_copy, tmp_path)


def test_changes_deleted_from_the_feed_make_a_full_rebuild(demo_copy: Settings, tmp_path: Path) -> None:
    _refresh(demo_copy)
    _sql(demo_copy, "UPDATE alerts SET title = 'edited' WHERE alert_id = 't01_retail.alert_002'")
    _sql(demo_copy, "DELETE FROM graph_changes WHERE seq = (SELECT max(seq) FROM graph_changes)")
    outcome = _equal_to_full(demo_copy, tmp_path, ["alerts"])["alerts"]
    assert outcome["mode"] == "full" and "missing from the feed" in outcome["reason"], outcome


@pytest.mark.parametrize(
    "spoil",
    [
        lambda state: state["gaps"].update({"abc": "2026-01-01T00:00:00+00:00"}),
        lambda state: state["extra"].update({"mlflow_deleted": 5}),
        lambda state: state.update(cursor=-3),
        lambda state: state.update(token=7),
    ],
    ids=["gap-not-a-number", "extra-not-a-list", "negative-cursor", "token-not-text"],
)
def test_a_state_with_bad_values_is_rebuilt_and_never_fails_the_run(demo_copy: Settings, tmp_path: Path, spoil) -> None:  # noqa: ANN001
    _refresh(demo_copy)
    for name in ("alerts", "experiment_runs"):
        path = demo_copy.artifacts_dir / STATE_DIRNAME / f"{name}.json"
        state = json.loads(path.read_text())
        spoil(state)
        path.write_text(json.dumps(state))
    _sql(demo_copy, "UPDATE alerts SET title = 'after' WHERE alert_id = 't01_retail.alert_001'")
    outcomes = _equal_to_full(demo_copy, tmp_path)
    assert "full" in {outcomes["alerts"]["mode"], outcomes["experiment_runs"]["mode"]}, "a spoilt state is not read"
    assert {m["mode"] for m in _refresh(demo_copy, full=True).values()} == {"full"}, "--full runs too"


def test_keys_of_another_kind_make_a_full_rebuild(demo_copy: Settings, tmp_path: Path) -> None:
    _refresh(demo_copy, ["alerts"])
    keys = demo_copy.artifacts_dir / STATE_DIRNAME / "alerts.keys.json"
    count = len(json.loads(keys.read_bytes()))
    stat = keys.stat()
    keys.write_text(json.dumps(list(range(count))))
    os.utime(keys, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even with its signature put back
    state = json.loads((demo_copy.artifacts_dir / STATE_DIRNAME / "alerts.json").read_text())
    state["sidecars"][0] = [keys.stat().st_ino, keys.stat().st_size, keys.stat().st_mtime_ns, keys.stat().st_ctime_ns]
    (demo_copy.artifacts_dir / STATE_DIRNAME / "alerts.json").write_text(json.dumps(state))
    _sql(demo_copy, "UPDATE alerts SET title = 'after' WHERE alert_id = 't01_retail.alert_001'")
    outcome = _equal_to_full(demo_copy, tmp_path, ["alerts"])["alerts"]
    assert outcome["mode"] == "full" and "keys of another kind" in outcome["reason"], outcome


def test_another_mlflow_than_the_last_build_asked_is_a_full_rebuild(
    demo_copy: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _refresh(demo_copy, ["experiment_runs"])
    monkeypatch.setenv("DATAOPS_MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'other-mlflow.db'}")
    outcome = _refresh(demo_copy, ["experiment_runs"])["experiment_runs"]
    assert outcome["mode"] == "full", outcome
    state = (demo_copy.artifacts_dir / STATE_DIRNAME / "experiment_runs.json").read_text()
    assert "other-mlflow" not in state and "sqlite" not in state, "the state names no tracking URI (it may hold a password)"


def test_init_reinstalls_a_dropped_trigger(demo_copy: Settings) -> None:
    from dataops_platform.governance.bootstrap import initialize
    from dataops_platform.governance.platform import Platform

    _sql(demo_copy, "DROP TRIGGER graph_feed_alerts_update")
    assert _refresh(demo_copy, ["alerts"])["alerts"]["mode"] == "full"
    platform = Platform(demo_copy)
    try:
        initialize(platform, "alice")
    finally:
        platform.close()
    _sql(demo_copy, "UPDATE alerts SET title = 'after' WHERE alert_id = 't01_retail.alert_001'")
    assert _refresh(demo_copy, ["alerts"])["alerts"]["mode"] == "incremental"


def test_a_symlink_planted_at_a_temporary_name_is_not_followed(demo_copy: Settings, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    processed, state = demo_copy.artifacts_dir / "processed", demo_copy.artifacts_dir / STATE_DIRNAME
    for planted in (processed / "alerts.jsonl.tmp", state / "alerts.json.tmp"):
        planted.parent.mkdir(parents=True, exist_ok=True)
        planted.symlink_to(victim)
    _sql(demo_copy, "UPDATE alerts SET title = 'after' WHERE alert_id = 't01_retail.alert_001'")
    _refresh(demo_copy, ["alerts"])
    assert victim.read_text() == "keep me"
    assert not (demo_copy.artifacts_dir / "processed" / "alerts.jsonl").is_symlink()
    mode = (processed / "alerts.jsonl").stat().st_mode & 0o777
    assert mode != 0o600, "made as open() makes a file, not private like mkstemp's"


def test_postgresql_writes_around_the_row_triggers_are_seen(pg_database: str) -> None:
    """TRUNCATE (no row triggers: one change naming no row, a full rebuild), replica mode (what
    pg_restore --disable-triggers and bulk loaders set: the feed's triggers fire ALWAYS), and a
    trigger disabled by hand (the feed then reads as not installed)."""
    migrate.upgrade(pg_database)
    engine = make_engine(pg_database)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO tenants (id, name, max_projects, max_dataset_versions) VALUES ('t1', 'T', 1, 1)"))
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text("UPDATE tenants SET name = 'replica' WHERE id = 't1'"))
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE tenants CASCADE"))
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT tbl, key FROM graph_changes ORDER BY seq")).all()
            assert feed.feed_installed(_session(conn))
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE alerts DISABLE TRIGGER graph_feed_alerts_update"))
        with engine.connect() as conn:
            disabled = feed.feed_installed(_session(conn))
        assert feed.ensure_installed(engine) is True
        with engine.connect() as conn:
            reinstalled = feed.feed_installed(_session(conn))
    finally:
        engine.dispose()
    assert rows[:3] == [("tenants", "t1"), ("tenants", "t1"), ("tenants", "t1")], "the replica-mode update is recorded"
    assert ("tenants", None) in rows, "the TRUNCATE is recorded as rows it cannot name"
    assert disabled is False and reinstalled is True


def test_postgresql_gaps_wait_for_open_transactions_and_forget_rolled_back_ones(pg_database: str) -> None:
    """A refused write on PostgreSQL rolls back and leaves its seqs unused for good: no full rebuild
    for that. A transaction still open holds a seq below the newest: its change is brought in once
    it commits, whatever the refreshes passed meanwhile."""
    from datetime import UTC, datetime

    from sqlalchemy.orm import Session as OrmSession

    from dataops_platform.artifacts import incremental
    from dataops_platform.artifacts.record_lists import simple
    from dataops_platform.store.models import Tenant

    migrate.upgrade(pg_database)
    engine = make_engine(pg_database)
    lst = simple("tenants_probe", Tenant)
    now = datetime.now(UTC)
    state = incremental._State(0, None, 0, now.isoformat(), now.isoformat(), [0, 0, 0], [[0, 0, 0]] * 2, None, "x")
    insert = "INSERT INTO tenants (id, name, max_projects, max_dataset_versions) VALUES (:id, 'T', 1, 1)"
    try:
        with engine.connect() as conn:
            tx = conn.begin()
            conn.execute(text(insert), {"id": "rolled_back"})
            tx.rollback()
        held = engine.connect()
        held_tx = held.begin()
        held.execute(text(insert), {"id": "held_open"})  # takes a seq, not committed
        with engine.begin() as conn:
            conn.execute(text(insert), {"id": "committed"})
        with OrmSession(engine) as session:
            head = feed.head(session)
            changes, gaps, reason = incremental._changes(session, lst, state, head, now)
        assert reason is None and {c.key for c in changes} == {"committed"}
        assert len(gaps) == 2, "the rolled-back seq and the open one, both waited for"
        state.cursor, state.gaps = head, gaps
        with OrmSession(engine) as session:
            changes, gaps, reason = incremental._changes(session, lst, state, feed.head(session), now)
        assert reason is None and len(gaps) == 2, "an older transaction is still open: either seq may be its"
        held_tx.commit()
        held.close()
        state.gaps = gaps
        with OrmSession(engine) as session:
            changes, gaps, reason = incremental._changes(session, lst, state, feed.head(session), now)
        assert reason is None and gaps == {}, "committed: brought in; rolled back: no transaction can hold it now"
        assert {c.key for c in changes} == {"held_open"}
        state.gaps = {"999999": f"1 {now.isoformat()}"}  # seen long ago by a horizon long passed
        with OrmSession(engine) as session:
            assert incremental._changes(session, lst, state, feed.head(session), now)[1] == {}
    finally:
        engine.dispose()


def test_an_exception_expiring_between_refreshes_rebuilds_its_version_only(demo_copy: Settings, tmp_path: Path) -> None:
    """Time alone changes an exception's state (approved -> expired) and its version's gate: the
    refresh after its expiry rebuilds that version, not the whole list, and equals a full rebuild."""
    import time
    from datetime import UTC, datetime, timedelta

    with sqlite3.connect(demo_copy.home_dir / "governance.db") as conn:
        version_id, project_id = conn.execute(
            "SELECT version_id, project_id FROM dataset_versions WHERE status = 'rejected' ORDER BY version_id"
        ).fetchone()
    exception_id, expires = "x_expiring", datetime.now(UTC) + timedelta(seconds=8)
    stored = expires.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")  # as SQLAlchemy stores it
    _sql(demo_copy, "INSERT INTO exception_approvals (exception_id, project_id, version_id, rule, reason, follow_up, status, "
         "requested_by, requested_at, approved_by, approved_at, effective_from, expires_at) VALUES ("
         f"'{exception_id}', '{project_id}', '{version_id}', 'experiment_status', 'r', '', 'approved', 'lena', "
         f"'2026-01-01 00:00:00.000000', 'alice', '2026-01-01 00:00:00.000000', NULL, '{stored}')")  # fmt: skip
    before = _refresh(demo_copy, ["dataset_versions"])["dataset_versions"]
    assert datetime.now(UTC) < expires, "the first refresh must end before the expiry (a slow host: raise the margin)"
    assert before["mode"] in ("incremental", "full")
    records = {json.loads(x)["version_id"]: json.loads(x) for x in _files(demo_copy)["dataset_versions"].splitlines()}
    assert {x["exception_id"]: x["effective_status"] for x in records[version_id]["exceptions"]}[exception_id] == "approved"
    time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.5)

    after = _refresh(demo_copy, ["dataset_versions"])["dataset_versions"]

    assert after == {"mode": "incremental", "reason": "dataset_versions.jsonl: 1 record rebuilt for 1 changed key", "rebuilt": 1}
    records = {json.loads(x)["version_id"]: json.loads(x) for x in _files(demo_copy)["dataset_versions"].splitlines()}
    assert {x["exception_id"]: x["effective_status"] for x in records[version_id]["exceptions"]}[exception_id] == "expired"
    assert _files(demo_copy)["dataset_versions"] == _full_copy(demo_copy, tmp_path)["dataset_versions"]


def test_a_freeze_window_opening_between_refreshes_rebuilds_every_gate(demo_copy: Settings) -> None:
    import time
    from datetime import UTC, datetime, timedelta

    from dataops_platform.store.engine import Store
    from dataops_platform.store.models import PlatformConfig, Project

    start = datetime.now(UTC) + timedelta(seconds=8)
    store = Store(demo_copy.store_url)
    with store.write() as session:
        project = session.query(Project.id).order_by(Project.id).first()[0]
        row = session.get(PlatformConfig, "governance_policy")
        end = start + timedelta(days=1)
        window = {"project": project, "start": start.isoformat(), "end": end.isoformat(), "reason": "test"}
        row.value = {**row.value, "freeze_windows": [*row.value.get("freeze_windows", []), window]}
    store.engine.dispose()
    _refresh(demo_copy, ["dataset_versions"])  # the policy changed: a full build, before the window opens
    assert datetime.now(UTC) < start, "the first refresh must end before the window opens (a slow host: raise the margin)"
    time.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()) + 0.5)
    outcome = _refresh(demo_copy, ["dataset_versions"])["dataset_versions"]
    assert outcome["mode"] == "full" and "a freeze window opens or closes" in outcome["reason"], outcome


@pytest.mark.parametrize(
    "decoy",
    [
        "DROP TRIGGER graph_feed_alerts_update; "
        "CREATE TRIGGER graph_feed_alerts_update AFTER UPDATE ON alerts BEGIN SELECT 1; END",
        "ALTER TABLE alerts RENAME TO alerts_old; CREATE TABLE alerts AS SELECT * FROM alerts_old",
    ],
    ids=["same-name-does-nothing", "table-renamed-away"],
)
def test_a_trigger_that_is_not_the_feeds_is_not_trusted(demo_copy: Settings, tmp_path: Path, decoy: str) -> None:
    """A trigger of the feed's name that records nothing (or the feed's triggers carried off with a
    renamed table) would let a write go unseen: the feed reads as not installed, and `dataops init`
    puts the real ones back."""
    from dataops_platform.store.engine import Store

    _refresh(demo_copy, ["alerts"])
    with sqlite3.connect(demo_copy.home_dir / "governance.db") as conn:
        conn.executescript(decoy)
    _sql(demo_copy, "UPDATE alerts SET related_object = 'experiment:nowhere' WHERE alert_id = 't01_retail.alert_001'")
    outcome = _refresh(demo_copy, ["alerts"])["alerts"]
    assert outcome["mode"] == "full" and "triggers are missing" in outcome["reason"], outcome
    assert b"experiment:nowhere" in _files(demo_copy)["alerts"]
    store = Store(demo_copy.store_url)
    try:
        assert feed.ensure_installed(store.engine) is True
        with store.engine.connect() as conn:
            assert feed.feed_installed(_session(conn))
    finally:
        store.engine.dispose()


def test_a_postgresql_trigger_function_replaced_is_not_trusted(pg_database: str) -> None:
    migrate.upgrade(pg_database)
    engine = make_engine(pg_database)
    decoys = [
        "CREATE OR REPLACE FUNCTION graph_feed_alerts_update() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$",
        "DROP TRIGGER graph_feed_alerts_insert ON alerts; CREATE TRIGGER graph_feed_alerts_insert AFTER INSERT ON alerts "
        "FOR EACH ROW WHEN (false) EXECUTE FUNCTION graph_feed_alerts_insert(); "
        "ALTER TABLE alerts ENABLE ALWAYS TRIGGER graph_feed_alerts_insert",
    ]
    seen = []
    try:
        with engine.connect() as conn:
            assert feed.feed_installed(_session(conn)), "as the migration installed it"
        for decoy in decoys:
            with engine.begin() as conn:
                conn.exec_driver_sql(decoy)
            with engine.connect() as conn:
                seen.append(feed.feed_installed(_session(conn)))
            assert feed.ensure_installed(engine) is True
            with engine.connect() as conn:
                seen.append(feed.feed_installed(_session(conn)))
    finally:
        engine.dispose()
    assert seen == [False, True, False, True]


def _alarm(seconds: int):  # noqa: ANN202
    """Fail, rather than hang the suite, if the block blocks."""
    import signal
    from contextlib import contextmanager

    @contextmanager
    def guard():  # noqa: ANN202
        def fail(*_: object) -> None:
            raise TimeoutError(f"blocked for {seconds} s")

        previous = signal.signal(signal.SIGALRM, fail)
        signal.alarm(seconds)
        try:
            yield
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)

    return guard()


def test_a_fifo_planted_as_a_state_file_does_not_block_the_refresh(demo_copy: Settings, tmp_path: Path) -> None:
    _refresh(demo_copy, ["alerts"])
    state = demo_copy.artifacts_dir / STATE_DIRNAME / "alerts.json"
    state.unlink()
    os.mkfifo(state)
    _sql(demo_copy, "UPDATE alerts SET title = 'after' WHERE alert_id = 't01_retail.alert_001'")
    with _alarm(120):
        outcome = _refresh(demo_copy, ["alerts"])["alerts"]
    assert outcome["mode"] == "full" and "no previous build" in outcome["reason"]
    assert state.is_file(), "the state written over the FIFO"
    assert _files(demo_copy)["alerts"] == _full_copy(demo_copy, tmp_path)["alerts"]


@pytest.mark.parametrize("plant", ["fifo", "dangling-symlink", "state-dir-is-a-file"])
def test_a_lock_or_state_directory_that_is_not_the_platforms_is_a_clear_error(tmp_path: Path, plant: str) -> None:
    from dataops_platform.artifacts.incremental import exclusive
    from dataops_platform.errors import DataOpsError

    state = tmp_path / "artifacts" / STATE_DIRNAME
    lock = state / "alerts.lock"
    elsewhere = tmp_path / "elsewhere.txt"
    if plant == "state-dir-is-a-file":
        state.parent.mkdir(parents=True)
        state.write_text("not a directory")
    else:
        state.mkdir(parents=True)
        if plant == "fifo":
            os.mkfifo(lock)
        else:
            lock.symlink_to(elsewhere)
    with _alarm(30), pytest.raises(DataOpsError) as err:
        with exclusive(lock):
            pass
    assert "is not what the platform keeps there" in err.value.message and "remove it" in err.value.message
    assert not elsewhere.exists(), "nothing created through the link"


def test_offsets_out_of_order_are_not_spliced_even_when_the_state_vouches_for_them(demo_copy: Settings, tmp_path: Path) -> None:
    import numpy as np

    from dataops_platform.artifacts import incremental

    _refresh(demo_copy, ["alerts"])
    state_dir = demo_copy.artifacts_dir / STATE_DIRNAME
    offsets_path, state_path = state_dir / "alerts.offsets", state_dir / "alerts.json"
    offsets = np.fromfile(offsets_path, dtype=np.int64)
    offsets[1], offsets[2] = offsets[2], offsets[1]  # the same size, the same ends: only the order is wrong
    offsets.tofile(offsets_path)
    state = json.loads(state_path.read_text())
    state["sidecars"][1] = incremental._signature(offsets_path)  # vouched for, as a forger would
    state_path.write_text(json.dumps(state))
    _sql(demo_copy, "UPDATE alerts SET title = 'after' WHERE alert_id = 't01_retail.alert_001'")
    outcome = _refresh(demo_copy, ["alerts"])["alerts"]
    assert outcome["mode"] == "full" and "does not describe" in outcome["reason"], outcome
    assert _files(demo_copy)["alerts"] == _full_copy(demo_copy, tmp_path)["alerts"]


def test_a_fifo_sidecar_the_state_vouches_for_does_not_block_the_refresh(demo_copy: Settings, tmp_path: Path) -> None:
    from dataops_platform.artifacts import incremental

    _refresh(demo_copy, ["alerts"])
    state_dir = demo_copy.artifacts_dir / STATE_DIRNAME
    keys, state_path = state_dir / "alerts.keys.json", state_dir / "alerts.json"
    keys.unlink()
    os.mkfifo(keys)
    state = json.loads(state_path.read_text())
    state["sidecars"][0] = incremental._signature(keys)  # vouched for, as a forger would
    state_path.write_text(json.dumps(state))
    _sql(demo_copy, "UPDATE alerts SET title = 'after' WHERE alert_id = 't01_retail.alert_001'")
    with _alarm(120):
        outcome = _refresh(demo_copy, ["alerts"])["alerts"]
    assert outcome["mode"] == "full" and "not a regular file" in outcome["reason"], outcome
    assert _files(demo_copy)["alerts"] == _full_copy(demo_copy, tmp_path)["alerts"]


def test_a_directory_where_rule_11_keeps_its_cursor_is_a_clear_error(demo_copy: Settings) -> None:
    cursor = demo_copy.artifacts_dir / STATE_DIRNAME / "audit_chain.json"
    cursor.unlink(missing_ok=True)
    cursor.mkdir(parents=True)
    result = materialize_assets(demo_copy, ["audit_log"], {REFRESH_TAG: "full"})
    assert not result.success
    messages = []
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        while error is not None and error.cause is not None:
            error = error.cause
        messages.append(error.message if error else "")
    assert any("audit_chain.json is a directory" in m and "remove it" in m for m in messages), messages


def test_the_feeds_rows_cannot_be_edited_and_nothing_may_sit_on_its_table(demo_copy: Settings) -> None:
    """A writer with only the store's credentials editing the row its own write left (to hide it),
    or a trigger on graph_changes swallowing rows (RAISE(IGNORE) uses no seq: no gap to see)."""
    import sqlite3 as sq

    from dataops_platform.store.engine import Store

    with sq.connect(demo_copy.home_dir / "governance.db") as conn:
        with pytest.raises(sq.IntegrityError, match="append-only"):
            conn.execute("UPDATE graph_changes SET tbl = 'users' WHERE seq = (SELECT max(seq) FROM graph_changes)")
    _sql(demo_copy, "CREATE TRIGGER swallow BEFORE INSERT ON graph_changes BEGIN SELECT RAISE(IGNORE); END")
    store = Store(demo_copy.store_url)
    try:
        with store.engine.connect() as conn:
            assert not feed.feed_installed(_session(conn))
    finally:
        store.engine.dispose()


def test_postgresql_writers_cannot_hide_their_writes_from_the_feed(pg_database: str) -> None:
    """A temporary graph_changes in the writer's session (it would come first in its search_path),
    editing the feed's rows, a rule on its table, a setting on a trigger function."""
    migrate.upgrade(pg_database)
    engine = make_engine(pg_database)
    insert = "INSERT INTO tenants (id, name, max_projects, max_dataset_versions) VALUES ('t1', 'T', 1, 1)"
    verdicts = []
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TEMP TABLE graph_changes (seq serial, tbl text, key text, link text, token text) ON COMMIT DROP"
            )
            conn.exec_driver_sql(insert)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM public.graph_changes WHERE tbl = 'tenants'")).scalar() == 1
        with engine.begin() as conn, pytest.raises(Exception, match="append-only"):
            conn.exec_driver_sql("UPDATE graph_changes SET tbl = 'users'")
        for tamper, undo in [
            ("CREATE RULE hide AS ON INSERT TO graph_changes DO INSTEAD NOTHING", "DROP RULE hide ON graph_changes"),
            ("ALTER FUNCTION graph_feed_tenants_update() SET search_path = pg_catalog", None),
        ]:
            with engine.begin() as conn:
                conn.exec_driver_sql(tamper)
            with engine.connect() as conn:
                verdicts.append(feed.feed_installed(_session(conn)))
            if undo:
                with engine.begin() as conn:
                    conn.exec_driver_sql(undo)
            assert feed.ensure_installed(engine) is (undo is None)  # a rule is not the feed's to drop: init leaves it
            with engine.connect() as conn:
                verdicts.append(feed.feed_installed(_session(conn)))
    finally:
        engine.dispose()
    assert verdicts == [False, True, False, True]


def test_postgresql_a_schema_named_after_the_role_does_not_make_every_refresh_full(pg_database: str) -> None:
    """A schema named after the role, created after the tables (the per-user schema pattern):
    current_schema() names it while the tables resolve to public. The feed is judged in the schema
    its table resolves to, so it is not taken for missing on every refresh."""
    migrate.upgrade(pg_database)
    engine = make_engine(pg_database)
    try:
        with engine.begin() as conn:
            role = conn.execute(text("SELECT current_user")).scalar()
            conn.exec_driver_sql(f'CREATE SCHEMA "{role}"')
        engine.dispose()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_schema()")).scalar() == role
            assert conn.execute(text("SELECT to_regclass('graph_changes')::text")).scalar() == "graph_changes"
            assert feed.feed_installed(_session(conn))
    finally:
        engine.dispose()
