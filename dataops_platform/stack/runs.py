"""Runs through the engine: a job submitted to the stack's webserver is queued by the daemon's
run coordinator, launched by the daemon, and its steps are Celery tasks the workers execute.
Nothing here executes a step; it submits, waits and reads Dagster's own event log."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataops_platform.demo.materialize import CheckOutcome, MaterializeOutcome
from dataops_platform.errors import DataOpsError
from dataops_platform.stack.config import CODE_LOCATION
from dataops_platform.stack.services import StackState, stack_settings

FINAL = ("SUCCESS", "FAILURE", "CANCELED")
RUN_TIMEOUT_S = 900.0


def submit_job(
    state: StackState,
    job: str = "governance_refresh",
    tags: dict[str, str] | None = None,
    assets: list[str] | None = None,
    checks: list[tuple[str, str]] | None = None,
) -> str:
    """Queue a run of `job` (optionally of some of its assets and (asset, check) pairs) on the
    stack; returns its run id."""
    from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

    client = DagsterGraphQLClient("127.0.0.1", port_number=state.ports["webserver"])
    try:
        if assets is None and checks is None:
            return client.submit_job_execution(job, repository_location_name=CODE_LOCATION, tags=tags or {})
        return _submit_selection(client, job, tags or {}, assets or [], checks)
    except DagsterGraphQLClientError as exc:
        raise DataOpsError(f"the stack's Dagster webserver refused the run of {job}: {exc}") from exc


def _submit_selection(
    client: Any, job: str, tags: dict[str, str], assets: list[str], checks: list[tuple[str, str]] | None
) -> str:
    """The GraphQL client submits whole jobs only; a selection goes through the same mutation with
    `assetSelection` (and `assetCheckSelection`), what the UI's "Materialize selected" sends.
    Without `checks`, the selected assets' checks run with them."""
    query = """
    mutation($params: ExecutionParams!) {
      launchPipelineExecution(executionParams: $params) {
        __typename
        ... on LaunchRunSuccess { run { runId } }
        ... on PythonError { message }
        ... on RunConfigValidationInvalid { errors { message } }
        ... on InvalidSubsetError { message }
      }
    }"""
    selector: dict[str, Any] = {
        "repositoryLocationName": CODE_LOCATION,
        "repositoryName": "__repository__",
        "jobName": job,
        "assetSelection": [{"path": [name]} for name in assets],
    }
    if checks is not None:
        selector["assetCheckSelection"] = [{"assetKey": {"path": [asset]}, "name": name} for asset, name in checks]
    params = {
        "selector": selector,
        "runConfigData": {},
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
    }
    result = client._execute(query, {"params": params})["launchPipelineExecution"]  # noqa: SLF001 - its transport
    if result["__typename"] != "LaunchRunSuccess":
        raise DataOpsError(f"the stack refused the run of {assets}: {result}")
    return result["run"]["runId"]


def start_sensor(state: StackState, name: str) -> str:
    """Turn a sensor on in the stack's daemon (what the Automation page's toggle does); its status."""
    from dagster_graphql import DagsterGraphQLClient

    query = """
    mutation($selector: SensorSelector!) {
      startSensor(sensorSelector: $selector) {
        __typename
        ... on Sensor { sensorState { status } }
        ... on PythonError { message }
        ... on SensorNotFoundError { message }
      }
    }"""
    selector = {"repositoryLocationName": CODE_LOCATION, "repositoryName": "__repository__", "sensorName": name}
    client = DagsterGraphQLClient("127.0.0.1", port_number=state.ports["webserver"])
    result = client._execute(query, {"selector": selector})["startSensor"]  # noqa: SLF001 - its transport
    if result["__typename"] != "Sensor":
        raise DataOpsError(f"the stack could not start sensor {name}: {result}")
    return result["sensorState"]["status"]


def wait_for_run(state: StackState, run_id: str, timeout: float = RUN_TIMEOUT_S) -> str:
    """Wait until the run ends; its final status (SUCCESS, FAILURE or CANCELED)."""
    from dagster_graphql import DagsterGraphQLClient

    client = DagsterGraphQLClient("127.0.0.1", port_number=state.ports["webserver"])
    deadline = time.monotonic() + timeout
    while True:
        status = client.get_run_status(run_id).value
        if status in FINAL:
            return status
        if time.monotonic() > deadline:
            raise DataOpsError(f"run {run_id} still {status} after {timeout:.0f} s; see the Dagster UI")
        time.sleep(1.0)


@dataclass(frozen=True)
class StepTrace:
    step: str
    pid: int | None
    started: float
    ended: float | None


def run_outcome(home: Path, state: StackState, run_id: str) -> tuple[MaterializeOutcome, list[StepTrace], int | None]:
    """The run's check evaluations, every step's process and start/end times, and the run process's
    pid, read from the deployment's Dagster instance (PostgreSQL)."""
    import dagster as dg

    settings = stack_settings(home, state)
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        run = instance.get_run_by_id(run_id)
        records = instance.all_logs(run_id)
    checks, steps, run_pid = [], {}, None
    for record in records:
        event = record.dagster_event
        if event is None:
            continue
        kind = event.event_type
        if kind == dg.DagsterEventType.RUN_START:
            run_pid = event.pid
        elif kind == dg.DagsterEventType.STEP_START:
            steps[event.step_key] = StepTrace(event.step_key, event.pid, record.timestamp, None)
        elif kind in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE) and event.step_key in steps:
            started = steps[event.step_key]
            steps[event.step_key] = StepTrace(started.step, started.pid, started.started, record.timestamp)
        elif kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            data = event.event_specific_data
            checks.append(CheckOutcome(data.asset_key.to_user_string(), data.check_name, data.passed, data.severity.value))
    success = run is not None and run.status == dg.DagsterRunStatus.SUCCESS
    outcome = MaterializeOutcome(success, run_id, sorted(checks, key=lambda c: c.name))
    return outcome, sorted(steps.values(), key=lambda s: s.started), run_pid
