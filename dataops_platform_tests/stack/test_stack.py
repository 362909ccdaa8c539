"""The platform on a real local stack (issue 8): PostgreSQL, Redis, an MLflow server, the Dagster
daemon and webserver and two Celery workers, started by `dataops stack up` from nothing.

One stack for the whole module (it takes ~20 s to come up); the tests run in file order and the
last one takes it down and proves nothing of it is left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from dataops_platform.defs.graph import GRAPH
from dataops_platform.settings import Settings
from dataops_platform.stack.runs import StepTrace, run_outcome, start_sensor, submit_job, wait_for_run
from dataops_platform.stack.services import (
    StackState,
    health,
    load_state,
    stack_processes,
    stack_settings,
    supervisorctl,
)
from dataops_platform_tests.conftest import EXAMPLE_SPEC
from dataops_platform_tests.helpers import run_cli

pytestmark = pytest.mark.slow  # one real stack for the module: several minutes

SPEC_BUILDS = [row.name for row in GRAPH if row.pool == "spec_builds"]  # the seven platform_overview assets


def _missing_services() -> list[str]:
    missing = [] if Path("/usr/bin/redis-server").exists() else ["redis-server"]
    return missing + ([] if list(Path("/usr/lib/postgresql").glob("*/bin/initdb")) else ["postgresql"])


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, StackState]]:
    missing = _missing_services()
    if missing:
        reason = f"the local stack needs {', '.join(missing)} (Debian packages; .ci/run installs them)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    home = tmp_path_factory.mktemp("stack") / "home"
    up = run_cli(home, "stack", "up", as_json=True, timeout=400)
    assert up.code == 0, up.stderr + up.stdout
    state = load_state(home)
    assert state is not None
    try:
        yield home, state
    finally:
        run_cli(home, "stack", "down", "--purge", timeout=120)


def _stack_env(home: Path, state: StackState) -> dict[str, str]:
    return state.env(home)


def _overlapping(steps: list[StepTrace]) -> list[tuple[str, str]]:
    pairs = []
    for i, a in enumerate(steps):
        for b in steps[i + 1 :]:
            if a.started < (b.ended or float("inf")) and b.started < (a.ended or float("inf")):
                pairs.append((a.step, b.step))
    return pairs


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


# -- up ------------------------------------------------------------------------------------------


def test_the_stack_comes_up_from_nothing_and_answers(stack: tuple[Path, StackState]) -> None:
    home, state = stack
    assert all(health(home, state).values()), health(home, state)
    status = run_cli(home, "stack", "status", as_json=True)
    assert status.code == 0 and json.loads(status.stdout)["healthy"] == dict.fromkeys(
        ["postgres", "redis", "mlflow", "dagster-webserver", "dagster-daemon", "celery-workers"], True
    )
    for url in (state.urls["dagster_ui"], state.urls["mlflow_ui"]):
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
            assert response.status == 200
    programs = supervisorctl(home, "status").stdout
    for name in ("redis", "mlflow", "daemon", "webserver", "worker1", "worker2"):
        assert f"{name} " in programs and "RUNNING" in programs.split(f"{name} ", 1)[1].splitlines()[0], programs
    # Three separate databases, never one (each keeps its own alembic_version).
    assert len(set(state.databases.values())) == 3


def test_a_second_up_on_the_same_home_is_refused(stack: tuple[Path, StackState]) -> None:
    home, _ = stack
    again = run_cli(home, "stack", "up")
    assert again.code == 2 and "already running" in again.error_text


# -- the reference scenario through the engine ----------------------------------------------------


def test_demo_on_the_stack_matches_the_embedded_demo_and_runs_in_celery_workers(
    stack: tuple[Path, StackState], demo_home: tuple[Settings, object]
) -> None:
    home, state = stack
    played = run_cli(home, "demo", "--stack", timeout=600)
    assert played.code == 0, played.stderr + played.stdout
    embedded_settings, _ = demo_home
    ours = json.loads((home / "artifacts" / "reports" / "p8_metrics.json").read_text())
    theirs = json.loads((embedded_settings.artifacts_dir / "reports" / "p8_metrics.json").read_text())
    ours.pop("generated_at"), theirs.pop("generated_at")
    assert ours == theirs

    import dagster as dg

    with dg.DagsterInstance.from_config(str(stack_settings(home, state).dagster_home)) as instance:
        run_id = instance.get_runs(limit=1)[0].run_id  # the one the demo submitted
    outcome, steps, run_pid = run_outcome(home, state, run_id)
    assert outcome.success and len(outcome.checks) == 13 and not outcome.failed_checks
    assert len(steps) == 31  # 18 assets + 13 checks
    worker_pids = {s.pid for s in steps}
    assert run_pid not in worker_pids
    for pid in worker_pids:  # prefork children of `dagster-celery worker start`, still alive
        assert "celery" in _cmdline(pid), (pid, _cmdline(pid))


# -- pools -----------------------------------------------------------------------------------------


def _spec_builds_run(state: StackState, home: Path) -> list[StepTrace]:
    run_id = submit_job(state, assets=SPEC_BUILDS, tags={"dataops/test": "pools"})
    assert wait_for_run(state, run_id, timeout=300) == "SUCCESS"
    _, steps, _ = run_outcome(home, state, run_id)
    return [s for s in steps if s.step in SPEC_BUILDS]  # the assets on the queue; their checks use no pool


def _pool_limit(home: Path, state: StackState, pool: str) -> int:
    import dagster as dg

    with dg.DagsterInstance.from_config(str(stack_settings(home, state).dagster_home)) as instance:
        return instance.event_log_storage.get_concurrency_info(pool).slot_count


def test_pool_limit_one_serialises_the_queue_and_raising_it_in_the_spec_lets_steps_overlap(
    stack: tuple[Path, StackState], tmp_path: Path
) -> None:
    home, state = stack
    assert _pool_limit(home, state, "spec_builds") == 1
    for _ in range(2):
        steps = _spec_builds_run(state, home)
        assert len(steps) == len(SPEC_BUILDS)
        assert _overlapping(steps) == [], "limit 1: no two spec_builds steps may run at once"

    spec = yaml.safe_load(EXAMPLE_SPEC.read_text())
    spec["task_queues"] = {"spec_builds": {"limit": 2}}  # an override of the code's queue
    path = tmp_path / "platform.yaml"
    path.write_text(yaml.safe_dump(spec))
    applied = run_cli(home, "spec", "apply", path, user="alice", env=_stack_env(home, state), as_json=True)
    assert applied.code == 0, applied.stderr
    assert json.loads(applied.stdout)["pool_limits"]["spec_builds"] == 2
    assert _pool_limit(home, state, "spec_builds") == 2

    # Two workers and two slots: steps now may run side by side. Timing decides whether they do,
    # so give it a few runs; one overlap shows the daemon no longer holds them to one.
    overlaps = []
    for _ in range(4):
        overlaps = _overlapping(_spec_builds_run(state, home))
        if overlaps:
            break
    assert overlaps, "limit 2 with two workers never ran two spec_builds steps at once"


# -- faults ---------------------------------------------------------------------------------------


def _failed_mlflow_run(settings: Settings, version: object) -> str:
    """A run on the tracking server that really raised (status FAILED)."""
    from dataops_platform.tracking.client import Tracking, VersionRef

    tracking = Tracking(settings.tracking_uri, settings.mlflow_artifact_root)
    location = (settings.data_dir / version.data_location).as_uri()
    ref = VersionRef(version.version_id, version.content_digest, location, version.row_count)
    run_ids = []
    with pytest.raises(MemoryError):
        with tracking.run(version.project_id, ref, {}, "oom", user=version.created_by) as run:
            run_ids.append(run.run_id)
            raise MemoryError("CUDA out of memory")
    return run_ids[0]


def _why(settings: Settings, run_id: str) -> str:
    """The failed steps' errors and the failed checks' offending ids, for an assertion message."""
    import dagster as dg

    lines = []
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        for record in instance.all_logs(run_id):
            event = record.dagster_event
            if event and event.event_type == dg.DagsterEventType.STEP_FAILURE:
                lines.append(f"{event.step_key}: {event.event_specific_data.error.message.strip()[:300]}")
            if event and event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION and not event.event_specific_data.passed:
                data = event.event_specific_data
                lines.append(f"check {data.check_name}: {data.metadata.get('offending')}")
    return "\n".join(lines)


def _program_pid(home: Path, name: str) -> int:
    return int(supervisorctl(home, "pid", name).stdout.strip())


def test_a_worker_killed_mid_run_is_restarted_and_the_run_completes(stack: tuple[Path, StackState]) -> None:
    home, state = stack
    import dagster as dg

    victim = _program_pid(home, "worker1")
    run_id = submit_job(state, tags={"dataops/test": "kill-worker"})
    settings = stack_settings(home, state)
    deadline = time.monotonic() + 180
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        while not instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_START).records:
            assert time.monotonic() < deadline, "the run never started a step"
            time.sleep(0.2)
    os.kill(victim, signal.SIGKILL)
    status = wait_for_run(state, run_id, timeout=400)
    if status != "SUCCESS":  # it may fail clearly; then a re-run must complete
        rerun = submit_job(state, tags={"dataops/test": "kill-worker-rerun"})
        status = wait_for_run(state, rerun, timeout=400)
        run_id = rerun
    assert status == "SUCCESS"
    outcome, _, _ = run_outcome(home, state, run_id)
    assert len(outcome.checks) == 13 and not outcome.failed_checks
    deadline = time.monotonic() + 60
    while _program_pid(home, "worker1") in (0, victim):
        assert time.monotonic() < deadline, supervisorctl(home, "status").stdout
        time.sleep(0.5)
    assert "RUNNING" in supervisorctl(home, "status", "worker1").stdout


def test_a_sensor_request_is_queued_by_the_daemon_and_run_by_the_workers(stack: tuple[Path, StackState], tmp_path: Path) -> None:
    """release_gate_watch turned on in the daemon: a failed experiment logged by hand gets its alert
    from the system actor, and the refresh the sensor asks for runs its steps in Celery workers."""
    import dagster as dg
    from sqlalchemy import select

    from dataops_platform.governance.experiments import record_experiment
    from dataops_platform.governance.platform import Platform
    from dataops_platform.governance.versions import register_version
    from dataops_platform.store.models import Alert
    from dataops_platform_tests.services.steps import data_file

    home, state = stack
    settings = stack_settings(home, state)
    platform = Platform(settings)
    # A fresh draft: a failed run on a released version would (rightly) fail rule 8's blocking check.
    version = register_version(platform, "lena", "p02_legal_sft", data_file(tmp_path), change_summary=["sensor test"])
    run_id = _failed_mlflow_run(settings, version)  # rule 7: every experiment names a real MLflow run
    failed = record_experiment(
        platform, "lena", "p02_legal_sft", version.version_id, "failed", mlflow_run_id=run_id, error="CUDA out of memory"
    )
    assert start_sensor(state, "release_gate_watch") == "RUNNING"

    deadline = time.monotonic() + 240
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        while True:
            runs = instance.get_runs(dg.RunsFilter(tags={"dataops/trigger": "sensor:release_gate_watch"}))
            if runs and runs[0].is_finished:
                break
            assert time.monotonic() < deadline, "the daemon ran no tick of release_gate_watch that asked for a run"
            time.sleep(2)
    outcome, steps, run_pid = run_outcome(home, state, runs[0].run_id)
    assert runs[0].status == dg.DagsterRunStatus.SUCCESS, _why(settings, runs[0].run_id)
    assert steps and run_pid not in {s.pid for s in steps}
    assert all("celery" in _cmdline(s.pid) for s in steps)
    with platform.store.read() as session:
        alert = session.scalars(select(Alert).where(Alert.related_object == f"experiment:{failed.experiment_id}")).one()
    assert (alert.category, alert.opened_by) == ("run_failure", "dataops-system")
    platform.close()


def _log_runs(home: Path, state: StackState, count: int) -> list[str]:
    """Finished MLflow runs on the tracking server on a released demo version, as training logs them."""
    from dataops_platform.governance.platform import Platform
    from dataops_platform.store.models import DatasetVersion
    from dataops_platform.tracking.client import Tracking, VersionRef

    settings = stack_settings(home, state)
    platform = Platform(settings)
    with platform.store.read() as session:
        version = session.get(DatasetVersion, "t01_retail.ds_v001")
    platform.close()
    tracking = Tracking(settings.tracking_uri, settings.mlflow_artifact_root)
    location = (settings.data_dir / version.data_location).as_uri()
    ids = []
    for i in range(count):
        with tracking.run(
            version.project_id,
            VersionRef(version.version_id, version.content_digest, location, 1),
            {},
            f"n{i}",
            user=version.created_by,  # the project's data engineer: the sync records runs as their MLflow user
        ) as run:
            run.log_metrics({"f1": 0.9, "latency_ms": 100.0})
        ids.append(run.run_id)
    return ids


def test_mlflow_stopped_during_sync_fails_clearly_and_resumes_without_duplicates(stack: tuple[Path, StackState]) -> None:
    home, state = stack
    env = _stack_env(home, state)
    new_runs = _log_runs(home, state, 2)
    assert "stopped" in supervisorctl(home, "stop", "mlflow").stdout
    try:
        failed = run_cli(home, "experiment", "sync", env=env, timeout=300)
        assert failed.code == 1, failed.stdout + failed.stderr
        assert state.urls["mlflow_ui"] in failed.error_text and "Traceback" not in failed.stderr
    finally:
        supervisorctl(home, "start", "mlflow")
    deadline = time.monotonic() + 120
    while not health(home, state)["mlflow"]:
        assert time.monotonic() < deadline
        time.sleep(1)
    first = run_cli(home, "experiment", "sync", env=env, as_json=True, timeout=300)
    again = run_cli(home, "experiment", "sync", env=env, as_json=True, timeout=300)
    assert first.code == 0 and again.code == 0, first.stderr + again.stderr
    assert len(json.loads(first.stdout)["added"]) == len(new_runs)
    assert json.loads(again.stdout)["added"] == []

    from sqlalchemy import func, select

    from dataops_platform.governance.platform import Platform
    from dataops_platform.store.models import Experiment

    platform = Platform(stack_settings(home, state))
    with platform.store.read() as session:
        for run_id in new_runs:
            assert session.scalar(select(func.count()).select_from(Experiment).where(Experiment.mlflow_run_id == run_id)) == 1
    platform.close()


def test_governance_postgres_restarted_between_operations(stack: tuple[Path, StackState]) -> None:
    home, state = stack
    pg_ctl = str(sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))[-1])
    log = str(Path(state.postgres_data) / "server.log")  # with no -l the server would hold our pipes open
    restart = [pg_ctl, "-D", state.postgres_data, "-l", log, "-m", "fast", "-w", "restart"]
    if os.geteuid() == 0:
        restart = ["runuser", "-u", "postgres", "--", *restart]
    env = {k: v for k, v in os.environ.items() if k != "DATAOPS_STACK_ID"}
    subprocess.run(restart, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, timeout=120)
    env = _stack_env(home, state)
    opened = run_cli(
        home, "alert", "open", "version:t01_retail.ds_v001", "--severity", "low", "--category", "operational",
        "--title", "after restart", user="omar", env=env, as_json=True,
    )  # fmt: skip
    assert opened.code == 0, opened.stderr
    verified = run_cli(home, "audit", "verify", user="alice", env=env)
    assert verified.code == 0, verified.stderr + verified.stdout


# -- down ------------------------------------------------------------------------------------------


def test_down_stops_everything_it_started_and_nothing_else(stack: tuple[Path, StackState]) -> None:
    home, state = stack
    bystander = subprocess.Popen(["sleep", "60"])  # noqa: S607 - a process of ours the stack must not touch
    try:
        assert stack_processes(state.stack_id)
        down = run_cli(home, "stack", "down", timeout=120)
        assert down.code == 0, down.stderr
        assert stack_processes(state.stack_id) == []
        assert not any(health(home, state).values())
        assert bystander.poll() is None
        assert run_cli(home, "stack", "status").code == 1
    finally:
        bystander.kill()
