"""The issue's own example end to end: a webhook route escalating to email, and a Slack route, all
to real loopback receivers (HTTP and aiosmtpd), through the dispatcher."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataops_platform.clock import FixedClock
from dataops_platform.governance.alerts import open_alert
from dataops_platform.notify.dispatch import dispatch_until_idle
from dataops_platform_tests.conftest import make_platform
from dataops_platform_tests.notify.receivers import SECRET_ENV, HttpReceiver, SmtpSink, spec_with_notifications


def test_webhook_slack_and_email_escalation(
    sqlite_settings, clock: FixedClock, receiver: HttpReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    smtp = SmtpSink().start()
    monkeypatch.setenv("DATAOPS_TEST_SLACK_URL", f"{receiver.url}/slack")
    notifications = {
        "channels": [
            {"id": "ops_hook", "kind": "webhook", "url": f"{receiver.url}/hook", "secret_env": SECRET_ENV},
            {"id": "ops_chat", "kind": "slack", "url_env": "DATAOPS_TEST_SLACK_URL"},
            {"id": "ops_mail", "kind": "email", "to": ["oncall@example.org"]},
        ],
        "routes": [
            {"channel": "ops_hook", "projects": ["*"], "severities": ["critical", "high", "medium", "low"],
             "events": ["alert.opened", "alert.acknowledged", "alert.resolved"], "escalate_to": "ops_mail"},
            {"channel": "ops_chat", "projects": ["p02_legal_sft"], "severities": ["critical", "high"],
             "events": ["alert.opened"], "on_call": ["Omar (ops)"]},
        ],
    }  # fmt: skip
    settings = sqlite_settings.model_copy(update={"smtp_port": smtp.port})
    platform = make_platform(settings, clock, spec_with_notifications(tmp_path, notifications))
    try:
        alert = open_alert(platform, "omar", "project:p02_legal_sft", "critical", "operational", "index corrupt")
        assert dispatch_until_idle(platform).delivered == 2
        assert sorted(r.path for r in receiver.received) == ["/hook", "/slack"]
        slack = next(r for r in receiver.received if r.path == "/slack").json
        assert "[CRITICAL]" in slack["text"] and "*on call:* Omar (ops)" in slack["blocks"][1]["text"]["text"]
        assert smtp.messages == []
        clock.advance(minutes=16)  # critical: acknowledge within 15 minutes
        report = dispatch_until_idle(platform)
        assert (report.escalated, report.delivered) == (1, 1)
        ((rcpts, message),) = smtp.messages
        assert rcpts == ["oncall@example.org"]
        assert message["Subject"].startswith("[CRITICAL] alert.escalated: index corrupt")
        assert alert.alert_id in message.get_body(("plain",)).get_content()
        assert message.get_body(("html",)) is not None
    finally:
        platform.close()
        smtp.stop()
