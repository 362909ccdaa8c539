"""`release_data_verify`: re-reads the data under every current release on the spec's operating rhythm.

The rhythm is the one applied to the store (`operating_rhythm`): the meetings that review
`dataset_versions` decide when (all meetings when none names it), so the data is checked before the
people who rely on it meet. Each tick looks for the latest meeting time that has passed; when it is
newer than the cursor, every project's current release is verified as the system actor
(`versions.verify_version`: drift on a released version raises a `data_drift` alert, once per
digest). The cursor is that meeting time, so a re-tick never verifies twice. It requests no runs and,
like the other acting sensors, starts stopped.
"""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from dataops_platform.defs.resources import GovernanceResource

TICK_SECONDS = 300
REVIEWED_ASSET = "dataset_versions"


def latest_meeting(rhythm: list[dict], now: datetime) -> datetime | None:
    """The latest time (UTC) at or before `now` one of the verifying meetings was due."""
    from dagster._utils.schedules import reverse_cron_string_iterator

    chosen = [r for r in rhythm if REVIEWED_ASSET in r.get("assets", [])] or rhythm
    latest = None
    for meeting in chosen:
        due = next(reverse_cron_string_iterator(now.timestamp(), meeting["cron"], meeting.get("timezone", "UTC")), None)
        if due is not None:
            due = due.astimezone(UTC)
            latest = due if latest is None or due > latest else latest
    return latest


def verify_current_releases(platform, now: datetime, cursor: str | None) -> tuple[str | None, dict[str, str]]:  # noqa: ANN001
    """Verify every current release when a meeting passed since `cursor`; (new cursor, version -> status)."""
    from sqlalchemy import select

    from dataops_platform.governance.policy import config_document
    from dataops_platform.governance.versions import verify_version
    from dataops_platform.store.models import Project
    from dataops_platform.tracking.sync import system_actor

    with platform.store.read() as session:
        rhythm = (config_document(session, "operating_rhythm") or {}).get("items", [])
        releases = [v for v in session.scalars(select(Project.current_release).order_by(Project.id)) if v]
        actor = system_actor(session)
    due = latest_meeting(rhythm, now)
    if due is None or (cursor is not None and datetime.fromisoformat(cursor) >= due):
        return cursor, {}
    return due.isoformat(), {vid: verify_version(platform, actor, vid)["status"] for vid in releases}


@dg.sensor(
    name="release_data_verify",
    minimum_interval_seconds=TICK_SECONDS,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Before each operating-rhythm meeting, re-reads the data under every current release (data_drift on change).",
)
def release_data_verify(context: dg.SensorEvaluationContext, governance: GovernanceResource) -> dg.SkipReason:
    platform = governance.platform()
    try:
        cursor, results = verify_current_releases(platform, platform.clock.now(), context.cursor)
    finally:
        platform.close()
    if cursor is not None:
        context.update_cursor(cursor)
    if not results:
        return dg.SkipReason(f"no meeting since {context.cursor or 'the start'}: nothing to verify")
    changed = sorted(v for v, s in results.items() if s != "ok")
    return dg.SkipReason(f"verified {len(results)} current releases; not intact: {', '.join(changed) or 'none'}")
