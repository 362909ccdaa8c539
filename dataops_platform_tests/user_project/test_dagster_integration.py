"""dataops_platform.dagster against a real `dataops serve` (conftest.py): the resource's hostile
configurations, register_output's "latest" parent, the blocking checks and the governed-dataset sensor.

No `from __future__ import annotations`: Dagster reads the test assets' `context` annotations.
"""

import itertools
import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from dataops_platform.client import Unauthenticated
from dataops_platform.dagster import (
    LATEST,
    DataOpsResource,
    dataops_checks,
    governed_dataset_key,
    governed_dataset_sensor,
    governed_dataset_specs,
)
from dataops_platform.demo.sample_data import sample_records, write_records
from dataops_platform.errors import InvalidInput
from dataops_platform_tests.user_project.conftest import PIPELINE, PM, PROJECT, Server

SEEDS = itertools.count(500)
GOOD_ROWS, SHORT_ROWS = 120, 40  # the Fjord quality gate's min_rows is 100


def registering(name: str, rows: int = GOOD_ROWS, *, validate: bool = True, parent: str | None = LATEST) -> dg.AssetsDefinition:
    """An asset that writes a sample file and registers it, as a team's asset would."""

    @dg.asset(name=name)
    def _asset(context: dg.AssetExecutionContext, dataops: DataOpsResource) -> dg.MaterializeResult:
        path = write_records(sample_records(rows, seed=next(SEEDS)), Path.cwd() / f"{name}_{context.run.run_id}.jsonl")
        return dataops.register_output(context, PROJECT, path, validate=validate, parent=parent)

    return _asset


@dg.asset(deps=["checked"])
def downstream() -> int:
    return 1


def resources(server: Server, **overrides: Any) -> dict[str, Any]:
    return {"dataops": DataOpsResource(**({"server": server.url, "token": server.tokens[PIPELINE]} | overrides))}


def run(assets: list[Any], server: Server, instance: dg.DagsterInstance | None = None, **overrides: Any) -> Any:
    instance = instance or dg.DagsterInstance.ephemeral()
    return dg.materialize(assets, resources=resources(server, **overrides), instance=instance, raise_on_error=False)


def registered_meta(result: Any, name: str) -> dict[str, Any]:
    (event,) = [m for m in result.get_asset_materialization_events() if m.asset_key == dg.AssetKey(name)]
    return {k: getattr(v, "value", v) for k, v in event.materialization.metadata.items()}


def failure(result: Any) -> Any:
    """The user's error under Dagster's step-failure wrapper (a SerializableErrorInfo)."""
    (event,) = [e for e in result.all_events if e.is_step_failure]
    error = event.step_failure_data.error
    while error.cls_name.startswith("Dagster") and error.cause is not None:
        error = error.cause
    return error


def test_the_package_named_dagster_imports_the_real_dagster() -> None:
    """`dataops_platform.dagster` shadows nothing: inside it `import dagster` is Dagster itself."""
    import dataops_platform
    from dataops_platform.dagster import checks, governed, metadata, register, resource

    package = Path(dataops_platform.__file__).parent
    for module in (checks, governed, metadata, register, resource):
        assert module.dg is dg and module.dg.__name__ == "dagster"
        assert package not in Path(module.dg.__file__).parents


# -- the resource: hostile configuration ---------------------------------------------------------


@pytest.mark.parametrize(
    ("server", "token", "field", "words"),
    [
        ("", "dop_x_y", "server", "DataOpsResource.server is empty"),
        ("   ", "dop_x_y", "server", "DataOpsResource.server is empty"),
        ("ftp://platform", "dop_x_y", "DataOpsResource.server", "is not an http(s) URL"),
        ("http://me:secret@platform", "dop_x_y", "DataOpsResource.server", "carries a user or password"),
        ("http://platform?x=1", "dop_x_y", "DataOpsResource.server", "query"),
        ("http://127.0.0.1:1", "", "token", "DataOpsResource.token is empty"),
        ("http://127.0.0.1:1", "hunter2", "DataOpsResource.token", "is not a platform token"),
    ],
)
def test_a_bad_configuration_is_refused_naming_the_field(server: str, token: str, field: str, words: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        DataOpsResource(server=server, token=token).client()
    assert refused.value.field == field and words in refused.value.message
    assert "hunter2" not in refused.value.message and "me:secret" not in refused.value.message  # never quote a secret
    assert "hunter2" not in str(refused.value.value) and "me:secret" not in str(refused.value.value)


@pytest.mark.parametrize("timeout", [0, -1.5])
def test_a_timeout_that_is_not_positive_is_refused_naming_it(timeout: float) -> None:
    with pytest.raises(ValueError, match=r"timeout\s+Input should be greater than 0"):
        DataOpsResource(server="http://127.0.0.1:1", token="dop_x_y", timeout=timeout)


def test_an_empty_environment_variable_fails_the_materialisation_naming_server_and_writes_nothing(
    server: Server, team_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = len(server.client(PM).version_list(PROJECT))
    monkeypatch.setenv("DATAOPS_SERVER", "")
    res = {"dataops": DataOpsResource(server=dg.EnvVar("DATAOPS_SERVER"), token=dg.EnvVar("DATAOPS_TOKEN"))}
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([registering("checked")], resources=res, instance=instance, raise_on_error=False)
    assert not result.success
    error = failure(result)
    assert "InvalidInput" in error.cls_name and "DataOpsResource.server is empty: set DATAOPS_SERVER" in error.message
    assert len(server.client(PM).version_list(PROJECT)) == before


def test_an_unset_environment_variable_is_named_by_dagster(team_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATAOPS_TOKEN")
    res = {"dataops": DataOpsResource(server=dg.EnvVar("DATAOPS_SERVER"), token=dg.EnvVar("DATAOPS_TOKEN"))}
    with pytest.raises(Exception, match="DATAOPS_TOKEN"):
        dg.materialize([registering("checked")], resources=res, instance=dg.DagsterInstance.ephemeral())


def test_a_token_the_server_refuses_is_reported_as_the_resources_token(server: Server, team_env: Path) -> None:
    before = len(server.client(PM).version_list(PROJECT))
    result = run([registering("checked")], server, token="dop_0123456789abcdef_notasecretthatexists")
    error = failure(result)
    assert "Unauthenticated" in error.cls_name
    assert f"DataOpsResource.token was refused by {server.url}" in error.message and "dataops token create" in error.message
    assert "notasecretthatexists" not in error.message
    assert len(server.client(PM).version_list(PROJECT)) == before
    with pytest.raises(Unauthenticated) as refused, DataOpsResource(server=server.url, token="dop_a_b").connected() as p:
        p.version_list(PROJECT)
    assert refused.value.problem["field"] == "token"


def test_a_token_without_version_create_is_denied_and_nothing_is_registered(server: Server, team_env: Path) -> None:
    before = len(server.client(PM).version_list(PROJECT))
    error = failure(run([registering("checked")], server, token=server.tokens[PM]))  # the PM may release, not register
    assert "PermissionDenied" in error.cls_name
    assert f"{PM!r} (role platform_pm) may not version.create in project {PROJECT!r}" in error.message
    assert len(server.client(PM).version_list(PROJECT)) == before


def test_an_unknown_project_is_refused_by_the_platform_naming_it(server: Server, team_env: Path) -> None:
    @dg.asset(name="checked")
    def wrong_project(context: dg.AssetExecutionContext, dataops: DataOpsResource) -> dg.MaterializeResult:
        path = write_records(sample_records(GOOD_ROWS, seed=next(SEEDS)), Path.cwd() / "wrong.jsonl")
        return dataops.register_output(context, "fj_no_such_project", path)

    error = failure(run([wrong_project], server))
    assert "NotFound" in error.cls_name and "fj_no_such_project" in error.message


def test_data_where_the_server_reads_it_is_registered_in_place_with_the_same_provenance(server: Server, team_env: Path) -> None:
    inbox_file = server.home / "inbox" / "fjord" / "nightly" / "shipments.jsonl"  # the tenant's part of the inbox
    write_records(sample_records(GOOD_ROWS, seed=next(SEEDS)), inbox_file)

    @dg.asset(name="inbox_line")
    def in_place(context: dg.AssetExecutionContext, dataops: DataOpsResource) -> dg.MaterializeResult:
        # inbox:PATH: the server reads it from its inbox, where it lives, and copies nothing
        return dataops.register_output(context, PROJECT, "inbox:nightly/shipments.jsonl", copy=False)

    result = run([in_place], server)
    assert result.success
    meta = registered_meta(result, "inbox_line")
    version = server.client(PM).version_show(meta["dataops/version_id"])
    assert version.copy_location is None and version.source_uri.endswith("nightly/shipments.jsonl")
    assert version.provenance.dagster_run_id == result.run_id and version.provenance.dagster_asset_key == "inbox_line"
    assert meta["dataops/digest"] == version.content_digest and version.status == "validated"


# -- register_output: the "latest" parent ---------------------------------------------------------


def test_latest_is_the_newest_version_this_asset_registered_that_was_not_rejected(server: Server, team_env: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    first = registered_meta(run([registering("line_a")], server, instance), "line_a")
    second = registered_meta(run([registering("line_a")], server, instance), "line_a")
    assert second["dataops/parent"] == first["dataops/version_id"]
    assert second["dataops/parent_rule"] == "latest: the newest version asset line_a registered"
    rejected = registered_meta(run([registering("line_a", SHORT_ROWS)], server, instance), "line_a")
    assert rejected["dataops/status"] == "rejected" and rejected["dataops/parent"] == second["dataops/version_id"]
    after = registered_meta(run([registering("line_a")], server, instance), "line_a")
    assert after["dataops/parent"] == second["dataops/version_id"]  # the rejected one is no part of the line

    # another asset feeding the same project for the first time continues the project's line
    other = registered_meta(run([registering("line_b")], server), "line_b")
    assert other["dataops/parent"] == after["dataops/version_id"]
    assert other["dataops/parent_rule"] == "latest: the project's newest version (line_b had registered none)"
    root = registered_meta(run([registering("line_c", parent=None)], server), "line_c")
    assert root["dataops/parent"] == "" and root["dataops/parent_rule"] == "given: none (a root version)"
    version = server.client(PM).version_show(after["dataops/version_id"])
    assert version.provenance.dagster_asset_key == "line_a" and version.created_by == PIPELINE


def test_a_draft_is_registered_without_validation(server: Server, team_env: Path) -> None:
    result = run([registering("checked", validate=False), *dataops_checks("checked", checks=["quality_gate"])], server)
    meta = registered_meta(result, "checked")
    assert meta["dataops/status"] == "draft"
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed and f"{meta['dataops/version_id']} is draft" in evaluation.description


# -- the checks ---------------------------------------------------------------------------------------


def test_the_quality_gate_check_fails_on_a_rejected_version_and_blocks_downstream(server: Server, team_env: Path) -> None:
    result = run([registering("checked", SHORT_ROWS), downstream, *dataops_checks("checked")], server)
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    gate = evaluations["dataops_quality_gate"]
    assert not gate.passed and gate.severity == dg.AssetCheckSeverity.ERROR and "min_rows" in gate.description
    assert gate.metadata["dataops/quality_failure_count"].value >= 1
    assert not evaluations["dataops_releasable"].passed
    assert "quality_gate: version is rejected" in evaluations["dataops_releasable"].description
    assert not [m for m in result.get_asset_materialization_events() if m.asset_key == dg.AssetKey("downstream")]


def test_the_checks_pass_on_a_validated_version_and_downstream_runs(server: Server, team_env: Path) -> None:
    result = run([registering("checked"), downstream, *dataops_checks("checked", require_experiment=False)], server)
    assert result.success
    assert {e.check_name: e.passed for e in result.get_asset_check_evaluations()} == {
        "dataops_quality_gate": True,
        "dataops_releasable": True,
    }
    (releasable,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "dataops_releasable"]
    assert "freeze_window and separation_of_duties" in releasable.metadata["dataops/not_checked"].value
    assert result.output_for_node("downstream") == 1


def test_a_check_on_an_asset_that_registered_nothing_fails_saying_so(server: Server, team_env: Path) -> None:
    @dg.asset(name="checked")
    def plain() -> int:
        return 1

    result = run([plain, *dataops_checks(plain, checks=["quality_gate"])], server)
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed and "has no dataops/version_id in its latest materialisation" in evaluation.description


@pytest.mark.parametrize("checks", [["nope"], [], ["quality_gate", "releasable", "release"], ["releasable"] * 2, "releasable"])
def test_the_checks_factory_refuses_unknown_checks(checks: list[str]) -> None:
    with pytest.raises(InvalidInput) as refused:
        dataops_checks("checked", checks=checks)
    assert refused.value.field == "checks" and "quality_gate, releasable" in refused.value.message


def test_the_checks_are_blocking_errors_with_a_description() -> None:
    for definition in dataops_checks(dg.AssetKey(["team", "orders"])):
        (spec,) = definition.check_specs
        assert spec.blocking and spec.asset_key == dg.AssetKey(["team", "orders"]) and spec.description


# -- governed datasets ----------------------------------------------------------------------------


def test_the_sensor_reports_the_current_release_with_the_digest_as_data_version(server: Server, team_env: Path) -> None:
    (spec,) = governed_dataset_specs([PROJECT])
    assert spec.key == governed_dataset_key(PROJECT) == dg.AssetKey(["dataops", PROJECT])
    sensor = governed_dataset_sensor([PROJECT])
    instance = dg.DagsterInstance.ephemeral()
    pm = server.client(PM)

    def tick(cursor: str | None) -> Any:
        """One tick as the daemon evaluates it (SensorExecutionData: asset_events, cursor, skip_message)."""
        with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources(server)) as context:
            return sensor.evaluate_tick(context)

    first = tick(None)
    current = [v for v in pm.version_list(PROJECT) if v.status == "released"]
    if not current:  # nothing released in this module's server yet: release a validated version
        assert first.skip_message is not None and not first.asset_events
        result = run([registering("released_line")], server)
        pm.version_release(registered_meta(result, "released_line")["dataops/version_id"])
        first = tick(first.cursor)
    (observation,) = first.asset_events
    release = pm.version_show(observation.metadata["dataops/version_id"].value)
    assert release.is_current_release and observation.asset_key == governed_dataset_key(PROJECT)
    assert observation.data_version == release.content_digest
    assert json.loads(first.cursor) == {PROJECT: release.version_id}

    # as the daemon stores it: an asset built on the governed dataset records the digest it read
    instance.report_runless_asset_event(observation)

    @dg.asset(deps=[governed_dataset_key(PROJECT)])
    def consumer() -> int:
        return 1

    built = dg.materialize([consumer, spec], instance=instance, selection=[consumer.key])
    (made,) = built.get_asset_materialization_events()
    assert made.materialization.tags[f"dagster/input_data_version/dataops/{PROJECT}"] == release.content_digest

    again = tick(first.cursor)
    assert not again.asset_events and again.skip_message is not None  # the cursor: nothing changed, nothing reported


def test_the_sensor_fails_its_tick_naming_a_project_it_cannot_see(server: Server, team_env: Path) -> None:
    sensor = governed_dataset_sensor([PROJECT, "fj_no_such_project"])
    with dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral(), resources=resources(server)) as context:
        with pytest.raises(Exception, match="fj_no_such_project"):
            sensor.evaluate_tick(context)


@pytest.mark.parametrize("projects", [[], "fj_late_delivery", ["a", "a"], ["a/b"], [""]])
def test_governed_datasets_refuse_a_bad_project_list(projects: Any) -> None:
    with pytest.raises(InvalidInput) as refused:
        governed_dataset_specs(projects)
    assert refused.value.field == "projects"


def test_releasable_fails_while_no_training_run_on_the_version_reached_the_platform(server: Server, team_env: Path) -> None:
    """A run logged to the wrong MLflow store, or by an MLflow user the platform does not know, is never
    synced: zero experiments must not read as "nothing against it" (a newcomer released degraded data so)."""
    result = run([registering("untrained"), *dataops_checks("untrained", checks=["releasable"])], server)
    (releasable,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "dataops_releasable"]
    assert not releasable.passed and "no completed experiment on" in releasable.description
    assert "MLFLOW_TRACKING_URI" in releasable.description


def test_the_platform_s_metadata_keys_cannot_be_overridden(server: Server, team_env: Path) -> None:
    """A caller's `metadata` naming dataops/version_id would make the blocking checks judge another version."""

    @dg.asset(name="forged")
    def forged(context: dg.AssetExecutionContext, dataops: DataOpsResource) -> dg.MaterializeResult:
        path = write_records(sample_records(GOOD_ROWS, seed=next(SEEDS)), Path.cwd() / "forged.jsonl")
        return dataops.register_output(context, PROJECT, path, metadata={"dataops/version_id": "fjord.ds_v001", "mine": 1})

    error = failure(run([forged], server))
    assert "InvalidInput" in error.cls_name and "dataops/version_id" in error.message


def test_downstream_work_on_a_version_the_gate_turned_away_is_refused(server: Server, team_env: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    assert run([registering("short_feed", SHORT_ROWS)], server, instance).success  # recorded, status rejected

    @dg.asset(name="trainer", deps=["short_feed"])
    def trainer(context: dg.AssetExecutionContext, dataops: DataOpsResource) -> str:
        return dataops.registered(context, "short_feed").version_id

    error = failure(run([trainer], server, instance))
    assert "GateRefused" in error.cls_name and "rejected" in error.message, error.message
