"""Signed webhooks carrying CloudEvents 1.0 (structured JSON), headers as the issue specifies."""

from __future__ import annotations

import time
from typing import Any

from dataops_platform.notify.channel import Channel, post_json
from dataops_platform.notify.events import cloud_event, encode_body, signature


class WebhookChannel(Channel):
    kind = "webhook"

    def request(self, delivery: Any, now: float | None = None) -> tuple[bytes, dict[str, str]]:
        """The exact body and headers sent; the timestamp is the moment of sending (each retry
        signs anew, the event id stays)."""
        body = encode_body(cloud_event(delivery))
        timestamp = int(time.time() if now is None else now)
        headers = {
            "Content-Type": "application/cloudevents+json; charset=utf-8",
            "X-DataOps-Event-Id": delivery.event_id,
            "X-DataOps-Timestamp": str(timestamp),
            "X-DataOps-Signature": signature(self._env(self.config["secret_env"]), timestamp, body),
        }
        return body, headers

    def send(self, delivery: Any) -> None:
        body, headers = self.request(delivery)
        post_json(self.config["url"], body, headers, self.timeout)
