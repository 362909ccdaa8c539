"""`notification_dispatch`: the outbox dispatcher as a Dagster sensor, acting as the system actor.

Each tick runs dispatcher passes until nothing is due (escalations first, then claims, sends,
retries with backoff, dead letters), bounded so a tick stays short. The outbox rows themselves are
the durable state (a claim older than its lease is retried), so a re-tick or a crashed tick
never loses or duplicates work beyond at-least-once; the cursor only keeps running totals for the
Automation page. It requests no runs. Like the other acting sensors it starts stopped.
"""

from __future__ import annotations

import json

import dagster as dg

from dataops_platform.defs.resources import GovernanceResource

TICK_SECONDS = 30
MAX_PASSES_PER_TICK = 20


@dg.sensor(
    name="notification_dispatch",
    minimum_interval_seconds=TICK_SECONDS,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Delivers due notifications from the outbox (webhook, Slack, email); retries, dead-letters, escalates.",
)
def notification_dispatch(context: dg.SensorEvaluationContext, governance: GovernanceResource) -> dg.SkipReason:
    from dataops_platform.notify.dispatch import dispatch_until_idle

    totals = json.loads(context.cursor) if context.cursor else {}
    platform = governance.platform()
    try:
        report = dispatch_until_idle(platform, max_passes=MAX_PASSES_PER_TICK).as_dict()
    finally:
        platform.close()
    counts = {k: v for k, v in report.items() if isinstance(v, int)}
    context.update_cursor(json.dumps({k: totals.get(k, 0) + v for k, v in counts.items()}, sort_keys=True))
    return dg.SkipReason(
        f"delivered {report['delivered']}, retrying {report['retried']}, dead {report['dead']}, "
        f"cancelled {report['cancelled']}, escalated {report['escalated']}"
    )
