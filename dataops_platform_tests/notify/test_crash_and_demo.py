"""Slow suites: the dispatcher SIGKILLed mid-delivery and restarted loses nothing; the reference
scenario sends nothing without channels and nine alert events with a webhook channel."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dataops_platform.clock import FixedClock
from dataops_platform.governance.alerts import open_alert
from dataops_platform.governance.platform import Platform
from dataops_platform.notify.dispatch import dispatch_until_idle
from dataops_platform.settings import load_settings
from dataops_platform.store.models import NotificationDelivery
from dataops_platform_tests.conftest import make_platform
from dataops_platform_tests.notify.receivers import (
    SECRET,
    SECRET_ENV,
    HttpReceiver,
    spec_with_notifications,
    webhook_notifications,
)

REPO = Path(__file__).resolve().parents[2]
DISPATCHER = """
import threading
from dataops_platform.governance.platform import Platform
from dataops_platform.notify.dispatch import run_dispatcher
from dataops_platform.settings import load_settings
run_dispatcher(Platform(load_settings()), threading.Event(), 0.05)
"""


def _statuses(platform: Platform) -> Counter:
    with platform.store.read() as session:
        return Counter(
            dict(session.execute(select(NotificationDelivery.status, func.count()).group_by(NotificationDelivery.status)).all())
        )


def _start(home: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATAOPS_")}
    env |= {"DATAOPS_HOME": str(home), SECRET_ENV: SECRET, "DATAOPS_NOTIFY_LEASE_SECONDS": "1"}
    return subprocess.Popen([sys.executable, "-c", DISPATCHER], cwd=REPO, env=env)


@pytest.mark.slow
def test_dispatcher_killed_mid_delivery_then_restarted_delivers_every_event(sqlite_settings, tmp_path: Path) -> None:
    receiver = HttpReceiver(delay=0.15).start()  # records the request, then is slow to answer: a kill lands mid-delivery
    clock = FixedClock(__import__("datetime").datetime(2026, 11, 2, 9, 0, tzinfo=__import__("datetime").UTC))
    platform = make_platform(
        sqlite_settings, clock, spec_with_notifications(tmp_path, webhook_notifications(f"{receiver.url}/hook"))
    )
    try:
        for i in range(12):
            open_alert(platform, "omar", "project:p02_legal_sft", "high", "operational", f"event {i}")
        with platform.store.read() as session:
            expected = set(session.scalars(select(NotificationDelivery.event_id)))
        first = _start(sqlite_settings.home_dir)
        deadline = time.monotonic() + 60
        while len(receiver.received) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        at_kill = len(receiver.received)
        assert 0 < at_kill < len(expected), "the kill must land mid-way"
        assert _statuses(platform)["sending"] >= 1  # the claimed batch the kill left behind
        second = _start(sqlite_settings.home_dir)
        try:
            while _statuses(platform)["delivered"] < len(expected) and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            second.kill()
            second.wait()
        assert _statuses(platform) == Counter({"delivered": len(expected)})
        got = receiver.event_ids()
        assert all(r.verdict is None for r in receiver.received)
        assert set(got) == expected  # every event arrived...
        assert len(got) >= len(expected)  # ...at least once (the one in flight at the kill twice)
        deduplicated = list(dict.fromkeys(got))
        assert Counter(deduplicated) == Counter(expected)  # ...and after dropping duplicates by id, exactly once
    finally:
        platform.close()
        receiver.stop()


@pytest.mark.slow
def test_demo_without_channels_writes_no_delivery(demo_home) -> None:
    settings, _ = demo_home
    platform = Platform(settings)
    try:
        assert sum(_statuses(platform).values()) == 0
    finally:
        platform.close()


@pytest.mark.slow
def test_demo_with_a_webhook_channel_delivers_the_three_alerts_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataops_platform.demo.scenario import play_scenario

    monkeypatch.setenv(SECRET_ENV, SECRET)
    receiver = HttpReceiver().start()
    try:
        spec = spec_with_notifications(tmp_path, webhook_notifications(f"{receiver.url}/hook"))
        settings = load_settings(tmp_path / "home")
        demo = play_scenario(settings, spec_path=spec, progress=lambda _msg: None)
        try:
            report = dispatch_until_idle(demo.platform)
        finally:
            demo.platform.close()
        assert report.delivered == 9
        kinds = Counter(r.json["type"] for r in receiver.received)
        assert kinds == {f"org.dataops.alert.{m}": 3 for m in ("opened", "acknowledged", "resolved")}
        assert all(r.verdict is None for r in receiver.received)
        assert len({r.json["subject"] for r in receiver.received}) == 3
    finally:
        receiver.stop()
