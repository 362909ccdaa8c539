"""Issue 15's sweep story: on the current release, one run with a bad `C` (regressed) and one that
crashes (failed). A bad model configuration must not condemn the dataset: the whole graph is built,
alerts tell people, and the version carries neither a rule-8 violation nor a finding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient
from sqlalchemy import select

from dataops_platform.governance.versions import release_version
from dataops_platform.store.models import Alert, Experiment
from dataops_platform_tests.findings.story import (
    BAD_C,
    CRASH,
    Story,
    build_sweep,
    check_metadata,
    check_outcomes,
    copy_home,
    materialize,
    materialized,
    reopen,
)

EVERY_ASSET_AFTER_THE_RULES = {"alerts", "sla_report", "incident_reviews", "lineage_graph", "audit_log", "platform_metrics",
                               "platform_report", "test_report"}  # fmt: skip


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Story:
    story = build_sweep(tmp_path_factory.mktemp("sweep") / "home")
    story.platform.close()
    return story


def _experiments(story: Story) -> list[Experiment]:
    with story.platform.store.read() as session:
        return list(session.scalars(select(Experiment).order_by(Experiment.recorded_at, Experiment.experiment_id)))


def _alerts(story: Story) -> list[Alert]:
    with story.platform.store.read() as session:
        return list(session.scalars(select(Alert).order_by(Alert.alert_id)))


def test_the_sweep_is_attributed_to_the_model_not_the_data(sweep: Story) -> None:
    *_, bad, crashed = _experiments(sweep)
    assert (bad.status, bad.regression_kind, bad.params["C"]) == ("regressed", "model_candidate", str(BAD_C["C"]))
    assert (crashed.status, crashed.regression_kind, crashed.params["C"]) == ("failed", None, str(CRASH["C"]))
    baseline = sweep.experiment(bad.baseline_ref)
    assert baseline.dataset_version == bad.dataset_version == sweep.versions["v2"] and baseline.params["C"] == "4.0"
    # The verdict and its kind are written back onto the MLflow run (SPEC §9).
    tags = MlflowClient(tracking_uri=sweep.settings.tracking_uri).get_run(bad.mlflow_run_id).data.tags
    assert (tags["dataops.status"], tags["dataops.regression_kind"]) == ("regressed", "model_candidate")


def test_the_sweep_raises_alerts_that_say_what_happened(sweep: Story) -> None:
    *_, bad, crashed = _experiments(sweep)
    by_object = {a.related_object: a for a in _alerts(sweep)}
    regression, failure = by_object[f"experiment:{bad.experiment_id}"], by_object[f"experiment:{crashed.experiment_id}"]
    # Medium, not high: a bad configuration is no incident on a dataset (no review owed).
    assert (regression.category, regression.severity, regression.status) == ("regression", "medium", "open")
    assert "model-candidate regression" in regression.title and "C: 4.0 -> 0.001" in regression.title
    assert "not blocked" in regression.title
    assert (failure.category, failure.severity, failure.status) == ("run_failure", "medium", "open")


def test_the_whole_graph_is_built_and_the_version_is_not_condemned(sweep: Story, tmp_path: Path) -> None:
    settings = copy_home(sweep.settings, tmp_path / "home")
    result = materialize(settings)
    outcomes = check_outcomes(result)
    assert result.success, outcomes
    assert EVERY_ASSET_AFTER_THE_RULES <= materialized(result)
    assert "violation" not in outcomes.values(), outcomes  # integrity holds: `dataops materialize` exits 0
    assert outcomes["release_gate_respected"] == "passed"
    assert check_metadata(result, "release_gate_respected")["findings"] == 0
    for name in ("sla_report.json", "audit_log.jsonl"):
        assert (settings.artifacts_dir / "processed" / name).exists()
    report = (settings.artifacts_dir / "reports" / "p8_report.md").read_text()
    metrics = json.loads((settings.artifacts_dir / "reports" / "p8_metrics.json").read_text())
    assert f"| experiments_regressed | {metrics['experiments_regressed']} |" in report
    assert (metrics["experiments_regressed"], metrics["experiments_failed"], metrics["checks_failed"]) == (1, 1, [])
    assert metrics["integrity_pass_rate"] == 1.0
    # The two alerts are open days past their SLA: that is a finding on rule 10, shown, not blocking.
    assert metrics["checks_with_findings"] == ["alerts_linked_and_closed"]
    assert outcomes["alerts_linked_and_closed"] == "finding"
    assert metrics["findings_open"] == 2 and metrics["check_pass_rate"] == round(10 / 11, 4)
    results = json.loads((settings.artifacts_dir / "reports" / "p8_test_results.json").read_text())
    gate = next(r for r in results["results"] if r["rule"] == "release_gate_respected")
    assert (gate["status"], gate["violations"], gate["findings"]) == ("passed", [], [])


def test_the_version_stays_releasable_past_a_model_candidate_regression(sweep: Story, tmp_path: Path) -> None:
    """Before a release, too: a worse candidate model does not block the version; a crash does."""
    story = reopen(copy_home(sweep.settings, tmp_path / "home"), sweep.clock.now())
    v4 = story.version("v4", 24, parent=sweep.versions["v2"])
    story.validate(v4)
    story.train(v4, BAD_C, "candidate-on-v4")
    [added] = story.sync().added
    assert (story.experiment(added).status, story.experiment(added).regression_kind) == ("regressed", "model_candidate")
    assert release_version(story.platform, "priya", v4).status == "released"
    story.platform.close()
