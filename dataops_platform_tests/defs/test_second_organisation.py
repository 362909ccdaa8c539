"""A second organisation and story, unlike the reference one: its metrics equal figures this test
works out by hand from the story it tells."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import yaml

from dataops_platform.clock import FixedClock
from dataops_platform.defs.assets import ASSETS
from dataops_platform.defs.checks import CHECKS
from dataops_platform.defs.resources import default_resources
from dataops_platform.demo.sample_data import sample_records, write_records
from dataops_platform.governance.alerts import acknowledge_alert, resolve_alert
from dataops_platform.governance.reviews import FixItem, ReviewInput, add_review
from dataops_platform.governance.rollback import execute_rollback
from dataops_platform.governance.versions import register_version, release_version, show_version, validate_version
from dataops_platform.governance.watchers import open_quality_gate_alerts
from dataops_platform.settings import load_settings
from dataops_platform.tracking.client import Tracking, VersionRef
from dataops_platform.tracking.sync import sync_runs
from dataops_platform_tests.conftest import EXAMPLE_SPEC, make_platform

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _spec(tmp_path: Path) -> Path:
    spec = yaml.safe_load(EXAMPLE_SPEC.read_text())
    spec["tenants"] = [
        {"id": "acme", "name": "Acme", "quota": {"max_projects": 2, "max_dataset_versions": 10}},
        {"id": "globex", "name": "Globex", "quota": {"max_projects": 2, "max_dataset_versions": 10}},
    ]
    team = {"alice": "admin", "priya": "platform_pm", "quinn": "qa", "omar": "ops"}
    spec["projects"] = [
        {
            "id": "acme_churn",
            "tenant": "acme",
            "name": "Churn",
            "domain": "crm",
            "owner": "dan",
            "members": team | {"dan": "data_engineer"},
        },
        {
            "id": "globex_fraud",
            "tenant": "globex",
            "name": "Fraud",
            "domain": "payments",
            "owner": "lena",
            "members": team | {"lena": "data_engineer"},
        },
    ]
    rule = {"primary_metric": "f1", "direction": "higher_is_better", "tolerance": 0.05}
    spec["governance_policy"]["regression"] = {"acme_churn": rule, "globex_fraud": rule}
    spec["governance_policy"]["freeze_windows"] = []
    spec["system_actor"]["alert_project"] = "acme_churn"
    path = tmp_path / "second.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_second_organisation_metrics_match_a_hand_count(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "home")
    clock = FixedClock(T0)
    platform = make_platform(settings, clock, _spec(tmp_path))
    tracking = Tracking(settings.tracking_uri, settings.mlflow_artifact_root)

    def version(actor: str, project: str, seed: int, parent: str | None = None, **kw) -> str:
        path = write_records(sample_records(30, seed, **kw), tmp_path / f"d{seed}.jsonl")
        return register_version(platform, actor, project, path, parent).version_id

    def log_run(version_id: str, f1: float) -> None:
        v, _ = show_version(platform, "priya", version_id)
        ref = VersionRef(v.version_id, v.content_digest, (settings.data_dir / v.data_location).as_uri(), v.row_count)
        with tracking.run(v.project_id, ref, {"model": "stub"}, f"run-{f1}", user="dan") as run:
            run.log_metrics({"f1": f1})

    v1 = version("dan", "acme_churn", 1)
    validate_version(platform, "quinn", v1)
    release_version(platform, "priya", v1)
    log_run(v1, 0.80)
    sync_runs(platform, tracking)
    v2 = version("dan", "acme_churn", 2, parent=v1)
    validate_version(platform, "quinn", v2)
    release_version(platform, "priya", v2)
    log_run(v2, 0.82)  # v2 is the current release with no runs yet: baseline is v1's 0.80; completed
    sync_runs(platform, tracking)
    clock.set(T0.replace(minute=10))
    log_run(v2, 0.70)  # 0.12 below the best on the current release: regressed, alert opened
    regression = sync_runs(platform, tracking).alerts[0]
    clock.set(T0.replace(minute=15))
    acknowledge_alert(platform, "omar", regression)  # 5 min to acknowledge
    clock.set(T0.replace(minute=25))
    event, _ = execute_rollback(platform, "omar", "acme_churn", v1, "f1 fell on v2", f"alert:{regression}")
    clock.set(T0.replace(minute=40))
    resolve_alert(platform, "omar", regression, f"rolled back to {v1}")  # 30 min to recover
    add_review(
        platform,
        "priya",
        ReviewInput(
            [f"alert:{regression}", f"rollback:{event.rollback_id}"],
            "f1 fell 0.12",
            "acme_churn only",
            "a leaky feature in v2",
            "rollback",
            (FixItem.parse("drop the leaky feature|dan|2026-01-12"),),
        ),
    )
    clock.set(T0.replace(hour=10))
    v3 = version("lena", "globex_fraud", 3, splits=("train",))
    validate_version(platform, "quinn", v3)  # rejected: no test split
    gate = open_quality_gate_alerts(platform, "dataops-system")[0]
    clock.set(T0.replace(hour=10, minute=10))
    acknowledge_alert(platform, "omar", gate)  # 10 min to acknowledge
    clock.set(T0.replace(hour=10, minute=50))
    resolve_alert(platform, "omar", gate, "split restored upstream")  # 50 min to recover
    platform.close()

    result = dg.materialize(
        [*ASSETS, *CHECKS],
        instance=dg.DagsterInstance.ephemeral(),
        resources=default_resources(settings.home_dir),
        raise_on_error=False,
    )
    assert result.success and all(e.passed for e in result.get_asset_check_evaluations())
    metrics = json.loads((settings.artifacts_dir / "reports" / "p8_metrics.json").read_text())
    by_hand = {
        "tenants": 2,
        "projects": 2,
        "roles": 5,
        "apis": 6,  # the platform's catalogue, from its code: no organisation edits it
        "dataset_versions": 3,
        "released_versions": 2,
        "experiments": 3,
        "experiments_completed": 2,
        "experiments_regressed": 1,
        "experiments_failed": 0,
        "rollbacks": 1,
        "alerts": 2,
        "alert_closure_rate": 1.0,
        "sla_compliance_rate": 1.0,
        "mean_time_to_acknowledge_minutes": 7.5,
        "mean_time_to_recovery_minutes": 40.0,
        "rollback_usability": 1.0,
        # v1->v2 derived_from and supersedes; v1->e1, v2->e2, v2->e3 used; e3->alert1, v3->alert2 triggered;
        # v2->rb rolled_back_from, v1->rb restored_to, alert1->rb triggered; alert1->ir, rb->ir reviews;
        # mlflow_run:r1->e1, r2->e2, r3->e3 recorded (each experiment synced from its MLflow run, issue 14)
        "lineage_edges": 15,
        "lineage_nodes": 13,
        "lineage_coverage": 1.0,
        "version_traceability": 1.0,
        "experiment_record_completeness": 1.0,
        "check_pass_rate": 1.0,
        "versions_by_status": {"released": 1, "rejected": 1, "rolled_back": 1},
    }
    assert {k: metrics[k] for k in by_hand} == by_hand
