"""How the policy decides, rule by rule, on small hand-made artifacts (pure rules, no store), plus
the attribution of regressions, the recording of their kind and the migration that marks old ones."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dataops_platform.errors import InvalidInput
from dataops_platform.governance.experiments import record_experiment
from dataops_platform.governance.gate import ExperimentFacts, blocks_release, judge_released, rollback_candidate
from dataops_platform.governance.platform import Platform
from dataops_platform.rules.checks import (
    alerts_linked_and_closed,
    incident_reviews_complete,
    release_gate_respected,
    rollback_events_valid,
)
from dataops_platform.spec.models import RegressionRule
from dataops_platform.store import migrate
from dataops_platform.tracking.regression import config_differences, regression_kind, training_config
from dataops_platform_tests.services.steps import PROJECT, validated

T = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def iso(minutes: float) -> str:
    return (T + timedelta(minutes=minutes)).isoformat()


# -- attribution ------------------------------------------------------------------------------------


def test_the_training_configuration_leaves_out_who_logged_the_run() -> None:
    params = {"C": "4.0", "max_iter": "300", "logged_by": "lena", "dataops.note": "x", "mlflow.source": "y"}
    assert training_config(params) == {"C": "4.0", "max_iter": "300"}
    baseline = {"C": "4.0", "max_iter": "300", "logged_by": "dan"}
    assert regression_kind(params, baseline) == "data"  # same configuration, another person
    assert regression_kind({**params, "C": "0.001"}, baseline) == "model_candidate"
    assert regression_kind({"C": 4.0, "max_iter": 300}, baseline) == "data"  # compared as MLflow's text
    assert regression_kind(params, None) == "data"  # nothing to compare: the model cannot be blamed


def test_bookkeeping_params_and_number_spellings_do_not_switch_the_gate_off() -> None:
    """A newcomer's trial: a data regression logged with an extra `git_sha`, or with `C` written `1`
    instead of `1.0`, was judged a model candidate, so the degraded version released. A param only
    one run logged is bookkeeping (the doubt goes to the blocking side); numbers compare as numbers;
    a project that wants a param added to count names its configuration in `config_params`."""
    baseline = {"C": "1.0", "max_iter": "300"}
    assert regression_kind({**baseline, "git_sha": "3f9c2e1"}, baseline) == "data"
    assert regression_kind({"C": "1", "max_iter": "3e2"}, baseline) == "data"
    assert regression_kind({"C": " 1.0 ", "max_iter": "300"}, baseline) == "data"
    assert regression_kind({"C": "0.001", "max_iter": "300", "git_sha": "x"}, baseline) == "model_candidate"
    other_solver = {"C": "1.0", "max_iter": "300", "solver": "lbfgs"}
    assert regression_kind(other_solver, {**baseline, "solver": "saga"}) == "model_candidate"
    rule = RegressionRule(primary_metric="f1", tolerance=0.02, config_params=["C", "penalty"])
    assert regression_kind({**baseline, "penalty": "l1"}, baseline, rule) == "model_candidate"  # declared: an added one counts
    assert regression_kind({**baseline, "max_iter": "10", "git_sha": "y"}, baseline, rule) == "data"  # undeclared: ignored
    assert config_differences({"C": "2", "max_iter": "300"}, baseline) == ["C: 1.0 -> 2"]


def test_what_blocks_a_release() -> None:
    assert blocks_release("failed", None) and blocks_release("regressed", "data") and blocks_release("regressed", None)
    assert not blocks_release("regressed", "model_candidate") and not blocks_release("completed", None)


def test_a_regression_kind_belongs_to_a_regressed_experiment_only(sqlite_platform: Platform, tmp_path: Path) -> None:
    version = validated(sqlite_platform, tmp_path).version_id
    plain = record_experiment(sqlite_platform, "lena", PROJECT, version, "regressed", metrics={"f1": 0.1})
    assert plain.regression_kind == "data"  # unattributed: it blocks, as every regression did
    with pytest.raises(InvalidInput, match="regression_kind 'model_candidate' is only for a regressed"):
        record_experiment(sqlite_platform, "lena", PROJECT, version, "completed", regression_kind="model_candidate")
    with pytest.raises(InvalidInput, match="regression_kind 'config' is not one of data, model_candidate") as bad:
        record_experiment(sqlite_platform, "lena", PROJECT, version, "regressed", regression_kind="config")
    assert (bad.value.field, bad.value.value) == ("regression_kind", "config")


def test_migration_0007_marks_earlier_regressions_as_data_regressions(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(url, "0006")
    with sqlite3.connect(tmp_path / "old.db") as conn:  # rows of an older store (foreign keys are off here)
        for eid, status in (("exp_001", "regressed"), ("exp_002", "failed"), ("exp_003", "completed")):
            conn.execute(
                "INSERT INTO experiments (experiment_id, project_id, dataset_version, params, status, metric_summary, deltas,"
                " requires_review, alert_ids, recorded_by, recorded_at) VALUES (?, 'p', 'v', '{}', ?, '{}', '{}', 0, '[]',"
                " 'lena', '2026-11-02 08:00:00')",
                (eid, status),
            )
    migrate.upgrade(url)
    with sqlite3.connect(tmp_path / "old.db") as conn:
        kinds = dict(conn.execute("SELECT experiment_id, regression_kind FROM experiments").fetchall())
    assert kinds == {"exp_001": "data", "exp_002": None, "exp_003": None}


# -- rule 8: the gate as it stood at release time ------------------------------------------------------


def _facts(eid: str, status: str, minutes: float, kind: str | None = None) -> ExperimentFacts:
    return ExperimentFacts(eid, status, kind, T + timedelta(minutes=minutes))


def test_before_the_release_means_strictly_before() -> None:
    before, tie, after = _facts("e1", "regressed", -1, "data"), _facts("e2", "regressed", 0, "data"), _facts("e3", "failed", 5)
    verdict = judge_released(T, [before, tie, after], waived_at_release=False, waived_now=False)
    assert verdict.bypassed == ["e1"]  # the gate ran in the release transaction: a tie came after it
    assert verdict.standing == ["e2"]  # a crash after the release says nothing about the data
    waived = judge_released(T, [before, tie], waived_at_release=True, waived_now=False)
    assert waived.bypassed == [] and waived.standing == ["e1", "e2"]  # the waiver has run out since
    candidate = judge_released(T, [_facts("e4", "regressed", -1, "model_candidate")], False, False)
    assert candidate.bypassed == [] and candidate.standing == []


def test_the_rollback_candidate_is_the_latest_earlier_release_still_released() -> None:
    releases = [("v1", "released", 1), ("v2", "deprecated", 2), ("v3", "released", 3), ("v4", "released", 4)]
    assert rollback_candidate(releases, 4) == "v3"
    assert rollback_candidate([("v1", "released", 1), ("v2", "rolled_back", 2)], 3) == "v1"
    assert rollback_candidate([("v1", "released", 1)], 1) is None


def _version(vid: str, seq: int, released: float, current: bool, exceptions: list[dict] | None = None) -> dict:
    return {"version_id": vid, "project_id": PROJECT, "status": "released", "released_at": iso(released),
            "release_seq": seq, "is_current_release": current, "exceptions": exceptions or []}  # fmt: skip


def _experiment(eid: str, vid: str, status: str, minutes: float, kind: str | None = None) -> dict:
    return {"experiment_id": eid, "dataset_version": vid, "status": status, "regression_kind": kind, "recorded_at": iso(minutes)}


def _exception(approved: float, expires: float, effective_status: str = "approved") -> dict:
    return {"rule": "experiment_status", "status": "approved", "approved_at": iso(approved), "effective_from": iso(approved),
            "expires_at": iso(expires), "effective_status": effective_status}  # fmt: skip


def _rule8(versions: list[dict], experiments: list[dict]) -> tuple[list[str], list[str]]:
    result = release_gate_respected({"dataset_versions": versions, "experiment_runs": experiments})
    return result.violations, result.findings


def test_rule_8_an_experiment_recorded_before_the_release_with_no_exception_is_a_violation() -> None:
    versions = [_version("v1", 1, 0, False), _version("v2", 2, 60, True)]
    violations, findings = _rule8(versions, [_experiment("e1", "v2", "regressed", 30, "data")])
    assert len(violations) == 1 and "v2 was released" in violations[0] and "e1" in violations[0]
    assert findings == []
    violations, _ = _rule8(versions, [_experiment("e1", "v1", "failed", -5)])  # an older release is judged too
    assert len(violations) == 1 and "v1" in violations[0]
    # Waived at release time, by an exception long expired since: the gate held.
    waived = [_version("v1", 1, 0, False), _version("v2", 2, 60, True, [_exception(40, 600, "expired")])]
    violations, findings = _rule8(waived, [_experiment("e1", "v2", "failed", 30)])
    assert (violations, findings) == ([], [])


def test_rule_8_a_data_regression_after_the_release_is_a_finding_on_the_current_release_only() -> None:
    versions = [_version("v1", 1, 0, False), _version("v2", 2, 60, True)]
    violations, [finding] = _rule8(versions, [_experiment("e1", "v2", "regressed", 90, "data")])
    assert violations == []
    assert "v2 is the current release" in finding and "e1 is a data regression" in finding
    assert f"dataops rollback {PROJECT} --to v1" in finding
    # On a release that is no longer current: nothing to act on (a successor or a rollback took over).
    assert _rule8([_version("v1", 1, 0, True), _version("v2", 2, 60, False)], [_experiment("e1", "v2", "regressed", 90)]) == (
        [],
        [],
    )
    # A model-candidate regression or a crash after the release: no finding against the version.
    others = [_experiment("e2", "v2", "regressed", 90, "model_candidate"), _experiment("e3", "v2", "failed", 91)]
    assert _rule8(versions, others) == ([], [])
    # An exception approved after the release, unexpired: the regression is waived.
    waived = [_version("v1", 1, 0, False), _version("v2", 2, 60, True, [_exception(120, 9000)])]
    assert _rule8(waived, [_experiment("e1", "v2", "regressed", 90, "data")]) == ([], [])


def test_rule_8_on_a_first_release_says_there_is_nothing_to_roll_back_to() -> None:
    _, [finding] = _rule8([_version("v1", 1, 0, True)], [_experiment("e1", "v1", "regressed", 30, "data")])
    assert f"no earlier release of {PROJECT} to roll back to" in finding and "release a successor" in finding


# -- rules 9, 10, 12: what is due, what is broken ----------------------------------------------------


def _alert(aid: str, severity: str, status: str, opened: float, resolved: float | None = None) -> dict:
    closed = iso(resolved) if resolved is not None else None
    return {
        "alert_id": aid,
        "project_id": PROJECT,
        "severity": severity,
        "status": status,
        "related_object": f"project:{PROJECT}",
        "opened_at": iso(opened),
        "acknowledged_at": closed,
        "resolved_at": closed,
    }


def _artifacts(alerts: list[dict], breaches: list[str] = (), reviews: list[dict] = (), rollbacks: list[dict] = ()) -> dict:
    return {
        "platform_scope": {"tenants": [{"id": "t"}], "projects": [{"id": PROJECT, "tenant_id": "t"}]},
        "dataset_versions": [
            {"version_id": "v1", "project_id": PROJECT, "release_seq": 1, "status": "released", "exceptions": []},
            {"version_id": "v2", "project_id": PROJECT, "release_seq": 2, "status": "rolled_back", "exceptions": []},
        ],
        "experiment_runs": [],
        "alerts": alerts,
        "rollback_events": list(rollbacks),
        "incident_reviews": list(reviews),
        "sla_report": {"breaches": [{"alert_id": b, "problems": ["acknowledge 90.0 min > 30"]} for b in breaches]},
    }


def test_rule_10_an_open_alert_past_its_sla_is_a_finding_a_contradiction_a_violation() -> None:
    late = _alert("a1", "high", "open", 0)
    result = alerts_linked_and_closed(_artifacts([late], breaches=["a1"]))
    assert result.violations == [] and result.findings == ["a1 (high) is open outside its SLA (acknowledge 90.0 min > 30): "
                                                           "acknowledge or resolve it"]  # fmt: skip
    broken = {**late, "status": "resolved"}  # resolved, but no resolution time
    assert alerts_linked_and_closed(_artifacts([broken])).violations == ["a1 status resolved contradicts its timestamps (open)"]
    dangling = {**late, "related_object": "experiment:e404"}
    assert alerts_linked_and_closed(_artifacts([dangling])).violations == ["a1 references missing experiment:e404"]


def _review(rid: str, related: list[str], root_cause: str = "labels inverted") -> dict:
    return {"review_id": rid, "project_id": PROJECT, "related_refs": related, "symptom": "f1 fell", "impact_scope": "p02",
            "root_cause": root_cause, "mitigation": "rollback",
            "fix_items": [{"description": "re-label", "owner": "lena", "due": "2026-11-09"}]}  # fmt: skip


def test_rule_12_a_review_is_due_once_an_alert_is_resolved_or_late_and_for_every_rollback() -> None:
    fresh, late, done = (
        _alert("a1", "high", "open", 0),
        _alert("a2", "critical", "open", 0),
        _alert("a3", "high", "resolved", 0, 30),
    )
    result = incident_reviews_complete(_artifacts([fresh, late, done], breaches=["a2"]))
    assert result.violations == []
    assert result.findings == [
        "alert:a2 has no incident review (`dataops review add --alert a2 ...`)",
        "alert:a3 has no incident review (`dataops review add --alert a3 ...`)",
    ]  # a1 opened a minute ago is still being handled: not yet due
    incomplete = incident_reviews_complete(_artifacts([done], reviews=[_review("r1", ["alert:a3"], root_cause=" ")]))
    assert incomplete.findings == ["alert:a3: review r1 lacks root_cause"] and incomplete.violations == []
    dangling = incident_reviews_complete(_artifacts([done], reviews=[_review("r1", ["alert:a9"])]))
    assert dangling.violations == ["review r1 relates alert:a9, which does not exist"]


def test_rule_9_a_missing_review_is_owed_a_disagreeing_one_is_broken() -> None:
    rollback = {"rollback_id": "rb1", "project_id": PROJECT, "from_version": "v2", "to_version": "v1", "trigger_ref": None,
                "review_ref": None}  # fmt: skip
    owed = rollback_events_valid(_artifacts([], rollbacks=[rollback]))
    assert owed.violations == []
    assert owed.findings == [
        "rb1: no incident review yet (`dataops review add --rollback rb1 ...`)",
        "rb1: no trigger recorded; its complete incident review has to say what caused it",
    ]
    reviewed = rollback_events_valid(
        _artifacts([], reviews=[_review("r1", ["rollback:rb1"])], rollbacks=[{**rollback, "review_ref": "r1"}])
    )
    assert (reviewed.violations, reviewed.findings) == ([], [])  # the complete review explains the missing trigger
    unlinked = rollback_events_valid(_artifacts([], reviews=[_review("r1", ["rollback:rb1"])], rollbacks=[rollback]))
    assert unlinked.violations == ["rb1: reviewed by r1, but its review_ref is empty"]
    dangling = rollback_events_valid(_artifacts([], rollbacks=[{**rollback, "trigger_ref": "alert:a9", "review_ref": "r404"}]))
    assert dangling.violations == ["rb1: trigger 'alert:a9' names no object", "rb1: review_ref 'r404' names no incident review"]
