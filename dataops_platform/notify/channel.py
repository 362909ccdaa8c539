"""The one channel interface every backend implements (like Dagster's storage base classes), and
the registry that builds a channel from its spec document by `kind`."""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from dataops_platform.settings import Settings


class DeliveryFailed(Exception):
    """A send that did not reach the receiver (or that it refused); the dispatcher retries it.
    `permanent` failures (a channel misconfigured) are still retried, since config can be fixed."""

    def __init__(self, message: str) -> None:
        super().__init__(message[:2000])
        self.message = message[:2000]


class Channel(ABC):
    """Sends one delivery (an outbox row) within `timeout` seconds, or raises DeliveryFailed."""

    kind: ClassVar[str]

    def __init__(self, config: dict[str, Any], settings: Settings, environ: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.id: str = config["id"]
        self.settings = settings
        self.environ = os.environ if environ is None else environ
        self.timeout: float = float(config.get("timeout_seconds", 10.0))

    @abstractmethod
    def send(self, delivery: Any) -> None: ...

    def _env(self, name: str) -> str:
        value = self.environ.get(name)
        if not value:
            raise DeliveryFailed(f"environment variable {name} is not set in the dispatcher's environment")
        return value


def channel_kinds() -> dict[str, type[Channel]]:
    from dataops_platform.notify.email import EmailChannel
    from dataops_platform.notify.slack import SlackChannel
    from dataops_platform.notify.webhook import WebhookChannel

    return {c.kind: c for c in (WebhookChannel, SlackChannel, EmailChannel)}


def build_channel(config: dict[str, Any], settings: Settings, environ: Mapping[str, str] | None = None) -> Channel:
    kind = config.get("kind")
    kinds = channel_kinds()
    if kind not in kinds:
        raise DeliveryFailed(f"channel {config.get('id')!r} has unknown kind {kind!r}")
    return kinds[kind](config, settings, environ)


_CLIENT: Any = None
_CLIENT_LOCK = threading.Lock()


def http_client() -> Any:
    """One shared httpx.Client (thread-safe, pooled): a fresh client per request builds an SSL
    context each time, ~20 ms, which was most of a delivery's cost."""
    global _CLIENT
    with _CLIENT_LOCK:
        if _CLIENT is None:
            import httpx

            _CLIENT = httpx.Client(follow_redirects=False, limits=httpx.Limits(max_connections=32, max_keepalive_connections=16))
        return _CLIENT


def post_json(url: str, body: bytes, headers: dict[str, str], timeout: float) -> None:
    """POST `body`; any transport error or non-2xx answer is a DeliveryFailed naming it."""
    import httpx

    try:
        response = http_client().post(url, content=body, headers={"Content-Type": "application/json", **headers}, timeout=timeout)
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from None
    if not 200 <= response.status_code < 300:
        raise DeliveryFailed(f"HTTP {response.status_code} from the receiver: {response.text[:200]}")
