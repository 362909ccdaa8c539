"""The release-data verify sensor: on the operating rhythm, once per meeting, every current release."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from dataops_platform.defs.resources import GovernanceResource
from dataops_platform.defs.verify_sensor import latest_meeting, release_data_verify, verify_current_releases
from dataops_platform.demo.sample_data import sample_records, write_records
from dataops_platform.governance import versions
from dataops_platform.governance.platform import Platform
from dataops_platform.store.models import DatasetVersion


def test_latest_meeting_follows_the_rhythm_in_its_time_zone() -> None:
    rhythm = [
        {"id": "daily", "cron": "0 9 * * *", "timezone": "Europe/Berlin", "assets": ["alerts"]},
        {"id": "weekly", "cron": "0 10 * * 1", "timezone": "Europe/Berlin", "assets": ["dataset_versions"]},
    ]
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)  # a Wednesday
    assert latest_meeting(rhythm, now) == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # Monday 10:00 Berlin
    assert latest_meeting(rhythm[:1], now) == datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def test_verifies_current_releases_once_per_meeting(sqlite_platform: Platform, tmp_path: Path) -> None:
    path = write_records(sample_records(30, seed=61), tmp_path / "live.parquet")
    v = versions.register_version(sqlite_platform, "lena", "p02_legal_sft", path)
    versions.validate_version(sqlite_platform, "quinn", v.version_id)
    versions.release_version(sqlite_platform, "priya", v.version_id)
    now = sqlite_platform.clock.now()
    cursor, results = verify_current_releases(sqlite_platform, now, None)
    assert results == {v.version_id: "ok"} and cursor is not None
    assert verify_current_releases(sqlite_platform, now, cursor) == (cursor, {})  # a re-tick verifies nothing
    changed = sample_records(30, seed=61)
    changed[0]["id"] = "replaced"
    pq.write_table(pa.Table.from_pylist(changed), path)
    later, results = verify_current_releases(sqlite_platform, now + timedelta(days=8), cursor)
    assert results == {v.version_id: "drifted"} and later > cursor
    with sqlite_platform.store.read() as session:
        assert session.get(DatasetVersion, v.version_id).verify_status == "drifted"


def test_the_sensor_ticks_with_a_cursor(sqlite_platform: Platform) -> None:
    resource = GovernanceResource(home=str(sqlite_platform.settings.home_dir))
    with dg.build_sensor_context(resources={"governance": resource}) as context:
        result = release_data_verify(context)
    assert isinstance(result, dg.SkipReason)
    assert context.cursor is not None
