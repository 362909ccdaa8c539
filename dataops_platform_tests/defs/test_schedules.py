"""Schedules come from the spec's operating rhythm: cron and time zone as written there, and a tick
requests exactly the meeting's assets (one run per scheduled moment)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
import yaml

from dataops_platform.defs.jobs import governance_job
from dataops_platform.defs.schedules import applied_rhythm, rhythm_schedule, rhythm_schedules
from dataops_platform.governance.platform import Platform
from dataops_platform.settings import Settings, load_settings
from dataops_platform.spec.loader import SpecInvalid, parse_spec
from dataops_platform_tests.conftest import EXAMPLE_SPEC, REPO

RHYTHM = yaml.safe_load(EXAMPLE_SPEC.read_text())["operating_rhythm"]


def _tick(schedule: dg.ScheduleDefinition, at: datetime) -> list[dg.RunRequest]:
    with dg.build_schedule_context(scheduled_execution_time=at) as context:
        result = schedule.evaluate_tick(context)
    return list(result.run_requests or [])


def test_the_schedules_of_an_applied_spec_are_its_rhythm(sqlite_platform: Platform, sqlite_settings: Settings) -> None:
    schedules = {s.name: s for s in rhythm_schedules(sqlite_settings)}
    assert set(schedules) == {m["id"] for m in RHYTHM} == {"daily_ops_review", "weekly_governance_review"}
    for meeting in RHYTHM:
        schedule = schedules[meeting["id"]]
        assert (schedule.cron_schedule, schedule.execution_timezone) == (meeting["cron"], meeting["timezone"])
        assert schedule.job_name == governance_job.name
        assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING


@pytest.mark.parametrize(
    ("meeting_id", "assets"),
    [
        ("daily_ops_review", ["alerts", "sla_report"]),
        ("weekly_governance_review", ["platform_metrics", "platform_report", "test_report"]),
    ],
)
def test_a_tick_requests_the_meetings_assets_once_per_moment(meeting_id: str, assets: list[str]) -> None:
    schedule = rhythm_schedule(next(m for m in RHYTHM if m["id"] == meeting_id))
    monday_nine_berlin = datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    first = _tick(schedule, monday_nine_berlin)
    assert len(first) == 1
    assert [k.to_user_string() for k in first[0].asset_selection] == assets
    assert first[0].tags["dataops/trigger"] == f"schedule:{meeting_id}"
    assert [r.run_key for r in _tick(schedule, monday_nine_berlin)] == [first[0].run_key]  # same moment, same run
    assert _tick(schedule, datetime(2026, 11, 30, 8, 0, tzinfo=UTC))[0].run_key != first[0].run_key


def test_the_cron_is_read_in_the_meetings_time_zone() -> None:
    from dagster._utils.schedules import cron_string_iterator

    schedule = rhythm_schedule(next(m for m in RHYTHM if m["id"] == "daily_ops_review"))
    ticks = cron_string_iterator(
        datetime(2026, 7, 1, tzinfo=UTC).timestamp(), schedule.cron_schedule, schedule.execution_timezone
    )
    first = next(ticks)
    assert first.astimezone(UTC).hour == 7  # 09:00 in Berlin summer time is 07:00 UTC
    assert next(ticks) - first == timedelta(days=1)


def test_no_store_no_schedules_and_no_store_created(tmp_path) -> None:  # noqa: ANN001
    settings = load_settings(tmp_path / "empty")
    assert applied_rhythm(settings) == []
    assert not (settings.home_dir / "governance.db").exists()


def test_definitions_load_the_rhythm_of_the_home(sqlite_platform: Platform, sqlite_settings: Settings) -> None:
    """The code location `dagster dev` loads reads DATAOPS_HOME: its schedules are that home's rhythm."""
    code = "from dataops_platform.definitions import defs; print(sorted(s.name for s in defs.schedules))"
    env = os.environ | {"DATAOPS_HOME": str(sqlite_settings.home_dir)}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(["daily_ops_review", "weekly_governance_review"])


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("cron", "0 25 * * *", "operating_rhythm[0].cron"),
        ("cron", "every day", "operating_rhythm[0].cron"),
        ("timezone", "Mars/Olympus", "operating_rhythm[0].timezone"),
        ("assets", ["alerts", "no_such_asset"], "operating_rhythm[0].assets[1]"),
    ],
)
def test_a_bad_meeting_is_named_in_spec_validation(field: str, value: object, path: str) -> None:
    data = yaml.safe_load(EXAMPLE_SPEC.read_text())
    data["operating_rhythm"][0][field] = value
    with pytest.raises(SpecInvalid) as err:
        parse_spec(yaml.safe_dump(data))
    assert path in [p.path for p in err.value.problems]


@pytest.mark.parametrize(
    "cron",
    ["0 9 * * *", "*/15 * * * *", "0 10 * * 1", "0 9-17 * * 1-5", "5,35 * 1 1,6 0", "0 25 * * *", "0 9 * * 8", "*/0 * * * *"],
)
def test_our_cron_check_agrees_with_dagsters(cron: str) -> None:
    from dagster._utils.schedules import is_valid_cron_string

    from dataops_platform.spec.loader import _cron_ok

    assert _cron_ok(cron) == is_valid_cron_string(cron)
