"""A deployment's config files come from the settings and the spec: Dagster really loads the
generated dagster.yaml on PostgreSQL, and the pools' limits follow the spec's task queues."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml

from dataops_platform.errors import InvalidInput
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.spec_apply import apply_spec
from dataops_platform.self_description import QUEUES
from dataops_platform.settings import Settings, load_settings
from dataops_platform.spec.loader import parse_spec
from dataops_platform.stack.config import dagster_postgres_url, sync_pool_limits, write_stack_config
from dataops_platform_tests.conftest import ADMIN, EXAMPLE_SPEC
from dataops_platform_tests.helpers import run_cli


def test_missing_settings_are_named_together_and_nothing_is_written(tmp_path: Path) -> None:
    result = run_cli(tmp_path / "home", "stack", "config", "--out", tmp_path / "out")
    assert result.code == 2
    assert "dagster_storage_url" in result.error_text and "DATAOPS_DAGSTER_STORAGE_URL" in result.error_text
    assert not (tmp_path / "out").exists()


def test_a_non_postgres_dagster_url_is_refused_with_the_setting_named() -> None:
    with pytest.raises(InvalidInput) as err:
        dagster_postgres_url("sqlite:///x.db")
    assert err.value.facts["field"] == "dagster_storage_url"
    assert dagster_postgres_url("postgresql+psycopg://u@h:5432/d") == "postgresql+psycopg2://u@h:5432/d"


def test_dagster_loads_the_generated_instance_and_the_celery_config(tmp_path: Path, pg_database: str) -> None:
    settings = load_settings(tmp_path / "home", dagster_storage_url=pg_database, celery_broker_url="redis://127.0.0.1:6390/0")
    files = write_stack_config(settings, tmp_path / "deploy")
    with dg.DagsterInstance.from_config(str(files.dagster_yaml.parent)) as instance:
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert instance.get_concurrency_config().pool_config.pool_granularity.value == "op"
    celery = yaml.safe_load(files.celery_yaml.read_text())["execution"]["config"]
    assert celery["broker"] == celery["backend"] == settings.celery_broker_url
    assert yaml.safe_load(files.workspace_yaml.read_text())["load_from"][0]["python_module"]["module_name"] == (
        "dataops_platform.definitions"
    )


def test_pool_limits_follow_the_spec_and_a_reapplied_spec_changes_them(platform: Platform, settings: Settings) -> None:
    with dg.instance_for_test() as instance:
        limits = sync_pool_limits(settings, instance)
        spec = yaml.safe_load(EXAMPLE_SPEC.read_text())
        assert limits == {q.id: q.limit for q in QUEUES}  # the code's queues; the example overrides none
        for pool, limit in limits.items():
            assert instance.event_log_storage.get_concurrency_info(pool).slot_count == limit

        spec["task_queues"] = {"spec_builds": {"limit": 3}}
        apply_spec(platform, ADMIN, parse_spec(yaml.safe_dump(spec)), "raised.yaml")
        assert sync_pool_limits(settings, instance)["spec_builds"] == 3
        assert instance.event_log_storage.get_concurrency_info("spec_builds").slot_count == 3


def test_the_artifact_root_may_be_a_url(tmp_path: Path) -> None:
    """universal_pathlib: a file:// URL (an object store in a deployment) reads and writes like a directory."""
    from dataops_platform.artifacts.files import Artifacts, write_artifact

    settings = load_settings(tmp_path / "home", artifact_root=(tmp_path / "shared").as_uri())
    root = settings.artifacts_dir
    assert not isinstance(root, Path)  # a UPath over fsspec, not the local-path fast path
    path = write_artifact(root, "platform_metrics", {"tenants": 3})
    assert (tmp_path / "shared" / "reports" / "p8_metrics.json").read_text().startswith("{")
    assert Artifacts(root)["platform_metrics"] == {"tenants": 3} and path.exists()


def test_an_unreachable_governance_store_is_named_with_its_setting(tmp_path: Path) -> None:
    dead = "postgresql+psycopg://postgres:secret@127.0.0.1:1/governance"  # port 1: nothing listens
    result = run_cli(tmp_path / "home", "version", "list", user="alice", env={"DATAOPS_DATABASE_URL": dead})
    assert result.code == 1
    assert "cannot reach the governance store" in result.error_text and "DATAOPS_DATABASE_URL" in result.error_text
    assert "secret" not in result.stderr and "Traceback" not in result.stderr
