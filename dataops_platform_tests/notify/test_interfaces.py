"""`dataops notify ...`, the REST routes, the sensor and `spec validate` on the notifications section."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from dataops_platform.clock import FixedClock
from dataops_platform.governance.alerts import open_alert
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.tokens import create_token
from dataops_platform.store.models import AuditRecord, NotificationDelivery
from dataops_platform_tests.conftest import make_platform
from dataops_platform_tests.helpers import run_cli_inprocess
from dataops_platform_tests.notify.receivers import (
    SECRET,
    SECRET_ENV,
    HttpReceiver,
    spec_with_notifications,
    webhook_notifications,
)


def _with_notify_cli() -> None:
    """Register the notify commands on the root app as `cli/app.py` will (`app.add_typer(notify_cmds.app, name="notify")`)."""
    from dataops_platform.cli import app as cli_app
    from dataops_platform.cli import notify_cmds

    if not any(group.name == "notify" for group in cli_app.app.registered_groups):
        cli_app.app.add_typer(notify_cmds.app, name="notify")


@pytest.fixture
def home(sqlite_settings, clock: FixedClock, receiver: HttpReceiver, tmp_path: Path) -> Path:
    platform = make_platform(
        sqlite_settings, clock, spec_with_notifications(tmp_path, webhook_notifications(f"{receiver.url}/hook"))
    )
    open_alert(platform, "omar", "project:p02_legal_sft", "high", "operational", "disk full")
    platform.close()
    _with_notify_cli()
    return sqlite_settings.home_dir


ENV = {SECRET_ENV: SECRET}


def test_cli_list_dispatch_retry_test(home: Path, receiver: HttpReceiver) -> None:
    listed = run_cli_inprocess(home, "notify", "list", user="omar", as_json=True, env=ENV)
    assert listed.code == 0, listed.stderr
    (row,) = json.loads(listed.stdout)
    assert (row["event_type"], row["status"], row["attempts"], row["channel"]) == ("alert.opened", "pending", 0, "ops_hook")
    dispatched = run_cli_inprocess(home, "notify", "dispatch", as_json=True, env=ENV)
    assert dispatched.code == 0 and json.loads(dispatched.stdout)["delivered"] == 1
    as_admin = run_cli_inprocess(home, "notify", "list", user="alice", as_json=True, env=ENV)
    assert json.loads(as_admin.stdout)[0]["status"] == "delivered"
    # lena (data engineer) may not retry; dan (another tenant) does not even see it; omar (ops) may.
    assert run_cli_inprocess(home, "notify", "retry", str(row["id"]), user="lena", env=ENV).code == 3
    assert run_cli_inprocess(home, "notify", "retry", str(row["id"]), user="dan", env=ENV).code == 2
    assert json.loads(run_cli_inprocess(home, "notify", "list", user="dan", as_json=True, env=ENV).stdout) == []
    retried = run_cli_inprocess(home, "notify", "retry", str(row["id"]), user="omar", as_json=True, env=ENV)
    assert retried.code == 0 and json.loads(retried.stdout)[0]["status"] == "pending"
    assert json.loads(run_cli_inprocess(home, "notify", "dispatch", as_json=True, env=ENV).stdout)["delivered"] == 1
    assert receiver.event_ids() == [row["event_id"], row["event_id"]]
    # A test through the channel: platform admins only.
    assert run_cli_inprocess(home, "notify", "test", "ops_hook", user="omar", env=ENV).code == 3
    assert run_cli_inprocess(home, "notify", "test", "nope", user="alice", env=ENV).code == 2
    tested = run_cli_inprocess(home, "notify", "test", "ops_hook", user="alice", as_json=True, env=ENV)
    assert tested.code == 0, tested.stdout + tested.stderr
    assert json.loads(tested.stdout)[0]["status"] == "delivered"
    assert receiver.received[-1].json["type"] == "org.dataops.notification.test" and receiver.received[-1].verdict is None
    from dataops_platform.settings import load_settings

    platform = Platform(load_settings(home))
    with platform.store.read() as session:
        decisions = [
            (a.actor, a.action, a.outcome)
            for a in session.scalars(select(AuditRecord).where(AuditRecord.action.in_(["notify.retry", "notify.test"])))
        ]
    platform.close()
    assert decisions == [
        ("lena", "notify.retry", "denied"),
        ("omar", "notify.retry", "allowed"),
        ("omar", "notify.test", "denied"),
        ("alice", "notify.test", "allowed"),
    ]


def test_rest_routes(sqlite_platform: Platform, receiver: HttpReceiver, tmp_path: Path, clock: FixedClock) -> None:
    from dataops_platform.api.app import create_app

    platform = make_platform(
        sqlite_platform.settings.model_copy(update={"home": tmp_path / "h2"}),
        clock,
        spec_with_notifications(tmp_path, webhook_notifications(f"{receiver.url}/hook")),
    )
    open_alert(platform, "omar", "project:p02_legal_sft", "high", "operational", "disk full")
    app = create_app(platform.settings, platform)  # the real app, the notify router included
    tokens = {u: create_token(platform, "alice", u)[1] for u in ("alice", "omar", "lena", "dan")}
    client = TestClient(app)

    def call(method: str, path: str, user: str | None) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {tokens[user]}"} if user else {}
        response = client.request(method, f"/api/v1/notifications{path}", headers=headers)
        return response.status_code, response.json()

    assert call("GET", "/deliveries", None)[0] == 401
    status, body = call("GET", "/deliveries", "omar")
    assert status == 200 and body["count"] == 1, body
    delivery = body["items"][0]
    assert {"status", "attempts", "last_error"} <= set(delivery)
    assert call("GET", "/deliveries", "dan")[1]["count"] == 0
    assert call("GET", "/deliveries?project=p02_legal_sft", "dan")[0] == 404
    assert call("POST", f"/deliveries/{delivery['id']}/retry", "lena")[0] == 403
    assert call("POST", f"/deliveries/{delivery['id']}/retry", "dan")[0] == 404
    assert call("POST", f"/deliveries/{delivery['id']}/retry", "omar")[0] == 200
    assert call("POST", "/channels/ops_hook/test", "omar")[0] == 403
    status, tested = call("POST", "/channels/ops_hook/test", "alice")
    assert status == 200 and tested["status"] == "delivered"
    platform.close()


def test_sensor_dispatches_as_the_system_actor(home: Path, receiver: HttpReceiver) -> None:
    from dataops_platform.defs.notify_sensor import notification_dispatch
    from dataops_platform.defs.resources import default_resources

    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, cursor=None, resources=default_resources(home))
        result = notification_dispatch.evaluate_tick(context)
    assert "delivered 1" in (result.skip_message or "")
    assert json.loads(result.cursor)["delivered"] == 1
    assert len(receiver.received) == 1
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, cursor=result.cursor, resources=default_resources(home))
        again = notification_dispatch.evaluate_tick(context)
    assert "delivered 0" in again.skip_message and json.loads(again.cursor)["delivered"] == 1


@pytest.mark.parametrize(
    ("change", "path", "value"),
    [
        ({"routes": [{"channel": "nope", "events": ["alert.opened"]}]}, "notifications.routes[0].channel", "nope"),
        (
            {"routes": [{"channel": "ops_hook", "events": ["alert.opened"], "escalate_to": "pager"}]},
            "notifications.routes[0].escalate_to",
            "pager",
        ),
        (
            {"routes": [{"channel": "ops_hook", "events": ["alert.exploded"]}]},
            "notifications.routes[0].events[0]",
            "alert.exploded",
        ),
        (
            {"routes": [{"channel": "ops_hook", "projects": ["p99"], "events": ["alert.opened"]}]},
            "notifications.routes[0].projects[0]",
            "p99",
        ),
        (
            {"channels": [{"id": "ops_hook", "kind": "webhook", "url": "ftp://x.example.org/", "secret_env": SECRET_ENV}]},
            "notifications.channels[0].url",
            "ftp://x.example.org/",
        ),
        (
            {"channels": [{"id": "ops_hook", "kind": "webhook", "url": "https://u:p@x.example.org/", "secret_env": SECRET_ENV}]},
            "notifications.channels[0].url",
            "https://u:p@x.example.org/",
        ),
        (
            {
                "channels": [
                    {"id": "ops_hook", "kind": "webhook", "url": "https://x.example.org/", "secret_env": "DATAOPS_UNSET_SECRET"}
                ]
            },
            "notifications.channels[0].secret_env",
            "DATAOPS_UNSET_SECRET",
        ),
        (
            {"channels": [{"id": "ops_hook", "kind": "slack", "url_env": "DATAOPS_UNSET_SLACK"}]},
            "notifications.channels[0].url_env",
            "DATAOPS_UNSET_SLACK",
        ),
        (
            {
                "channels": [
                    {
                        "id": "ops_hook",
                        "kind": "webhook",
                        "url": "https://x.example.org/",
                        "secret_env": SECRET_ENV,
                        "timeout_seconds": 1e300,
                    }
                ]
            },
            "notifications.channels[0].webhook.timeout_seconds",
            None,
        ),
    ],
)
def test_spec_validate_refuses_bad_notifications(tmp_path: Path, change: dict, path: str, value: object) -> None:
    notifications = webhook_notifications("https://hooks.example.org/dataops")
    notifications.update(change)
    spec = spec_with_notifications(tmp_path, notifications)
    result = run_cli_inprocess(None, "spec", "validate", spec, user="alice", as_json=True, env=ENV)
    assert result.code == 2, result.stdout + result.stderr
    problems = json.loads(result.stderr or result.stdout)["problems"]
    assert any(p["path"] == path and (value is None or p["value"] == value) for p in problems), problems


def test_spec_validate_refuses_nan_and_accepts_the_issue_example(tmp_path: Path) -> None:
    text = spec_with_notifications(tmp_path, webhook_notifications("https://hooks.example.org/dataops")).read_text()
    nan = tmp_path / "nan.yaml"
    nan.write_text(
        text.replace("secret_env: DATAOPS_TEST_HOOK_SECRET", "secret_env: DATAOPS_TEST_HOOK_SECRET\n    timeout_seconds: .nan")
    )
    assert run_cli_inprocess(None, "spec", "validate", nan, user="alice", env=ENV).code == 2
    issue = {
        "channels": [
            {"id": "ops_hook", "kind": "webhook", "url": "https://hooks.example.org/dataops", "secret_env": SECRET_ENV},
            {"id": "ops_chat", "kind": "slack", "url_env": "DATAOPS_TEST_SLACK_URL"},
            {"id": "ops_mail", "kind": "email", "to": ["oncall@example.org"]},
        ],
        "routes": [
            {"channel": "ops_hook", "projects": ["*"], "severities": ["critical", "high", "medium", "low"],
             "events": ["alert.opened", "alert.acknowledged", "alert.resolved"], "escalate_to": "ops_mail"},
        ],
    }  # fmt: skip
    env = ENV | {"DATAOPS_TEST_SLACK_URL": "https://hooks.slack.example/services/T/B/X"}
    ok = run_cli_inprocess(
        None, "spec", "validate", spec_with_notifications(tmp_path, issue, "issue.yaml"), user="alice", env=env
    )
    assert ok.code == 0, ok.stdout + ok.stderr
    assert (
        run_cli_inprocess(
            None, "spec", "validate", spec_with_notifications(tmp_path, issue, "issue.yaml"), user="alice", env=ENV
        ).code
        == 2
    )


def test_no_delivery_row_without_notifications(sqlite_platform: Platform) -> None:
    open_alert(sqlite_platform, "omar", "project:p02_legal_sft", "high", "operational", "x")
    with sqlite_platform.store.read() as session:
        assert session.scalars(select(NotificationDelivery)).all() == []
