"""Sending run events to an OpenLineage HTTP endpoint (Marquez and others) with the client's HttpTransport.

Each event is POSTed on its own, in export order, with the same bytes the export writes. A failure
stops the push and names the endpoint, the HTTP status (or the connection error) and how many
events were accepted before it. Only a connection that could not be opened is retried: an event
the server may have received is never sent twice by one push (re-running the export re-sends
everything, and consumers key runs by their deterministic run id).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from openlineage.client.event_v2 import RunEvent

from dataops_platform.errors import DataOpsError, InvalidInput

LINEAGE_PATH = "/api/v1/lineage"
CONNECT_RETRIES = 2


def lineage_endpoint(url: str) -> str:
    """The endpoint events go to: `url` + /api/v1/lineage, or `url` itself when it already ends with it.

    Raises InvalidInput(field="push") unless `url` is an http(s) URL with a host (and a valid port).
    """
    fix = "give the OpenLineage server's base URL, e.g. http://localhost:5000"
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0  # .port raises on a non-numeric or out-of-range port
    except ValueError:
        port_ok = False
        parts = None
    if (
        parts is None
        or not port_ok
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(c.isspace() for c in url)
    ):
        raise InvalidInput(f"--push {url!r} is not an http(s) URL with a host; {fix}", field="push", value=url)
    if parts.query or parts.fragment:
        raise InvalidInput(f"--push {url!r} has a query or fragment; {fix}", field="push", value=url)
    base = url.rstrip("/")
    return base if base.endswith(LINEAGE_PATH) else base + LINEAGE_PATH


@dataclass(frozen=True)
class PushResult:
    endpoint: str
    pushed: int


def push_events(events: Sequence[RunEvent | dict[str, Any]], url: str, timeout: float = 10.0) -> PushResult:
    """POST every event to the endpoint of `url`, waiting at most `timeout` seconds for each.

    All or a clear error: DataOpsError (exit 1) naming the endpoint, the HTTP status or connection
    error, the event that failed and how many were accepted before it.
    """
    import requests
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    endpoint = lineage_endpoint(url)
    retry = {
        "total": CONNECT_RETRIES,
        "connect": CONNECT_RETRIES,
        "read": 0,
        "status": 0,
        "other": 0,
        "backoff_factor": 0.2,
        "status_forcelist": [],
        "allowed_methods": ["POST"],
        "raise_on_status": False,
    }
    # endpoint="" keeps the URL as given (urljoin would drop a path prefix without a trailing slash).
    transport = HttpTransport(HttpConfig(url=endpoint, endpoint="", timeout=timeout, retry=retry))
    pushed = 0
    try:
        for event in events:
            try:
                transport.emit(event)
            except requests.HTTPError as exc:
                response = exc.response
                body = " ".join((response.text or "").split())[:300] if response is not None else ""
                status = response.status_code if response is not None else None
                reason = response.reason if response is not None else ""
                raise _failure(
                    endpoint,
                    event,
                    pushed,
                    len(events),
                    f"HTTP {status} {reason}".strip() + (f": {body}" if body else ""),
                    status,
                ) from None
            except requests.Timeout:
                raise _failure(
                    endpoint, event, pushed, len(events), f"no answer within {timeout:g} s (--timeout)", None
                ) from None
            except requests.RequestException as exc:
                raise _failure(endpoint, event, pushed, len(events), f"cannot connect: {_root_cause(exc)}", None) from None
            pushed += 1
    finally:
        transport.close()
    return PushResult(endpoint, pushed)


def _failure(
    endpoint: str, event: RunEvent | dict[str, Any], pushed: int, total: int, what: str, status: int | None
) -> DataOpsError:
    from openlineage.client.serde import Serde

    plain = Serde.to_dict(event)  # a RunEvent, or the same event as JSON data (what the REST export answers)
    state, job, run = plain.get("eventType") or "?", plain.get("job", {}).get("name"), plain.get("run", {}).get("runId")
    return DataOpsError(
        f"push to {endpoint} failed: {what}. {pushed} of {total} events were accepted; event {pushed + 1} "
        f"({state} of job {job}, run {run}) was not. "
        "Check that an OpenLineage server (e.g. Marquez) answers at that URL, then run the export again: "
        "it re-sends every event with the same run ids.",
        url=endpoint,
        status=status,
        pushed=pushed,
        total=total,
    )


def _root_cause(exc: BaseException) -> str:
    """The innermost error of a requests/urllib3 chain (e.g. "[Errno 111] Connection refused")."""
    seen: set[int] = set()
    current: BaseException = exc
    while id(current) not in seen:
        seen.add(id(current))
        nested = getattr(current, "reason", None)
        if not isinstance(nested, BaseException):
            nested = current.__cause__ or current.__context__
        if not isinstance(nested, BaseException):
            break
        current = nested
    return str(current)
