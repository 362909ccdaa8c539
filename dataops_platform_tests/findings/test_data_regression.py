"""A data regression found on the current release after it was released: a finding (WARN, never
blocking) naming the version, the experiment and the three remedies, with a high alert that names
the rollback candidate and stays open while the finding stands. Each remedy clears the finding on
the next materialisation; the gate still refuses a degraded version whose regression came first."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from mlflow import MlflowClient
from sqlalchemy import select

from dataops_platform.errors import GateRefused, PermissionDenied
from dataops_platform.governance.alerts import acknowledge_alert, resolve_alert
from dataops_platform.governance.exceptions import approve_exception, request_exception
from dataops_platform.governance.rollback import execute_rollback, preview_rollback
from dataops_platform.governance.versions import deprecate_version, release_version
from dataops_platform.store.models import Alert, AuditRecord
from dataops_platform_tests.findings.story import (
    GOOD,
    PROJECT,
    Story,
    build_data_regression,
    check_metadata,
    check_outcomes,
    copy_home,
    materialize,
    materialized,
    reopen,
)

GATE = "release_gate_respected"
GATE_ASSETS = ["dataset_versions", "experiment_runs"]  # rule 8 is the check of experiment_runs


@pytest.fixture(scope="module")
def regressed(tmp_path_factory: pytest.TempPathFactory) -> Story:
    story = build_data_regression(tmp_path_factory.mktemp("regressed") / "home")
    story.platform.close()
    return story


@pytest.fixture
def story(regressed: Story, tmp_path: Path) -> Story:
    """A private copy of the regressed home, its clock an hour after the regression."""
    copy = reopen(copy_home(regressed.settings, tmp_path / "home"), regressed.clock.now() + timedelta(hours=1))
    copy.versions, copy.facts = dict(regressed.versions), dict(regressed.facts)
    yield copy
    copy.platform.close()


def _regression(story: Story) -> tuple[str, Alert]:
    [experiment_id] = story.facts["regression"].added
    with story.platform.store.read() as session:
        alert = session.scalars(select(Alert).where(Alert.related_object == f"experiment:{experiment_id}")).one()
    return experiment_id, alert


def _gate_finding(story: Story) -> str:
    result = materialize(story.settings, GATE_ASSETS)
    assert check_outcomes(result)[GATE] == "finding"
    return check_metadata(result, GATE)["findings_list"]


def test_the_regression_is_a_data_regression_written_back_to_mlflow(regressed: Story) -> None:
    experiment_id, _ = _regression(regressed)
    experiment = regressed.experiment(experiment_id)
    assert (experiment.status, experiment.regression_kind) == ("regressed", "data")
    baseline = regressed.experiment(experiment.baseline_ref)
    assert baseline.dataset_version == regressed.versions["v2"] and baseline.params == experiment.params
    tags = MlflowClient(tracking_uri=regressed.settings.tracking_uri).get_run(experiment.mlflow_run_id).data.tags
    assert (tags["dataops.status"], tags["dataops.regression_kind"]) == ("regressed", "data")


def test_the_finding_names_version_experiment_and_remedies_and_blocks_nothing(story: Story) -> None:
    experiment_id, alert = _regression(story)
    v2, v3 = story.versions["v2"], story.versions["v3"]
    # The alert: high, open, on the regression, naming the current release and the rollback candidate.
    assert (alert.severity, alert.category, alert.status) == ("high", "regression", "open")
    assert "data regression" in alert.title and f"{v3} is the current release: roll back to {v2}" in alert.title

    result = materialize(story.settings)
    outcomes = check_outcomes(result)
    assert result.success and "violation" not in outcomes.values(), outcomes
    assert outcomes[GATE] == "finding"
    assert {"sla_report", "audit_log", "platform_metrics", "platform_report", "test_report"} <= materialized(result)
    finding = check_metadata(result, GATE)["findings_list"]
    assert v3 in finding and experiment_id in finding and "current release" in finding
    assert f"dataops rollback {PROJECT} --to {v2}" in finding
    assert "release a successor" in finding and f"dataops exception request {v3} --rule experiment_status" in finding


def test_the_alert_stays_open_while_the_finding_stands(story: Story) -> None:
    _, alert = _regression(story)
    acknowledge_alert(story.platform, "omar", alert.alert_id)
    with pytest.raises(GateRefused) as refused:
        resolve_alert(story.platform, "omar", alert.alert_id, "looked at it")
    assert "roll back to" in refused.value.conditions[0] and story.versions["v3"] in refused.value.conditions[0]
    with story.platform.store.read() as session:
        assert session.get(Alert, alert.alert_id).status == "acknowledged"
        last = session.scalars(select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(1)).one()
    assert (last.action, last.outcome, last.object_ref) == ("alert.resolve", "failed", f"alert:{alert.alert_id}")


def test_remedy_rollback_to_the_previous_release(story: Story) -> None:
    experiment_id, alert = _regression(story)
    v2, v3 = story.versions["v2"], story.versions["v3"]
    assert story.versions["v1"] not in _gate_finding(story)
    with pytest.raises(GateRefused, match=f"already the current release; roll back to an earlier release, e.g. --to {v2}"):
        preview_rollback(story.platform, "priya", PROJECT, v3)
    execute_rollback(story.platform, "priya", PROJECT, v2, "f1 fell on v3's labels", f"alert:{alert.alert_id}")
    result = materialize(story.settings, GATE_ASSETS)
    assert check_outcomes(result)[GATE] == "passed"
    # The remedy is in; a person closes the incident (the platform never resolves it by itself).
    assert resolve_alert(story.platform, "omar", alert.alert_id, f"rolled back to {v2}").status == "resolved"


def test_remedy_release_a_successor(story: Story) -> None:
    _, alert = _regression(story)
    v3 = story.versions["v3"]
    _gate_finding(story)
    v4 = story.version("v4", 24, parent=v3)
    story.validate(v4)
    story.release(v4)
    assert check_outcomes(materialize(story.settings, GATE_ASSETS))[GATE] == "passed"
    assert deprecate_version(story.platform, "priya", v3).status == "deprecated"  # no longer refused
    assert resolve_alert(story.platform, "omar", alert.alert_id, f"{v4} released instead").status == "resolved"


def test_remedy_an_exception_on_the_current_release(story: Story) -> None:
    _, alert = _regression(story)
    v3 = story.versions["v3"]
    _gate_finding(story)
    expires = story.clock.now() + timedelta(days=14)
    exc = request_exception(story.platform, "lena", v3, "experiment_status", "labels under re-annotation", expires)
    with pytest.raises(PermissionDenied):
        approve_exception(story.platform, "lena", exc.exception_id)  # a data engineer may not approve
    own = request_exception(story.platform, "priya", v3, "experiment_status", "self-serve", expires)
    with pytest.raises(GateRefused, match="separation_of_duties"):
        approve_exception(story.platform, "priya", own.exception_id)  # nor may its requester
    approve_exception(story.platform, "priya", exc.exception_id)
    assert check_outcomes(materialize(story.settings, GATE_ASSETS))[GATE] == "passed"
    assert resolve_alert(story.platform, "omar", alert.alert_id, f"waived by {exc.exception_id}").status == "resolved"


def test_the_gate_still_refuses_a_degraded_version_whose_regression_came_first(story: Story) -> None:
    v5 = story.version("v5", 25, parent=story.versions["v3"], noise=0.45)
    story.validate(v5)
    story.train(v5, GOOD, "v5-eval")
    [added] = story.sync().added
    assert (story.experiment(added).status, story.experiment(added).regression_kind) == ("regressed", "data")
    with pytest.raises(GateRefused) as refused:
        release_version(story.platform, "priya", v5)
    assert refused.value.conditions == [f"experiment_status: {added} (regressed) on {v5} with no approved, unexpired exception"]
