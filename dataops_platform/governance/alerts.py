"""Alerts: open -> acknowledged -> resolved, timed by the injected clock (SPEC §6)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from dataops_platform.errors import GateRefused, InvalidInput
from dataops_platform.governance import lineage, refs
from dataops_platform.governance.listing import list_visible
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.refs import ref
from dataops_platform.notify.events import alert_event_type, alert_payload
from dataops_platform.store.models import Alert, Experiment

SEVERITIES = ("critical", "high", "medium", "low")
CATEGORIES = (
    "regression", "run_failure", "quality_gate", "sla_risk", "freshness", "operational", "notification_failure", "data_drift",
)  # fmt: skip
ALERT_MOVES = {"open": ("ack", "resolve"), "acknowledged": ("resolve",), "resolved": ()}


def open_alert(
    platform: Platform,
    actor: str,
    related_object: str,
    severity: str,
    category: str,
    title: str,
    source_key: str | None = None,
) -> Alert:
    """Open an alert on an existing object (needs alert.open: ops, or the platform's system actor).

    An alert the platform raises itself carries a `source_key` naming what raised it; opening one
    whose key is already taken returns the existing alert and writes nothing, so a sensor may ask
    on every tick."""
    refs.parse_ref(related_object, "related_object")  # unparseable: no project to decide in
    if source_key is not None and (existing := alert_by_source(platform, source_key)) is not None:
        return existing
    try:
        return _insert_alert(platform, actor, related_object, severity, category, title, source_key)
    except IntegrityError:
        # Another writer raised the same alert between our look and our write: theirs stands.
        if source_key is not None and (existing := alert_by_source(platform, source_key)) is not None:
            return existing
        raise


def alert_by_source(platform: Platform, source_key: str) -> Alert | None:
    with platform.store.read() as session:
        return session.scalar(select(Alert).where(Alert.source_key == source_key))


def _insert_alert(
    platform: Platform, actor: str, related_object: str, severity: str, category: str, title: str, source_key: str | None
) -> Alert:
    with platform.act(actor, "alert.open", project=lambda s: refs.project_of(s, related_object), object_ref=related_object) as op:
        if severity not in SEVERITIES:
            raise InvalidInput(f"severity {severity!r} is not one of {', '.join(SEVERITIES)}", field="severity", value=severity)
        if category not in CATEGORIES:
            raise InvalidInput(f"category {category!r} is not one of {', '.join(CATEGORIES)}", field="category", value=category)
        alert = Alert(
            alert_id=op.next_id("alert", "alert_"),
            project_id=op.project,
            severity=severity,
            category=category,
            related_object=related_object,
            title=title,
            status="open",
            opened_by=actor,
            opened_at=op.now,
            source_key=source_key,
        )
        op.session.add(alert)
        op.session.flush()
        kind, object_id = refs.parse_ref(related_object)
        if kind == "experiment":
            experiment = op.session.get(Experiment, object_id)
            experiment.alert_ids = [*experiment.alert_ids, alert.alert_id]
        lineage.add_edge(op.session, op.project, related_object, ref("alert", alert.alert_id), "triggered", op.now)
        op.object_ref = ref("alert", alert.alert_id)
        op.emit(alert_event_type(alert), op.object_ref, op.project, alert_payload(alert))
        op.details = {"severity": severity, "category": category, "related_object": related_object} | (
            {"source_key": source_key} if source_key else {}
        )
    return alert


def _alert_project(alert_id: str):  # noqa: ANN202
    return lambda session: a.project_id if (a := session.get(Alert, alert_id)) else None


def _move(alert: Alert, move: str) -> None:
    if move not in ALERT_MOVES[alert.status]:
        allowed = ", ".join(ALERT_MOVES[alert.status]) or "none (resolved is final)"
        raise GateRefused(
            f"cannot {move} {alert.alert_id}", [f"illegal transition: {alert.alert_id} is {alert.status}; allowed: {allowed}"]
        )


def acknowledge_alert(platform: Platform, actor: str, alert_id: str) -> Alert:
    with platform.act(actor, "alert.ack", project=_alert_project(alert_id), object_ref=ref("alert", alert_id)) as op:
        alert = op.session.get(Alert, alert_id)
        _move(alert, "ack")
        alert.status, alert.acknowledged_by, alert.acknowledged_at = "acknowledged", actor, op.now
        op.emit("alert.acknowledged", op.object_ref, op.project, alert_payload(alert))
    return alert


def resolve_alert(platform: Platform, actor: str, alert_id: str, note: str) -> Alert:
    """Resolve with a note. An alert resolved straight from `open` stays unacknowledged
    (`acknowledged_at` empty): nobody acknowledged it, and stamping the resolve time would flatter
    the mean time to acknowledge. The SLA report counts such alerts apart (see governance/sla.py)."""
    if not note.strip():
        raise InvalidInput("--note must say how the alert was resolved", field="note", value=note)
    with platform.act(actor, "alert.resolve", project=_alert_project(alert_id), object_ref=ref("alert", alert_id)) as op:
        alert = op.session.get(Alert, alert_id)
        _move(alert, "resolve")
        alert.status, alert.resolved_by, alert.resolved_at, alert.resolution_note = "resolved", actor, op.now, note
        op.emit("alert.resolved", op.object_ref, op.project, alert_payload(alert))
    return alert


def list_alerts(platform: Platform, actor: str, project_id: str | None = None, status: str | None = None) -> list[Alert]:
    return list_visible(platform, actor, Alert, project_id, *([Alert.status == status] if status else []))


def sla_status(platform: Platform, actor: str, project_id: str | None = None) -> dict:
    """The SLA report over the alerts the actor may read, at the platform clock's now."""
    from dataops_platform.governance.policy import governance_policy
    from dataops_platform.governance.sla import sla_report

    alerts = list_alerts(platform, actor, project_id)
    with platform.store.read() as session:
        targets = governance_policy(session).sla
    return sla_report(alerts, targets, platform.clock.now())
