"""Each of the 13 checks fails, inside a real Dagster materialisation, on a targeted corruption of
its input; a failing blocking check stops the assets downstream of it."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

import dagster as dg
import pytest

from dataops_platform.defs.assets import ASSETS
from dataops_platform.defs.checks import CHECKS
from dataops_platform.defs.resources import default_resources
from dataops_platform.settings import Settings


def materialize(settings: Settings, assets: list[str]) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [*ASSETS, *CHECKS],
        instance=dg.DagsterInstance.ephemeral(),
        resources=default_resources(settings.home_dir),
        selection=dg.AssetSelection.assets(*assets),
        raise_on_error=False,
    )


def evaluations(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def sql(settings: Settings, statement: str, *params: object) -> None:
    with sqlite3.connect(settings.home_dir / "governance.db") as conn:
        conn.execute(statement, params)


def edit_json(settings: Settings, relative: str, change: Callable[[dict], None]) -> None:
    path = settings.artifacts_dir / relative
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _config_items(settings: Settings, key: str) -> list[dict]:
    with sqlite3.connect(settings.home_dir / "governance.db") as conn:
        return json.loads(conn.execute("SELECT value FROM platform_config WHERE key = ?", (key,)).fetchone()[0])["items"]


def _set_config_items(settings: Settings, key: str, items: list[dict]) -> None:
    sql(settings, "UPDATE platform_config SET value = ? WHERE key = ?", json.dumps({"items": items}), key)


def corrupt_required_artifacts(s: Settings) -> None:
    (s.artifacts_dir / "processed" / "sla_report.json").unlink()


def corrupt_roles(s: Settings) -> None:
    sql(s, "DELETE FROM role_actions WHERE action = 'version.validate'")


def corrupt_layers(s: Settings) -> None:
    layers = _config_items(s, "architecture")
    layers[2]["packages"].remove("dataops_platform.tracking")
    _set_config_items(s, "architecture", layers)


def corrupt_api(s: Settings) -> None:
    apis = _config_items(s, "apis")
    apis[0]["command"] = "version teleport"
    _set_config_items(s, "apis", apis)


def corrupt_tenants(s: Settings) -> None:
    sql(
        s,
        "INSERT INTO lineage_edges (project_id, source_ref, target_ref, edge_type, created_at) "
        "VALUES ('p02_legal_sft', 'version:t01_retail.ds_v001', 'experiment:t02_legal.exp_001', 'used', '2026-11-02 08:00:00')",
    )


def corrupt_version_parent(s: Settings) -> None:
    sql(s, "UPDATE dataset_versions SET parent_version = 't02_legal.ds_v001' WHERE version_id = 't01_retail.ds_v001'")


def corrupt_run_reference(s: Settings) -> None:
    sql(s, "UPDATE experiments SET mlflow_run_id = 'no-such-run' WHERE experiment_id = 't01_retail.exp_001'")


def corrupt_release_gate(s: Settings) -> None:
    sql(s, "UPDATE experiments SET status = 'regressed' WHERE experiment_id = 't02_legal.exp_002'")  # on the current release


def corrupt_rollback(s: Settings) -> None:
    sql(s, "UPDATE rollback_events SET review_ref = NULL")


def corrupt_alert_times(s: Settings) -> None:
    sql(s, "UPDATE alerts SET resolved_at = '2026-11-01 00:00:00' WHERE alert_id = 't01_retail.alert_001'")


def corrupt_audit(s: Settings) -> None:
    sql(s, "UPDATE audit_records SET actor = 'mallory' WHERE seq = 5")


def corrupt_review(s: Settings) -> None:
    sql(s, "UPDATE incident_reviews SET root_cause = ''")


def corrupt_metrics(s: Settings) -> None:
    edit_json(s, "reports/p8_metrics.json", lambda m: m.update(mean_time_to_recovery_minutes=12.0))


# check -> (assets to materialise after the corruption, the corruption)
CASES: dict[str, tuple[list[str], Callable[[Settings], None]]] = {
    "required_artifacts_present": (["test_report"], corrupt_required_artifacts),
    "role_permission_model_complete": (["platform_scope"], corrupt_roles),
    "architecture_layers_complete": (["architecture_spec"], corrupt_layers),
    "api_queue_ui_present": (["api_catalog"], corrupt_api),
    "tenant_project_boundaries": (["lineage_graph"], corrupt_tenants),
    "version_lineage_links_valid": (["dataset_versions"], corrupt_version_parent),
    "experiments_reference_versions": (["experiment_runs"], corrupt_run_reference),
    "release_gate_respected": (["experiment_runs"], corrupt_release_gate),
    "rollback_events_valid": (["rollback_events", "incident_reviews"], corrupt_rollback),
    "alerts_linked_and_closed": (["alerts", "sla_report"], corrupt_alert_times),
    "audit_trail_intact": (["audit_log"], corrupt_audit),
    "incident_reviews_complete": (["incident_reviews"], corrupt_review),
    "metrics_consistent": (["platform_report"], corrupt_metrics),
}


def test_every_rule_has_a_corruption_case() -> None:
    assert set(CASES) == {key.name for check in CHECKS for key in check.check_keys}


@pytest.mark.parametrize("check", sorted(CASES))
def test_check_fails_on_its_corruption(demo_copy: Settings, check: str) -> None:
    assets, corrupt = CASES[check]
    control = materialize(demo_copy, assets)
    assert evaluations(control)[check] is True, "the same materialisation passes before the corruption"
    corrupt(demo_copy)
    result = materialize(demo_copy, assets)
    assert evaluations(result)[check] is False, evaluations(result)


def test_audit_check_fails_when_the_anchor_is_removed(demo_copy: Settings) -> None:
    """Issue 12, finding 3: a removed anchor fails rule 11 as it fails `dataops audit verify`."""
    assert evaluations(materialize(demo_copy, ["audit_log"]))["audit_trail_intact"] is True
    demo_copy.audit_anchor_path.unlink()
    assert evaluations(materialize(demo_copy, ["audit_log"]))["audit_trail_intact"] is False


def test_blocking_check_stops_downstream_assets(demo_copy: Settings) -> None:
    corrupt_version_parent(demo_copy)
    result = materialize(demo_copy, ["dataset_versions", "experiment_runs", "rollback_events"])
    assert evaluations(result)["version_lineage_links_valid"] is False
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {"dataset_versions"}
    assert not result.success
