"""Alerts: open -> acknowledged -> resolved, timed by the injected clock (SPEC §6).

A regression alert that stands for a finding (a data regression on the current release, see
governance/gate.py) is kept open while the finding stands: resolving it is refused, naming the
three remedies. Once a remedy clears the finding the alert is left for a person to resolve with a
note (the platform's system actor never resolves: what closed an incident is a human judgement,
and it is what the SLA figures measure). When a finding stands and none of its alerts is still
unresolved (an exception that covered it expired), `ensure_release_regression_alerts` opens one
on the version.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dataops_platform.errors import GateRefused, InvalidInput
from dataops_platform.governance import lineage, refs
from dataops_platform.governance.gate import StandingRegression, standing_regression
from dataops_platform.governance.listing import list_visible
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.refs import ref
from dataops_platform.notify.events import alert_event_type, alert_payload
from dataops_platform.spec.models import ALERT_CATEGORIES
from dataops_platform.store.models import Alert, Experiment, Project

SEVERITIES = ("critical", "high", "medium", "low")
CATEGORIES = ALERT_CATEGORIES  # the spec's vocabulary: notification routes filter on them
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


def finding_of(session: Session, alert: Alert, now: datetime) -> StandingRegression | None:
    """The data regression finding an unresolved regression alert stands for, None when none stands."""
    if alert.category != "regression" or alert.status == "resolved":
        return None
    kind, object_id = refs.parse_ref(alert.related_object)
    standing = standing_regression(session, alert.project_id, now)
    if standing is None:
        return None
    if (kind == "experiment" and object_id in standing.experiments) or (kind == "version" and object_id == standing.version_id):
        return standing
    return None


def release_regression_key(version_id: str, episode: int) -> str:
    return f"release_regression:version:{version_id}:{episode}"


def ensure_release_regression_alerts(platform: Platform, actor: str) -> list[str]:
    """A high regression alert on the version for every standing data regression finding that no
    unresolved alert covers (on the version or on one of its experiments); returns those opened now.

    Each opening is one episode of the version (`release_regression:version:<id>:<n>`), so a
    repeated tick or a racing writer finds the same key and opens nothing more."""
    wanted = []
    with platform.store.read() as session:
        now = platform.clock.now()
        for project_id in session.scalars(select(Project.id).order_by(Project.id)):
            standing = standing_regression(session, project_id, now)
            if standing is None:
                continue
            covering = [ref("version", standing.version_id), *(ref("experiment", e) for e in standing.experiments)]
            covered = session.scalar(
                select(Alert.alert_id).where(
                    Alert.related_object.in_(covering), Alert.category == "regression", Alert.status != "resolved"
                )
            )
            if covered is None:
                prefix = release_regression_key(standing.version_id, 0)[:-1]
                episodes = session.scalar(
                    select(func.count()).select_from(Alert).where(Alert.source_key.startswith(prefix, autoescape=True))
                )
                wanted.append((standing, release_regression_key(standing.version_id, int(episodes or 0) + 1)))
    opened = []
    for standing, key in wanted:
        back = (
            f"roll back to {standing.rollback_candidate}" if standing.rollback_candidate else "no earlier release to roll back to"
        )
        title = (
            f"{standing.version_id} is the current release of {standing.project_id} and carries data regression "
            f"{', '.join(standing.experiments)} with no approved, unexpired exception: {back}, "
            "release a successor or approve an exception"
        )
        alert = open_alert(platform, actor, ref("version", standing.version_id), "high", "regression", title[:400], key)
        opened.append(alert.alert_id)
    return opened


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
        if (standing := finding_of(op.session, alert, op.now)) is not None:
            raise GateRefused(f"cannot resolve {alert_id} while its finding stands", [f"finding: {standing.message}"])
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
