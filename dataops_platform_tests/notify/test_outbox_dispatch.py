"""The outbox is written in the action's transaction; the dispatcher delivers, retries,
dead-letters and escalates on the injected clock (SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from dataops_platform.clock import FixedClock
from dataops_platform.errors import GateRefused, InvalidInput
from dataops_platform.governance.alerts import acknowledge_alert, list_alerts, open_alert, resolve_alert
from dataops_platform.governance.audit_service import verify_chain
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.versions import release_version
from dataops_platform.notify.dispatch import backoff_seconds, dispatch_once, dispatch_until_idle
from dataops_platform.store.models import AuditRecord, NotificationDelivery
from dataops_platform_tests.conftest import make_platform
from dataops_platform_tests.notify.receivers import HttpReceiver, spec_with_notifications, webhook_notifications
from dataops_platform_tests.services.steps import registered

PROJECT = "p02_legal_sft"


def deliveries(platform: Platform) -> list[NotificationDelivery]:
    with platform.store.read() as session:
        return list(session.scalars(select(NotificationDelivery).order_by(NotificationDelivery.id)))


def an_alert(platform: Platform, severity: str = "high") -> str:
    return open_alert(platform, "omar", f"project:{PROJECT}", severity, "operational", "disk full").alert_id


def test_events_are_written_with_the_action_and_delivered_once_each(notify_platform: Platform, receiver: HttpReceiver) -> None:
    alert_id = an_alert(notify_platform)
    acknowledge_alert(notify_platform, "omar", alert_id)
    resolve_alert(notify_platform, "omar", alert_id, "freed space")
    rows = deliveries(notify_platform)
    assert [(r.event_type, r.channel_id, r.status) for r in rows] == [
        ("alert.opened", "ops_hook", "pending"),
        ("alert.acknowledged", "ops_hook", "pending"),
        ("alert.resolved", "ops_hook", "pending"),
    ]
    report = dispatch_until_idle(notify_platform)
    assert (report.claimed, report.delivered) == (3, 3)
    assert [r.json["type"] for r in receiver.received] == [
        f"org.dataops.alert.{m}" for m in ("opened", "acknowledged", "resolved")
    ]
    assert all(r.verdict is None for r in receiver.received)
    assert receiver.event_ids() == [r.event_id for r in rows]
    assert {r.status for r in deliveries(notify_platform)} == {"delivered"}
    assert dispatch_until_idle(notify_platform).claimed == 0
    with notify_platform.store.read() as session:
        audited = session.scalars(select(AuditRecord).where(AuditRecord.action.like("notify.%"))).all()
    assert {(a.actor, a.role) for a in audited} == {("dataops-system", "system")}
    assert [a.action for a in audited].count("notify.deliver") == 3
    assert verify_chain(notify_platform, "alice").ok


def test_a_refused_or_rolled_back_action_sends_nothing(notify_platform: Platform, receiver: HttpReceiver) -> None:
    alert_id = an_alert(notify_platform)
    resolve_alert(notify_platform, "omar", alert_id, "done")
    before = len(deliveries(notify_platform))
    with pytest.raises(GateRefused):
        acknowledge_alert(notify_platform, "omar", alert_id)  # resolved is final: the body raises, rolls back
    with pytest.raises(InvalidInput):
        open_alert(notify_platform, "omar", f"project:{PROJECT}", "severe", "operational", "bad severity")
    assert len(deliveries(notify_platform)) == before


def test_release_refused_is_an_event_that_survives_the_refusal(
    settings, clock: FixedClock, receiver: HttpReceiver, tmp_path: Path
) -> None:
    notifications = webhook_notifications(f"{receiver.url}/hook", events=["version.release_refused", "version.released"])
    platform = make_platform(settings, clock, spec_with_notifications(tmp_path, notifications))
    try:
        version = registered(platform, tmp_path)  # a draft, not validated: the gate refuses
        with pytest.raises(GateRefused):
            release_version(platform, "priya", version.version_id)
        (row,) = deliveries(platform)
        assert row.event_type == "version.release_refused" and row.payload["failed"]
        dispatch_until_idle(platform)
        assert receiver.received[0].json["data"]["version_id"] == version.version_id
    finally:
        platform.close()


def test_routes_filter_by_project_and_severity(settings, clock: FixedClock, receiver: HttpReceiver, tmp_path: Path) -> None:
    notifications = webhook_notifications(f"{receiver.url}/hook", projects=["p01_retail_search"], severities=["critical"])
    platform = make_platform(settings, clock, spec_with_notifications(tmp_path, notifications))
    try:
        an_alert(platform, "critical")  # wrong project
        open_alert(platform, "omar", "project:p01_retail_search", "high", "operational", "wrong severity")
        open_alert(platform, "omar", "project:p01_retail_search", "critical", "operational", "this one")
        assert [r.payload["title"] for r in deliveries(platform)] == ["this one"]
    finally:
        platform.close()


def test_no_notifications_configured_writes_nothing(platform: Platform) -> None:
    an_alert(platform)
    assert deliveries(platform) == []
    assert dispatch_once(platform).claimed == 0


def test_retries_with_backoff_then_dead_letter_raises_an_alert(
    notify_platform: Platform, receiver: HttpReceiver, clock: FixedClock
) -> None:
    receiver.status = 503
    notify_platform.settings = notify_platform.settings.model_copy(update={"notify_max_attempts": 3})
    an_alert(notify_platform)
    assert dispatch_once(notify_platform).retried == 1
    (row,) = deliveries(notify_platform)
    assert row.status == "pending" and row.attempts == 1 and "HTTP 503" in row.last_error
    assert timedelta(seconds=24) <= row.next_attempt_at - clock.now() <= timedelta(seconds=36)
    assert dispatch_once(notify_platform).claimed == 0  # not due yet
    clock.advance(minutes=5)
    assert dispatch_once(notify_platform).retried == 1
    clock.advance(minutes=5)
    report = dispatch_once(notify_platform)
    assert report.dead == 1 and len(report.failure_alerts) == 1
    (row, *_) = deliveries(notify_platform)
    assert row.status == "dead" and row.attempts == 3
    failure = [a for a in list_alerts(notify_platform, "omar") if a.category == "notification_failure"]
    assert [(a.severity, a.opened_by) for a in failure] == [("high", "dataops-system")]
    assert len(receiver.received) == 3 and len(set(receiver.event_ids())) == 1  # one event id on every attempt
    # The failure alert is not routed back through the routes that failed (no category names it).
    assert [r.event_type for r in deliveries(notify_platform)] == ["alert.opened"]


def test_backoff_doubles_with_jitter_and_caps() -> None:
    import random

    rng = random.Random(1)
    delays = [backoff_seconds(n, 30, 600, rng) for n in range(1, 8)]
    for n, delay in enumerate(delays, start=1):
        nominal = min(600, 30 * 2 ** (n - 1))
        assert 0.8 * nominal <= delay <= 1.2 * nominal


def test_slow_receiver_never_delays_the_action(notify_platform: Platform, receiver: HttpReceiver) -> None:
    receiver.delay = 3.0
    started = time.monotonic()
    an_alert(notify_platform)
    assert time.monotonic() - started < 1.5


def test_escalation_after_the_acknowledge_target_and_ack_stops_it(
    notify_platform: Platform, receiver: HttpReceiver, clock: FixedClock
) -> None:
    first = an_alert(notify_platform)  # high: acknowledge within 30 minutes in examples/platform.yaml
    second = an_alert(notify_platform)
    dispatch_until_idle(notify_platform)
    clock.advance(minutes=10)
    acknowledge_alert(notify_platform, "omar", second)
    assert dispatch_until_idle(notify_platform).escalated == 0
    clock.advance(minutes=25)
    report = dispatch_until_idle(notify_platform)
    assert report.escalated == 1
    escalations = [r for r in receiver.received if r.path == "/escalation"]
    assert [(r.json["type"], r.json["subject"]) for r in escalations] == [("org.dataops.alert.escalated", f"alert:{first}")]
    clock.advance(hours=2)
    assert dispatch_until_idle(notify_platform).escalated == 0  # once per alert
    assert len([r for r in receiver.received if r.path == "/escalation"]) == 1


def test_a_pending_escalation_of_an_alert_acknowledged_meanwhile_is_cancelled(
    notify_platform: Platform, receiver: HttpReceiver, clock: FixedClock
) -> None:
    from dataops_platform.notify.dispatch import escalate

    alert_id = an_alert(notify_platform)
    clock.advance(minutes=31)
    assert escalate(notify_platform) == 1
    acknowledge_alert(notify_platform, "omar", alert_id)
    report = dispatch_until_idle(notify_platform)
    assert report.cancelled == 1
    assert [r.path for r in receiver.received].count("/escalation") == 0
