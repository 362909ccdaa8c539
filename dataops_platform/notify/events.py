"""Notification events: their payloads, the CloudEvents 1.0 envelope, the webhook signature, and
the readable summary Slack and email share.

The signature follows the issue's contract: `X-DataOps-Signature: sha256=<hex HMAC-SHA256(secret,
"<timestamp>.<body>")>` with `X-DataOps-Timestamp` in Unix seconds; `verify_signature` is what a
receiver runs (tests use it; docs/notifications.md shows it).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from dataops_platform.clock import iso

SOURCE = "urn:dataops-platform"
TYPE_PREFIX = "org.dataops."
DEFAULT_TOLERANCE_SECONDS = 300


# -- payloads (one call in each service's act body) ------------------------------------------------
def alert_event_type(alert: Any, move: str = "opened") -> str:
    """`sla.risk` for the SLA alert the platform raises, else `alert.<move>`."""
    return "sla.risk" if move == "opened" and alert.category == "sla_risk" else f"alert.{move}"


def alert_payload(alert: Any) -> dict[str, Any]:
    return {
        "alert_id": alert.alert_id,
        "severity": alert.severity,
        "category": alert.category,
        "title": alert.title,
        "status": alert.status,
        "related_object": alert.related_object,
    }


def version_payload(version: Any, **extra: Any) -> dict[str, Any]:
    return {"version_id": version.version_id, "status": version.status, **extra}


def rollback_payload(event: Any) -> dict[str, Any]:
    return {
        "rollback_id": event.rollback_id,
        "from_version": event.from_version,
        "to_version": event.to_version,
        "reason": event.reason,
        "trigger": event.trigger_ref,
    }


def exception_payload(exc: Any) -> dict[str, Any]:
    return {"exception_id": exc.exception_id, "version_id": exc.version_id, "rule": exc.rule, "expires_at": iso(exc.expires_at)}


# -- CloudEvents and signatures --------------------------------------------------------------------
def cloud_event(delivery: Any) -> dict[str, Any]:
    """The CloudEvents 1.0 structured-mode JSON of a delivery; `id` is the event's stable id."""
    data = {**delivery.payload, "project": delivery.project_id}
    return {
        "specversion": "1.0",
        "id": delivery.event_id,
        "source": SOURCE if delivery.project_id is None else f"{SOURCE}/projects/{delivery.project_id}",
        "type": TYPE_PREFIX + delivery.event_type,
        "time": iso(delivery.occurred_at),
        "subject": delivery.subject_ref,
        "datacontenttype": "application/json",
        "data": data,
    }


def encode_body(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(
    secret: str, headers: Any, body: bytes, *, now: float | None = None, tolerance: int = DEFAULT_TOLERANCE_SECONDS
) -> str | None:
    """What a receiver checks: None when the request is authentic and fresh, else why not."""
    timestamp, given = headers.get("X-DataOps-Timestamp"), headers.get("X-DataOps-Signature")
    if not timestamp or not given:
        return "missing signature headers"
    try:
        sent = int(timestamp)
    except ValueError:
        return "timestamp is not Unix seconds"
    if abs((time.time() if now is None else now) - sent) > tolerance:
        return "timestamp outside the tolerance window (a replay?)"
    if not hmac.compare_digest(signature(secret, sent, body), given):
        return "signature does not match"
    return None


# -- the readable summary ---------------------------------------------------------------------------
_TODO = {
    "alert.opened": "Acknowledge it (`dataops alert ack {id}`), then work it.",
    "sla.risk": "An alert is outside its SLA target: acknowledge or resolve it now.",
    "alert.escalated": "Not acknowledged within its SLA target: acknowledge it (`dataops alert ack {id}`).",
    "alert.acknowledged": "Someone is on it; resolve it with a note when fixed.",
    "alert.resolved": "Nothing; write the incident review if it was high or critical.",
    "version.released": "Nothing; the project's current release changed.",
    "version.release_refused": "Fix the failed conditions or request an exception.",
    "rollback.executed": "Write the incident review for this rollback.",
    "exception.approved": "Nothing; the exception is in force until it expires.",
    "notification.test": "Nothing; this is a test message.",
}
_ASSET = {"alert": "alerts", "version": "dataset_versions", "rollback": "rollback_events", "exception": "exceptions"}


@dataclass(frozen=True)
class Summary:
    headline: str
    facts: list[tuple[str, str]]
    todo: str
    link: str


def summarize(delivery: Any, link_base: str) -> Summary:
    p = delivery.payload
    severity = p.get("severity")
    title = p.get("title") or ", ".join(f"{k}={v}" for k, v in p.items() if k in ("version_id", "rollback_id", "exception_id"))
    head = f"[{severity.upper()}] " if severity else ""
    headline = f"{head}{delivery.event_type}: {title}".strip()
    facts = [("object", delivery.subject_ref or "-"), ("project", delivery.project_id or "-")]
    if severity:
        facts.append(("severity", severity))
    if p.get("category"):
        facts.append(("category", p["category"]))
    if p.get("failed"):
        facts.append(("failed", "; ".join(map(str, p["failed"]))))
    if p.get("on_call"):
        facts.append(("on call", ", ".join(p["on_call"])))
    object_id = (delivery.subject_ref or ":").split(":", 1)[1]
    todo = _TODO.get(delivery.event_type, "See the platform.").format(id=object_id)
    kind = (delivery.subject_ref or "").split(":", 1)[0]
    link = f"{link_base.rstrip('/')}/assets/{_ASSET.get(kind, 'platform_report')}"
    return Summary(headline, facts, todo, link)
