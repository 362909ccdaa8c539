"""The four sensors, each evaluated with `dg.build_sensor_context` and an explicit cursor over a real
store and a real MLflow store: it fires on its event, skips otherwise, and a second tick on the
same state asks for nothing new (same run_key, no second experiment or alert)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import func, select

from dataops_platform.clock import FixedClock
from dataops_platform.defs.assets import ASSETS
from dataops_platform.defs.graph import downstream_of
from dataops_platform.defs.jobs import governance_job
from dataops_platform.defs.resources import default_resources
from dataops_platform.defs.sensors import (
    mlflow_new_runs,
    platform_run_failure,
    release_gate_watch,
    run_failure_key,
    sla_risk_key,
    sla_risk_watch,
)
from dataops_platform.governance.alerts import open_alert
from dataops_platform.governance.experiments import record_experiment
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.refs import ref
from dataops_platform.settings import Settings
from dataops_platform.store.models import Alert, AuditRecord, DatasetVersion, Experiment
from dataops_platform.tracking.client import Tracking, VersionRef
from dataops_platform_tests.services.steps import PROJECT, registered, validated

SYSTEM = "dataops-system"


def _tick(sensor: dg.SensorDefinition, settings: Settings, cursor: str | None) -> tuple[list[dg.RunRequest], str | None, str]:
    """One evaluation: the run requests, the cursor it leaves and the skip message, if any."""
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=default_resources(settings.home_dir))
        result = sensor.evaluate_tick(context)
    skip = result.skip_message or ""
    return list(result.run_requests or []), result.cursor, skip


def _count(platform: Platform, model, *where) -> int:  # noqa: ANN001
    with platform.store.read() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def _alerts(platform: Platform, **by: str) -> list[Alert]:
    with platform.store.read() as session:
        return list(session.scalars(select(Alert).filter_by(**by).order_by(Alert.alert_id)))


# -- mlflow_new_runs -----------------------------------------------------------------------------


def _mlflow_run(settings: Settings, version: DatasetVersion, f1: float) -> str:
    tracking = Tracking(settings.tracking_uri, settings.mlflow_artifact_root)
    location = (settings.data_dir / version.data_location).as_uri()
    ref_ = VersionRef(version.version_id, version.content_digest, location, version.row_count)
    with tracking.run(version.project_id, ref_, {"model": "test"}, "sensor-test", user="lena") as run:
        run.log_metrics({"f1": f1, "latency_ms": 100.0})
    return run.run_id


def test_mlflow_new_runs_syncs_once_and_requests_the_downstream_refresh(
    sqlite_platform: Platform, sqlite_settings: Settings, tmp_path: Path
) -> None:
    version = validated(sqlite_platform, tmp_path)
    requests, cursor, skip = _tick(mlflow_new_runs, sqlite_settings, None)
    assert requests == [] and "no MLflow run" in skip  # nothing to see yet

    run_id = _mlflow_run(sqlite_settings, version, 0.8)
    requests, cursor, _ = _tick(mlflow_new_runs, sqlite_settings, cursor)
    with sqlite_platform.store.read() as session:
        experiment = session.scalars(select(Experiment).where(Experiment.mlflow_run_id == run_id)).one()
    assert len(requests) == 1
    assert requests[0].run_key == f"mlflow_new_runs:{experiment.experiment_id}"
    assert [k.to_user_string() for k in requests[0].asset_selection] == downstream_of("experiment_runs")
    assert json.loads(cursor)["run_ids"] == [run_id]

    # The same state again: with the new cursor nothing is seen; with the old one (a lost cursor
    # update) the run is seen but the store already has it: no second experiment, no request.
    again, cursor_after, skip = _tick(mlflow_new_runs, sqlite_settings, cursor)
    assert again == [] and cursor_after == cursor and "no MLflow run" in skip
    replay, _, skip = _tick(mlflow_new_runs, sqlite_settings, None)
    assert replay == [] and "none new to the store" in skip
    assert _count(sqlite_platform, Experiment) == 1


def test_mlflow_new_runs_skips_runs_that_name_no_version(sqlite_platform: Platform, sqlite_settings: Settings) -> None:
    tracking = Tracking(sqlite_settings.tracking_uri, sqlite_settings.mlflow_artifact_root)
    stray = VersionRef("ds_v999", "0" * 64, "file:///nowhere.jsonl", 1)
    with tracking.run(PROJECT, stray, {}, "stray") as run:
        run.log_metrics({"f1": 0.5})
    requests, cursor, skip = _tick(mlflow_new_runs, sqlite_settings, None)
    assert requests == [] and "1 ignored" in skip
    assert _count(sqlite_platform, Experiment) == 0
    assert json.loads(cursor)["run_ids"] == [run.run_id]  # not seen as new again (the sync re-examines it)


def test_mlflow_new_runs_picks_up_an_ignored_run_once_its_tag_is_fixed(
    sqlite_platform: Platform, sqlite_settings: Settings, tmp_path: Path
) -> None:
    """Issue 12 finding 9: a run ignored for a typo is re-examined on later ticks, without a new run."""
    version = validated(sqlite_platform, tmp_path)
    tracking = Tracking(sqlite_settings.tracking_uri, sqlite_settings.mlflow_artifact_root)
    location = (sqlite_settings.data_dir / version.data_location).as_uri()
    typo = VersionRef(version.version_id.upper(), version.content_digest, location, version.row_count)
    with tracking.run(PROJECT, typo, {}, "typo", user="lena") as run:
        run.log_metrics({"f1": 0.8, "latency_ms": 100.0})
    requests, cursor, skip = _tick(mlflow_new_runs, sqlite_settings, None)
    assert requests == [] and "1 ignored" in skip
    requests, cursor, skip = _tick(mlflow_new_runs, sqlite_settings, cursor)
    assert requests == [] and "still ignored" in skip

    tracking.client.set_tag(run.run_id, "dataops.dataset_version", version.version_id)
    requests, cursor_after, _ = _tick(mlflow_new_runs, sqlite_settings, cursor)
    with sqlite_platform.store.read() as session:
        experiment = session.scalars(select(Experiment).where(Experiment.mlflow_run_id == run.run_id)).one()
    assert [r.run_key for r in requests] == [f"mlflow_new_runs:{experiment.experiment_id}"]
    assert experiment.recorded_by == "lena" and cursor_after == cursor
    requests, _, skip = _tick(mlflow_new_runs, sqlite_settings, cursor)
    assert requests == [] and "no MLflow run" in skip


# -- release_gate_watch --------------------------------------------------------------------------


def _head(platform: Platform) -> int:
    with platform.store.read() as session:
        return session.scalar(select(func.max(AuditRecord.seq)))


def test_release_gate_watch_alerts_once_on_a_failed_experiment(
    sqlite_platform: Platform, sqlite_settings: Settings, tmp_path: Path
) -> None:
    version = validated(sqlite_platform, tmp_path)
    cursor = str(_head(sqlite_platform))
    requests, cursor_same, skip = _tick(release_gate_watch, sqlite_settings, cursor)
    assert requests == [] and cursor_same == cursor and "no experiment logged" in skip

    # A completed experiment touches no gate: skipped, cursor moves on.
    record_experiment(sqlite_platform, "lena", PROJECT, version.version_id, "completed", metrics={"f1": 0.8})
    requests, cursor, skip = _tick(release_gate_watch, sqlite_settings, cursor)
    assert requests == [] and "nothing regressed" in skip and cursor == str(_head(sqlite_platform))

    # A failed one logged by hand (no sync, so no alert yet): the sensor opens the alert.
    failed = record_experiment(sqlite_platform, "lena", PROJECT, version.version_id, "failed", error="OOM")
    before = cursor
    requests, cursor, _ = _tick(release_gate_watch, sqlite_settings, before)
    alerts = _alerts(sqlite_platform, related_object=ref("experiment", failed.experiment_id))
    assert [(a.category, a.opened_by, a.status) for a in alerts] == [("run_failure", SYSTEM, "open")]
    assert len(requests) == 1 and requests[0].run_key.startswith("release_gate_watch:")
    assert [k.to_user_string() for k in requests[0].asset_selection] == downstream_of("dataset_versions")

    # Two ticks on the same state: the moved cursor skips; the old cursor asks for the same run
    # (Dagster drops a repeated run_key) and opens no second alert.
    again, _, _ = _tick(release_gate_watch, sqlite_settings, cursor)
    replay, _, _ = _tick(release_gate_watch, sqlite_settings, before)
    assert again == []
    assert [r.run_key for r in replay] == [requests[0].run_key]
    assert len(_alerts(sqlite_platform, related_object=ref("experiment", failed.experiment_id))) == 1

    # Turned on over this home with no cursor: the history has its alerts, so nothing to ask for.
    first, first_cursor, skip = _tick(release_gate_watch, sqlite_settings, None)
    assert first == [] and "first tick" in skip and first_cursor == str(_head(sqlite_platform))

    # The gate state is on the version in the artifact the requested run rebuilds.
    from dataops_platform.artifacts.build import dataset_versions

    with sqlite_platform.store.read() as session:
        row = next(v for v in dataset_versions(session, datetime.now(UTC)) if v["version_id"] == version.version_id)
    assert row["release_gate"]["open"] is False
    assert any(failed.experiment_id in reason for reason in row["release_gate"]["blocked_by"])


def test_release_gate_watch_alerts_on_a_rejected_version(
    sqlite_platform: Platform, sqlite_settings: Settings, tmp_path: Path
) -> None:
    from dataops_platform.governance.versions import register_version, validate_version
    from dataops_platform_tests.services.steps import data_file

    cursor = str(_head(sqlite_platform))
    bad = register_version(sqlite_platform, "lena", PROJECT, data_file(tmp_path, n=3), change_summary=["too small"])
    validate_version(sqlite_platform, "quinn", bad.version_id)  # the quality gate rejects 3 rows
    requests, _, _ = _tick(release_gate_watch, sqlite_settings, cursor)
    assert [a.opened_by for a in _alerts(sqlite_platform, category="quality_gate")] == [SYSTEM]
    assert len(requests) == 1


def test_release_gate_watch_reopens_a_finding_whose_exception_expired(tmp_path: Path) -> None:
    """A data regression on the current release, waived by an exception (so its alert was resolved),
    stands again once the exception expires: the sensor opens one high alert on the version, with
    the rollback candidate, and the alert is kept open while the finding stands."""
    from dataops_platform.errors import GateRefused
    from dataops_platform.governance.alerts import release_regression_key, resolve_alert
    from dataops_platform.governance.exceptions import approve_exception, request_exception
    from dataops_platform_tests.findings.story import build_data_regression

    story = build_data_regression(tmp_path / "home")  # five days ago, on the story's clock
    [experiment_id] = story.facts["regression"].added
    [regression] = _alerts(story.platform, related_object=ref("experiment", experiment_id))
    v2, v3 = story.versions["v2"], story.versions["v3"]
    exc = request_exception(
        story.platform, "lena", v3, "experiment_status", "re-labelling", story.clock.now() + timedelta(days=1)
    )
    approve_exception(story.platform, "priya", exc.exception_id)
    resolve_alert(story.platform, "omar", regression.alert_id, f"waived by {exc.exception_id} for a day")
    cursor = str(_head(story.platform))
    story.platform.close()

    # The sensor runs on the wall clock: the exception expired four days ago.
    requests, cursor_after, _ = _tick(release_gate_watch, story.settings, cursor)
    [reopened] = _alerts(story.platform, related_object=ref("version", v3))
    assert (reopened.severity, reopened.category, reopened.status, reopened.opened_by) == ("high", "regression", "open", SYSTEM)
    assert reopened.source_key == release_regression_key(v3, 1)
    assert experiment_id in reopened.title and f"roll back to {v2}" in reopened.title
    assert [r.run_key for r in requests] == [f"release_gate_watch:finding:{reopened.alert_id}"]
    assert cursor_after == cursor

    again, _, skip = _tick(release_gate_watch, story.settings, cursor)  # covered now: nothing more
    assert again == [] and "no experiment logged" in skip
    assert len(_alerts(story.platform, category="regression")) == 2
    live = Platform(story.settings)  # the wall clock: the finding stands
    with pytest.raises(GateRefused, match="finding"):
        resolve_alert(live, "omar", reopened.alert_id, "not yet")
    live.close()


# -- sla_risk_watch ------------------------------------------------------------------------------


def test_sla_risk_watch_escalates_a_late_alert_once(sqlite_platform: Platform, sqlite_settings: Settings, tmp_path: Path) -> None:
    version = registered(sqlite_platform, tmp_path)
    # Opened three hours ago by ops: past the high severity's 30 min acknowledge target.
    sqlite_platform.clock = FixedClock(datetime.now(UTC) - timedelta(hours=3))
    late = open_alert(sqlite_platform, "omar", ref("version", version.version_id), "high", "operational", "disk full")
    # Opened just now: inside every target.
    sqlite_platform.clock = FixedClock(datetime.now(UTC))
    fresh = open_alert(sqlite_platform, "omar", ref("version", version.version_id), "low", "operational", "slow")

    requests, cursor, _ = _tick(sla_risk_watch, sqlite_settings, None)
    risk = _alerts(sqlite_platform, category="sla_risk")
    assert [(a.related_object, a.severity, a.opened_by, a.source_key) for a in risk] == [
        (ref("alert", late.alert_id), "high", SYSTEM, sla_risk_key(late.alert_id))
    ]
    assert json.loads(cursor) == [late.alert_id]
    assert [r.run_key for r in requests] == [f"sla_risk_watch:{late.alert_id}"]
    with sqlite_platform.store.read() as session:
        audited = session.scalars(
            select(AuditRecord).where(AuditRecord.action == "alert.open", AuditRecord.actor == SYSTEM)
        ).all()
    assert [(r.object_ref, r.outcome) for r in audited] == [(ref("alert", risk[0].alert_id), "allowed")]

    again, _, skip = _tick(sla_risk_watch, sqlite_settings, cursor)
    assert again == [] and "none newly outside" in skip
    replay, _, _ = _tick(sla_risk_watch, sqlite_settings, None)  # a lost cursor: same run_key, no new alert
    assert [r.run_key for r in replay] == [r.run_key for r in requests]
    assert len(_alerts(sqlite_platform, category="sla_risk")) == 1
    assert fresh.alert_id not in {a.related_object.split(":")[1] for a in _alerts(sqlite_platform, category="sla_risk")}


def test_sla_risk_watch_skips_when_every_alert_is_inside_its_sla(
    sqlite_platform: Platform, sqlite_settings: Settings, tmp_path: Path
) -> None:
    version = registered(sqlite_platform, tmp_path)
    sqlite_platform.clock = FixedClock(datetime.now(UTC))
    open_alert(sqlite_platform, "omar", ref("version", version.version_id), "medium", "operational", "watch this")
    requests, cursor, skip = _tick(sla_risk_watch, sqlite_settings, None)
    assert requests == [] and json.loads(cursor) == [] and "1 unresolved alert(s), none" in skip
    assert _alerts(sqlite_platform, category="sla_risk") == []


# -- platform_run_failure ------------------------------------------------------------------------


def _failure_ticks(watched: Settings, tmp_path: Path, ticks: int) -> tuple[str, list]:
    """A real failed run of the platform's job (its home's store is garbage), then `ticks`
    evaluations of platform_run_failure on it over the `watched` home; (run id, outcomes)."""
    broken = Settings(home=tmp_path / "broken")
    broken.home_dir.mkdir(parents=True)
    (broken.home_dir / "governance.db").write_text("not a database")
    defs = dg.Definitions(
        assets=ASSETS, jobs=[governance_job], resources=default_resources(broken.home_dir), executor=dg.in_process_executor
    )
    with dg.instance_for_test() as instance:
        job = defs.resolve_job_def("governance_refresh")
        result = job.execute_in_process(instance=instance, raise_on_error=False, asset_selection=[dg.AssetKey("platform_scope")])
        assert not result.success
        run = instance.get_run_by_id(result.run_id)
        failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
        outcomes = []
        for _ in range(ticks):
            context = dg.build_run_status_sensor_context(
                sensor_name="platform_run_failure",
                dagster_event=failure,
                dagster_instance=instance,
                dagster_run=run,
                resources=default_resources(watched.home_dir),
            ).for_run_failure()
            outcomes.append(platform_run_failure(context))
    return run.run_id, outcomes


def test_platform_run_failure_raises_one_alert_per_failed_run(
    sqlite_platform: Platform, sqlite_settings: Settings, tmp_path: Path
) -> None:
    run_id, _ = _failure_ticks(sqlite_settings, tmp_path, ticks=2)  # the same failure seen twice: one alert
    alerts = _alerts(sqlite_platform, category="run_failure")
    assert [(a.related_object, a.severity, a.opened_by, a.source_key) for a in alerts] == [
        ("project:p01_retail_search", "high", SYSTEM, run_failure_key(run_id))
    ]
    assert "governance_refresh" in alerts[0].title


def test_platform_run_failure_needs_an_alert_project(sqlite_settings: Settings, tmp_path: Path) -> None:
    from dataops_platform.governance.bootstrap import initialize
    from dataops_platform.governance.spec_apply import apply_spec
    from dataops_platform.spec.loader import parse_spec
    from dataops_platform_tests.conftest import ADMIN, EXAMPLE_SPEC, T0

    # Explicitly none: left out, the alert project is the first declared project (docs/spec.md).
    text = EXAMPLE_SPEC.read_text().replace("  alert_project: p01_retail_search", "  alert_project: null")
    platform = Platform(sqlite_settings, FixedClock(T0))
    initialize(platform, ADMIN)
    apply_spec(platform, ADMIN, parse_spec(text), "no-alert-project.yaml")
    _, (outcome,) = _failure_ticks(sqlite_settings, tmp_path, ticks=1)
    assert isinstance(outcome, dg.SkipReason) and "system_actor.alert_project" in outcome.skip_message
    assert _count(platform, Alert) == 0
    platform.close()


@pytest.mark.parametrize(
    ("sensor", "status"),
    [
        (mlflow_new_runs, dg.DefaultSensorStatus.STOPPED),  # acting sensors: an operator turns them on
        (release_gate_watch, dg.DefaultSensorStatus.STOPPED),
        (sla_risk_watch, dg.DefaultSensorStatus.STOPPED),
        (platform_run_failure, dg.DefaultSensorStatus.RUNNING),
    ],
)
def test_sensor_default_status_and_description(sensor: dg.SensorDefinition, status: dg.DefaultSensorStatus) -> None:
    assert sensor.default_status == status
    assert sensor.description
