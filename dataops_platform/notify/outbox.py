"""The outbox: delivery rows written inside the transaction of the change that caused the event.

`Operation.emit` calls `enqueue` inside `Platform.act`'s savepoint, so a refused or failed action
leaves no row, and a committed one always has its rows: nothing is sent for a change that rolled
back, nothing is lost to a crash. Routes are matched here, at emit time, against the
`notifications` document `spec apply` stored: one row per matching channel (several routes to one
channel give one delivery), each carrying the event's one stable id. With no routes configured
emit writes nothing at all.

A refusal is itself an event (`version.release_refused`): `keep_on_rollback=True` holds the rows
aside and inserts them when the outer transaction commits -- the one that audits the refusal --
so they survive the savepoint rollback that undoes the refused body.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from dataops_platform.store.models import NotificationDelivery, PlatformConfig

CONFIG_KEY = "notifications"
EVENT_NAMESPACE = uuid.UUID("5b0e7c1e-7d4f-4d9e-9a53-0d1a7a0e5f16")
_KEPT = "dataops.notify.kept"
FAILURE_CATEGORY = "notification_failure"


def routes_document(session: Session) -> dict[str, Any]:
    row = session.get(PlatformConfig, CONFIG_KEY)
    return row.value if row is not None and isinstance(row.value, dict) else {}


def route_matches(route: dict[str, Any], event_type: str, project: str | None, payload: dict[str, Any]) -> bool:
    """A route carries an event when it lists the event, the project (or '*'), and -- for events
    that have them -- the event's severity and category."""
    if event_type not in route.get("events", ()):
        return False
    projects = route.get("projects") or ["*"]
    if "*" not in projects and project not in projects:
        return False
    severity, category = payload.get("severity"), payload.get("category")
    if severity is not None and severity not in (route.get("severities") or (severity,)):
        return False
    categories = route.get("categories")
    if category == FAILURE_CATEGORY:
        # A dead letter's alert goes only where a route asks for it by name: sent through the
        # routes that just failed it would only fail again.
        return categories is not None and category in categories
    return not (category is not None and categories is not None and category not in categories)


def plan_deliveries(
    document: dict[str, Any], event_type: str, project: str | None, payload: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """{channel id: {escalate_to, on_call}} for every channel a matching route names."""
    out: dict[str, dict[str, Any]] = {}
    for route in document.get("routes", ()):
        if not route_matches(route, event_type, project, payload):
            continue
        entry = out.setdefault(route["channel"], {"escalate_to": None, "on_call": []})
        entry["escalate_to"] = entry["escalate_to"] or route.get("escalate_to")
        entry["on_call"] += [p for p in route.get("on_call", ()) if p not in entry["on_call"]]
    return out


def enqueue(
    session: Session,
    now: datetime,
    event_type: str,
    subject_ref: str | None,
    project: str | None,
    payload: dict[str, Any],
    *,
    actor: str | None = None,
    event_id: str | None = None,
    keep_on_rollback: bool = False,
    only_channel: str | None = None,
) -> list[NotificationDelivery]:
    """Write one pending delivery per matching channel in `session`; returns them (none without routes).

    `only_channel` targets one channel whatever the routes say (escalation, `notify test`)."""
    document = routes_document(session)
    if only_channel is not None:
        plan = {only_channel: {"escalate_to": None, "on_call": []}}
    else:
        if not document.get("routes"):
            return []
        plan = plan_deliveries(document, event_type, project, payload)
    if not plan:
        return []
    event_id = event_id or str(uuid.uuid4())
    body = {**payload, "actor": actor} if actor is not None else dict(payload)
    rows = [
        NotificationDelivery(
            event_id=event_id,
            event_type=event_type,
            subject_ref=subject_ref,
            project_id=project,
            channel_id=channel,
            escalate_to=entry["escalate_to"],
            payload={**body, "on_call": entry["on_call"]} if entry["on_call"] else body,
            status="pending",
            attempts=0,
            occurred_at=now,
            next_attempt_at=now,
        )
        for channel, entry in plan.items()
    ]
    if keep_on_rollback:
        kept = session.info.setdefault(_KEPT, [])
        kept.extend(rows)
        if not sa_event.contains(session, "before_commit", _insert_kept):
            sa_event.listen(session, "before_commit", _insert_kept)
    else:
        session.add_all(rows)
    return rows


def _insert_kept(session: Session) -> None:
    """At the outermost commit (not a savepoint's), insert the rows held aside."""
    if session.in_nested_transaction():
        return
    kept = session.info.pop(_KEPT, [])
    session.add_all(kept)
