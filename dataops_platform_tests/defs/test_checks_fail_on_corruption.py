"""Each of the 13 checks fails, inside a real Dagster materialisation, on a targeted corruption of
its input (SPEC §11), and fails the right way: a broken record (a violation) fails it with ERROR,
a governance finding with WARN (docs/findings.md). Every rule has a corruption that breaks its
integrity; the rules that also report findings have one that yields only a finding. A failing
ERROR check stops the assets downstream of it; a WARN one stops nothing."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import replace

import dagster as dg
import pytest

from dataops_platform import self_description
from dataops_platform.defs.checks import CHECKS
from dataops_platform.settings import Settings
from dataops_platform_tests.helpers import materialize_assets as materialize


def evaluations(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


VIOLATION, FINDING = "violation", "finding"


def outcomes(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    """passed | violation (failed with ERROR) | finding (failed with WARN), by check name."""
    return {
        e.check_name: "passed" if e.passed else VIOLATION if e.severity == dg.AssetCheckSeverity.ERROR else FINDING
        for e in result.get_asset_check_evaluations()
    }


def sql(settings: Settings, statement: str, *params: object) -> None:
    with sqlite3.connect(settings.home_dir / "governance.db") as conn:
        conn.execute(statement, params)


def edit_json(settings: Settings, relative: str, change: Callable[[dict], None]) -> None:
    path = settings.artifacts_dir / relative
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


# Rules 3 and 4 read the platform's own description, which lives in the code now
# (dataops_platform.self_description): their corruption is a developer's edit of it, made in this
# process (the materialisation runs in process) and undone after each test.
_code_edit = pytest.MonkeyPatch()


@pytest.fixture(autouse=True)
def _undo_code_edits() -> Iterator[None]:
    yield
    _code_edit.undo()


def corrupt_required_artifacts(s: Settings) -> None:
    (s.artifacts_dir / "processed" / "sla_report.json").unlink()


def corrupt_roles(s: Settings) -> None:
    sql(s, "DELETE FROM role_actions WHERE action = 'version.validate'")


def corrupt_layers(_: Settings) -> None:
    """A package left out of the layer map (as when a developer adds one and places it nowhere)."""
    layers = list(self_description.LAYERS)
    layers[2] = replace(layers[2], packages=tuple(p for p in layers[2].packages if p != "dataops_platform.tracking"))
    _code_edit.setattr(self_description, "LAYERS", tuple(layers))


def corrupt_api(_: Settings) -> None:
    """A catalogued API whose command the CLI does not have."""
    first, *rest = self_description.API_CATALOG
    _code_edit.setattr(self_description, "API_CATALOG", (replace(first, command="version teleport"), *rest))


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
    # exp_002 ran on ds_v002 in the minute it was released, and ds_v002 is p02's current release
    # again after the rollback: a data regression recorded after its release, with no exception.
    sql(s, "UPDATE experiments SET status = 'regressed' WHERE experiment_id = 't02_legal.exp_002'")


def corrupt_release_gate_bypassed(s: Settings) -> None:
    # The same regression recorded before the release (08:30): the gate must have refused it.
    sql(
        s,
        "UPDATE experiments SET status = 'regressed', recorded_at = '2026-11-02 08:10:00.000000' "
        "WHERE experiment_id = 't02_legal.exp_002'",
    )


def corrupt_run_deleted_in_mlflow(s: Settings) -> None:
    from mlflow import MlflowClient

    with sqlite3.connect(s.home_dir / "governance.db") as conn:
        (run_id,) = conn.execute("SELECT mlflow_run_id FROM experiments WHERE experiment_id = 't01_retail.exp_001'").fetchone()
    MlflowClient(tracking_uri=s.tracking_uri).delete_run(run_id)  # deleted in the UI, not garbage-collected


def corrupt_rollback(s: Settings) -> None:
    sql(s, "UPDATE rollback_events SET review_ref = NULL")  # the review still names it: the records disagree


def corrupt_rollback_unreviewed(s: Settings) -> None:
    # A rollback nobody has reviewed yet: consistent records, a review owed.
    sql(s, "UPDATE rollback_events SET review_ref = NULL")
    with sqlite3.connect(s.home_dir / "governance.db") as conn:
        for review_id, related in conn.execute("SELECT review_id, related_refs FROM incident_reviews").fetchall():
            kept = [r for r in json.loads(related) if not r.startswith("rollback:")]
            conn.execute("UPDATE incident_reviews SET related_refs = ? WHERE review_id = ?", (json.dumps(kept), review_id))


def corrupt_alert_times(s: Settings) -> None:
    sql(s, "UPDATE alerts SET resolved_at = '2026-11-01 00:00:00' WHERE alert_id = 't01_retail.alert_001'")


def corrupt_alert_left_open(s: Settings) -> None:
    # Never acknowledged nor resolved since 2026-11-02, days past its SLA: consistent, overdue.
    sql(
        s,
        "UPDATE alerts SET status = 'open', acknowledged_at = NULL, acknowledged_by = NULL, resolved_at = NULL, "
        "resolved_by = NULL, resolution_note = NULL WHERE alert_id = 't01_retail.alert_001'",
    )


def corrupt_audit(s: Settings) -> None:
    sql(s, "UPDATE audit_records SET actor = 'mallory' WHERE seq = 5")


def corrupt_review(s: Settings) -> None:
    sql(s, "UPDATE incident_reviews SET root_cause = ''")  # an incomplete review of a resolved alert: owed


def corrupt_review_reference(s: Settings) -> None:
    sql(s, """UPDATE incident_reviews SET related_refs = '["alert:t02_legal.alert_099"]'""")  # names no alert


def corrupt_metrics(s: Settings) -> None:
    edit_json(s, "reports/p8_metrics.json", lambda m: m.update(mean_time_to_recovery_minutes=12.0))


# case -> (check, assets to materialise after the corruption, the corruption, how the check fails)
CASES: dict[str, tuple[str, list[str], Callable[[Settings], None], str]] = {
    "required_artifacts_present": ("required_artifacts_present", ["test_report"], corrupt_required_artifacts, VIOLATION),
    "role_permission_model_complete": ("role_permission_model_complete", ["platform_scope"], corrupt_roles, VIOLATION),
    "architecture_layers_complete": ("architecture_layers_complete", ["architecture_spec"], corrupt_layers, VIOLATION),
    "api_queue_ui_present": ("api_queue_ui_present", ["api_catalog"], corrupt_api, VIOLATION),
    "tenant_project_boundaries": ("tenant_project_boundaries", ["lineage_graph"], corrupt_tenants, VIOLATION),
    "version_lineage_links_valid": ("version_lineage_links_valid", ["dataset_versions"], corrupt_version_parent, VIOLATION),
    "experiments_reference_versions": (
        "experiments_reference_versions", ["experiment_runs"], corrupt_run_reference, VIOLATION,
    ),
    "experiments_reference_versions/deleted_run": (
        "experiments_reference_versions", ["experiment_runs"], corrupt_run_deleted_in_mlflow, FINDING,
    ),
    "release_gate_respected": ("release_gate_respected", ["experiment_runs"], corrupt_release_gate_bypassed, VIOLATION),
    "release_gate_respected/regression_after_release": (
        "release_gate_respected", ["experiment_runs"], corrupt_release_gate, FINDING,
    ),
    "rollback_events_valid": ("rollback_events_valid", ["rollback_events", "incident_reviews"], corrupt_rollback, VIOLATION),
    "rollback_events_valid/unreviewed": (
        "rollback_events_valid", ["rollback_events", "incident_reviews"], corrupt_rollback_unreviewed, FINDING,
    ),
    "alerts_linked_and_closed": ("alerts_linked_and_closed", ["alerts", "sla_report"], corrupt_alert_times, VIOLATION),
    "alerts_linked_and_closed/past_sla": (
        "alerts_linked_and_closed", ["alerts", "sla_report"], corrupt_alert_left_open, FINDING,
    ),
    "audit_trail_intact": ("audit_trail_intact", ["audit_log"], corrupt_audit, VIOLATION),
    "incident_reviews_complete": (
        "incident_reviews_complete", ["incident_reviews"], corrupt_review_reference, VIOLATION,
    ),
    "incident_reviews_complete/incomplete_review": (
        "incident_reviews_complete", ["incident_reviews"], corrupt_review, FINDING,
    ),
    "metrics_consistent": ("metrics_consistent", ["platform_report"], corrupt_metrics, VIOLATION),
}  # fmt: skip


def test_every_rule_has_an_integrity_corruption_case() -> None:
    checks = {key.name for check in CHECKS for key in check.check_keys}
    assert {check for check, *_ in CASES.values()} == checks
    assert {check for check, _, _, kind in CASES.values() if kind == VIOLATION} == checks


@pytest.mark.parametrize("case", sorted(CASES))
def test_check_fails_on_its_corruption(demo_copy: Settings, case: str) -> None:
    check, assets, corrupt, kind = CASES[case]
    control = materialize(demo_copy, assets)
    assert outcomes(control)[check] == "passed", "the same materialisation passes before the corruption"
    corrupt(demo_copy)
    result = materialize(demo_copy, assets)
    assert outcomes(result)[check] == kind, outcomes(result)


def test_audit_check_fails_when_the_anchor_is_removed(demo_copy: Settings) -> None:
    """Issue 12, finding 3: a removed anchor fails rule 11 as it fails `dataops audit verify`."""
    assert evaluations(materialize(demo_copy, ["audit_log"]))["audit_trail_intact"] is True
    demo_copy.audit_anchor_path.unlink()
    assert evaluations(materialize(demo_copy, ["audit_log"]))["audit_trail_intact"] is False


def test_a_finding_stops_no_downstream_asset(demo_copy: Settings) -> None:
    """An alert left open past its SLA is a finding on sla_report: everything after it is still built."""
    corrupt_alert_left_open(demo_copy)
    result = materialize(demo_copy, ["alerts", "sla_report", "audit_log", "platform_metrics", "platform_report"])
    assert outcomes(result)["alerts_linked_and_closed"] == FINDING
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"sla_report", "audit_log", "platform_metrics", "platform_report"} <= materialized
    assert result.success
    metrics = json.loads((demo_copy.artifacts_dir / "reports" / "p8_metrics.json").read_text())
    assert metrics["checks_with_findings"] == ["alerts_linked_and_closed"] and metrics["checks_failed"] == []
    assert metrics["findings_open"] == 1 and metrics["integrity_pass_rate"] == 1.0 and metrics["check_pass_rate"] < 1.0


def test_blocking_check_stops_downstream_assets(demo_copy: Settings) -> None:
    corrupt_version_parent(demo_copy)
    result = materialize(demo_copy, ["dataset_versions", "experiment_runs", "rollback_events"])
    assert evaluations(result)["version_lineage_links_valid"] is False
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {"dataset_versions"}
    assert not result.success
