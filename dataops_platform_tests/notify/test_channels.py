"""One contract every channel passes (like Dagster's storage test suites): a subclass per backend
says how to build the channel and how to read what its real receiver got."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from dataops_platform.notify.channel import Channel, DeliveryFailed, build_channel
from dataops_platform.notify.events import encode_body, signature, verify_signature
from dataops_platform.settings import Settings, load_settings
from dataops_platform_tests.notify.receivers import SECRET, SECRET_ENV, HttpReceiver, SmtpSink


def a_delivery(**over: Any) -> SimpleNamespace:
    values = {
        "id": 1,
        "event_id": str(uuid.uuid4()),
        "event_type": "alert.opened",
        "subject_ref": "alert:t02_legal.alert_001",
        "project_id": "p02_legal_sft",
        "payload": {
            "alert_id": "t02_legal.alert_001",
            "severity": "high",
            "category": "regression",
            "title": "f1 <dropped> & more",
        },
        "occurred_at": datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
        "attempts": 0,
    }
    return SimpleNamespace(**(values | over))


class ChannelContract:
    """Subclasses provide `make(settings, timeout)`, `received()` (event ids the receiver got),
    `make_unreachable(settings)` and `make_slow(settings)`."""

    @pytest.fixture
    def settings(self, tmp_path: Any) -> Settings:
        return load_settings(tmp_path / "home")

    def make(self, settings: Settings, timeout: float = 5.0) -> Channel:
        raise NotImplementedError

    def received(self) -> list[str]:
        raise NotImplementedError

    def test_delivers_one_event_with_its_stable_id(self, settings: Settings) -> None:
        delivery = a_delivery()
        self.make(settings).send(delivery)
        self.make(settings).send(delivery)  # a retry: the same id again, for the receiver to drop
        assert self.received() == [delivery.event_id, delivery.event_id]

    def test_unreachable_receiver_is_a_delivery_failure(self, settings: Settings) -> None:
        with pytest.raises(DeliveryFailed):
            self.make_unreachable(settings).send(a_delivery())

    def test_slow_receiver_fails_within_the_timeout(self, settings: Settings) -> None:
        started = time.monotonic()
        with pytest.raises(DeliveryFailed):
            self.make_slow(settings).send(a_delivery())
        assert time.monotonic() - started < 3.0


def _closed_port_url() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/gone"


class HttpChannelContract(ChannelContract):
    kind = ""

    @pytest.fixture(autouse=True)
    def _receivers(self, monkeypatch: pytest.MonkeyPatch) -> Any:
        monkeypatch.setenv(SECRET_ENV, SECRET)
        self.receiver = HttpReceiver().start()
        self.slow = HttpReceiver(delay=2.5).start()
        yield
        self.receiver.stop()
        self.slow.stop()

    def config(self, url: str, timeout: float) -> dict[str, Any]:
        raise NotImplementedError

    def make(self, settings: Settings, timeout: float = 5.0) -> Channel:
        return build_channel(self.config(f"{self.receiver.url}/in", timeout), settings)

    def make_unreachable(self, settings: Settings) -> Channel:
        return build_channel(self.config(_closed_port_url(), 1.0), settings)

    def make_slow(self, settings: Settings) -> Channel:
        return build_channel(self.config(f"{self.slow.url}/in", 0.5), settings)


class TestWebhookChannel(HttpChannelContract):
    def config(self, url: str, timeout: float) -> dict[str, Any]:
        return {"id": "hook", "kind": "webhook", "url": url, "secret_env": SECRET_ENV, "timeout_seconds": timeout}

    def received(self) -> list[str]:
        assert all(r.verdict is None for r in self.receiver.received), [r.verdict for r in self.receiver.received]
        return self.receiver.event_ids()

    def test_cloudevents_body_and_signed_headers(self, settings: Settings) -> None:
        delivery = a_delivery()
        self.make(settings).send(delivery)
        (got,) = self.receiver.received
        event = got.json
        assert {k: event[k] for k in ("specversion", "id", "type", "subject", "datacontenttype")} == {
            "specversion": "1.0",
            "id": delivery.event_id,
            "type": "org.dataops.alert.opened",
            "subject": "alert:t02_legal.alert_001",
            "datacontenttype": "application/json",
        }
        assert event["source"].endswith("/projects/p02_legal_sft") and event["time"].startswith("2026-11-02T09:00:00")
        assert event["data"]["severity"] == "high"
        assert got.headers["X-DataOps-Event-Id"] == delivery.event_id
        timestamp = int(got.headers["X-DataOps-Timestamp"])
        assert abs(timestamp - time.time()) < 60
        assert got.headers["X-DataOps-Signature"] == signature(SECRET, timestamp, got.body)
        assert verify_signature(SECRET, got.headers, got.body) is None

    def test_receiver_refuses_tampered_body_old_timestamp_and_wrong_secret(self, settings: Settings) -> None:
        channel = self.make(settings)
        body, headers = channel.request(a_delivery())
        assert verify_signature(SECRET, headers, body) is None
        assert verify_signature(SECRET, headers, body.replace(b"high", b"low0")) == "signature does not match"
        old_body, old_headers = channel.request(a_delivery(), now=time.time() - 3600)
        assert "tolerance" in verify_signature(SECRET, old_headers, old_body)
        assert verify_signature("another secret", headers, body) == "signature does not match"
        # The real receiver answers 401 to a tampered request, which the channel reports as a failure.
        import httpx

        answer = httpx.post(f"{self.receiver.url}/in", content=body + b" ", headers=headers)
        assert answer.status_code == 401 and self.receiver.received[-1].verdict == "signature does not match"
        assert encode_body({"b": 1, "a": 2}) == b'{"a":2,"b":1}'

    def test_missing_secret_in_the_dispatchers_environment_fails_the_delivery(
        self, settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv(SECRET_ENV)
        with pytest.raises(DeliveryFailed, match=SECRET_ENV):
            self.make(settings).send(a_delivery())


class TestSlackChannel(HttpChannelContract):
    def config(self, url: str, timeout: float) -> dict[str, Any]:
        return {"id": "chat", "kind": "slack", "url": url, "timeout_seconds": timeout}

    def received(self) -> list[str]:
        return [r.json["blocks"][-1]["elements"][0]["text"].rsplit("event ", 1)[1] for r in self.receiver.received]

    def test_readable_message(self, settings: Settings) -> None:
        self.make(settings).send(a_delivery())
        message = self.receiver.received[0].json
        assert message["text"].startswith("[HIGH] alert.opened: f1 &lt;dropped&gt; &amp; more")
        facts = message["blocks"][1]["text"]["text"]
        assert "*object:* alert:t02_legal.alert_001" in facts and "*project:* p02_legal_sft" in facts
        assert "*severity:* high" in facts
        assert "What to do:* Acknowledge it (`dataops alert ack t02_legal.alert_001`)" in message["blocks"][2]["text"]["text"]
        assert "<http://127.0.0.1:3000/assets/alerts|Open in Dagster>" in message["blocks"][3]["elements"][0]["text"]


class TestEmailChannel(ChannelContract):
    @pytest.fixture(autouse=True)
    def _smtp(self) -> Any:
        self.sink = SmtpSink().start()
        yield
        self.sink.stop()

    def _settings(self, settings: Settings, port: int) -> Settings:
        return settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_sender": "dataops@example.org"})

    def make(self, settings: Settings, timeout: float = 5.0) -> Channel:
        config = {"id": "mail", "kind": "email", "to": ["oncall@example.org"], "timeout_seconds": timeout}
        return build_channel(config, self._settings(settings, self.sink.port))

    def make_unreachable(self, settings: Settings) -> Channel:
        port = int(_closed_port_url().split(":")[2].split("/")[0])
        return build_channel(
            {"id": "mail", "kind": "email", "to": ["x@example.org"], "timeout_seconds": 1}, self._settings(settings, port)
        )

    def make_slow(self, settings: Settings) -> Channel:
        import socket

        self._silent = socket.socket()  # accepts the connection, never greets: a hung SMTP server
        self._silent.bind(("127.0.0.1", 0))
        self._silent.listen()
        port = self._silent.getsockname()[1]
        return build_channel(
            {"id": "mail", "kind": "email", "to": ["x@example.org"], "timeout_seconds": 0.5}, self._settings(settings, port)
        )

    def received(self) -> list[str]:
        return [message["X-DataOps-Event-Id"] for _, message in self.sink.messages]

    def test_text_and_html_parts(self, settings: Settings) -> None:
        self.make(settings).send(a_delivery())
        (rcpts, message) = self.sink.messages[0]
        assert rcpts == ["oncall@example.org"] and message["From"] == "dataops@example.org"
        assert message["Subject"] == "[HIGH] alert.opened: f1 <dropped> & more"
        assert message.is_multipart()
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert "project: p02_legal_sft" in text and "What to do:" in text
        assert "&lt;dropped&gt;" in html and "<a href='http://127.0.0.1:3000/assets/alerts'>" in html
