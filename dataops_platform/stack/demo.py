"""`dataops demo --stack`: the reference scenario played against a running stack, its assets
materialised by the daemon and the Celery workers instead of in process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dataops_platform.demo.materialize import MaterializeOutcome
from dataops_platform.errors import InvalidInput
from dataops_platform.stack.runs import StepTrace, run_outcome, submit_job, wait_for_run
from dataops_platform.stack.services import Progress, running_state, stack_settings
from dataops_platform.store.engine import has_schema


def play_on_stack(
    home: Path, progress: Progress = print
) -> tuple[MaterializeOutcome, dict[str, Any], list[StepTrace], int | None]:
    """Play the scenario on the stack's (empty) stores, then have the stack materialise everything;
    returns the run's checks, p8_metrics.json, each step's process and the run process's pid."""
    from dataops_platform.demo.scenario import play_scenario
    from dataops_platform.stack.config import sync_pool_limits

    state = running_state(home)
    settings = stack_settings(home, state)
    if has_schema(settings.store_url):
        raise InvalidInput(
            f"the stack's governance store ({state.databases['governance']}) is not empty; the reference scenario needs "
            "fresh stores: `dataops stack down --purge` then `dataops stack up`",
            field="database_url",
            value=state.databases["governance"],
        )
    # The stack's stores were just proven empty; the CLI refused a foreign home before coming here.
    demo = play_scenario(settings, progress=progress, keep=("stack",), force=True)
    demo.platform.close()
    progress(f"pool limits from the spec's task queues: {sync_pool_limits(settings)}")
    run_id = submit_job(state, tags={"dataops/trigger": "demo --stack"})
    progress(f"governance_refresh queued as run {run_id}; waiting for the daemon and the Celery workers")
    status = wait_for_run(state, run_id)
    progress(f"run {run_id}: {status}")
    outcome, steps, run_pid = run_outcome(home, state, run_id)
    path = settings.artifacts_dir / "reports" / "p8_metrics.json"
    metrics = json.loads(path.read_text()) if path.exists() else {}
    return outcome, metrics, steps, run_pid
