"""The release gate: each condition alone refuses, all four are named at once, exceptions waive for a time."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from dataops_platform.clock import FixedClock
from dataops_platform.errors import GateRefused, InvalidInput, PermissionDenied
from dataops_platform.governance.exceptions import approve_exception, request_exception
from dataops_platform.governance.experiments import record_experiment
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.versions import (
    deprecate_version,
    register_version,
    release_version,
    validate_version,
)
from dataops_platform_tests.services.steps import (
    PROJECT,
    audit_count,
    data_file,
    last_audit,
    registered,
    released,
    snapshot,
    validated,
)

FROZEN_PROJECT = "p01_retail_search"  # frozen 2026-12-20 .. 2027-01-04 in examples/platform.yaml


def _refused(platform: Platform, actor: str, version_id: str) -> GateRefused:
    before, count = snapshot(platform), audit_count(platform)
    with pytest.raises(GateRefused) as err:
        release_version(platform, actor, version_id)
    assert snapshot(platform) == before, "a refused release must change nothing"
    assert audit_count(platform) == count + 1
    record = last_audit(platform)
    assert (record.action, record.outcome, record.object_ref) == ("version.release", "failed", f"version:{version_id}")
    return err.value


def test_a_clean_version_releases(platform: Platform, tmp_path: Path) -> None:
    version = released(platform, tmp_path)
    assert version.status == "released"
    assert last_audit(platform).outcome == "allowed"


def test_quality_gate_alone_refuses(sqlite_platform: Platform, tmp_path: Path) -> None:
    draft = registered(sqlite_platform, tmp_path)
    refusal = _refused(sqlite_platform, "priya", draft.version_id)
    assert len(refusal.conditions) == 1 and refusal.conditions[0].startswith("quality_gate")


def test_rejected_version_names_its_failed_thresholds(sqlite_platform: Platform, tmp_path: Path) -> None:
    small = register_version(sqlite_platform, "lena", PROJECT, data_file(tmp_path, n=5))
    rejected = validate_version(sqlite_platform, "quinn", small.version_id)
    assert rejected.status == "rejected"
    assert rejected.quality_failures == ["row_count 5 < min_rows 20"]
    refusal = _refused(sqlite_platform, "priya", small.version_id)
    assert "row_count 5 < min_rows 20" in refusal.conditions[0]


def test_regressed_experiment_alone_refuses(sqlite_platform: Platform, tmp_path: Path) -> None:
    version = validated(sqlite_platform, tmp_path)
    record_experiment(sqlite_platform, "lena", PROJECT, version.version_id, "regressed", metrics={"f1": 0.7})
    refusal = _refused(sqlite_platform, "priya", version.version_id)
    assert len(refusal.conditions) == 1
    assert refusal.conditions[0].startswith("experiment_status") and "exp_001 (regressed)" in refusal.conditions[0]


def test_freeze_window_alone_refuses(sqlite_platform: Platform, clock: FixedClock, tmp_path: Path) -> None:
    version = validated(sqlite_platform, tmp_path, project=FROZEN_PROJECT, actor="dan")
    clock.set(clock.now().replace(month=12, day=24))
    refusal = _refused(sqlite_platform, "priya", version.version_id)
    assert len(refusal.conditions) == 1 and refusal.conditions[0].startswith("freeze_window")
    clock.set(clock.now().replace(year=2027, month=1, day=5))
    assert release_version(sqlite_platform, "priya", version.version_id).status == "released"


def test_separation_of_duties_alone_refuses(tmp_path: Path, sqlite_settings, clock: FixedClock) -> None:
    # A spec where one person both creates and may release: only separation of duties stops it.
    spec_text = (Path(__file__).parents[2] / "examples" / "platform.yaml").read_text()
    spec_file = tmp_path / "sod.yaml"
    spec_file.write_text(
        spec_text.replace(
            "# roles: omitted",
            "roles:\n  admin: {actions: [spec.apply, project.manage, "
            "exception.approve, audit.read, read]}\n  platform_pm: {actions: [version.release, version.deprecate, "
            "rollback.execute, exception.request, exception.approve, review.write, read]}\n  data_engineer: {actions: "
            "[version.create, version.release, experiment.log, exception.request, read]}\n  qa: {actions: [version.validate, "
            "experiment.log, review.write, audit.read, read]}\n  ops: {actions: [rollback.execute, alert.open, alert.ack, "
            "alert.resolve, review.write, audit.read, read]}\n# was: roles omitted",
        )
    )
    from dataops_platform_tests.conftest import make_platform

    platform = make_platform(sqlite_settings, clock, spec_file)
    version = validated(platform, tmp_path)
    refusal = _refused(platform, "lena", version.version_id)
    assert len(refusal.conditions) == 1 and refusal.conditions[0].startswith("separation_of_duties")


def test_all_four_conditions_named_in_one_message(tmp_path: Path, sqlite_settings, clock: FixedClock) -> None:
    spec_file = tmp_path / "all.yaml"
    text = (Path(__file__).parents[2] / "examples" / "platform.yaml").read_text()
    spec_file.write_text(
        text.replace(
            "# roles: omitted",
            "roles:\n  admin: {actions: [spec.apply, project.manage, "
            "exception.approve, audit.read, read]}\n  platform_pm: {actions: [version.release, read]}\n  data_engineer: "
            "{actions: [version.create, version.release, experiment.log, exception.request, read]}\n  qa: {actions: "
            "[version.validate, experiment.log, review.write, audit.read, read]}\n  ops: {actions: [alert.open, alert.ack, "
            "alert.resolve, review.write, audit.read, read]}\n# was",
        )
    )
    from dataops_platform_tests.conftest import make_platform

    platform = make_platform(sqlite_settings, clock, spec_file)
    draft = registered(platform, tmp_path, project=FROZEN_PROJECT, actor="dan")
    record_experiment(platform, "dan", FROZEN_PROJECT, draft.version_id, "failed", error="boom")
    clock.set(clock.now().replace(month=12, day=24))
    refusal = _refused(platform, "dan", draft.version_id)
    kinds = [c.split(":")[0] for c in refusal.conditions]
    assert kinds == ["quality_gate", "experiment_status", "freeze_window", "separation_of_duties"]
    assert all(k in str(refusal) for k in kinds)


def test_exception_waives_until_it_expires(sqlite_platform: Platform, clock: FixedClock, tmp_path: Path) -> None:
    version = validated(sqlite_platform, tmp_path)
    record_experiment(sqlite_platform, "lena", PROJECT, version.version_id, "regressed", metrics={"f1": 0.7})
    exc = request_exception(
        sqlite_platform,
        "lena",
        version.version_id,
        "experiment_status",
        "known label drift, fix scheduled",
        clock.now() + timedelta(days=2),
    )
    assert exc.follow_up  # every exception carries a follow-up action
    _refused(sqlite_platform, "priya", version.version_id)  # requested, not yet approved
    approve_exception(sqlite_platform, "priya", exc.exception_id)
    clock.advance(days=3)  # expired by itself, no job needed
    refusal = _refused(sqlite_platform, "priya", version.version_id)
    assert refusal.conditions[0].startswith("experiment_status")


def test_approved_exception_lets_the_release_through(sqlite_platform: Platform, clock: FixedClock, tmp_path: Path) -> None:
    version = validated(sqlite_platform, tmp_path)
    record_experiment(sqlite_platform, "lena", PROJECT, version.version_id, "failed", error="boom")
    exc = request_exception(
        sqlite_platform, "lena", version.version_id, "experiment_status", "flaky runner", clock.now() + timedelta(days=1)
    )
    approve_exception(sqlite_platform, "priya", exc.exception_id)
    assert release_version(sqlite_platform, "priya", version.version_id).status == "released"


def test_exception_for_another_version_does_not_waive(sqlite_platform: Platform, clock: FixedClock, tmp_path: Path) -> None:
    v1, v2 = validated(sqlite_platform, tmp_path), validated(sqlite_platform, tmp_path)
    record_experiment(sqlite_platform, "lena", PROJECT, v2.version_id, "regressed")
    exc = request_exception(sqlite_platform, "lena", v1.version_id, "experiment_status", "x", clock.now() + timedelta(days=1))
    approve_exception(sqlite_platform, "priya", exc.exception_id)
    _refused(sqlite_platform, "priya", v2.version_id)


def test_exception_rules(sqlite_platform: Platform, clock: FixedClock, tmp_path: Path) -> None:
    version = validated(sqlite_platform, tmp_path)
    with pytest.raises(InvalidInput, match="cannot be waived"):
        request_exception(sqlite_platform, "lena", version.version_id, "freeze_window", "x", clock.now() + timedelta(days=1))
    with pytest.raises(InvalidInput, match="more than 14 days"):
        request_exception(sqlite_platform, "lena", version.version_id, "experiment_status", "x", clock.now() + timedelta(days=30))
    own = request_exception(
        sqlite_platform, "priya", version.version_id, "experiment_status", "x", clock.now() + timedelta(days=1)
    )
    with pytest.raises(GateRefused, match="separation_of_duties"):
        approve_exception(sqlite_platform, "priya", own.exception_id)
    with pytest.raises(PermissionDenied):
        approve_exception(sqlite_platform, "lena", own.exception_id)  # data_engineer may not approve
    approve_exception(sqlite_platform, "alice", own.exception_id)  # admin may


def test_illegal_transitions_name_state_and_allowed_moves(sqlite_platform: Platform, tmp_path: Path) -> None:
    version = released(sqlite_platform, tmp_path)
    with pytest.raises(GateRefused) as err:
        validate_version(sqlite_platform, "quinn", version.version_id)
    assert "is released; allowed from released: deprecate -> deprecated, rollback -> rolled_back" in str(err.value)
    with pytest.raises(GateRefused, match="current release"):
        deprecate_version(sqlite_platform, "priya", version.version_id)
    successor = released(sqlite_platform, tmp_path, parent=version.version_id)
    assert successor.status == "released"
    assert deprecate_version(sqlite_platform, "priya", version.version_id).status == "deprecated"
    with pytest.raises(GateRefused, match="is deprecated; .*none"):
        release_version(sqlite_platform, "priya", version.version_id)
