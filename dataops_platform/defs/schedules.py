"""Schedules generated from the spec's operating rhythm (SPEC §8): one per meeting, in the
meeting's own time zone, refreshing the assets (and their checks) the meeting reads.

The rhythm is read from the applied spec in the store when the code location loads, so
`dataops spec apply` followed by a reload of the code location (or a restart of `dagster dev` /
the daemon) is how a changed rhythm reaches Dagster.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from dataops_platform.defs.jobs import governance_job
from dataops_platform.settings import Settings

TRIGGER_TAG = "dataops/trigger"


def rhythm_schedule(meeting: dict[str, Any]) -> dg.ScheduleDefinition:
    """The schedule of one meeting ({id, cron, timezone, assets, description} as in the spec)."""
    name, assets = meeting["id"], list(meeting["assets"])

    @dg.schedule(
        name=name,
        cron_schedule=meeting["cron"],
        execution_timezone=meeting["timezone"],
        job=governance_job,
        description=f"{meeting.get('description') or name}: refreshes {', '.join(assets)}",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        tags={TRIGGER_TAG: f"schedule:{name}"},
    )
    def _meeting(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        # One run per scheduled moment: a re-evaluated tick asks for the same run_key.
        return dg.RunRequest(
            run_key=f"{name}:{context.scheduled_execution_time.isoformat()}",
            asset_selection=[dg.AssetKey(asset) for asset in assets],
            tags={TRIGGER_TAG: f"schedule:{name}"},
        )

    return _meeting


def applied_rhythm(settings: Settings) -> list[dict[str, Any]]:
    """The operating rhythm of the spec applied to this home; none before `dataops spec apply`
    (never creates a store as a side effect of loading the code location)."""
    from dataops_platform.governance.policy import config_document
    from dataops_platform.store.engine import Store, has_schema

    if not has_schema(settings.store_url):
        return []
    store = Store(settings.store_url)
    try:
        with store.read() as session:
            return (config_document(session, "operating_rhythm") or {}).get("items", [])
    finally:
        store.dispose()


def rhythm_schedules(settings: Settings) -> list[dg.ScheduleDefinition]:
    return [rhythm_schedule(meeting) for meeting in applied_rhythm(settings)]
