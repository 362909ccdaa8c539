"""The dispatcher: claims due deliveries, sends them outside any transaction, records the result.

At least once: a delivery is marked `sending` with its claim time before it is sent; a crash
between the send and the record leaves a claim that goes stale after `notify_lease_seconds` and
is sent again (same event id, so the receiver drops the duplicate). A failure is retried with
exponential backoff and jitter (`notify_backoff_seconds`, doubling, capped, +-20 %) and
dead-lettered after `notify_max_attempts`; a dead letter raises a `notification_failure` alert
through the alert service as the system actor (never for a failure alert's own deliveries, so a
broken channel cannot feed itself). The governance action that caused an event never waits for
any of this.

Every change of a delivery row is audited as the system actor in the same transaction
(`notify.claim`, `notify.deliver`, `notify.escalate`), through `Platform.write`, so the audit
anchor guards it like every other write. Time is the platform clock's.

Escalation runs first on every pass: an alert still `open` whose `alert.opened` (or `sla.risk`)
delivery came through a route with `escalate_to`, past its severity's `acknowledge_minutes`, gets
one `alert.escalated` delivery to that channel (its event id derived from the alert and channel,
so a second pass never adds another); acknowledging the alert stops it, and a pending escalation
of an alert acknowledged meanwhile is cancelled instead of sent.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import literal, or_, select
from sqlalchemy.orm import Session

from dataops_platform.clock import iso
from dataops_platform.governance import audit
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.policy import config_document, governance_policy
from dataops_platform.notify.channel import Channel, DeliveryFailed, build_channel
from dataops_platform.notify.outbox import EVENT_NAMESPACE, FAILURE_CATEGORY, enqueue, routes_document
from dataops_platform.store.models import Alert, NotificationDelivery, Project

ESCALATING_EVENTS = ("alert.opened", "sla.risk")


@dataclass
class DispatchReport:
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    cancelled: int = 0
    escalated: int = 0
    failure_alerts: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def system_actor_id(session: Session) -> str:
    return (config_document(session, "system_actor") or {}).get("id", "dataops-system")


def _entry(
    session: Session, now: datetime, action: str, project: str | None, object_ref: str | None, details: dict
) -> audit.AuditEntry:
    tenant = None
    if project is not None and (row := session.get(Project, project)) is not None:
        tenant = row.tenant_id
    return audit.AuditEntry(
        at=iso(now),
        actor=system_actor_id(session),
        role="system",
        tenant=tenant,
        project=project,
        action=action,
        object_ref=object_ref,
        outcome="allowed",
        details=details,
    )


def delivery_ref(delivery_id: int) -> str:
    return f"delivery:{delivery_id}"


def backoff_seconds(attempts: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Delay before attempt `attempts + 1`: base * 2^(attempts-1), capped, with +-20 % jitter."""
    delay = min(cap, base * (2 ** max(0, attempts - 1)))
    return delay * (0.8 + 0.4 * (rng or random).random())


# -- escalation ------------------------------------------------------------------------------------
def escalate(platform: Platform) -> int:
    """Queue one `alert.escalated` delivery per open alert past its acknowledge target; returns how many."""
    now = platform.clock.now()
    with platform.store.read() as session:
        if not any(r.get("escalate_to") for r in routes_document(session).get("routes", ())):
            return 0
        targets = governance_policy(session).sla
        rows = session.execute(
            select(NotificationDelivery.escalate_to, Alert)
            .join(Alert, NotificationDelivery.subject_ref == literal("alert:") + Alert.alert_id)
            .where(
                NotificationDelivery.event_type.in_(ESCALATING_EVENTS),
                NotificationDelivery.escalate_to.is_not(None),
                Alert.status == "open",
            )
        ).all()
        due = []
        for channel, alert in rows:
            target = targets.get(alert.severity)
            if target is None or now < alert.opened_at + timedelta(minutes=target.acknowledge_minutes):
                continue
            event_id = str(uuid.uuid5(EVENT_NAMESPACE, f"alert.escalated:{alert.alert_id}:{channel}"))
            exists = session.scalar(
                select(NotificationDelivery.id).where(
                    NotificationDelivery.event_id == event_id, NotificationDelivery.channel_id == channel
                )
            )
            if exists is None:
                due.append((channel, alert.alert_id, event_id))
    made = 0
    for channel, alert_id, event_id in dict.fromkeys(due):
        with platform.write() as session:
            alert = session.get(Alert, alert_id)
            if (
                alert is None
                or alert.status != "open"
                or session.scalar(select(NotificationDelivery.id).where(NotificationDelivery.event_id == event_id))
            ):
                continue
            from dataops_platform.notify.events import alert_payload

            minutes = targets[alert.severity].acknowledge_minutes
            payload = {**alert_payload(alert), "acknowledge_minutes": minutes}
            (row,) = enqueue(session, now, "alert.escalated", f"alert:{alert_id}", alert.project_id, payload,
                             event_id=event_id, only_channel=channel)  # fmt: skip
            session.flush()
            details = {"alert": alert_id, "channel": channel, "acknowledge_minutes": minutes, "delivery": row.id}
            audit.append(session, [_entry(session, now, "notify.escalate", alert.project_id, f"alert:{alert_id}", details)])
            made += 1
    return made


# -- claim, send, record ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Claimed:
    delivery: NotificationDelivery
    channel_config: dict[str, Any] | None


def claim(platform: Platform, limit: int = 100, ids: list[int] | None = None) -> list[Claimed]:
    """Mark up to `limit` due deliveries `sending` (pending and due, or claimed longer ago than the lease)."""
    now = platform.clock.now()
    stale = now - timedelta(seconds=platform.settings.notify_lease_seconds)
    due = or_(
        (NotificationDelivery.status == "pending") & (NotificationDelivery.next_attempt_at <= now),
        (NotificationDelivery.status == "sending") & (NotificationDelivery.claimed_at <= stale),
    )
    with platform.store.read() as session:  # an idle tick takes no write lock
        if session.scalar(select(NotificationDelivery.id).where(due).limit(1)) is None:
            return []
    with platform.write() as session:
        query = select(NotificationDelivery).where(due)
        if ids is not None:
            query = query.where(NotificationDelivery.id.in_(ids))
        rows = session.scalars(query.order_by(NotificationDelivery.id).limit(limit)).all()
        if not rows:
            return []
        channels = {c["id"]: c for c in routes_document(session).get("channels", ())}
        for row in rows:
            row.status, row.claimed_at = "sending", now
        details = {"deliveries": [r.id for r in rows]}
        audit.append(session, [_entry(session, now, "notify.claim", None, None, details)])
        session.flush()
        for row in rows:
            session.expunge(row)
    return [Claimed(row, channels.get(row.channel_id)) for row in rows]


def _still_wanted(platform: Platform, delivery: NotificationDelivery) -> bool:
    """An escalation whose alert was acknowledged meanwhile is not sent."""
    if delivery.event_type != "alert.escalated":
        return True
    with platform.store.read() as session:
        alert = session.get(Alert, delivery.payload.get("alert_id", ""))
        return alert is not None and alert.status == "open"


def send_one(
    platform: Platform,
    claimed: Claimed,
    environ: Mapping[str, str] | None = None,
    make_channel: Callable[..., Channel] = build_channel,
) -> tuple[bool, str | None]:
    """Send one claimed delivery, touching no row: (still wanted, error or None)."""
    delivery = claimed.delivery
    if not _still_wanted(platform, delivery):
        return False, None
    try:
        if claimed.channel_config is None:
            raise DeliveryFailed(f"channel {delivery.channel_id!r} is no longer in the spec's notifications")
        make_channel(claimed.channel_config, platform.settings, environ).send(delivery)
    except DeliveryFailed as exc:
        return True, exc.message
    except Exception as exc:  # a bug in a channel must not stop the other deliveries
        return True, f"{type(exc).__name__}: {exc}"[:2000]
    return True, None


def record(platform: Platform, outcomes: list[tuple[Claimed, bool, str | None]], report: DispatchReport) -> None:
    """Record a batch of send outcomes in one audited transaction, then raise the dead letters' alerts."""
    now = platform.clock.now()
    settings = platform.settings
    dead: list[tuple[NotificationDelivery, str]] = []
    with platform.write() as session:
        entries = []
        for claimed, wanted, error in outcomes:
            row = session.get(NotificationDelivery, claimed.delivery.id)
            if row is None or row.status in ("delivered", "dead", "cancelled"):
                continue  # another dispatcher finished it after our claim went stale
            row.attempts += 1
            row.claimed_at = None
            if not wanted:
                row.status, row.last_error = "cancelled", "alert acknowledged before the escalation was sent"
                report.cancelled += 1
            elif error is None:
                row.status, row.delivered_at, row.last_error = "delivered", now, None
                report.delivered += 1
            elif row.attempts >= settings.notify_max_attempts:
                row.status, row.last_error = "dead", error
                report.dead += 1
                dead.append((claimed.delivery, error))
            else:
                row.status, row.last_error = "pending", error
                delay = backoff_seconds(row.attempts, settings.notify_backoff_seconds, settings.notify_backoff_max_seconds)
                row.next_attempt_at = now + timedelta(seconds=delay)
                report.retried += 1
            details = {"delivery": row.id, "event_id": row.event_id, "event": row.event_type, "channel": row.channel_id,
                       "status": row.status, "attempts": row.attempts} | ({"error": error} if error else {})  # fmt: skip
            entries.append(_entry(session, now, "notify.deliver", row.project_id, delivery_ref(row.id), details))
        if entries:
            audit.append(session, entries)
        actor = system_actor_id(session)
        alert_project = (config_document(session, "system_actor") or {}).get("alert_project")
    for delivery, error in dead:
        alert_id = _raise_dead_letter(platform, actor, delivery, error, alert_project)
        if alert_id:
            report.failure_alerts.append(alert_id)


SEND_WORKERS = 8  # concurrent sends per pass: one slow receiver does not hold up the others


def attempt(
    platform: Platform,
    claimed: Claimed,
    report: DispatchReport,
    environ: Mapping[str, str] | None = None,
    make_channel: Callable[..., Channel] = build_channel,
) -> None:
    """Send one claimed delivery and record its outcome."""
    wanted, error = send_one(platform, claimed, environ, make_channel)
    record(platform, [(claimed, wanted, error)], report)


def _raise_dead_letter(
    platform: Platform, actor: str, delivery: NotificationDelivery, error: str, alert_project: str | None
) -> str | None:
    from dataops_platform.governance.alerts import open_alert

    if delivery.payload.get("category") == FAILURE_CATEGORY:
        return None  # a failure alert's own dead letter is listed, not alerted again
    related = delivery.subject_ref or (
        f"project:{delivery.project_id or alert_project}" if (delivery.project_id or alert_project) else None
    )
    if related is None:
        return None
    title = f"notification {delivery.event_type} to {delivery.channel_id} dead after {delivery.attempts + 1} attempts: {error}"
    alert = open_alert(platform, actor, related, "high", FAILURE_CATEGORY, title[:400],
                       source_key=f"{FAILURE_CATEGORY}:{delivery_ref(delivery.id)}")  # fmt: skip
    return alert.alert_id


def dispatch_once(
    platform: Platform,
    *,
    limit: int = 100,
    environ: Mapping[str, str] | None = None,
    make_channel: Callable[..., Channel] = build_channel,
    ids: list[int] | None = None,
) -> DispatchReport:
    """One pass: escalate, claim what is due, send the batch (concurrently), record it in one transaction."""
    report = DispatchReport()
    if ids is None:
        report.escalated = escalate(platform)
    batch = claim(platform, limit, ids)
    report.claimed = len(batch)
    if not batch:
        return report
    if len(batch) == 1:
        outcomes = [(batch[0], *send_one(platform, batch[0], environ, make_channel))]
    else:
        from concurrent.futures import ThreadPoolExecutor

        # Channels in parallel, each channel's deliveries in order (a receiver sees opened before resolved).
        by_channel: dict[str, list[Claimed]] = {}
        for c in batch:
            by_channel.setdefault(c.delivery.channel_id, []).append(c)

        def send_all(group: list[Claimed]) -> list[tuple[Claimed, bool, str | None]]:
            return [(c, *send_one(platform, c, environ, make_channel)) for c in group]

        with ThreadPoolExecutor(max_workers=min(SEND_WORKERS, len(by_channel)), thread_name_prefix="notify-send") as pool:
            outcomes = [o for group in pool.map(send_all, by_channel.values()) for o in group]
    record(platform, outcomes, report)
    return report


def dispatch_until_idle(platform: Platform, *, max_passes: int = 1000, **kwargs: Any) -> DispatchReport:
    """Passes until one claims nothing (what `dataops notify dispatch` runs)."""
    total = DispatchReport()
    for _ in range(max_passes):
        report = dispatch_once(platform, **kwargs)
        for name in ("claimed", "delivered", "retried", "dead", "cancelled", "escalated"):
            setattr(total, name, getattr(total, name) + getattr(report, name))
        total.failure_alerts += report.failure_alerts
        if report.claimed == 0:
            break
    return total


def run_dispatcher(platform: Platform, stop: threading.Event, interval_seconds: float = 5.0) -> None:
    """Dispatch every `interval_seconds` until `stop` is set: what `dataops serve` may run in a thread."""
    while not stop.is_set():
        try:
            dispatch_until_idle(platform)
        except Exception:  # noqa: BLE001 - a failed pass is retried on the next one; the server stays up
            import logging

            logging.getLogger(__name__).exception("notification dispatch pass failed")
        stop.wait(interval_seconds)


def start_dispatcher_thread(platform: Platform, interval_seconds: float = 5.0) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=run_dispatcher, args=(platform, stop, interval_seconds), name="notify-dispatch", daemon=True)
    thread.start()
    return thread, stop
