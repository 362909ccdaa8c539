"""Build each governance artifact from the store and, for the platform's own description, from the
code (`dataops_platform.self_description`, with the applied spec's overrides) and the interface
tables the CLI and the REST API provide (`artifacts.interfaces`).

Pure reads: nothing here decides anything or writes to the store. Objects are serialised with
all their columns so the consistency rules can check them without the database.
"""

from __future__ import annotations

import pkgutil
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import String, select, type_coerce
from sqlalchemy.orm import Session

import dataops_platform
from dataops_platform.artifacts.interfaces import CollectedTables
from dataops_platform.clock import as_utc
from dataops_platform.governance.exceptions import effective_status
from dataops_platform.governance.gate import EXPERIMENT_RULE, blocks_release_clause, gate_blockers
from dataops_platform.governance.policy import config_document, governance_policy
from dataops_platform.governance.sla import sla_report
from dataops_platform.spec import effective
from dataops_platform.store.models import (
    Alert,
    AuditRecord,
    DatasetVersion,
    ExceptionApproval,
    Experiment,
    IncidentReview,
    LineageEdge,
    Membership,
    PlatformMembership,
    Project,
    Role,
    RoleAction,
    RollbackEvent,
    Tenant,
    User,
)
from dataops_platform.store.types import UtcDateTime, sqlite_stored_instant


def _plain(value: Any) -> Any:
    return as_utc(value).isoformat() if isinstance(value, datetime) else value


def row(obj: Any) -> dict[str, Any]:
    return {c.key: _plain(getattr(obj, c.key)) for c in obj.__mapper__.column_attrs}


def _all(session: Session, model: Any) -> list[Any]:
    key = model.__mapper__.primary_key[0]
    return list(session.scalars(select(model).order_by(key)))


# Rows fetched at a time when a whole table is read: a full build streams its records into the file
# instead of holding a million of them (PostgreSQL: a server-side cursor).
YIELD_PER = 5_000


def _iter_rows(session: Session, model: Any, order_by: Any = None, only: Iterable[Any] | None = None) -> Iterator[dict[str, Any]]:
    """Every object of `model` (or those whose primary key is in `only`) as {column: value}, in
    primary-key order (or `order_by`), read as plain tuples rather than ORM objects (many times
    faster), one at a time; timestamps come back aware UTC, or, on SQLite, as the text the artifact
    encoder makes of them (`_sqlite_stamp`)."""
    attrs = list(model.__mapper__.column_attrs)
    keys = [c.key for c in attrs]
    dialect = session.get_bind().dialect
    stamped = [i for i, c in enumerate(attrs) if isinstance(c.columns[0].type, UtcDateTime)] if dialect.name == "sqlite" else []
    columns = [type_coerce(getattr(model, k), String) if i in stamped else getattr(model, k) for i, k in enumerate(keys)]
    read_back = {i: attrs[i].columns[0].type.dialect_impl(dialect).result_processor(dialect, None) for i in stamped}
    pk = model.__mapper__.primary_key[0]
    statement = select(*columns).order_by(order_by if order_by is not None else _in_key_order(pk, dialect))
    if only is None:
        statement = statement.execution_options(yield_per=YIELD_PER)
    for part in _parts(statement, pk, only):
        for values in session.execute(part).tuples():
            record = dict(zip(keys, values, strict=True))
            for i in stamped:
                if values[i] is not None:
                    record[keys[i]] = _sqlite_stamp(values[i], read_back[i])
            yield record


def _sqlite_stamp(stored: Any, read_back: Callable[[Any], Any]) -> Any:
    """A timestamp column's stored SQLite value as the artifact shows it: `str()` of the aware UTC
    datetime the column type reads back (the artifact encoder's `default=str`), made from the text
    SQLAlchemy wrote (naive UTC, six-digit microseconds) without building the datetime (its parse and
    the encoder's call back were a tenth of a million-object build). Anything else (text written by
    hand, out of range) goes through the column type itself, which reads it or raises as it did."""
    if sqlite_stored_instant(stored) is None:
        return read_back(stored)
    return (stored[:19] if stored.endswith(".000000") else stored) + "+00:00"


def _in_key_order(column: Any, dialect: Any) -> Any:
    """`column` to order by so rows come in the key order a list is kept in (Python's): on
    PostgreSQL a text key is ordered by its bytes (collation "C": UTF-8 byte order is code point
    order), not by the database's locale, which a full build, written as it comes, would refuse."""
    if dialect.name == "postgresql" and isinstance(column.type, String):
        return column.collate("C")
    return column


def _parts(statement: Any, column: Any, only: Iterable[Any] | None, size: int = 500) -> Iterator[Any]:
    """`statement`, or, given `only`, the statement restricted to `column IN` each chunk of them."""
    if only is None:
        yield statement
        return
    wanted = sorted(set(only))
    for start in range(0, len(wanted), size):
        yield statement.where(column.in_(wanted[start : start + size]))


def _items(session: Session, key: str) -> list[dict]:
    return (config_document(session, key) or {}).get("items", [])


def platform_scope(session: Session) -> dict[str, Any]:
    roles = _all(session, Role)
    granted: dict[str, list[str]] = {}
    for role_name, action in session.execute(select(RoleAction.role, RoleAction.action)).tuples():
        granted.setdefault(role_name, []).append(action)
    grants = {r.name: sorted(granted.get(r.name, [])) for r in roles}
    members: dict[str, dict[str, str]] = {}
    for m in session.scalars(select(Membership)):
        members.setdefault(m.project_id, {})[m.user_id] = m.role
    from dataops_platform.spec.actions import ACTIONS

    tenants = _all(session, Tenant)
    declared = config_document(session, "organisation")
    return {
        "organisation": effective.organisation(declared, [t.name for t in tenants]),
        "tenants": [row(t) for t in tenants],
        "projects": [row(p) | {"members": dict(sorted(members.get(p.id, {}).items()))} for p in _all(session, Project)],
        "users": [row(u) for u in _all(session, User)],
        "roles": {r.name: {"actions": grants[r.name], "is_system": r.is_system} for r in roles},
        "actions": list(ACTIONS),
        "platform_admins": sorted(m.user_id for m in session.scalars(select(PlatformMembership))),
        "separation_of_duties": config_document(session, "separation_of_duties") or {},
        "system_actor": config_document(session, "system_actor") or {},
    }


def code_components() -> list[str]:
    """The real subpackages of dataops_platform: what the architecture layers must cover."""
    return sorted(m.name for m in pkgutil.iter_modules(dataops_platform.__path__, "dataops_platform.") if m.ispkg)


def architecture_spec() -> dict[str, Any]:
    """The code's layer map against the code's packages (rule 3: a package in no layer is named)."""
    return {"layers": effective.layers(), "components": code_components(), "layer_map": LAYER_MAP}


LAYER_MAP = "dataops_platform/self_description.py (LAYERS)"  # where a new package is placed


def api_catalog(tables: CollectedTables) -> dict[str, Any]:
    """The code's catalogued APIs, each resolved against the real command and route tables, which
    the interfaces provide (`artifacts.interfaces`)."""
    served = {f"{r['method']} {r['path']}" for r in tables.routes}
    apis = [
        api | {"implemented_by": tables.commands.get(api["command"]),
               "route_served": api["route"] in served if api.get("route") else None}
        for api in effective.api_catalog()
    ]  # fmt: skip
    return {"apis": apis, "cli_commands": tables.commands, "routes": tables.routes, "interfaces": tables.providers}


def task_queues(session: Session, pools_in_use: dict[str, list[str]]) -> dict[str, Any]:
    overrides = effective.stored_overrides(config_document(session, "task_queues"))
    queues = [q | {"assets": sorted(pools_in_use.get(q["id"], []))} for q in effective.queues(overrides)]
    return {"queues": queues, "pools_in_code": {p: sorted(a) for p, a in sorted(pools_in_use.items())}}


def ui_panels(session: Session, groups_in_code: dict[str, list[str]]) -> dict[str, Any]:
    overrides = effective.stored_overrides(config_document(session, "ui_panels"))
    panels = [p | {"assets": sorted(groups_in_code.get(p["id"], []))} for p in effective.panels(overrides)]
    return {"panels": panels, "asset_groups_in_code": {g: sorted(a) for g, a in sorted(groups_in_code.items())}}


def governance_policy_doc(session: Session) -> dict[str, Any]:
    return governance_policy(session).model_dump(mode="json")


def operating_model(session: Session, schedules_in_code: list[dict[str, str]]) -> dict[str, Any]:
    return {"rhythm": _items(session, "operating_rhythm"), "schedules": schedules_in_code}


def dataset_versions(session: Session, now: datetime, only: Iterable[str] | None = None) -> Iterator[dict[str, Any]]:
    """Every version (or those in `only`) with its exceptions, whether it is its project's current
    release, and what the release gate would say of it now, one at a time (what they depend on is
    read first)."""
    current = dict(session.execute(select(Project.id, Project.current_release)).tuples().all())
    exceptions: dict[str, list[dict]] = {}
    for part in _parts(select(ExceptionApproval).order_by(ExceptionApproval.exception_id), ExceptionApproval.version_id, only):
        for exc in session.scalars(part):
            exceptions.setdefault(exc.version_id, []).append(row(exc) | {"effective_status": effective_status(exc, now)})
    blocking: dict[str, list[tuple[str, str]]] = {}
    blockers = (
        select(Experiment.experiment_id, Experiment.dataset_version, Experiment.status)
        .where(blocks_release_clause())  # what the gate itself counts: not model-candidate regressions
        .order_by(Experiment.experiment_id)
    )
    for part in _parts(blockers, Experiment.dataset_version, only):
        for eid, vid, estatus in session.execute(part):
            blocking.setdefault(vid, []).append((eid, estatus))
    freeze_windows = governance_policy(session).freeze_windows
    for v in _iter_rows(session, DatasetVersion, only=only):
        vid = v["version_id"]
        v["is_current_release"] = current.get(v["project_id"]) == vid
        v["exceptions"] = exceptions.get(vid, [])
        v["release_gate"] = None
        if v["status"] in GATE_STATUSES:  # the gate is only asked of versions not yet released
            excepted = any(
                x["rule"] == EXPERIMENT_RULE and x["effective_status"] == "approved" and _started(x, now) for x in v["exceptions"]
            )
            blockers = gate_blockers(
                vid, v["project_id"], v["status"], v["quality_failures"], blocking.get(vid, []), excepted, freeze_windows, now
            )
            v["release_gate"] = {"open": not blockers, "blocked_by": blockers}
        yield v


GATE_STATUSES = ("draft", "validated", "rejected")


def _started(exception: dict[str, Any], now: datetime) -> bool:
    starts = exception.get("effective_from")
    return starts is None or as_utc(starts if isinstance(starts, datetime) else datetime.fromisoformat(starts)) <= now


def experiment_runs(
    session: Session, runs_facts: Callable[[list[str]], dict[str, Any]], only: Iterable[str] | None = None
) -> Iterator[dict[str, Any]]:
    """Experiments (or those in `only`) with what MLflow says about their run (None when MLflow has
    no such run), asked of MLflow for all of them at once, before they are read one at a time."""
    only = None if only is None else set(only)
    run_ids: set[str] = set()
    for part in _parts(
        select(Experiment.mlflow_run_id).where(Experiment.mlflow_run_id.is_not(None)), Experiment.experiment_id, only
    ):
        run_ids.update(r for r in session.scalars(part) if r)
    facts = runs_facts(sorted(run_ids))
    for e in _iter_rows(session, Experiment, only=only):
        if e["mlflow_run_id"] and e["mlflow_run_id"] not in facts:  # given its run between the two reads
            facts.update(runs_facts([e["mlflow_run_id"]]))
        e["mlflow_run"] = facts.get(e["mlflow_run_id"]) if e["mlflow_run_id"] else None
        yield e


def simple_rows(session: Session, model: Any, only: Iterable[Any] | None = None) -> Iterator[dict[str, Any]]:
    return _iter_rows(session, model, only=only)


def audit_log(session: Session, only: Iterable[int] | None = None) -> Iterator[dict[str, Any]]:
    return _iter_rows(session, AuditRecord, AuditRecord.seq, only=only)


def lineage_graph(session: Session) -> dict[str, Any]:
    return {"nodes": [n for _, n in lineage_nodes(session)], "edges": [e for _, e in lineage_edges(session)]}


def lineage_edges(session: Session, only: Iterable[int] | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """(id, edge) of every lineage edge (or those whose id is in `only`), in id order, one at a time."""
    columns = (
        LineageEdge.id,
        LineageEdge.source_ref,
        LineageEdge.target_ref,
        LineageEdge.edge_type,
        LineageEdge.project_id,
        LineageEdge.created_at,
    )
    statement = select(*columns).order_by(LineageEdge.id)
    if only is None:
        statement = statement.execution_options(yield_per=YIELD_PER)
    for part in _parts(statement, LineageEdge.id, only):
        for edge_id, src, dst, edge_type, project_id, created_at in session.execute(part).tuples():
            yield (
                edge_id,
                {"source": src, "target": dst, "type": edge_type, "project_id": project_id, "created_at": _plain(created_at)},
            )


# The kinds of object a lineage ref names, with their model and id column.
OBJECT_KINDS: dict[str, tuple[Any, str]] = {
    "version": (DatasetVersion, "version_id"),
    "experiment": (Experiment, "experiment_id"),
    "alert": (Alert, "alert_id"),
    "rollback": (RollbackEvent, "rollback_id"),
    "exception": (ExceptionApproval, "exception_id"),
    "review": (IncidentReview, "review_id"),
}


def lineage_nodes(session: Session, only: Iterable[str] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(ref, node) of every lineage node (or those whose ref is in `only`), in ref order: every
    object, and every other ref an edge names (with no project)."""
    wanted: dict[str, set[str]] | None = None
    if only is not None:
        wanted = {}
        for ref in only:
            kind, _, object_id = ref.partition(":")
            wanted.setdefault(kind, set()).add(object_id)
    nodes: dict[str, dict[str, Any]] = {}
    for kind, (model, key) in OBJECT_KINDS.items():
        if wanted is not None and kind not in wanted:
            continue
        statement = select(getattr(model, key), model.project_id).order_by(getattr(model, key))
        for part in _parts(statement, getattr(model, key), None if wanted is None else wanted[kind]):
            for object_id, project_id in session.execute(part).tuples():
                ref = f"{kind}:{object_id}"
                nodes[ref] = {"ref": ref, "kind": kind, "project_id": project_id}
    if only is None:
        ends = session.execute(select(LineageEdge.source_ref, LineageEdge.target_ref).order_by(LineageEdge.id)).tuples()
        for source, target in ends:
            for ref in (source, target):
                nodes.setdefault(ref, {"ref": ref, "kind": ref.partition(":")[0], "project_id": None})
    else:
        rest = sorted(set(only) - set(nodes))
        named: set[str] = set()
        for part in _parts(select(LineageEdge.source_ref), LineageEdge.source_ref, rest):
            named |= set(session.scalars(part))
        for part in _parts(select(LineageEdge.target_ref), LineageEdge.target_ref, rest):
            named |= set(session.scalars(part))
        for ref in named:
            nodes[ref] = {"ref": ref, "kind": ref.partition(":")[0], "project_id": None}
    return sorted(nodes.items())


def sla(session: Session, now: datetime) -> dict[str, Any]:
    # Rows rather than ORM objects: sla_report reads the same attributes, named like the columns.
    alerts = session.execute(select(Alert.__table__).order_by(Alert.alert_id)).all()
    return sla_report(alerts, governance_policy(session).sla, now)
