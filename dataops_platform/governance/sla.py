"""The SLA report: compliance, mean time to acknowledge and to recover, breaches and open risks (SPEC §6).

A pure function of the alerts, the policy's targets and a moment, so the asset, the CLI and the
consistency rules compute the same numbers.

Alerts resolved without ever being acknowledged: the mean time to acknowledge averages only the
alerts someone really acknowledged; an unacknowledged alert is held to its acknowledge target
until its first human response, its resolution (so resolving late without acknowledging is a
breach of both targets), and the report counts them under `resolved_unacknowledged_count`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from dataops_platform.clock import as_utc
from dataops_platform.spec.models import SlaTarget
from dataops_platform.store.models import Alert


def _minutes(start: datetime, end: datetime) -> float:
    return (as_utc(end) - as_utc(start)).total_seconds() / 60


def sla_report(alerts: Iterable[Alert], targets: dict[str, SlaTarget], now: datetime) -> dict[str, Any]:
    """An alert complies when it was (or, still open, so far is) acknowledged and resolved inside its targets."""
    rows, breaches, risks, ack_times, recovery_times = [], [], [], [], []
    unacknowledged_resolved = 0
    for alert in sorted(alerts, key=lambda a: a.alert_id):
        target = targets.get(alert.severity)  # a severity the policy sets no target for cannot breach
        # The first human response: an acknowledgement, else the resolution, else nothing yet.
        ack_elapsed = _minutes(alert.opened_at, alert.acknowledged_at or alert.resolved_at or now)
        resolve_elapsed = _minutes(alert.opened_at, alert.resolved_at or now)
        if alert.acknowledged_at is not None:
            ack_times.append(ack_elapsed)
        if alert.resolved_at is not None:
            recovery_times.append(resolve_elapsed)
            unacknowledged_resolved += alert.acknowledged_at is None
        problems = []
        if target is not None and ack_elapsed > target.acknowledge_minutes:
            problems.append(f"acknowledge {ack_elapsed:.1f} min > {target.acknowledge_minutes:g}")
        if target is not None and resolve_elapsed > target.resolve_minutes:
            problems.append(f"resolve {resolve_elapsed:.1f} min > {target.resolve_minutes:g}")
        if problems:
            breaches.append({"alert_id": alert.alert_id, "severity": alert.severity, "problems": problems})
        elif alert.status != "resolved" and target is not None:
            risks.append(
                {
                    "alert_id": alert.alert_id,
                    "severity": alert.severity,
                    "minutes_to_resolve_breach": round(target.resolve_minutes - resolve_elapsed, 1),
                }
            )
        rows.append(
            {
                "alert_id": alert.alert_id,
                "severity": alert.severity,
                "status": alert.status,
                "minutes_to_acknowledge": round(ack_elapsed, 2) if alert.acknowledged_at else None,
                "minutes_to_resolve": round(resolve_elapsed, 2) if alert.resolved_at else None,
                "within_sla": not problems,
            }
        )
    total = len(rows)
    return {
        "generated_at": as_utc(now).isoformat(),
        "targets": {sev: t.model_dump() for sev, t in targets.items()},
        "alert_count": total,
        "resolved_count": len(recovery_times),
        "compliance_rate": round((total - len(breaches)) / total, 4) if total else 1.0,
        "mean_time_to_acknowledge_minutes": round(sum(ack_times) / len(ack_times), 2) if ack_times else None,
        "acknowledged_count": len(ack_times),
        "resolved_unacknowledged_count": unacknowledged_resolved,
        "mean_time_to_recovery_minutes": round(sum(recovery_times) / len(recovery_times), 2) if recovery_times else None,
        "breaches": breaches,
        "open_risks": risks,
        "alerts": rows,
    }
