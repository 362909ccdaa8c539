"""A snapshot of the asset graph: a silent change to keys, groups, pools, deps or checks fails here."""

from __future__ import annotations

from dataops_platform.definitions import defs

EXPECTED = {
    # asset: (group, pool, deps)
    "platform_scope": ("platform_overview", "spec_builds", set()),
    "architecture_spec": ("platform_overview", "spec_builds", set()),
    "api_catalog": ("platform_overview", "spec_builds", set()),
    "task_queues": ("platform_overview", "spec_builds", set()),
    "governance_policy": ("platform_overview", "spec_builds", set()),
    "operating_model": ("platform_overview", "spec_builds", set()),
    "ui_panels": ("platform_overview", "spec_builds", set()),
    "dataset_versions": ("versions_and_releases", "version_ops", {"governance_policy"}),
    "rollback_events": ("versions_and_releases", "version_ops", {"dataset_versions"}),
    "experiment_runs": ("experiments_and_evaluation", "experiment_eval", {"dataset_versions"}),
    "alerts": ("alerts_and_sla", "ops_monitoring", {"experiment_runs", "dataset_versions", "rollback_events"}),
    "sla_report": ("alerts_and_sla", "ops_monitoring", {"alerts", "governance_policy"}),
    "incident_reviews": ("audit_and_review", "ops_monitoring", {"alerts", "rollback_events"}),
    "lineage_graph": (
        "audit_and_review",
        "ops_monitoring",
        {"dataset_versions", "experiment_runs", "alerts", "rollback_events", "incident_reviews"},
    ),
    "audit_log": ("audit_and_review", "ops_monitoring", {"lineage_graph"}),
    "platform_metrics": (
        "audit_and_review",
        "ops_monitoring",
        {
            "platform_scope",
            "architecture_spec",
            "api_catalog",
            "task_queues",
            "operating_model",
            "ui_panels",
            "sla_report",
            "audit_log",
            "lineage_graph",
        },
    ),
    "platform_report": ("audit_and_review", "ops_monitoring", {"platform_metrics"}),
    "test_report": ("audit_and_review", "ops_monitoring", {"platform_report"}),
}
CHECKS = {
    "required_artifacts_present": "test_report",
    "role_permission_model_complete": "platform_scope",
    "architecture_layers_complete": "architecture_spec",
    "api_queue_ui_present": "api_catalog",
    "tenant_project_boundaries": "lineage_graph",
    "version_lineage_links_valid": "dataset_versions",
    "experiments_reference_versions": "experiment_runs",
    "release_gate_respected": "experiment_runs",
    "rollback_events_valid": "incident_reviews",
    "alerts_linked_and_closed": "sla_report",
    "audit_trail_intact": "audit_log",
    "incident_reviews_complete": "incident_reviews",
    "metrics_consistent": "platform_report",
}


def test_asset_graph_snapshot() -> None:
    graph = defs.resolve_asset_graph()
    actual = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        actual[key.to_user_string()] = (
            node.group_name,
            node.pools and next(iter(node.pools)),
            {p.to_user_string() for p in node.parent_keys},
        )
    assert actual == EXPECTED


def test_exactly_the_13_checks_on_their_assets() -> None:
    checks = {key.name: key.asset_key.to_user_string() for check in defs.asset_checks for key in check.check_keys}
    assert checks == CHECKS


def test_every_asset_has_owner_kinds_and_description() -> None:
    for asset in defs.assets:
        for spec in asset.specs:
            assert spec.owners == ["team:platform"], spec.key
            assert spec.description, spec.key
            assert any(tag.startswith("dagster/kind/") for tag in spec.tags), spec.key


def test_the_automation_snapshot() -> None:
    """The sensors, their targets and the freshness windows: the operating loop's shape."""
    from datetime import timedelta

    sensors = {s.name: type(s).__name__ for s in defs.sensors}
    assert sensors == {
        "mlflow_new_runs": "SensorDefinition",
        "release_gate_watch": "SensorDefinition",
        "sla_risk_watch": "SensorDefinition",
        "platform_run_failure": "RunStatusSensorDefinition",
        "notification_dispatch": "SensorDefinition",  # delivers the outbox; requests no run
        "release_data_verify": "SensorDefinition",  # re-reads current releases' data on the rhythm; requests no run
    }
    jobless = ("platform_run_failure", "notification_dispatch", "release_data_verify")
    assert {s.name: s.job_name for s in defs.sensors if s.name not in jobless} == dict.fromkeys(
        ["mlflow_new_runs", "release_gate_watch", "sla_risk_watch"], "governance_refresh"
    )
    freshness = {
        spec.key.to_user_string(): spec.freshness_policy.fail_window.to_timedelta()
        for asset in defs.assets
        for spec in asset.specs
        if spec.freshness_policy is not None
    }
    day, week = timedelta(days=1, hours=1), timedelta(days=7, hours=1)
    assert freshness == {"alerts": day, "sla_report": day, "platform_metrics": week, "platform_report": week, "test_report": week}


def test_the_code_declares_exactly_the_queues_and_panels_the_graph_uses() -> None:
    """The platform's own description (self_description.py) names one queue per pool the assets use
    and one panel per asset group, so a new pool or group cannot appear without its queue or panel
    (rule 4 checks the same on every materialisation)."""
    from dataops_platform.self_description import PANELS, QUEUES

    pools = {asset.op.pool for asset in defs.assets}
    groups = {spec.group_name for asset in defs.assets for spec in asset.specs}
    assert {q.id for q in QUEUES} == pools
    assert [p.id for p in PANELS] == list(dict.fromkeys(node[0] for node in EXPECTED.values()))
    assert {p.id for p in PANELS} == groups
