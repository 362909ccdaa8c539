"""Issue 17, must-show 1 and 2: an incremental refresh gives what a full rebuild of the same store gives.

Random sequences of real service actions (and of corruptions made behind the platform's back:
raw SQL on the governance tables, MLflow runs deleted or restored, artifact files edited or
deleted by hand; `incremental_world.py`), each batch followed by an incremental refresh on the
home's own Dagster instance (`materialize_all`). At the end the home is copied, the copy's
refresh state (`<artifacts>/.state`) deleted and the copy rebuilt in full. Both homes must then
hold the same bytes in every artifact of ARTIFACT_FILES, the 13 rules evaluated on each must
agree, and so must the check results the two Dagster runs recorded.

The run's time: `generated_at` in processed/sla_report.json and reports/p8_metrics.json, and,
quoted from them, reports/p8_report.md ("computed at", "Generated from the artifacts at") and
reports/p8_report.pdf (its Subject and its page text: compressed, so it cannot be normalised as
text). The test report carries no time. Rather than normalising those, every materialisation
here reads one frozen clock (`wall_clock`): the incremental refresh and the full rebuild are made
at the same instant, so every artifact is compared byte for byte, none normalised, and the
clock moves only when an action says so (which also tests that an unchanged store read at a
later instant, an exception expiring, an alert ageing past its SLA, is refreshed).

Then: each corruption case of test_checks_fail_on_corruption.py, applied after an incremental
refresh, fails its rule on the next incremental refresh.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import sqlite3
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dataops_platform.artifacts.files import Artifacts
from dataops_platform.clock import FixedClock
from dataops_platform.demo.materialize import MaterializeOutcome, dagster_instance, materialize_all
from dataops_platform.rules import evaluate
from dataops_platform.settings import Settings, load_settings
from dataops_platform_tests.defs import test_checks_fail_on_corruption as corruption
from dataops_platform_tests.scale.incremental_world import (
    ASSET_OF,
    CORRUPTION_KINDS,
    REFRESH_KINDS,
    SERVICE_KINDS,
    T0,
    Act,
    World,
    artifact_bytes,
    clone_home,
    describe,
    differences,
    fingerprint,
    first_difference,
    plain,
    table_digests,
    wall_clock,
)

# Whether the lead's incremental engine has landed (issue 17): `materialize_all(settings, full=True)`.
# Until it has, a refresh is a full rebuild and a deleted .state changes nothing, so the test
# still compares two full rebuilds of one store (what it will keep asserting).
ENGINE_LANDED = "full" in inspect.signature(materialize_all).parameters
REFRESH_KEY = "dataops/refresh"  # the metadata each store asset carries: "incremental" | "full"
# The assets whose JSONL artifacts an incremental refresh splices records into.
SPLICED = ("dataset_versions", "experiment_runs", "rollback_events", "alerts", "incident_reviews", "audit_log", "lineage_graph")
QUIET = {"incremental", "unchanged"}  # what a refresh after writes through the feed may be
ANY = {"incremental", "unchanged", "full"}
# Batches that may justify a full rebuild: a hand edit of an artifact or of .state, a policy change
# (every gate), time passing (a full build is due every 24 h; an exception or freeze boundary).
MAY_GO_FULL = {"edit_artifact", "spec", "time"}


def refresh(settings: Settings) -> MaterializeOutcome:
    outcome = materialize_all(settings)
    assert not outcome.failed_steps, f"a step raised: {outcome.failed_steps}"
    return outcome


def rebuild_in_full(settings: Settings) -> MaterializeOutcome:
    """A full rebuild, as a user forces one: the refresh state deleted, then `full=True`."""
    shutil.rmtree(settings.artifacts_dir / ".state", ignore_errors=True)
    outcome = materialize_all(settings, full=True) if ENGINE_LANDED else materialize_all(settings)  # type: ignore[call-arg]
    assert not outcome.failed_steps, f"a step of the full rebuild raised: {outcome.failed_steps}"
    return outcome


def refresh_modes(settings: Settings, run_id: str) -> dict[str, tuple[set[str], str]]:
    """asset -> (the modes its `dataops/refresh` metadata names, its refresh_reason) in run `run_id`
    (a lineage graph of two lists says e.g. "incremental, unchanged")."""
    from dagster._core.events import DagsterEventType

    modes = {}
    for entry in dagster_instance(settings).all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
        materialization = entry.dagster_event.event_specific_data.materialization
        value = materialization.metadata.get(REFRESH_KEY)
        if value is not None:
            reason = materialization.metadata.get("refresh_reason")
            modes[materialization.asset_key.to_user_string()] = (
                set(str(getattr(value, "value", value)).split(", ")),
                str(getattr(reason, "value", reason)),
            )
    return modes


def assert_refreshed(
    settings: Settings, outcome: MaterializeOutcome, allowed: set[str], *, changed: tuple[str, ...] = (), only: str | None = None
) -> None:
    """The run really took the path it claims: the refresh state is there, every spliced asset it
    materialised (or `only` that one) says how it was refreshed, in a mode of `allowed`, and the
    assets in `changed` (whose tables were written since the last refresh) were not left "unchanged"."""
    if not ENGINE_LANDED:
        # TODO(issue 17): the lead's engine has not landed; once `materialize_all(full=)` exists this
        # asserts the .state directory and the `dataops/refresh` metadata of every spliced asset.
        return
    assert (settings.artifacts_dir / ".state").is_dir(), "no refresh state after a refresh"
    modes = refresh_modes(settings, outcome.run_id)
    materialised = _materialised(settings, outcome.run_id)
    for asset in SPLICED if only is None else (only,):
        if asset in materialised:
            got, reason = modes.get(asset, (set(), "no metadata"))
            assert got and got <= allowed, f"{asset} reported {REFRESH_KEY}={sorted(got)} ({reason}), expected within {allowed}"
            if asset in changed:
                assert got != {"unchanged"}, f"{asset} was written to but its refresh says unchanged ({reason})"


def refresh_summary(settings: Settings, outcome: MaterializeOutcome) -> str:
    """How each spliced asset was refreshed, for the story (full ones with their reason)."""
    if not ENGINE_LANDED:
        return "engine not landed"
    modes = refresh_modes(settings, outcome.run_id)
    return ", ".join(f"{a}={'+'.join(sorted(m))}" + (f" ({r})" if "full" in m else "") for a, (m, r) in sorted(modes.items()))


def _materialised(settings: Settings, run_id: str) -> set[str]:
    from dagster._core.events import DagsterEventType

    logs = dagster_instance(settings).all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
    return {e.dagster_event.event_specific_data.materialization.asset_key.to_user_string() for e in logs}


def rule_outcomes(root: Path) -> list[dict[str, Any]]:
    return plain([r.as_dict() for r in evaluate(Artifacts(root))])


def check_outcomes(outcome: MaterializeOutcome) -> list[dict[str, Any]]:
    return plain([c.as_dict() for c in outcome.checks])


def summary(outcome: MaterializeOutcome) -> str:
    failed = [f"{c.name}={c.status}" for c in outcome.failed_checks]
    return f"{len(outcome.checks)} checks, not passed: {failed or 'none'}"


@pytest.fixture(scope="module")
def base_home(demo_home: tuple[Settings, MaterializeOutcome], tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The demo home rebuilt in full at T0: every example starts from a copy, with its refresh state."""
    source, _ = demo_home
    target = tmp_path_factory.mktemp("incremental_base") / "home"
    shutil.copytree(source.home_dir, target)
    settings = load_settings(target)
    with wall_clock(FixedClock(T0)):
        outcome = rebuild_in_full(settings)
    assert outcome.integrity_ok and not outcome.failed_checks, summary(outcome)
    return settings


# Service actions three times as often as corruptions: a story, not only vandalism.
kinds = st.sampled_from([*SERVICE_KINDS, *SERVICE_KINDS, *SERVICE_KINDS, *CORRUPTION_KINDS, *REFRESH_KINDS])
acts = st.builds(Act, kinds, st.integers(0, 40), st.integers(0, 10))
batches = st.lists(st.lists(acts, min_size=1, max_size=8), min_size=1, max_size=3)

# Two sequences always played whatever hypothesis draws: every service action (right and wrong
# actors, partial refreshes between), then every corruption; each kind is exercised on every run.
EVERY_SERVICE = [
    [Act("register", 1, 1), Act("register", 4, 0), Act("validate", 0, 0), Act("register", 2, 3), Act("validate", 1, 6),
     Act("release", 0, 0), Act("train", 3, 0), Act("train", 3, 2), Act("register", 0, 6)],
    [Act("watchers"), Act("open_alert", 2, 1), Act("partial_refresh", 0, 0), Act("ack", 0, 0), Act("ack", 0, 7),
     Act("request_exception", 0, 0), Act("approve_exception", 0, 0), Act("approve_exception", 0, 7), Act("time", 0, 1),
     Act("resolve", 0, 0)],
    [Act("rollback", 1, 0), Act("partial_refresh", 0, 3), Act("review", 0, 1), Act("review", 1, 4), Act("deprecate", 0, 0),
     Act("spec", 1, 0), Act("spec", 0, 1), Act("time", 0, 1), Act("release", 0, 5), Act("register", 3, 4)],
]  # fmt: skip
EVERY_CORRUPTION = [
    [Act("corrupt_sql", 0, 0), Act("corrupt_sql", 1, 1), Act("corrupt_sql", 0, 2), Act("mlflow", 0, 0),
     Act("edit_artifact", 0, 1), Act("edit_artifact", 1, 2)],
    [Act("corrupt_sql", 2, 3), Act("corrupt_sql", 0, 6), Act("edit_artifact", 2, 3), Act("register", 1, 0), Act("mlflow", 0, 1),
     Act("mlflow", 1, 0)],
    [Act("undo_sql"), Act("corrupt_sql", 0, 7), Act("corrupt_sql", 3, 5), Act("edit_artifact", 0, 7), Act("corrupt_sql", 0, 4),
     Act("edit_artifact", 3, 0), Act("time", 0, 3)],
]  # fmt: skip


# Short stories aimed at what the change feed cannot see or what time alone changes.
# A run killed in MLflow after it finished (found by this test, fixed in 4511c4d), deleted, restored.
# Then one state file deleted and the daily full rebuild run between two incremental refreshes.
MLFLOW_ONLY = [
    [Act("mlflow", 0, 0)],
    [Act("mlflow", 0, 1), Act("mlflow", 1, 2)],
    [Act("mlflow", 2, 2), Act("edit_artifact", 3, 7), Act("partial_refresh", 0, 5), Act("open_alert", 0, 0)],
]
FEED_TAMPERING = [[Act("corrupt_sql", 0, 8), Act("open_alert", 1, 0), Act("corrupt_sql", 1, 9)], [Act("corrupt_sql", 2, 10)],
                  [Act("ack", 0, 0)]]  # fmt: skip


@settings(
    # 3 drawn sequences keep this file under 3 minutes in CI; a nightly run may ask for more.
    max_examples=int(os.environ.get("DATAOPS_INCREMENTAL_EXAMPLES", "3")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@example(EVERY_SERVICE)
@example(EVERY_CORRUPTION)
@example(MLFLOW_ONLY)
@example(FEED_TAMPERING)
@given(batches=batches)
def test_incremental_refreshes_equal_a_full_rebuild(
    base_home: Settings, tmp_path_factory: pytest.TempPathFactory, batches: list[list[Act]]
) -> None:
    play_and_compare(base_home, tmp_path_factory, batches)


def play_and_compare(base_home: Settings, tmp_path_factory: pytest.TempPathFactory, batches: list[list[Act]]) -> None:
    """Play the batches on a clone of the base home, each followed by an incremental refresh; then
    rebuild a copy in full and compare the two homes."""
    work = tmp_path_factory.mktemp("example")
    base = fingerprint(base_home)
    settings = clone_home(base_home, work / "home")  # its first refresh is incremental, from the base's state
    clock = FixedClock(T0 + timedelta(hours=1))
    try:
        with wall_clock(clock):
            world = World(settings, clock)
            full_at = dict.fromkeys(SPLICED, T0)  # when each asset was last seen rebuilt in full
            # The clone's first refresh: what it cannot vouch for about a copied home (its MLflow store
            # is another file, so experiment_runs) is rebuilt in full; every batch after is held strictly.
            settled = materialize_all(settings, selection=["experiment_runs"])  # type: ignore[arg-type]
            assert not settled.failed_steps, settled.failed_steps
            assert_refreshed(settings, settled, ANY)
            world.log.append(f"-- the clone's first refresh: {refresh_summary(settings, settled)}")
            for asset, (got, _) in refresh_modes(settings, settled.run_id).items():
                if "full" in got:
                    full_at[asset] = clock.now()
            try:
                last = None
                for number, batch in enumerate(batches, 1):
                    world.touched_artifacts = world.refreshed = world.tampered = False
                    before = table_digests(settings)
                    for act in batch:
                        try:
                            world.run(act)
                        except Exception as crash:  # not a refusal: a service (or the world) broke
                            raise AssertionError(f"{act!r} raised {crash!r} after:\n{describe(world.log)}") from crash
                    written = {ASSET_OF[t] for t, d in table_digests(settings).items() if before.get(t) != d and t in ASSET_OF}
                    if world.refreshed:  # a partial refresh in the batch may have taken its changes already
                        written = set()
                    last = refresh(settings)
                    may_go_full = bool(MAY_GO_FULL & {a.kind for a in batch}) or world.tampered or world.trigger_dropped
                    due = {a for a, at in full_at.items() if clock.now() - at >= timedelta(hours=24)}
                    world.log.append(f"-- refresh {number}: {summary(last)}; {refresh_summary(settings, last)}")
                    for asset in SPLICED:
                        allowed = ANY if may_go_full or asset in due else QUIET
                        try:
                            assert_refreshed(settings, last, allowed, only=asset, changed=tuple(written))
                        except AssertionError as wrong:
                            raise AssertionError(f"{wrong}\nafter:\n{describe(world.log)}") from None
                    for asset, (got, _) in refresh_modes(settings, last.run_id).items():
                        if "full" in got:
                            full_at[asset] = clock.now()
            finally:
                world.close()
            story = describe(world.log)
            assert last is not None
            assert_equal_to_a_full_rebuild(settings, last, clock, story, work / "full")
        assert fingerprint(base_home) == base, "the example changed a file of the base home"
    finally:
        shutil.rmtree(work, ignore_errors=True)


def assert_equal_to_a_full_rebuild(settings: Settings, last: MaterializeOutcome, clock: FixedClock, story: str, at: Path) -> None:
    """Copy the home to `at`, rebuild the copy in full (at the same frozen instant) and compare:
    every artifact byte for byte, the 13 rules on each side, the checks the two runs recorded."""
    shutil.copytree(settings.home_dir, at)  # a plain copy: new inodes, and .state deleted
    full_settings = load_settings(at)
    full = rebuild_in_full(full_settings)
    assert_refreshed(full_settings, full, {"full"})
    diff = differences(settings.artifacts_dir, full_settings.artifacts_dir)
    assert not diff, "incremental and full artifacts differ after:\n" + story + "\n" + "\n".join(diff)
    assert rule_outcomes(settings.artifacts_dir) == rule_outcomes(full_settings.artifacts_dir), story
    assert (last.success, check_outcomes(last)) == (full.success, check_outcomes(full)), story
    # The frozen clock reached the builders (else the bytes could agree by luck of timing): what
    # the last refresh built says it was generated now (a blocking check may have stopped it).
    built = _materialised(settings, last.run_id)
    for asset, relative in (("sla_report", "processed/sla_report.json"), ("platform_metrics", "reports/p8_metrics.json")):
        if asset in built:
            generated = json.loads((settings.artifacts_dir / relative).read_text())["generated_at"]
            assert generated == clock.now().isoformat(), (relative, generated, story)


# Writes a refresh may race with: each one writes through the services (and the feed) while it runs.
RACING = [Act("open_alert", 0, 0), Act("ack", 0, 0), Act("register", 1, 0), Act("resolve", 0, 0), Act("validate", 0, 0),
          Act("train", 2, 0), Act("open_alert", 3, 2), Act("request_exception", 0, 1), Act("corrupt_sql", 1, 1)]  # fmt: skip


def test_writes_made_during_a_refresh_are_in_the_next_one(base_home: Settings, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Services write while an incremental refresh runs (another thread, as the scheduler's run and
    a user's command are): whatever that refresh saw, the next one brings every artifact to what a
    full rebuild of the store gives. A cursor taken after the rows it covers would lose those writes."""
    work = tmp_path_factory.mktemp("racing")
    settings = clone_home(base_home, work / "home")
    clock = FixedClock(T0 + timedelta(hours=5))  # the materialisations' instant: fixed while services write
    world = World(settings, FixedClock(T0 + timedelta(hours=1)))
    outcome: dict[str, Any] = {}
    try:
        with wall_clock(clock):
            runner = threading.Thread(target=lambda: outcome.update(racing=materialize_all(settings)))
            runner.start()
            played = during = 0
            while (runner.is_alive() or played < 3) and played < 15:  # writes during the run (a minute each)
                during += runner.is_alive()
                world.run(RACING[played % len(RACING)])
                played += 1
            runner.join()
            assert during >= 2, f"only {during} action(s) ran during the refresh: nothing raced it"
            racing = outcome["racing"]
            world.log.append(
                f"-- refresh raced by {during} of {played} actions: {summary(racing)}; {refresh_summary(settings, racing)}"
            )
            assert not racing.failed_steps, f"a step raised while services wrote: {racing.failed_steps}\n{describe(world.log)}"
            world.close()
            last = refresh(settings)
            world.log.append(f"-- quiet refresh: {summary(last)}; {refresh_summary(settings, last)}")
            assert_refreshed(settings, last, QUIET)
            assert_equal_to_a_full_rebuild(settings, last, clock, describe(world.log), work / "full")
            if os.environ.get("DATAOPS_SHOW_STORY"):
                print(describe(world.log))
    finally:
        world.close()
        shutil.rmtree(work, ignore_errors=True)


def test_a_store_restored_from_a_backup_is_refreshed_to_what_it_holds(
    base_home: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """An operator restores the governance store from last night's backup (the artifacts volume is
    not restored), re-anchors the audit chain as the runbook says, and work goes on: by the next
    refresh the store's feed may have grown past the cursor the artifacts' state holds, though the
    changes between the backup and that cursor are another history. The refresh must give what a
    full rebuild of the restored store gives, never records of the history that was undone."""
    from dataops_platform.governance.audit_service import reanchor

    work = tmp_path_factory.mktemp("restored")
    settings = clone_home(base_home, work / "home")
    clock = FixedClock(T0 + timedelta(hours=1))
    db = settings.home_dir / "governance.db"
    try:
        with wall_clock(clock):
            world = World(settings, clock)
            with sqlite3.connect(db) as live, sqlite3.connect(work / "backup.db") as backup:
                live.backup(backup)  # last night's backup
            for act in [Act("open_alert", 0, 0), Act("ack", 0, 0), Act("register", 1, 0), Act("open_alert", 1, 1)] * 2:
                world.run(act)  # the history the restore undoes
            undone = refresh(settings)
            world.log.append(f"-- refresh: {summary(undone)}; {refresh_summary(settings, undone)}")
            world.close()
            with sqlite3.connect(work / "backup.db") as backup, sqlite3.connect(db) as live:
                backup.backup(live)  # the restore, page by page (what `.restore` does)
            world.log.append("-- the store restored from the backup taken before the refresh")
            world = World(settings, clock, log=world.log)
            reanchor(world.platform, "alice", "store restored from the nightly backup")
            world.log.append("alice re-anchored the audit chain after the restore")
            for act in [Act("open_alert", 2, 2), Act("resolve", 0, 0), Act("register", 2, 0), Act("review", 0, 1)] * 3:
                world.run(act)  # the new history: as many writes again, so the feed passes the old cursor
            world.close()
            last = refresh(settings)
            world.log.append(f"-- refresh after the restore: {summary(last)}; {refresh_summary(settings, last)}")
            assert_equal_to_a_full_rebuild(settings, last, clock, describe(world.log), work / "full")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_postgresql_a_write_committed_behind_the_cursor_is_not_lost(
    pg_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a change's seq is taken when the row is written, not when it commits: a raw SQL
    transaction (an admin's console) holding a low seq commits after a service write with a higher
    one was refreshed past. The next refresh must still bring that change in, and then equal a
    full rebuild of the same store (made in place at the same instant: artifacts byte for byte,
    the 13 rules, the recorded checks)."""
    from sqlalchemy import create_engine, text

    from dataops_platform.demo.sample_data import sample_records, write_records
    from dataops_platform.governance.alerts import open_alert
    from dataops_platform.governance.versions import register_version
    from dataops_platform_tests.conftest import make_platform

    # The assets' resource reads the store's URL from the environment, as `dataops materialize` does.
    monkeypatch.setenv("DATAOPS_DATABASE_URL", pg_database)
    settings = load_settings(tmp_path / "home")
    assert settings.database_url == pg_database
    platform = make_platform(settings, FixedClock(T0))
    data = write_records(sample_records(40, 7, source="case_law"), tmp_path / "v1.parquet")
    version = register_version(platform, "lena", "p02_legal_sft", data).version_id
    clock = FixedClock(T0 + timedelta(hours=1))
    console = create_engine(pg_database)
    try:
        with wall_clock(clock):
            first = refresh(settings)
            assert_refreshed(settings, first, {"full"})
            with console.connect() as conn:
                conn.execute(
                    text("UPDATE dataset_versions SET change_summary = :s WHERE version_id = :v"),
                    {"s": json.dumps(["edited in the console"]), "v": version},
                )  # seq taken, not committed
                open_alert(platform, "omar", f"version:{version}", "low", "operational", "while the console is open")
                raced = refresh(settings)  # sees the alert's seqs, not the console's
                assert_refreshed(settings, raced, QUIET, changed=("alerts", "audit_log"))
                conn.commit()
            last = refresh(settings)
            assert_refreshed(settings, last, QUIET, changed=("dataset_versions",))
            line = next(r for r in (settings.artifacts_dir / "processed/dataset_versions.jsonl").read_text().splitlines()
                        if version in r)  # fmt: skip
            assert "edited in the console" in line, "the console's committed change never reached the artifact"
            incremental = artifact_bytes(settings.artifacts_dir)
            rules = rule_outcomes(settings.artifacts_dir)
            full = rebuild_in_full(settings)
            diff = [f"{n}: {first_difference(incremental[n], b)}" for n, b in artifact_bytes(settings.artifacts_dir).items()
                    if incremental[n] != b]  # fmt: skip
            assert not diff, "\n".join(diff)
            assert rules == rule_outcomes(settings.artifacts_dir)
            assert (last.success, check_outcomes(last)) == (full.success, check_outcomes(full))
    finally:
        console.dispose()
        platform.close()


# -- must-show 2: every corruption test of the 13 rules fails its rule on the incremental path too --------
KIND = {corruption.VIOLATION: "failed", corruption.FINDING: "finding"}


@pytest.fixture
def undo_code_edits() -> Any:
    yield
    corruption._code_edit.undo()  # rules 3 and 4 are corrupted by editing the code's description in process


@pytest.mark.parametrize("case", sorted(corruption.CASES))
def test_corruption_fails_its_rule_on_the_next_incremental_refresh(
    base_home: Settings, tmp_path: Path, case: str, undo_code_edits: None
) -> None:
    check, assets, corrupt, kind = corruption.CASES[case]
    base = fingerprint(base_home)
    settings = clone_home(base_home, tmp_path / "home")
    with wall_clock(FixedClock(T0 + timedelta(hours=1))):
        control = materialize_all(settings, selection=assets)  # type: ignore[arg-type] - a list of asset keys
        assert {c.name: c.status for c in control.checks}[check] == "passed", summary(control)
        assert_refreshed(settings, control, ANY)  # a clone's MLflow store is another file: experiment_runs in full
        before = table_digests(settings)
        corrupt(settings)
        written = tuple(ASSET_OF[t] for t, d in table_digests(settings).items() if before.get(t) != d and t in ASSET_OF)
        result = materialize_all(settings, selection=assets)  # type: ignore[arg-type]
        # No case edits a spliced artifact or the policy: none justifies a full rebuild.
        assert_refreshed(settings, result, QUIET, changed=written)
    assert {c.name: c.status for c in result.checks}[check] == KIND[kind], summary(result)
    assert fingerprint(base_home) == base, "the case changed a file of the base home"
