"""What a deployment runs on, written as the files each service reads: Dagster's `dagster.yaml`
(PostgreSQL storage, the queued run coordinator, op-level pools), the workspace, and the Celery
executor config the workers start from; plus the pool limits, taken from the spec's task queues.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dataops_platform.errors import InvalidInput
from dataops_platform.settings import Settings

CODE_LOCATION = "dataops_platform"
MAX_CONCURRENT_RUNS = 4  # runs the daemon launches at once; steps inside them are bounded by the pools


def dagster_postgres_url(url: str) -> str:
    """Dagster's own storage on psycopg2: dagster-postgres 0.29 fails on psycopg 3, which SQLAlchemy
    2.1 picks for a plain `postgresql://` (and which our governance store uses)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+")[0] not in ("postgresql", "postgres"):
        raise InvalidInput(
            f"dagster_storage_url {url!r} is not a PostgreSQL URL; use postgresql://USER@HOST:PORT/DATABASE",
            field="dagster_storage_url",
            value=url,
        )
    return f"postgresql+psycopg2://{rest}"


def require(settings: Settings, *names: str) -> None:
    """Every named deployment setting is set, or one error naming each that is missing."""
    missing = [name for name in names if getattr(settings, name) is None]
    if missing:
        env = ", ".join(f"DATAOPS_{name.upper()}" for name in missing)
        raise InvalidInput(
            f"a deployment needs {', '.join(missing)}: set {env} (or run `dataops stack up` for a local stack)",
            field=missing[0],
            value=None,
            missing=missing,
        )


def dagster_yaml(settings: Settings) -> dict[str, Any]:
    require(settings, "dagster_storage_url")
    return {
        "telemetry": {"enabled": False},
        "storage": {"postgres": {"postgres_url": dagster_postgres_url(settings.dagster_storage_url)}},
        "run_coordinator": {"module": "dagster._core.run_coordinator", "class": "QueuedRunCoordinator"},
        # Op granularity: a pool bounds the steps on its queue across every run, whichever
        # worker runs them; the limits themselves are set from the spec (sync_pool_limits).
        "concurrency": {
            "runs": {"max_concurrent_runs": MAX_CONCURRENT_RUNS},
            "pools": {"granularity": "op", "default_limit": 1},
        },
        # The daemon notices a run whose worker died (e.g. a SIGKILLed Celery worker's run process).
        "run_monitoring": {"enabled": True, "poll_interval_seconds": 5},
    }


def workspace_yaml() -> dict[str, Any]:
    return {"load_from": [{"python_module": {"module_name": "dataops_platform.definitions", "location_name": CODE_LOCATION}}]}


def celery_config(settings: Settings) -> dict[str, Any]:
    """The executor block the workers start from (`dagster-celery worker start -y`), the same the
    code location configures its `celery_executor` with."""
    require(settings, "celery_broker_url")
    return {
        "execution": {
            "config": {
                "broker": settings.celery_broker_url,
                "backend": settings.celery_broker_url,
                "include": ["dataops_platform.definitions"],
                # Prefetching one task at a time lets an idle worker take the next step.
                "config_source": {"worker_prefetch_multiplier": 1, "task_acks_late": True},
            }
        }
    }


@dataclass(frozen=True)
class StackFiles:
    dagster_yaml: Path
    workspace_yaml: Path
    celery_yaml: Path | None


def write_stack_config(settings: Settings, out: Path) -> StackFiles:
    """Write dagster.yaml, workspace.yaml and (with a Celery broker) celery.yaml into `out`.

    Everything is rendered before anything is written: a missing setting writes nothing. Without a
    broker the deployment runs steps in its run workers (e.g. Dagster's K8sRunLauncher)."""
    header = "# Written by `dataops stack config` from the platform settings; regenerate rather than edit.\n"
    documents = {"dagster.yaml": dagster_yaml(settings), "workspace.yaml": workspace_yaml()}
    if settings.celery_broker_url is not None:
        documents["celery.yaml"] = celery_config(settings)
    out.mkdir(parents=True, exist_ok=True)
    for name, document in documents.items():
        (out / name).write_text(header + yaml.safe_dump(document, sort_keys=False))
    return StackFiles(out / "dagster.yaml", out / "workspace.yaml", out / "celery.yaml" if "celery.yaml" in documents else None)


def spec_queue_limits(settings: Settings) -> dict[str, int]:
    """The platform's task queues under the limits of the spec applied to the governance store: {queue: limit}."""
    from dataops_platform.governance.policy import config_document
    from dataops_platform.spec.effective import queue_limits, stored_overrides
    from dataops_platform.store.engine import Store

    store = Store(settings.store_url)
    try:
        with store.read() as session:
            overrides = stored_overrides(config_document(session, "task_queues"))
    finally:
        store.dispose()
    return queue_limits(overrides)


def sync_pool_limits(settings: Settings, instance: Any = None) -> dict[str, int]:
    """Set each pool's limit on the deployment's Dagster instance to its queue's limit in the spec;
    returns what was set. Re-run after `spec apply`: the daemon enforces the new limits at once."""
    limits = spec_queue_limits(settings)
    owned = instance is None
    if owned:
        import dagster as dg

        instance = dg.DagsterInstance.from_config(str(settings.dagster_home))
    try:
        for pool, limit in limits.items():
            instance.event_log_storage.set_concurrency_slots(pool, limit)
    finally:
        if owned:
            instance.dispose()
    return limits
