from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dataops_platform.clock import FixedClock
from dataops_platform.governance.platform import Platform
from dataops_platform.settings import Settings
from dataops_platform_tests.conftest import make_platform
from dataops_platform_tests.notify.receivers import (
    SECRET,
    SECRET_ENV,
    HttpReceiver,
    spec_with_notifications,
    webhook_notifications,
)


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    r = HttpReceiver().start()
    yield r
    r.stop()


@pytest.fixture(autouse=True)
def hook_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)


@pytest.fixture
def notify_platform(settings: Settings, clock: FixedClock, receiver: HttpReceiver, tmp_path: Path) -> Iterator[Platform]:
    """The reference organisation (SQLite and PostgreSQL) with one webhook route for every alert event."""
    notifications = webhook_notifications(f"{receiver.url}/hook")
    notifications["routes"][0]["escalate_to"] = "ops_hook_2"
    notifications["channels"].append(
        {"id": "ops_hook_2", "kind": "webhook", "url": f"{receiver.url}/escalation", "secret_env": SECRET_ENV}
    )
    p = make_platform(settings, clock, spec_with_notifications(tmp_path, notifications))
    yield p
    p.close()
