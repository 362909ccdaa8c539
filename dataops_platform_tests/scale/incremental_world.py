"""The world the "incremental equals full" property test acts on (issue 17): a copy of the demo
home, one clock for the services and the materialisations, and a vocabulary of actions drawn by
hypothesis. Each action goes through the real services (registration from real CSV / Parquet /
JSONL files, the quality gate, releases, real scikit-learn runs logged to MLflow and synced,
alerts, exceptions, rollbacks, reviews, a spec applied), with the wrong actor or against the gate
some of the time (a refusal still writes its audit record), or corrupts what the platform keeps
behind its back: raw SQL on the governance tables, an MLflow run deleted or restored with
MlflowClient, an artifact file edited or deleted by hand. Every action says what it did in
`World.log`, so a failing example reads as a story.

An action is `Act(kind, pick, variant)`: `pick` chooses among the objects that exist when it runs
(modulo their number), `variant` how it is done; both shrink towards 0, so hypothesis shrinks a
failing sequence to a short one that still reads.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from dataops_platform import clock as clock_module
from dataops_platform.artifacts import incremental
from dataops_platform.artifacts.files import ARTIFACT_FILES
from dataops_platform.artifacts.incremental import STATE_DIRNAME
from dataops_platform.clock import FixedClock
from dataops_platform.demo.sample_data import sample_records, write_records
from dataops_platform.demo.training import run_experiment
from dataops_platform.errors import DataOpsError
from dataops_platform.governance.alerts import acknowledge_alert, ensure_release_regression_alerts, open_alert, resolve_alert
from dataops_platform.governance.exceptions import approve_exception, request_exception
from dataops_platform.governance.gate import EXPERIMENT_RULE
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.reviews import FixItem, ReviewInput, add_review
from dataops_platform.governance.rollback import execute_rollback
from dataops_platform.governance.spec_apply import apply_spec
from dataops_platform.governance.versions import deprecate_version, register_version, release_version, validate_version
from dataops_platform.governance.watchers import open_quality_gate_alerts
from dataops_platform.settings import Settings, load_settings
from dataops_platform.spec.loader import load_spec
from dataops_platform.tracking.client import Tracking
from dataops_platform.tracking.sync import sync_runs
from dataops_platform_tests.conftest import EXAMPLE_SPEC

# The instant the base home is rebuilt at: the day after the demo's story, outside every freeze
# window (p01's year-end freeze starts 2026-12-20: time actions can walk into it).
T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
SYSTEM = "dataops-system"
PROJECTS = ("p01_retail_search", "p02_legal_sft", "p03_clinical_qa")
ENGINEER = {"p01_retail_search": "dan", "p02_legal_sft": "lena", "p03_clinical_qa": "hugo"}
SOURCE = {"p01_retail_search": "crm_export", "p02_legal_sft": "case_law", "p03_clinical_qa": "ehr_notes"}
PARAMS = ({"C": 4.0, "max_iter": 300}, {"C": 0.001, "max_iter": 300}, {"C": -1.0, "max_iter": 300})  # good, f1 0, raises


@contextmanager
def wall_clock(clock: FixedClock) -> Iterator[None]:
    """Every `SystemClock` (what a materialisation reads: SLA ages, exception expiry, freeze windows,
    `generated_at`) reads `clock` instead of the wall clock, so an incremental refresh and a full
    rebuild are made at the same instant, and time passes only when an action says so."""
    saved = clock_module.SystemClock.now
    clock_module.SystemClock.now = lambda self: clock.now()  # type: ignore[method-assign]
    try:
        yield
    finally:
        clock_module.SystemClock.now = saved  # type: ignore[method-assign]


def _linkable(path: Path, artifacts: Path) -> bool:
    """A record artifact an incremental refresh splices into, or a file of its state (what the state
    checks it against: keys, offsets, signatures); not a lock file."""
    if not path.is_relative_to(artifacts) or path.suffix == ".lock":
        return False
    return path.is_relative_to(artifacts / ".state") or path.suffix == ".jsonl" or path.name == "lineage_graph.json"


def clone_home(source: Settings, target: Path) -> Settings:
    """A copy of a home whose refresh state describes the copied files, so the clone's first refresh
    is incremental, as the source's next one would be. A plain copy makes new files (inode, ctime),
    which the state rightly takes for files changed behind its back (a full rebuild): each list's
    state is written again with the copies' signatures, as the refresh that wrote them would have.
    Hard links would keep the inode, but linking moves the ctime of the source's files too."""
    shutil.copytree(source.home_dir, target)
    clone = load_settings(target)
    state = clone.artifacts_dir / STATE_DIRNAME
    for state_path in sorted(state.glob("*.json")):
        data = json.loads(state_path.read_text())
        if not isinstance(data, dict) or "signature" not in data:
            continue  # not a list's state (rule 11's cursor is checked by content)
        name = state_path.stem
        written = clone.artifacts_dir / ARTIFACT_FILES[name] if name in ARTIFACT_FILES else state / f"{name}.items"
        data["signature"] = incremental._signature(written)
        data["sidecars"] = [incremental._signature(state / f"{name}{suffix}") for suffix in (".keys.json", ".offsets")]
        state_path.write_text(json.dumps(data, sort_keys=True))
    return clone


def fingerprint(settings: Settings) -> dict[str, tuple[int, int, int, str]]:
    """(inode, size, mtime, digest) of every file a refresh state vouches for: a clone must never change them."""
    root = settings.artifacts_dir
    return {
        str(path.relative_to(root)): (st.st_ino, st.st_size, st.st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
        for path in sorted(root.rglob("*"))
        if path.is_file() and _linkable(path, root) and (st := path.stat())
    }


@dataclass(frozen=True)
class Act:
    kind: str
    pick: int = 0
    variant: int = 0


@dataclass
class World:
    settings: Settings
    clock: FixedClock
    log: list[str] = field(default_factory=list)
    undo: list[tuple[str, tuple[Any, ...], str]] = field(default_factory=list)  # SQL that reverts a corruption
    files: int = 0
    touched_artifacts: bool = False  # an artifact file or .state was changed by hand in the current batch
    refreshed: bool = False  # a partial refresh ran in the current batch (it may have consumed the batch's changes)
    tampered: bool = False  # the feed itself was tampered with in the current batch (rows deleted, a row replaced)
    trigger_dropped: bool = False  # a feed trigger is gone: from then on every refresh may be a full one
    applied_spec: bool = False

    def __post_init__(self) -> None:
        self.platform = Platform(self.settings, self.clock)
        self.tracking = Tracking(self.settings.tracking_uri, self.settings.mlflow_artifact_root)

    def close(self) -> None:
        self.platform.close()

    # -- reading the store (raw, so a corruption cannot hide from the picker) ---------------------------
    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.settings.home_dir / "governance.db")

    def ids(self, sql: str, *params: Any) -> list[Any]:
        with self.db() as conn:
            return [r[0] for r in conn.execute(sql, params)]

    def pick(self, sql: str, n: int, *params: Any) -> Any | None:
        found = self.ids(sql, *params)
        return found[n % len(found)] if found else None

    # -- running an action --------------------------------------------------------------------------
    def run(self, act: Act) -> None:
        self.clock.advance(minutes=1)  # one action a minute: distinct, ordered timestamps
        handler = ACTIONS[act.kind]
        try:
            said = handler(self, act.pick, act.variant)
        except DataOpsError as refused:  # audited by the service (denied / failed): part of the story
            said = f"refused ({type(refused).__name__}): {refused.message[:160]}"
        self.log.append(f"{act!r}: {said}")

    def sql(self, statement: str, params: tuple[Any, ...] = (), undo: tuple[str, tuple[Any, ...]] | None = None) -> None:
        with self.db() as conn:
            conn.execute(statement, params)
        if undo is not None:
            self.undo.append((undo[0], undo[1], statement))


# -- the services --------------------------------------------------------------------------------------
def _register(w: World, pick: int, variant: int) -> str:
    project = PROJECTS[pick % 3]
    engineer = ENGINEER[project]
    actor = {6: "omar", 7: ENGINEER[PROJECTS[(pick + 1) % 3]]}.get(variant, engineer)  # ops may not; another tenant's is not seen
    latest = "SELECT version_id FROM dataset_versions WHERE project_id = ? ORDER BY created_at DESC, version_id DESC"
    parent = w.pick(latest, 0, project)
    parent = parent if (pick // 3) % 2 == 0 else None
    w.files += 1
    suffix = (".csv", ".parquet", ".jsonl")[variant % 3]
    splits = ("train",) if variant == 3 else ("train", "test")  # no test split: the gate rejects it
    noise = 0.45 if variant == 4 else 0.0  # flipped labels: trains badly, a data regression
    records = sample_records(40 + pick % 7, 1000 + w.files, source=SOURCE[project], splits=splits, label_noise=noise)
    if variant == 5:  # duplicated ids: refused at registration
        records += records[:5]
    path = write_records(records, w.settings.home_dir / "world_data" / f"{project}_{w.files:03d}{suffix}")
    version = register_version(w.platform, actor, project, path, parent, [f"world file {w.files}"])
    return f"{actor} registered {version.version_id} ({suffix}, parent {parent})"


def _version(w: World, pick: int, status: str | None = None) -> str | None:
    if status is None:
        return w.pick("SELECT version_id FROM dataset_versions ORDER BY version_id", pick)
    return w.pick("SELECT version_id FROM dataset_versions WHERE status = ? ORDER BY version_id", pick, status)


def _validate(w: World, pick: int, variant: int) -> str:
    version = _version(w, pick, None if variant >= 6 else "draft")
    if version is None:
        return "no version to validate"
    actor = "dan" if variant == 5 else "quinn"  # a data engineer may not validate
    done = validate_version(w.platform, actor, version)
    return f"{actor} validated {version}: {done.status}"


def _release(w: World, pick: int, variant: int) -> str:
    version = _version(w, pick, None if variant >= 6 else "validated")
    if version is None:
        return "no version to release"
    actor = "lena" if variant == 5 else "priya"
    release_version(w.platform, actor, version)
    return f"{actor} released {version}"


def _deprecate(w: World, pick: int, variant: int) -> str:
    version = _version(w, pick, None if variant >= 6 else "released")
    if version is None:
        return "no version to deprecate"
    deprecate_version(w.platform, "priya", version)
    return f"priya deprecated {version}"


def _train(w: World, pick: int, variant: int) -> str:
    version = w.pick("SELECT version_id FROM dataset_versions WHERE status != 'rejected' ORDER BY version_id", pick)
    if version is None:
        return "no version to train on"
    project = w.ids("SELECT project_id FROM dataset_versions WHERE version_id = ?", version)[0]
    params = PARAMS[variant % 3]
    actor = "omar" if variant == 7 else ENGINEER[project]  # ops may read but not log: the sync skips the run
    try:
        run_experiment(w.platform, w.tracking, actor, version, params, f"world-{len(w.log)}")
        ran = "ran"
    except ValueError:
        ran = "crashed (FAILED run)"
    report = sync_runs(w.platform, w.tracking)
    return f"{actor} trained on {version} with C={params['C']}: {ran}; sync added {report.added}, alerts {report.alerts}"


def _watchers(w: World, pick: int, variant: int) -> str:
    gate = open_quality_gate_alerts(w.platform, SYSTEM)
    regression = ensure_release_regression_alerts(w.platform, SYSTEM)
    return f"watchers opened {gate + regression}"


def _open_alert(w: World, pick: int, variant: int) -> str:
    version = _version(w, pick)
    if version is None:
        return "no version"
    actor = "quinn" if variant == 7 else "omar"
    severity = ("critical", "high", "medium", "low")[variant % 4]
    alert = open_alert(w.platform, actor, f"version:{version}", severity, "operational", f"world alert on {version}")
    return f"{actor} opened {alert.alert_id} ({severity}) on {version}"


def _ack(w: World, pick: int, variant: int) -> str:
    alert = w.pick("SELECT alert_id FROM alerts WHERE status = 'open' ORDER BY alert_id", pick)
    if alert is None:
        return "no open alert"
    actor = "dan" if variant == 7 else "omar"
    acknowledge_alert(w.platform, actor, alert)
    return f"{actor} acknowledged {alert}"


def _resolve(w: World, pick: int, variant: int) -> str:
    alert = w.pick("SELECT alert_id FROM alerts WHERE status != 'resolved' ORDER BY alert_id", pick)
    if alert is None:
        return "no unresolved alert"
    actor = "dan" if variant == 7 else "omar"
    resolve_alert(w.platform, actor, alert, f"fixed in world step {len(w.log)}")
    return f"{actor} resolved {alert}"


def _request_exception(w: World, pick: int, variant: int) -> str:
    version = w.pick("SELECT version_id FROM dataset_versions WHERE status IN ('draft', 'validated') ORDER BY version_id", pick)
    if version is None:
        return "no version to waive"
    project = w.ids("SELECT project_id FROM dataset_versions WHERE version_id = ?", version)[0]
    hours = (2, 30, 24 * 6, 24 * 30)[variant % 4]  # 30 days is over the policy's 14: refused
    expires = w.clock.now() + timedelta(hours=hours)
    exc = request_exception(w.platform, ENGINEER[project], version, EXPERIMENT_RULE, "waiting on a re-run", expires)
    return f"{ENGINEER[project]} requested {exc.exception_id} on {version} until +{hours}h"


def _approve_exception(w: World, pick: int, variant: int) -> str:
    exc = w.pick("SELECT exception_id FROM exception_approvals ORDER BY exception_id", pick)
    if exc is None:
        return "no exception"
    requester = w.ids("SELECT requested_by FROM exception_approvals WHERE exception_id = ?", exc)[0]
    actor = requester if variant == 7 else "priya"  # the requester may not approve
    approve_exception(w.platform, actor, exc)
    return f"{actor} approved {exc}"


def _rollback(w: World, pick: int, variant: int) -> str:
    project = PROJECTS[pick % 3]
    target = w.pick(
        "SELECT version_id FROM dataset_versions WHERE project_id = ? AND status = 'released' "
        "AND version_id != (SELECT coalesce(current_release, '') FROM projects WHERE id = ?) ORDER BY version_id",
        pick // 3, project, project,
    )  # fmt: skip
    if target is None:
        return f"no earlier release in {project}"
    trigger = w.pick("SELECT alert_id FROM alerts WHERE project_id = ? AND status != 'resolved' ORDER BY alert_id", 0, project)
    actor = "dan" if variant == 7 else "priya"
    event, _ = execute_rollback(w.platform, actor, project, target, "world rollback", f"alert:{trigger}" if trigger else None)
    return f"{actor} rolled {project} back to {target} ({event.rollback_id})"


def _review(w: World, pick: int, variant: int) -> str:
    kind = ("alert", "rollback")[variant % 2]
    table, key = {"alert": ("alerts", "alert_id"), "rollback": ("rollback_events", "rollback_id")}[kind]
    target = w.pick(f"SELECT {key} FROM {table} ORDER BY {key}", pick)  # noqa: S608 - constant names
    if target is None:
        return f"no {kind} to review"
    project = w.ids(f"SELECT project_id FROM {table} WHERE {key} = ?", target)[0]  # noqa: S608
    complete = variant < 4  # an incomplete review of a serious alert / a rollback is refused
    review = ReviewInput(
        related=[f"{kind}:{target}"],
        symptom="world symptom",
        impact_scope="one project" if complete else "",
        root_cause="world cause" if complete else "",
        mitigation="world mitigation" if complete else "",
        fix_items=(FixItem.parse(f"world fix|{ENGINEER[project]}|2026-12-31"),) if complete else (),
    )
    done = add_review(w.platform, "priya", review)
    return f"priya reviewed {kind}:{target} ({'complete' if complete else 'incomplete'}): {done.review_id}"


def _spec(w: World, pick: int, variant: int) -> str:
    """The reference spec with one policy change: what every version's gate and every alert's SLA read."""
    document = yaml.safe_load(EXAMPLE_SPEC.read_text())
    policy = document["governance_policy"]
    now = w.clock.now()
    project = PROJECTS[pick % 3]
    change = variant % 4
    if change == 0:  # a freeze window over now: the gate of every open version of the project closes
        start, end = (now - timedelta(hours=1)).isoformat(), (now + timedelta(days=2)).isoformat()
        window = {"project": project, "start": start, "end": end, "reason": "world freeze"}
        policy["freeze_windows"] = [*policy["freeze_windows"], window]
        what = f"freeze {project} for two days"
    elif change == 1:  # tighter SLA targets: alerts within SLA may now breach
        policy["sla"] = {sev: {"acknowledge_minutes": 5, "resolve_minutes": 10} for sev in ("critical", "high", "medium", "low")}
        what = "SLA targets 5/10 minutes"
    elif change == 2:
        document["organisation"]["name"] = f"P08 DataOps {w.files}"
        what = "organisation renamed"
    else:
        what = "the reference spec again"
    path = w.settings.home_dir / "world_data" / f"spec_{len(w.log)}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    actor = "priya" if variant >= 6 else "alice"  # only a platform admin applies a spec
    apply_spec(w.platform, actor, load_spec(path), str(path))
    w.applied_spec = True
    return f"{actor} applied a spec: {what}"


def _time(w: World, pick: int, variant: int) -> str:
    step = (timedelta(minutes=7), timedelta(hours=3), timedelta(days=2), timedelta(days=9))[variant % 4]
    w.clock.advance(seconds=step.total_seconds())
    return f"time passes {step} (now {w.clock.now().isoformat()})"


# -- behind the platform's back ---------------------------------------------------------------------------
def _row_undo(w: World, table: str, key_col: str, key: Any) -> tuple[str, tuple[Any, ...]]:
    """The INSERT that puts back the row about to be deleted."""
    with w.db() as conn:
        cursor = conn.execute(f"SELECT * FROM {table} WHERE {key_col} = ?", (key,))  # noqa: S608 - constant names
        columns = [d[0] for d in cursor.description]
        values = cursor.fetchone()
    marks = ", ".join("?" for _ in columns)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", tuple(values)  # noqa: S608


def _update(w: World, table: str, column: str, key_col: str, key: Any, value: Any) -> str:
    (old,) = w.ids(f"SELECT {column} FROM {table} WHERE {key_col} = ?", key) or [None]  # noqa: S608 - constant names
    w.sql(
        f"UPDATE {table} SET {column} = ? WHERE {key_col} = ?",  # noqa: S608
        (value, key),
        undo=(f"UPDATE {table} SET {column} = ? WHERE {key_col} = ?", (old, key)),  # noqa: S608
    )
    return f"raw SQL: {table}.{column} of {key} {old!r} -> {value!r}"


def _corrupt_sql(w: World, pick: int, variant: int) -> str:
    v = variant % 11
    if v >= 8:
        return _tamper(w, pick, v)
    if v == 0:
        alert = w.pick("SELECT alert_id FROM alerts ORDER BY alert_id", pick)
        return _update(w, "alerts", "severity", "alert_id", alert, "low") if alert else "no alert"
    if v == 1:
        version = _version(w, pick)
        return _update(w, "dataset_versions", "change_summary", "version_id", version, '["edited by hand"]')
    if v == 2:
        exp = w.pick("SELECT experiment_id FROM experiments ORDER BY experiment_id", pick)
        return _update(w, "experiments", "status", "experiment_id", exp, "regressed") if exp else "no experiment"
    if v == 3:
        edge = w.pick("SELECT id FROM lineage_edges ORDER BY id", pick)
        w.sql("DELETE FROM lineage_edges WHERE id = ?", (edge,), undo=_row_undo(w, "lineage_edges", "id", edge))
        return f"raw SQL: lineage edge {edge} deleted"
    if v == 4:  # an edge across tenants (rule 5, blocking)
        w.sql(
            "INSERT INTO lineage_edges (project_id, source_ref, target_ref, edge_type, created_at) VALUES (?, ?, ?, 'used', ?)",
            ("p02_legal_sft", "version:t01_retail.ds_v001", "experiment:t02_legal.exp_001", "2026-11-02 08:00:00.000000"),
            undo=("DELETE FROM lineage_edges WHERE id = (SELECT max(id) FROM lineage_edges)", ()),
        )
        return "raw SQL: a lineage edge across tenants inserted"
    if v == 5:  # the chain no longer verifies (rule 11, blocking)
        seq = w.pick("SELECT seq FROM audit_records ORDER BY seq", pick)
        return _update(w, "audit_records", "actor", "seq", seq, "mallory")
    if v == 6:  # a version's parent in another tenant (rule 6, blocking)
        version = w.pick("SELECT version_id FROM dataset_versions WHERE project_id != 'p02_legal_sft' ORDER BY version_id", pick)
        return _update(w, "dataset_versions", "parent_version", "version_id", version, "t02_legal.ds_v001")
    review = w.pick("SELECT review_id FROM incident_reviews ORDER BY review_id", pick)
    if review is None:
        return "no review"
    undo = _row_undo(w, "incident_reviews", "review_id", review)
    w.sql("DELETE FROM incident_reviews WHERE review_id = ?", (review,), undo=undo)
    return f"raw SQL: review {review} deleted"


def _tamper(w: World, pick: int, v: int) -> str:
    """SQL the change feed must still see through or notice: a row replaced whole (INSERT OR REPLACE
    deletes the old row without a DELETE trigger), the newest feed rows deleted (an admin tidying
    `graph_changes`), a trigger dropped and a write made without it."""
    alert = w.pick("SELECT alert_id FROM alerts ORDER BY alert_id", pick)
    if alert is None:
        return "no alert"
    w.tampered = True
    if v == 8:
        with w.db() as conn:
            cursor = conn.execute("SELECT * FROM alerts WHERE alert_id = ?", (alert,))
            columns = [d[0] for d in cursor.description]
            row = dict(zip(columns, cursor.fetchone(), strict=True))
            row["title"] = f"{row['title']} (replaced)"
            marks = ", ".join("?" for _ in columns)
            conn.execute(f"INSERT OR REPLACE INTO alerts ({', '.join(columns)}) VALUES ({marks})", tuple(row.values()))  # noqa: S608
        return f"raw SQL: alert {alert} replaced whole (INSERT OR REPLACE)"
    if v == 9:
        w.sql("UPDATE alerts SET title = title || ' (edited)' WHERE alert_id = ?", (alert,))
        w.sql("DELETE FROM graph_changes WHERE seq > (SELECT max(seq) - 2 FROM graph_changes)")
        return f"raw SQL: alert {alert} edited, then the feed's two newest rows deleted"
    w.trigger_dropped = True
    w.sql("DROP TRIGGER IF EXISTS graph_feed_alerts_update")
    w.sql("UPDATE alerts SET title = title || ' (unseen)' WHERE alert_id = ?", (alert,))
    return f"raw SQL: the alerts update trigger dropped, then alert {alert} edited"


def _undo_sql(w: World, pick: int, variant: int) -> str:
    if not w.undo:
        return "nothing to undo"
    statement, params, what = w.undo.pop()
    w.sql(statement, params)
    return f"raw SQL undone: {what[:60]}"


MLFLOW_MOVES = ("delete", "restore", "kill")


def _mlflow(w: World, pick: int, variant: int) -> str:
    """What MLflow says of a run changes with no governance write: the run deleted in the MLflow UI
    (not garbage-collected), restored, or its status set through the API (`set_terminated`: a run
    killed after the fact, as a run still RUNNING when an experiment named it later finishes)."""
    move = MLFLOW_MOVES[variant % len(MLFLOW_MOVES)]
    wanted = {"delete": lambda i: i.lifecycle_stage == "active", "restore": lambda i: i.lifecycle_stage == "deleted",
              "kill": lambda i: i.lifecycle_stage == "active" and i.status != "KILLED"}[move]  # fmt: skip
    runs = w.ids("SELECT mlflow_run_id FROM experiments WHERE mlflow_run_id IS NOT NULL ORDER BY experiment_id")
    runs = [r for r in runs if wanted(w.tracking.client.get_run(r).info)]
    if not runs:
        return f"no run to {move}"
    run_id = runs[pick % len(runs)]
    client = w.tracking.client
    if move == "delete":
        client.delete_run(run_id)
    elif move == "restore":
        client.restore_run(run_id)
    else:
        client.set_terminated(run_id, status="KILLED")
    return f"MLflow run {run_id}: {move}"


def _edit_artifact(w: World, pick: int, variant: int) -> str:
    root = w.settings.artifacts_dir
    w.touched_artifacts = True
    v = variant % 8
    if v == 7 and pick % 2 == 0:
        shutil.rmtree(root / ".state", ignore_errors=True)
        return "hand: .state deleted (the next refresh is a full one)"
    if v == 7:  # one file of the state: its list alone cannot vouch for itself
        files = sorted(p for p in (root / ".state").glob("*") if p.suffix != ".lock")
        if not files:
            return "hand: no state file"
        victim = files[pick % len(files)]
        victim.unlink()
        return f"hand: .state/{victim.name} deleted"
    name = ("alerts", "dataset_versions", "experiment_runs", "audit_log", "platform_metrics", "lineage_graph",
            "incident_reviews")[v]  # fmt: skip
    path = root / ARTIFACT_FILES[name]
    if not path.exists():
        return f"hand: {name} is not there"
    how = pick % 4
    if how == 0:
        path.unlink()
        return f"hand: {ARTIFACT_FILES[name]} deleted"
    text = path.read_text()
    if how == 1:
        path.write_text(text + '{"edited": "by hand"}\n' if path.suffix == ".jsonl" else text.replace("1", "2", 1))
        return f"hand: {ARTIFACT_FILES[name]} appended to / one digit changed"
    if how == 2:
        lines = text.splitlines(keepends=True)
        path.write_text("".join(lines[: len(lines) // 2]))
        return f"hand: {ARTIFACT_FILES[name]} cut to half its lines"
    path.write_text("not json\n" + text)
    return f"hand: {ARTIFACT_FILES[name]} made unparseable"


# What the operating rhythm's schedules materialise (examples/platform.yaml), and single record assets.
SELECTIONS = (
    ["alerts", "sla_report"],
    ["platform_metrics", "platform_report", "test_report"],
    ["dataset_versions"],
    ["experiment_runs", "lineage_graph"],
    ["audit_log"],
)


def _partial_refresh(w: World, pick: int, variant: int) -> str:
    """A scheduled run of a few assets between the full-graph refreshes (the daily ops review's)."""
    from dataops_platform.demo.materialize import materialize_all

    if variant % (len(SELECTIONS) + 1) == len(SELECTIONS):  # the daily full rebuild, between incremental ones
        outcome = materialize_all(w.settings, full=True)
        if outcome.failed_steps:
            raise AssertionError(f"a step of a full refresh raised: {outcome.failed_steps}")
        w.refreshed = True
        return "refreshed everything in full (materialize --full)"
    selection = SELECTIONS[variant % (len(SELECTIONS) + 1)]
    outcome = materialize_all(w.settings, selection=selection)  # type: ignore[arg-type] - a list of asset keys
    if outcome.failed_steps:
        raise AssertionError(f"a step of a partial refresh raised: {outcome.failed_steps}")
    w.refreshed = True
    return f"refreshed {selection}: {[f'{c.name}={c.status}' for c in outcome.failed_checks] or 'all passed'}"


ACTIONS: dict[str, Callable[[World, int, int], str]] = {
    "register": _register,
    "validate": _validate,
    "release": _release,
    "deprecate": _deprecate,
    "train": _train,
    "watchers": _watchers,
    "open_alert": _open_alert,
    "ack": _ack,
    "resolve": _resolve,
    "request_exception": _request_exception,
    "approve_exception": _approve_exception,
    "rollback": _rollback,
    "review": _review,
    "spec": _spec,
    "time": _time,
    "corrupt_sql": _corrupt_sql,
    "undo_sql": _undo_sql,
    "mlflow": _mlflow,
    "edit_artifact": _edit_artifact,
    "partial_refresh": _partial_refresh,
}
SERVICE_KINDS = ("register", "validate", "release", "deprecate", "train", "watchers", "open_alert", "ack", "resolve",
                 "request_exception", "approve_exception", "rollback", "review", "spec", "time")  # fmt: skip
CORRUPTION_KINDS = ("corrupt_sql", "undo_sql", "mlflow", "edit_artifact")
REFRESH_KINDS = ("partial_refresh",)


# The spliced asset each governance table's rows go into (an exception's or a project's row changes
# its version's record), for "a refresh after a write to it cannot be `unchanged`".
ASSET_OF = {
    "dataset_versions": "dataset_versions", "exception_approvals": "dataset_versions", "projects": "dataset_versions",
    "experiments": "experiment_runs", "alerts": "alerts", "rollback_events": "rollback_events",
    "incident_reviews": "incident_reviews", "audit_records": "audit_log", "lineage_edges": "lineage_graph",
}  # fmt: skip


def table_digests(settings: Settings) -> dict[str, str]:
    """A digest of every row of every table in ASSET_OF, read raw (independent of the change feed)."""
    with sqlite3.connect(settings.home_dir / "governance.db") as conn:
        return {
            table: hashlib.sha256(repr(conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()).encode()).hexdigest()  # noqa: S608
            for table in ASSET_OF
        }


# -- comparing two homes -------------------------------------------------------------------------------
def artifact_bytes(root: Path) -> dict[str, bytes | None]:
    return {name: (root / rel).read_bytes() if (root / rel).exists() else None for name, rel in ARTIFACT_FILES.items()}


def first_difference(a: bytes | None, b: bytes | None) -> str:
    """Where two artifact files first differ: the line (text) or the byte offset (PDF)."""
    if a is None or b is None:
        return f"present only on the {'full' if a is None else 'incremental'} side"
    if a.startswith(b"%PDF"):
        at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
        return f"PDF bytes differ from offset {at} (sizes {len(a)} / {len(b)})"
    left, right = a.decode(errors="replace").split("\n"), b.decode(errors="replace").split("\n")
    for i, (x, y) in enumerate(zip(left, right, strict=False)):
        if x != y:
            return f"line {i + 1}:\n  incremental: {x[:400]}\n  full:        {y[:400]}"
    return f"one is a prefix of the other: {len(left)} / {len(right)} lines"


def differences(incremental: Path, full: Path) -> list[str]:
    a, b = artifact_bytes(incremental), artifact_bytes(full)
    return [f"{ARTIFACT_FILES[name]}: {first_difference(a[name], b[name])}" for name in ARTIFACT_FILES if a[name] != b[name]]


def describe(log: list[str]) -> str:
    return "\n".join(f"  {i:2d}. {line}" for i, line in enumerate(log, 1))


def plain(value: Any) -> Any:
    """JSON-comparable (tuples -> lists), for outcomes compared as data."""
    return json.loads(json.dumps(value, default=str))
