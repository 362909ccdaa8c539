"""Rollback: refused targets change nothing; the impact list equals an independent computation."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from dataops_platform.errors import GateRefused, InvalidInput
from dataops_platform.governance.alerts import open_alert
from dataops_platform.governance.exceptions import request_exception
from dataops_platform.governance.experiments import record_experiment
from dataops_platform.governance.lineage import impact_rows
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.rollback import execute_rollback, preview_rollback
from dataops_platform.store.models import (
    Alert,
    DatasetVersion,
    ExceptionApproval,
    Experiment,
    LineageEdge,
    Project,
    RollbackEvent,
)
from dataops_platform_tests.services.steps import PROJECT, audit_count, last_audit, released, snapshot, validated


@pytest.fixture
def history(platform: Platform, tmp_path: Path, clock) -> dict:
    """v1 released, v2 released from v1 (current), v3 validated child of v2; experiments and alerts below v2."""
    v1 = released(platform, tmp_path)
    clock.advance(minutes=5)
    v2 = released(platform, tmp_path, parent=v1.version_id)
    v3 = validated(platform, tmp_path, parent=v2.version_id)
    e1 = record_experiment(platform, "lena", PROJECT, v2.version_id, "regressed", metrics={"f1": 0.7})
    e2 = record_experiment(platform, "quinn", PROJECT, v3.version_id, "completed", metrics={"f1": 0.9})
    a1 = open_alert(platform, "omar", f"experiment:{e1.experiment_id}", "high", "regression", "f1 dropped")
    from datetime import timedelta

    x1 = request_exception(platform, "lena", v3.version_id, "experiment_status", "x", clock.now() + timedelta(days=1))
    return {"v1": v1, "v2": v2, "v3": v3, "e1": e1, "e2": e2, "a1": a1, "x1": x1}


def _independent_impact(platform: Platform, version_id: str) -> dict[str, set[str]]:
    """Walk the edges in Python from the raw rows, not through the service's SQL."""
    with platform.store.read() as session:
        edges = [(e.source_ref, e.target_ref) for e in session.scalars(select(LineageEdge))]
    below, frontier = set(), {f"version:{version_id}"}
    while frontier:
        nxt = {t for s, t in edges if s in frontier} - below
        below |= nxt
        frontier = nxt
    grouped: dict[str, set[str]] = {}
    for ref in below:
        kind, _, oid = ref.partition(":")
        grouped.setdefault(kind, set()).add(oid)
    return grouped


def test_successful_rollback_and_its_impact(platform: Platform, history: dict) -> None:
    v1, v2 = history["v1"].version_id, history["v2"].version_id
    expected = _independent_impact(platform, v2)
    assert expected["experiment"] == {history["e1"].experiment_id, history["e2"].experiment_id}  # multi-hop via v3
    assert expected["alert"] == {history["a1"].alert_id}
    assert expected["exception"] == {history["x1"].exception_id}
    preview = preview_rollback(platform, "priya", PROJECT, v1)
    event, plan = execute_rollback(platform, "omar", PROJECT, v1, "f1 regression on v2", f"alert:{history['a1'].alert_id}")
    assert plan.impact == preview.impact
    for kind in ("version", "experiment", "alert", "exception"):
        assert set(plan.impact[kind]) == expected.get(kind, set()), kind
    with platform.store.read() as session:
        assert session.get(Project, PROJECT).current_release == v1
        assert session.get(DatasetVersion, v2).status == "rolled_back"
        stored = session.get(RollbackEvent, event.rollback_id)
        assert (stored.from_version, stored.to_version, stored.executed_by) == (v2, v1, "omar")
        edges = {(e.source_ref, e.target_ref, e.edge_type) for e in session.scalars(select(LineageEdge))}
    rb = f"rollback:{event.rollback_id}"
    assert {
        (f"version:{v2}", rb, "rolled_back_from"),
        (f"version:{v1}", rb, "restored_to"),
        (f"alert:{history['a1'].alert_id}", rb, "triggered"),
    } <= edges
    assert (last_audit(platform).action, last_audit(platform).outcome) == ("rollback.execute", "allowed")
    # The abandoned version's impact now includes the rollback; the restored version is not below it.
    assert f"version:{v1}" not in {r.ref for r in impact_rows_for(platform, v2)}


def impact_rows_for(platform: Platform, version_id: str):  # noqa: ANN201
    with platform.store.read() as session:
        return impact_rows(session, f"version:{version_id}")


@pytest.mark.parametrize("target", ["v3", "later", "other_project", "current"])
def test_refused_rollbacks_change_nothing(platform: Platform, history: dict, tmp_path: Path, target: str) -> None:
    if target == "v3":
        to, expected = history["v3"].version_id, GateRefused  # never released
    elif target == "current":
        to, expected = history["v2"].version_id, GateRefused
    elif target == "later":
        # Roll back to v1 first, then try to "roll back" to v2, which was released after v1.
        execute_rollback(platform, "priya", PROJECT, history["v1"].version_id, "setup")
        to, expected = history["v2"].version_id, GateRefused
    else:
        other = released(platform, tmp_path, project="p01_retail_search", actor="dan")
        to, expected = other.version_id, InvalidInput
    before, count = snapshot(platform), audit_count(platform)
    with pytest.raises(expected):
        execute_rollback(platform, "priya", PROJECT, to, "try")
    assert snapshot(platform) == before
    assert audit_count(platform) == count + 1 and last_audit(platform).outcome == "failed"


def test_dry_run_writes_nothing(platform: Platform, history: dict) -> None:
    before, count = snapshot(platform), audit_count(platform)
    plan = preview_rollback(platform, "omar", PROJECT, history["v1"].version_id)
    assert plan.from_version == history["v2"].version_id
    assert snapshot(platform) == before and audit_count(platform) == count


def test_dry_run_checks_the_trigger_like_the_real_run(platform: Platform, history: dict) -> None:
    """A newcomer's trial: `--dry-run --trigger alert:...999` said yes, the real run then exit 2."""
    before = snapshot(platform)
    with pytest.raises(InvalidInput, match="--trigger 'alert:t01_retail.alert_999': no such object") as bad:
        preview_rollback(platform, "omar", PROJECT, history["v1"].version_id, trigger="alert:t01_retail.alert_999")
    assert bad.value.field == "trigger"
    trigger = f"alert:{history['a1'].alert_id}"
    plan = preview_rollback(platform, "omar", PROJECT, history["v1"].version_id, trigger=trigger)
    assert plan.to_version == history["v1"].version_id
    assert snapshot(platform) == before


def test_every_object_counted_once(platform: Platform, history: dict) -> None:
    with platform.store.read() as session:
        assert len(session.scalars(select(Experiment)).all()) == 2
        assert len(session.scalars(select(Alert)).all()) == 1
        assert len(session.scalars(select(ExceptionApproval)).all()) == 1
