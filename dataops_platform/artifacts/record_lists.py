"""The keyed lists the record artifacts are made of, and which changes touch which of their items.

Each list says which feed tables can touch it and, for a batch of changes, which of its keys
(`artifacts.incremental.KeyedList`). The dependencies are those of the builders in
`artifacts.build`, read off them:

- a dataset version's record holds its own row, its exceptions (`exception_approvals.version_id`),
  the experiments that block its gate (`experiments.dataset_version`), whether it is its project's
  current release (`projects.current_release`, old and new), and, through time alone, the state of
  its exceptions (a version whose exception started or expired since the last build is rebuilt)
  and the freeze windows (one that opened or closed since rebuilds the list);
  the governance policy (`platform_config`) changes every gate at once: a full build;
- an experiment's record holds its row and what MLflow says of its run: the runs MLflow holds as
  deleted are compared with those seen last time, so a run deleted, restored or purged in MLflow
  is asked about again;
- alerts, rollbacks, reviews and audit records: their own row;
- the lineage graph's edges: their own row; its nodes: the object a ref names, or else whether
  an edge still names it (an edge's two ends are its feed links).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dataops_platform.artifacts import build
from dataops_platform.artifacts.files import (
    ARTIFACT_FILES,
    AUDIT_CURSOR_STATE,
    PARSED,
    compact_item,
    jsonl_line,
    write_artifact,
    write_lists,
)
from dataops_platform.artifacts.incremental import (
    KeyedList,
    Outcome,
    exclusive,
    is_local,
    prunable,
    refresh,
    state_dir,
    state_instant,
)
from dataops_platform.clock import as_utc
from dataops_platform.errors import DataOpsError, InvalidInput
from dataops_platform.governance.policy import governance_policy
from dataops_platform.store import feed, migrate
from dataops_platform.store.models import Alert, ExceptionApproval, Experiment, IncidentReview, RollbackEvent

POLICY_KEY = "governance_policy"  # the platform_config document the gates read
_KIND_OF_TABLE = {model.__tablename__: kind for kind, (model, _) in build.OBJECT_KINDS.items()}


def _own(table: str, parse: Callable[[str], Any] = str) -> Callable[[list[feed.Change], Session, dict], set[Any] | None]:
    def dirty(changes: list[feed.Change], _session: Session, _extra: dict) -> set[Any] | None:
        if _unnamed(changes):
            return None
        return {parse(c.key) for c in changes if c.table == table}

    return dirty


def _unnamed(changes: list[feed.Change]) -> bool:
    """Rows changed that the feed could not name (a TRUNCATE): only a full build knows which."""
    return any(c.key is None for c in changes)


def simple(name: str, model: Any) -> KeyedList:
    """An artifact of one table's rows, keyed by its primary key."""
    pk = model.__mapper__.primary_key[0].key
    table = model.__tablename__

    def items(session: Session, keys: set[Any] | None, _extra: dict) -> Iterator[tuple[Any, bytes]]:
        return ((r[pk], jsonl_line(r)) for r in build.simple_rows(session, model, keys))

    return KeyedList(name, frozenset({table}), _own(table), items)


def audit_log() -> KeyedList:
    def items(session: Session, keys: set[int] | None, _extra: dict) -> Iterator[tuple[int, bytes]]:
        return ((r["seq"], jsonl_line(r)) for r in build.audit_log(session, keys))

    return KeyedList("audit_log", frozenset({"audit_records"}), _own("audit_records", int), items)


def dataset_versions(now: datetime) -> KeyedList:
    def snapshot(_session: Session) -> dict[str, Any]:
        return {"as_of": now.isoformat()}  # the moment the exception states and gates were taken at

    def dirty(changes: list[feed.Change], session: Session, extra: dict) -> set[str] | None:
        since = state_instant(extra.get("as_of"))
        if _unnamed(changes) or since is None or since > now:
            return None  # rows the feed could not name; a state that does not say when it was built
        out: set[str] = set()
        for c in changes:
            if c.table == "platform_config":
                if c.key == POLICY_KEY:
                    return None  # the governance policy: every gate
                continue  # another document of the spec (panels, queues, rhythm): no version shows it
            if c.table == "dataset_versions":
                out.add(c.key)
            elif c.link is not None:  # an exception's or an experiment's version, a project's current release
                out.add(c.link)
        # Time alone: an exception that started or expired since changes its state and its version's gate.
        columns = (ExceptionApproval.version_id, ExceptionApproval.effective_from, ExceptionApproval.expires_at)
        for version_id, *moments in session.execute(select(*columns)).tuples():
            if any(m is not None and since < as_utc(m) <= now for m in moments):
                out.add(version_id)
        extra["as_of"] = now.isoformat()
        return out

    def items(session: Session, keys: set[str] | None, _extra: dict) -> Iterator[tuple[str, bytes]]:
        return ((v["version_id"], jsonl_line(v)) for v in build.dataset_versions(session, now, keys))

    def stale(session: Session, built_at: datetime, at: datetime) -> str | None:
        """A freeze window opened or closed between the last build and now: the gate of every open
        version of its project changes, and the list is rebuilt."""
        windows = governance_policy(session).freeze_windows
        passed = [m for w in windows for m in (w.start, w.end) if m is not None and built_at < as_utc(m) <= at]
        return f"time passed {min(map(as_utc, passed)).isoformat()}, where a freeze window opens or closes" if passed else None

    tables = frozenset({"dataset_versions", "exception_approvals", "experiments", "projects", "platform_config"})
    return KeyedList("dataset_versions", tables, dirty, items, snapshot=snapshot, stale=stale)


CLOCK_SLACK = timedelta(minutes=5)  # how far behind the platform's clock an MLflow client's may be
SETTLED = ("FINISHED", "FAILED", "KILLED")  # MLflow's terminal run states: what a run in any other state may still change


def experiment_runs(tracking: Any, now: datetime) -> KeyedList:
    """MLflow changes what an experiment's record says of its run without any governance write:
    a run deleted, restored or purged (the deleted runs are compared with those seen last time), a
    run still RUNNING or SCHEDULED when it was recorded (asked again until it settles), and a run
    terminated since the last refresh (its end time, less `CLOCK_SLACK` for the terminating
    client's clock). A run deleted and garbage-collected between two refreshes is not seen: the
    daily full rebuild bounds that."""
    runs_facts, deleted_runs, tracking_uri = tracking.runs_facts, tracking.deleted_runs, tracking.tracking_uri
    since_ms = int((now - CLOCK_SLACK).timestamp() * 1000)
    tracking_uri = hashlib.sha256(tracking_uri.encode()).hexdigest()[:16]  # which MLflow, not its password

    def snapshot(_session: Session) -> dict[str, Any]:
        return {
            "mlflow_deleted": sorted(deleted_runs()),
            "mlflow_unsettled": {},
            "tracking_uri": tracking_uri,
            "ended_since": since_ms,
            "ended_seen": _seen(tracking.runs_ended_since(since_ms)),
        }

    def dirty(changes: list[feed.Change], session: Session, extra: dict) -> set[str] | None:
        if _unnamed(changes) or extra.get("tracking_uri") != tracking_uri or not _well_formed(extra):
            return None  # rows the feed could not name, another MLflow than the last build asked, a spoilt state
        out = {c.key for c in changes if c.table == "experiments"}
        now_deleted = set(deleted_runs())
        moved = now_deleted ^ set(extra["mlflow_deleted"])  # deleted, restored or purged since
        extra["mlflow_deleted"] = sorted(now_deleted)
        unsettled = dict(extra["mlflow_unsettled"])  # run id -> the status recorded
        if unsettled:
            facts = runs_facts(sorted(unsettled))
            moved |= {run for run, status in unsettled.items() if (facts.get(run) or {}).get("status") != status}
        ended = _seen(tracking.runs_ended_since(extra["ended_since"]))  # since the last refresh, and a little before
        moved |= {run for run, facts in ended.items() if extra["ended_seen"].get(run) != facts}
        extra["ended_since"] = since_ms
        extra["ended_seen"] = ended  # the runs of one interval (and the slack): what the next window overlaps
        for start in range(0, len(moved), 500):
            part = sorted(moved)[start : start + 500]
            out |= set(session.scalars(select(Experiment.experiment_id).where(Experiment.mlflow_run_id.in_(part))))
        return out

    def _seen(runs: dict[str, dict]) -> dict[str, list]:
        """What a refresh remembers of the runs that ended lately: enough to tell them changed."""
        return {run: [f.get("status"), f.get("lifecycle_stage")] for run, f in runs.items()}

    def _well_formed(extra: dict) -> bool:
        deleted, unsettled, seen = extra.get("mlflow_deleted"), extra.get("mlflow_unsettled"), extra.get("ended_seen")
        return (
            type(extra.get("ended_since")) is int and extra["ended_since"] >= 0
            and isinstance(seen, dict) and all(isinstance(r, str) and isinstance(v, list) for r, v in seen.items()) and
            isinstance(deleted, list) and all(isinstance(r, str) for r in deleted)
            and isinstance(unsettled, dict)
            and all(isinstance(r, str) and isinstance(v, (str, type(None))) for r, v in unsettled.items())
        )  # fmt: skip

    def items(session: Session, keys: set[str] | None, extra: dict) -> Iterator[tuple[str, bytes]]:
        unsettled = {} if keys is None else dict(extra.get("mlflow_unsettled", {}))
        for e in build.experiment_runs(session, runs_facts, keys):
            unsettled.pop(e["mlflow_run_id"], None)
            run = e["mlflow_run"]
            if run and run.get("status") not in SETTLED:
                unsettled[e["mlflow_run_id"]] = run.get("status")
            yield e["experiment_id"], jsonl_line(e)
        extra["mlflow_unsettled"] = unsettled  # once every item is read: the list's refresh reads them all

    return KeyedList("experiment_runs", frozenset({"experiments"}), dirty, items, snapshot=snapshot)


def lineage_edges() -> KeyedList:
    def items(session: Session, keys: set[int] | None, _extra: dict) -> Iterator[tuple[int, bytes]]:
        return ((i, compact_item(e)) for i, e in build.lineage_edges(session, keys))

    return KeyedList("lineage_graph.edges", frozenset({"lineage_edges"}), _own("lineage_edges", int), items)


def lineage_nodes() -> KeyedList:
    def dirty(changes: list[feed.Change], _session: Session, _extra: dict) -> set[str] | None:
        if _unnamed(changes):
            return None
        out: set[str] = set()
        for c in changes:
            if c.table == "lineage_edges":
                if c.link is not None:
                    out.add(c.link)
            else:
                out.add(f"{_KIND_OF_TABLE[c.table]}:{c.key}")
        return out

    def items(session: Session, keys: set[str] | None, _extra: dict) -> list[tuple[str, bytes]]:
        return [(ref, compact_item(n)) for ref, n in build.lineage_nodes(session, keys)]

    return KeyedList("lineage_graph.nodes", frozenset({*_KIND_OF_TABLE, "lineage_edges"}), dirty, items)


SIMPLE = {"alerts": Alert, "rollback_events": RollbackEvent, "incident_reviews": IncidentReview}


KEYED_ARTIFACTS = (
    "dataset_versions",
    "experiment_runs",
    "alerts",
    "rollback_events",
    "incident_reviews",
    "audit_log",
    "lineage_graph",
)


LIST_NAMES = (*KEYED_ARTIFACTS[:-1], "lineage_graph.edges", "lineage_graph.nodes")


def prune_feed(store: Any, root: Path, now: datetime) -> int:
    """Forget the changes every record list here has read (at most 100,000 a call). Artifacts on an
    object store are rebuilt in full, never from the feed: it is forgotten as it grows."""
    if is_local(root):
        through = prunable(root, LIST_NAMES, now)
        if through is None or through <= 0:
            return 0
    else:
        through = 2**62
    with store.write() as session:
        return feed.prune(session, through)


def refresh_artifact(name: str, session: Session, root: Path, now: datetime, tracking: Any, *, full: bool) -> list[Outcome]:
    """Bring the artifact `name` up to the store: incrementally where its state allows (`artifacts.incremental`)."""
    revision, expected = feed.schema_revision(session), migrate.head_revision()
    if revision != expected:
        raise InvalidInput(
            f"the store's schema is at revision {revision}, this version of dataops needs {expected}: "
            "back it up, then upgrade it with `dataops init --admin ADMIN` (an existing platform admin)",
            field="database_url",
            value=revision,
        )
    if name == "lineage_graph" and not is_local(root):
        write_artifact(root, "lineage_graph", build.lineage_graph(session))
        return [Outcome("full", "the artifacts are not on a local disk", 0, 0, root / ARTIFACT_FILES[name])] * 2
    if name == "lineage_graph":
        parts = {"edges": lineage_edges(), "nodes": lineage_nodes()}
        with exclusive(state_dir(root) / "lineage_graph.lock"):  # its two lists and the file made of them, as one
            outcomes = {
                key: refresh(lst, session, root, state_dir(root) / f"{lst.name}.items", now, full=full)
                for key, lst in parts.items()
            }
            path = write_lists(root, "lineage_graph", {key: (o.path, o.items) for key, o in outcomes.items()})
            PARSED.wrote_lists(path, {key: o.path for key, o in outcomes.items()})  # each list read as columns
        return list(outcomes.values())
    if name == "dataset_versions":
        lst = dataset_versions(now)
    elif name == "experiment_runs":
        lst = experiment_runs(tracking, now)
    elif name == "audit_log":
        lst = audit_log()
    else:
        lst = simple(name, SIMPLE[name])
    outcome = refresh(lst, session, root, root / ARTIFACT_FILES[name], now, full=full)
    if is_local(outcome.path):  # bytes this platform wrote, or that its state vouches for: read back in one call
        PARSED.wrote_file(outcome.path, tuple(outcome.vouched) if outcome.vouched is not None else None)
    if name == "audit_log" and is_local(root) and (outcome.mode == "full" or outcome.rewrote):
        # Not only records appended: rule 11 walks the chain from seq 1 rather than trust a cursor
        # over bytes the refresh itself rewrote (a cursor forged for them would skip a tampered record).
        cursor = root / AUDIT_CURSOR_STATE
        try:
            cursor.unlink(missing_ok=True)
        except IsADirectoryError:
            raise DataOpsError(
                f"{cursor} is a directory: it is where rule 11 keeps its cursor; remove it, then materialise again"
            ) from None
    return [outcome]
