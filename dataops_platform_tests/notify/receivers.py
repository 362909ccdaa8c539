"""Real receivers on loopback: an HTTP server thread that records what it gets and checks the
webhook signature and timestamp as a real receiver would, and an aiosmtpd SMTP server."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from dataops_platform.notify.events import verify_signature

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_SPEC = REPO / "examples" / "platform.yaml"
SECRET_ENV, SECRET = "DATAOPS_TEST_HOOK_SECRET", "s3cret-for-tests"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verdict: str | None  # None: signature and timestamp good (webhook paths only)

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    """Answers `status` (after `delay` seconds) and records every request; checks signatures with `secret`."""

    secret: str = SECRET
    status: int = 200
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)

    def start(self) -> HttpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k: v for k, v in self.headers.items()}
                verdict = verify_signature(receiver.secret, headers, body) if "X-DataOps-Signature" in headers else None
                receiver.received.append(Received(self.path, headers, body, verdict))
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(receiver.status if verdict is None else 401)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda *_args: None  # a client killed mid-request is what the crash test does
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def event_ids(self, path: str | None = None) -> list[str]:
        return [r.headers.get("X-DataOps-Event-Id") or r.json.get("id") for r in self.received if path is None or r.path == path]


class SmtpSink:
    """An aiosmtpd Controller on 127.0.0.1 keeping every message it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[Any] = []
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                from email import message_from_bytes, policy

                sink.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
                return "250 OK"

        import socket

        with socket.socket() as probe:  # aiosmtpd connects to its own port to start: give it a real one
            probe.bind(("127.0.0.1", 0))
            self._port = probe.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self._port)

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    @property
    def port(self) -> int:
        return self._port

    def stop(self) -> None:
        self.controller.stop()


def spec_with_notifications(tmp_path: Path, notifications: dict[str, Any], name: str = "platform.yaml") -> Path:
    """The reference organisation plus a `notifications` section, written to a file."""
    document = yaml.safe_load(EXAMPLE_SPEC.read_text())
    document["notifications"] = notifications
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def webhook_notifications(url: str, **route: Any) -> dict[str, Any]:
    return {
        "channels": [{"id": "ops_hook", "kind": "webhook", "url": url, "secret_env": SECRET_ENV}],
        "routes": [
            {
                "channel": "ops_hook",
                "projects": ["*"],
                "severities": ["critical", "high", "medium", "low"],
                "events": ["alert.opened", "alert.acknowledged", "alert.resolved"],
                **route,
            }
        ],
    }
