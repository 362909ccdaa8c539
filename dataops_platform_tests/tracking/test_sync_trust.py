"""Issue 12, findings 2 and 9: what an MLflow run must be before the sync counts it.

Finding 2: a NaN or infinite primary or guard metric is never `completed` and never a baseline.
Finding 9: a run counts only in its project's own MLflow experiment, logged by an MLflow user who
maps to a platform user holding experiment.log there, and is recorded as that user; anything else
is ignored, audited, re-examined on the next sync, and reported to each caller only as far as they
may read.

Runs are logged with the bare MlflowClient (tags, metrics, explicit end times) on a real MLflow
store under tmp_path, so every test states exactly what MLflow holds.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from dataops_platform.errors import GateRefused
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.versions import release_version
from dataops_platform.store.models import Alert, Experiment, PlatformConfig
from dataops_platform.tracking import client as tc
from dataops_platform.tracking.client import Tracking
from dataops_platform.tracking.sync import baseline_for, sync_runs
from dataops_platform_tests.helpers import audit_after, head_seq, run_cli_inprocess
from dataops_platform_tests.services.steps import PROJECT, released, validated

RETAIL = "p01_retail_search"  # tenant t01_retail: dan is its data engineer, and in no other project
LEGAL_TENANT = "t02_legal"  # PROJECT's tenant: lena is its data engineer
_clock_ms = itertools.count(int(time.time() * 1000) - 3_600_000, 1000)  # strictly increasing end times


@pytest.fixture
def tracking(sqlite_platform: Platform) -> Tracking:
    return _tracking(sqlite_platform)


def _tracking(platform: Platform) -> Tracking:
    platform.settings.ensure_home()
    return Tracking(platform.settings.tracking_uri, platform.settings.mlflow_artifact_root)


def log_run(
    tracking: Tracking,
    *,
    version: str | None,
    project: str | None = PROJECT,
    user: str | None = "lena",
    metrics: dict[str, float] | None = None,
    experiment_id: str | None = None,
    status: str = "FINISHED",
) -> str:
    """A finished run as MLflow stores it: tags, metrics and an end time later than every earlier one."""
    client = tracking.client
    tags = {tc.TAG_PROJECT: project, tc.TAG_VERSION: version, "mlflow.user": user}
    run = client.create_run(
        experiment_id or tracking.experiment_id(project), tags={k: v for k, v in tags.items() if v is not None}
    )
    for name, value in (metrics if metrics is not None else {"f1": 0.9, "latency_ms": 100.0}).items():
        client.log_metric(run.info.run_id, name, value)
    client.set_terminated(run.info.run_id, status=status, end_time=next(_clock_ms))
    return run.info.run_id


def experiment_of(platform: Platform, run_id: str) -> Experiment | None:
    with platform.store.read() as session:
        return session.scalars(select(Experiment).where(Experiment.mlflow_run_id == run_id)).one_or_none()


def experiment_count(platform: Platform) -> int:
    with platform.store.read() as session:
        return session.scalar(select(func.count()).select_from(Experiment))


def refusals(platform: Platform, since: int, run_id: str) -> list[tuple[str, str, str, str | None]]:
    """(actor, action, outcome, project) of the audit records about one MLflow run since `since`."""
    return [
        (r.actor, r.action, r.outcome, r.project) for r in audit_after(platform, since) if r.object_ref == f"mlflow_run:{run_id}"
    ]


def put_mlflow_users(platform: Platform, mapping: dict[str, str]) -> None:
    """The PlatformConfig document spec apply writes from `users[].mlflow_users`."""
    with platform.store.write() as session:
        row = session.get(PlatformConfig, "mlflow_users")
        if row is None:
            session.add(PlatformConfig(key="mlflow_users", value=mapping))
        else:
            row.value = dict(mapping)


# -- finding 2: non-finite metrics ---------------------------------------------------------------


@pytest.fixture
def any_tracking(platform: Platform) -> Iterator[Tracking]:
    """MLflow beside the reference organisation on both store backends (PostgreSQL's json refuses NaN)."""
    yield _tracking(platform)


@pytest.mark.parametrize("bad", [math.nan, math.inf], ids=["nan", "inf"])
def test_finding2_nan_metric_never_completed_nor_baseline(
    platform: Platform, any_tracking: Tracking, tmp_path: Path, bad: float
) -> None:
    tracking = any_tracking
    v1 = released(platform, tmp_path)
    base = log_run(tracking, version=v1.version_id, metrics={"f1": 0.90, "latency_ms": 100.0})
    sync_runs(platform, tracking)
    v2 = validated(platform, tmp_path, parent=v1.version_id)
    broken = log_run(tracking, version=v2.version_id, metrics={"f1": bad, "latency_ms": 100.0})
    report = sync_runs(platform, tracking)

    experiment = experiment_of(platform, broken)
    text = "NaN" if math.isnan(bad) else "Infinity"
    assert experiment.status == "failed"  # never completed
    assert "f1" in experiment.error and text in experiment.error
    assert experiment.baseline_ref is None and experiment.deltas == {}
    assert experiment.metric_summary == {"f1": text, "latency_ms": 100.0}  # valid JSON, the value kept as text
    json.dumps(experiment.metric_summary, allow_nan=False)
    with platform.store.read() as session:
        alert = session.scalars(select(Alert).where(Alert.related_object == f"experiment:{experiment.experiment_id}")).one()
    assert alert.category == "run_failure" and report.alerts == [alert.alert_id]
    assert tracking.client.get_run(broken).data.tags[tc.TAG_STATUS] == "failed"
    with pytest.raises(GateRefused):  # the gate blocks the version the broken run evaluated
        release_version(platform, "priya", v2.version_id)

    later = log_run(tracking, version=v2.version_id, metrics={"f1": 0.10, "latency_ms": 100.0})
    sync_runs(platform, tracking)
    judged = experiment_of(platform, later)
    assert (judged.status, judged.baseline_ref) == ("regressed", experiment_of(platform, base).experiment_id)
    assert judged.deltas == {"f1": -0.8, "latency_ms": 0.0}


def test_finding2_non_finite_guard_metric_fails_the_run_and_is_no_baseline(
    sqlite_platform: Platform, tracking: Tracking, tmp_path: Path
) -> None:
    platform = sqlite_platform
    version = released(platform, tmp_path)
    base = log_run(tracking, version=version.version_id, metrics={"f1": 0.90, "latency_ms": 100.0})
    fast = log_run(tracking, version=version.version_id, metrics={"f1": 0.99, "latency_ms": math.nan})
    sync_runs(platform, tracking)
    assert experiment_of(platform, fast).status == "failed"
    assert "latency_ms" in experiment_of(platform, fast).error
    later = log_run(tracking, version=version.version_id, metrics={"f1": 0.91, "latency_ms": 100.0})
    sync_runs(platform, tracking)
    judged = experiment_of(platform, later)  # judged against 0.90, not against the NaN run's 0.99
    assert (judged.status, judged.baseline_ref) == ("completed", experiment_of(platform, base).experiment_id)


def test_finding2_baseline_skips_non_finite_rows_of_an_older_store(
    sqlite_platform: Platform, tracking: Tracking, tmp_path: Path
) -> None:
    """Before the fix a NaN run was stored as `completed` (SQLite's JSON took the NaN): such a row on
    the current release must not be the baseline; the last good release's best run is."""
    platform = sqlite_platform
    v1 = released(platform, tmp_path)
    good = log_run(tracking, version=v1.version_id, metrics={"f1": 0.90, "latency_ms": 100.0})
    sync_runs(platform, tracking)
    v2 = released(platform, tmp_path, parent=v1.version_id)
    at = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    with platform.store.write() as session:
        session.add(
            Experiment(
                experiment_id="exp_900", project_id=PROJECT, dataset_version=v2.version_id, mlflow_run_id=None,
                params={}, status="completed", metric_summary={"f1": math.nan, "latency_ms": 100.0}, baseline_ref=None,
                deltas={}, requires_review=False, alert_ids=[], error=None, run_ended_at=at, recorded_by="lena",
                recorded_at=at,
            )
        )  # fmt: skip
    with platform.store.read() as session:
        baseline = baseline_for(session, PROJECT, "f1", True)
    assert baseline is not None and baseline.experiment_id == experiment_of(platform, good).experiment_id


# -- finding 9: which runs count, as whom ---------------------------------------------------------


@pytest.mark.parametrize(
    ("mlflow_user", "outcome"),
    [("dan", "denied"), ("quinn", "failed"), ("lena", "failed")],
    ids=["user-of-the-other-tenant", "user-of-both-tenants", "user-of-the-tagged-tenant"],
)
def test_finding9_cross_tenant_run_not_recorded(
    sqlite_platform: Platform, tracking: Tracking, tmp_path: Path, mlflow_user: str, outcome: str
) -> None:
    """A run in tenant t01's experiment (p01) tagged with tenant t02's project and version."""
    platform = sqlite_platform
    legal = released(platform, tmp_path)
    released(platform, tmp_path, project=RETAIL, actor="dan")
    before = head_seq(platform)
    run = log_run(
        tracking,
        version=legal.version_id,
        user=mlflow_user,
        metrics={"f1": 0.99, "latency_ms": 10.0},
        experiment_id=tracking.experiment_id(RETAIL),
    )
    report = sync_runs(platform, tracking)
    assert experiment_count(platform) == 0 and report.added == []  # nothing recorded into p02
    assert refusals(platform, before, run) == [(mlflow_user, "experiment.log", outcome, PROJECT)]

    # An outsider (dan: tenant t01 only) learns nothing of tenant t02, not even the run's id.
    outsider = report.for_caller(platform, "dan")
    shown = json.dumps(outsider)
    for secret in (PROJECT, LEGAL_TENANT, legal.version_id, run, "legal"):
        assert secret not in shown, secret
    assert outsider["ignored"] == [] and outsider["ignored_not_shown"] == 1
    # The system actor, and a reader of both projects, see it described.
    for caller in (None, "quinn"):
        [described] = report.for_caller(platform, caller)["ignored"]
        assert (described["run_id"], described["outcome"], described["project"]) == (run, outcome, PROJECT)

    # Re-examined on the next sync, still refused for the same reason: listed, not audited again.
    seq = head_seq(platform)
    again = sync_runs(platform, tracking)
    assert [(i.run_id, i.new) for i in again.ignored] == [(run, False)] and head_seq(platform) == seq


def test_finding9_run_outside_its_projects_own_experiment_is_not_recorded(
    sqlite_platform: Platform, tracking: Tracking, tmp_path: Path
) -> None:
    """The experiment id must be the project's own, not any experiment whose name merely starts alike."""
    platform = sqlite_platform
    version = released(platform, tmp_path)
    shadow = tracking.client.create_experiment(f"{tc.experiment_name(PROJECT)}-shadow")
    before = head_seq(platform)
    run = log_run(tracking, version=version.version_id, experiment_id=shadow)
    report = sync_runs(platform, tracking)
    assert experiment_count(platform) == 0
    assert refusals(platform, before, run) == [("lena", "experiment.log", "failed", PROJECT)]
    assert "own experiment" in report.ignored[0].reason


@pytest.mark.parametrize(
    ("mlflow_user", "actor"),
    [("mallory", "dataops-system"), ("omar", "omar"), ("dataops-system", "dataops-system"), (None, "dataops-system")],
    ids=["maps-to-nobody", "ops-user-without-experiment-log", "the-system-actor-itself", "no-mlflow-user"],
)
def test_finding9_run_of_an_unmapped_or_unpermitted_mlflow_user_is_ignored_and_audited(
    sqlite_platform: Platform, tracking: Tracking, tmp_path: Path, mlflow_user: str | None, actor: str
) -> None:
    platform = sqlite_platform
    version = released(platform, tmp_path)
    before = head_seq(platform)
    run = log_run(tracking, version=version.version_id, user=mlflow_user)
    report = sync_runs(platform, tracking)
    assert experiment_count(platform) == 0
    assert refusals(platform, before, run) == [(actor, "experiment.log", "denied", PROJECT)]
    [ignored] = report.ignored
    assert (ignored.run_id, ignored.outcome, ignored.new) == (run, "denied", True)
    seq = head_seq(platform)
    assert [(i.run_id, i.new) for i in sync_runs(platform, tracking).ignored] == [(run, False)]
    assert head_seq(platform) == seq  # one refusal, one audit record


def test_finding9_run_recorded_as_the_platform_user_its_mlflow_user_maps_to(
    sqlite_platform: Platform, tracking: Tracking, tmp_path: Path
) -> None:
    platform = sqlite_platform
    version = released(platform, tmp_path)
    by_id = log_run(tracking, version=version.version_id, user="lena")
    by_alias = log_run(tracking, version=version.version_id, user="lena.k@legal.example")
    first = sync_runs(platform, tracking)
    assert experiment_of(platform, by_id).recorded_by == "lena"  # the same id maps
    assert experiment_of(platform, by_alias) is None and [i.run_id for i in first.ignored] == [by_alias]

    put_mlflow_users(platform, {"lena.k@legal.example": "lena"})  # the spec's users[].mlflow_users
    before = head_seq(platform)
    second = sync_runs(platform, tracking)
    experiment = experiment_of(platform, by_alias)
    assert experiment is not None and experiment.recorded_by == "lena"
    assert second.added == [experiment.experiment_id] and second.ignored == []
    records = [(r.actor, r.action, r.outcome) for r in audit_after(platform, before)
               if r.object_ref == f"experiment:{experiment.experiment_id}"]  # fmt: skip
    assert records == [("lena", "experiment.log", "allowed")]


def test_finding9_run_ignored_for_a_tag_typo_is_recorded_once_fixed(
    sqlite_platform: Platform, tracking: Tracking, tmp_path: Path
) -> None:
    platform = sqlite_platform
    version = released(platform, tmp_path)
    typo = log_run(tracking, version=version.version_id.replace("_v", "_V"))
    good = log_run(tracking, version=version.version_id)  # ends later: the store's newest run end time
    first = sync_runs(platform, tracking)
    assert experiment_of(platform, good) is not None and experiment_of(platform, typo) is None
    assert len(first.ignored) == 1
    seq = head_seq(platform)
    assert sync_runs(platform, tracking).added == [] and head_seq(platform) == seq  # refused once, audited once

    tracking.client.set_tag(typo, tc.TAG_VERSION, version.version_id)
    fixed = sync_runs(platform, tracking)
    experiment = experiment_of(platform, typo)
    assert experiment is not None and fixed.added == [experiment.experiment_id] and experiment.recorded_by == "lena"
    assert fixed.ignored == []
    assert [(i.run_id, i.outcome) for i in first.ignored] == [(typo, "failed")]
    with platform.store.read() as session:
        assert (session.get(PlatformConfig, "mlflow_sync_ignored").value or {}) == {}  # nothing left to re-examine
    assert sync_runs(platform, tracking).added == []


def test_finding9_a_caller_needs_experiment_log_somewhere_to_trigger_a_sync(
    sqlite_platform: Platform, tracking: Tracking
) -> None:
    """`experiment sync --as USER` decides and audits like the REST route: ops logs nowhere (exit 3)."""
    home = sqlite_platform.settings.home_dir
    before = head_seq(sqlite_platform)
    denied = run_cli_inprocess(home, "experiment", "sync", user="omar", as_json=True)
    assert denied.code == 3, denied.stdout + denied.stderr
    assert [(r.actor, r.action, r.outcome) for r in audit_after(sqlite_platform, before)] == [
        ("omar", "experiment.log", "denied")
    ]
    allowed = run_cli_inprocess(home, "experiment", "sync", user="dan", as_json=True)
    assert allowed.code == 0 and allowed.json["added"] == [], allowed.stderr


def test_finding9_cli_sync_as_an_outsider_names_nothing_of_another_tenant(
    sqlite_platform: Platform, tracking: Tracking, tmp_path: Path
) -> None:
    platform = sqlite_platform
    legal = released(platform, tmp_path)
    retail = released(platform, tmp_path, project=RETAIL, actor="dan")
    mine = log_run(tracking, project=RETAIL, version=retail.version_id, user="dan")
    theirs = log_run(tracking, version=legal.version_id, user="lena")
    foreign = log_run(tracking, version=legal.version_id, user="dan", experiment_id=tracking.experiment_id(RETAIL))
    result = run_cli_inprocess(platform.settings.home_dir, "experiment", "sync", user="dan", as_json=True)
    assert result.code == 0, result.stderr
    answer: dict[str, Any] = result.json
    assert answer["added"] == [experiment_of(platform, mine).experiment_id]  # lena's run is recorded, not shown
    assert experiment_of(platform, theirs) is not None and experiment_of(platform, foreign) is None
    assert answer["ignored"] == [] and answer["ignored_not_shown"] == 1
    for secret in (PROJECT, LEGAL_TENANT, legal.version_id, theirs, foreign):
        assert secret not in result.stdout, secret
    text = run_cli_inprocess(platform.settings.home_dir, "experiment", "sync", user="dan")
    assert text.code == 0 and "1 more ignored run(s) name projects you may not read" in " ".join(text.stdout.split())
    for secret in (PROJECT, LEGAL_TENANT, legal.version_id, theirs, foreign):
        assert secret not in text.stdout + text.stderr, secret
    everything = run_cli_inprocess(platform.settings.home_dir, "experiment", "sync", as_json=True)  # the system actor
    assert [i["run_id"] for i in everything.json["ignored"]] == [foreign] and everything.json["ignored_not_shown"] == 0
