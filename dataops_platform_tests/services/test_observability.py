"""Alerts through their lifecycle, the SLA report, incident reviews and lineage depth."""

from __future__ import annotations

from pathlib import Path

import pytest

from dataops_platform.errors import GateRefused, InvalidInput, PermissionDenied
from dataops_platform.governance.alerts import acknowledge_alert, open_alert, resolve_alert, sla_status
from dataops_platform.governance.experiments import record_experiment
from dataops_platform.governance.lineage import impact
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.reviews import FixItem, ReviewInput, add_review
from dataops_platform.governance.rollback import execute_rollback
from dataops_platform_tests.services.steps import PROJECT, last_audit, released


def test_alert_lifecycle_and_sla(sqlite_platform: Platform, clock, tmp_path: Path) -> None:
    version = released(sqlite_platform, tmp_path)
    exp = record_experiment(sqlite_platform, "dataops-system", PROJECT, version.version_id, "failed", error="boom")
    # high: ack within 30, resolve within 120 (examples/platform.yaml)
    a1 = open_alert(sqlite_platform, "dataops-system", f"experiment:{exp.experiment_id}", "high", "run_failure", "run raised")
    a2 = open_alert(sqlite_platform, "omar", f"version:{version.version_id}", "medium", "freshness", "stale")
    clock.advance(minutes=10)
    acknowledge_alert(sqlite_platform, "omar", a1.alert_id)
    with pytest.raises(GateRefused, match="is acknowledged; allowed: resolve"):
        acknowledge_alert(sqlite_platform, "omar", a1.alert_id)
    clock.advance(minutes=40)
    resolve_alert(sqlite_platform, "omar", a1.alert_id, "re-ran on a fixed worker")  # 50 min after opening
    with pytest.raises(PermissionDenied):
        resolve_alert(sqlite_platform, "lena", a2.alert_id, "not mine to resolve")
    report = sla_status(sqlite_platform, "omar")
    assert report["alert_count"] == 2 and report["resolved_count"] == 1
    assert report["mean_time_to_acknowledge_minutes"] == 10.0
    assert report["mean_time_to_recovery_minutes"] == 50.0
    assert report["compliance_rate"] == 1.0 and report["breaches"] == []
    assert [r["alert_id"] for r in report["open_risks"]] == [a2.alert_id]
    clock.advance(minutes=500)  # a2 (medium: resolve within 480) is now in breach
    late = sla_status(sqlite_platform, "omar")
    assert [b["alert_id"] for b in late["breaches"]] == [a2.alert_id]
    assert late["compliance_rate"] == 0.5


def test_alert_on_missing_object_or_bad_severity_is_refused(sqlite_platform: Platform, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        open_alert(sqlite_platform, "omar", "version:ds_v404", "low", "freshness", "x")
    version = released(sqlite_platform, tmp_path)
    with pytest.raises(InvalidInput, match="severity 'urgent'"):
        open_alert(sqlite_platform, "omar", f"version:{version.version_id}", "urgent", "freshness", "x")
    assert (last_audit(sqlite_platform).action, last_audit(sqlite_platform).outcome) == ("alert.open", "failed")


def test_reviews_must_be_complete_for_serious_incidents(sqlite_platform: Platform, clock, tmp_path: Path) -> None:
    v1 = released(sqlite_platform, tmp_path)
    v2 = released(sqlite_platform, tmp_path, parent=v1.version_id)
    alert = open_alert(sqlite_platform, "omar", f"version:{v2.version_id}", "critical", "regression", "f1 dropped")
    event, _ = execute_rollback(sqlite_platform, "omar", PROJECT, v1.version_id, "regression", f"alert:{alert.alert_id}")
    related = [f"alert:{alert.alert_id}", f"rollback:{event.rollback_id}"]
    with pytest.raises(InvalidInput, match="incomplete: missing impact_scope, root_cause, mitigation, fix_items"):
        add_review(sqlite_platform, "priya", ReviewInput(related, "f1 dropped 8 points"))
    with pytest.raises(InvalidInput, match="owner 'nobody'"):
        add_review(sqlite_platform, "priya", ReviewInput(related, "s", "i", "r", "m", (FixItem.parse("x|nobody|2026-12-01"),)))
    with pytest.raises(InvalidInput, match="YYYY-MM-DD"):
        FixItem.parse("relabel|lena|next week")
    review = add_review(
        sqlite_platform,
        "priya",
        ReviewInput(
            related,
            "f1 dropped 8 points",
            "p02 releases since v2",
            "label noise in the new batch",
            "rolled back to v1",
            (FixItem.parse("relabel batch|lena|2026-12-01"),),
        ),
    )
    assert review.fix_items == [{"description": "relabel batch", "owner": "lena", "due": "2026-12-01"}]
    with sqlite_platform.store.read() as session:
        from dataops_platform.store.models import RollbackEvent

        assert session.get(RollbackEvent, event.rollback_id).review_ref == review.review_id
    # A low-severity alert may get a short review.
    low = open_alert(sqlite_platform, "omar", f"version:{v1.version_id}", "low", "freshness", "late")
    assert add_review(sqlite_platform, "quinn", ReviewInput([f"alert:{low.alert_id}"], "late by an hour")).review_id


def test_lineage_impact_depth_and_upstream(sqlite_platform: Platform, tmp_path: Path) -> None:
    v1 = released(sqlite_platform, tmp_path)
    v2 = released(sqlite_platform, tmp_path, parent=v1.version_id)
    exp = record_experiment(sqlite_platform, "lena", PROJECT, v2.version_id, "regressed")
    alert = open_alert(sqlite_platform, "omar", f"experiment:{exp.experiment_id}", "high", "regression", "x")
    start = f"version:{v1.version_id}"
    one = {r.ref for r in impact(sqlite_platform, "omar", start, depth=1)}
    assert one == {f"version:{v2.version_id}"}  # derived_from and supersedes both point at v2
    deep = impact(sqlite_platform, "omar", start, depth=3)
    assert {(r.ref, r.depth) for r in deep} == {
        (f"version:{v2.version_id}", 1),
        (f"experiment:{exp.experiment_id}", 2),
        (f"alert:{alert.alert_id}", 3),
    }
    assert {r.ref for r in impact(sqlite_platform, "omar", start)} == {r.ref for r in deep}
    up = {r.ref for r in impact(sqlite_platform, "omar", f"alert:{alert.alert_id}", upstream=True)}
    assert up == {f"experiment:{exp.experiment_id}", f"version:{v2.version_id}", start}
