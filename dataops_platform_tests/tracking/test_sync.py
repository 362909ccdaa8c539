"""MLflow sync: incremental, idempotent, judged by the policy, tolerant of foreign runs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dataops_platform.governance.platform import Platform
from dataops_platform.store.models import Alert, Experiment, LineageEdge
from dataops_platform.tracking import client as tc
from dataops_platform.tracking.client import Tracking, VersionRef
from dataops_platform.tracking.regression import judge
from dataops_platform.tracking.sync import sync_runs
from dataops_platform_tests.services.steps import PROJECT, released


@pytest.fixture
def tracking(sqlite_platform: Platform) -> Tracking:
    settings = sqlite_platform.settings
    settings.ensure_home()
    return Tracking(settings.tracking_uri, settings.mlflow_artifact_root)


def _log(tracking: Tracking, platform: Platform, version, metrics: dict, fail: bool = False) -> str:  # noqa: ANN001
    ref = VersionRef(
        version.version_id,
        version.content_digest,
        (platform.settings.data_dir / version.data_location).as_uri(),
        version.row_count,
    )
    try:
        with tracking.run(PROJECT, ref, {"C": 1.0}, "t", user="lena") as run:
            if fail:
                raise RuntimeError("training blew up")
            run.log_metrics(metrics)
    except RuntimeError:
        pass
    return run.run_id


def _counts(platform: Platform) -> tuple[int, int, int]:
    with platform.store.read() as s:
        return tuple(s.scalar(select(func.count()).select_from(m)) for m in (Experiment, Alert, LineageEdge))


def test_sync_is_incremental_and_idempotent(sqlite_platform: Platform, tracking: Tracking, tmp_path: Path) -> None:
    version = released(sqlite_platform, tmp_path)
    base = _log(tracking, sqlite_platform, version, {"f1": 0.90, "latency_ms": 100})
    first = sync_runs(sqlite_platform, tracking)
    assert len(first.added) == 1 and first.alerts == []
    counts = _counts(sqlite_platform)
    again = sync_runs(sqlite_platform, tracking)
    assert again.added == [] and _counts(sqlite_platform) == counts
    worse = _log(tracking, sqlite_platform, version, {"f1": 0.85, "latency_ms": 100})
    slow = _log(tracking, sqlite_platform, version, {"f1": 0.91, "latency_ms": 900})
    failed = _log(tracking, sqlite_platform, version, {}, fail=True)
    later = sync_runs(sqlite_platform, tracking)
    assert len(later.added) == 3 and len(later.alerts) == 3
    with sqlite_platform.store.read() as s:
        status = {e.mlflow_run_id: (e.status, e.baseline_ref) for e in s.scalars(select(Experiment))}
    assert status[base] == ("completed", None)
    assert status[worse][0] == "regressed" and status[slow][0] == "regressed" and status[failed][0] == "failed"
    assert status[worse][1] == first.added[0]  # the baseline is the best run on the current release
    tags = tracking.client.get_run(worse).data.tags
    assert tags[tc.TAG_STATUS] == "regressed" and tags["dataops.delta.f1"] == "-0.0500"
    assert tracking.client.get_run(base).data.tags[tc.TAG_BASELINE] == "true"
    assert sync_runs(sqlite_platform, tracking).added == []


def test_run_without_dataops_tags_is_ignored_with_a_warning(
    sqlite_platform: Platform,
    tracking: Tracking,
    caplog: pytest.LogCaptureFixture,
) -> None:
    experiment = tracking.experiment_id(PROJECT)
    run = tracking.client.create_run(experiment)
    tracking.client.set_terminated(run.info.run_id)
    with caplog.at_level(logging.WARNING):
        report = sync_runs(sqlite_platform, tracking)
    assert report.added == [] and len(report.ignored) == 1
    assert run.info.run_id in caplog.text
    assert _counts(sqlite_platform)[0] == 0


def test_regression_policy_directions_and_guards() -> None:
    from dataops_platform.spec.models import GuardMetric, RegressionRule

    higher = RegressionRule(primary_metric="f1", tolerance=0.02, guards={"latency_ms": GuardMetric(max=800)})
    assert judge({"f1": 0.89, "latency_ms": 10}, {"f1": 0.90}, higher).status == "completed"  # inside tolerance
    assert judge({"f1": 0.87, "latency_ms": 10}, {"f1": 0.90}, higher).status == "regressed"
    assert judge({"f1": 0.95, "latency_ms": 801}, None, higher).status == "regressed"
    lower = RegressionRule(primary_metric="rmse", direction="lower_is_better", tolerance=0.1)
    assert judge({"rmse": 1.05}, {"rmse": 1.0}, lower).status == "completed"
    assert judge({"rmse": 1.2}, {"rmse": 1.0}, lower).deltas == {"rmse": 0.2}
    assert judge({"rmse": 1.2}, {"rmse": 1.0}, lower).status == "regressed"
