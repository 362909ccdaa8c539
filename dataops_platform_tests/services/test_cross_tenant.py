"""No command reveals or changes another tenant's object: its ids answer as not found."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dataops_platform.errors import InvalidInput, NotFound, PermissionDenied
from dataops_platform.governance import alerts, exceptions, lineage, reviews, rollback, versions
from dataops_platform.governance.platform import Platform
from dataops_platform_tests.services.steps import registered, released, snapshot


@pytest.fixture
def legal_version(sqlite_platform: Platform, tmp_path: Path):  # noqa: ANN201
    return released(sqlite_platform, tmp_path)  # p02_legal_sft, tenant t02_legal


def test_other_tenant_ids_answer_not_found(sqlite_platform: Platform, legal_version, clock) -> None:
    from datetime import timedelta

    vid = legal_version.version_id
    dan = "dan"  # data engineer of p01_retail_search only (tenant t01_retail)
    before = snapshot(sqlite_platform)
    attempts = [
        lambda: versions.show_version(sqlite_platform, dan, vid),
        lambda: versions.validate_version(sqlite_platform, dan, vid),
        lambda: versions.release_version(sqlite_platform, dan, vid),
        lambda: versions.deprecate_version(sqlite_platform, dan, vid),
        lambda: versions.list_versions(sqlite_platform, dan, "p02_legal_sft"),
        lambda: exceptions.request_exception(
            sqlite_platform, dan, vid, "experiment_status", "x", clock.now() + timedelta(days=1)
        ),
        lambda: alerts.open_alert(sqlite_platform, dan, f"version:{vid}", "low", "freshness", "x"),
        lambda: rollback.preview_rollback(sqlite_platform, dan, "p02_legal_sft", vid),
        lambda: rollback.execute_rollback(sqlite_platform, dan, "p02_legal_sft", vid, "x"),
        lambda: lineage.impact(sqlite_platform, dan, f"version:{vid}"),
        lambda: reviews.add_review(sqlite_platform, dan, reviews.ReviewInput([f"version:{vid}"], "x")),
    ]
    for attempt in attempts:
        with pytest.raises(NotFound) as err:
            attempt()
        assert "not found" in err.value.message
    # The same call on an id that does not exist at all reads exactly the same.
    with pytest.raises(NotFound) as missing:
        versions.show_version(sqlite_platform, dan, "ds_v999")
    with pytest.raises(NotFound) as foreign:
        versions.show_version(sqlite_platform, dan, vid)
    assert missing.value.message.replace("ds_v999", "X") == foreign.value.message.replace(vid, "X")
    assert snapshot(sqlite_platform) == before
    assert vid not in {v.version_id for v in versions.list_versions(sqlite_platform, dan)}


def test_same_tenant_without_role_is_forbidden_not_hidden(sqlite_platform: Platform, tmp_path: Path) -> None:
    version = registered(sqlite_platform, tmp_path)
    with pytest.raises(PermissionDenied) as err:
        versions.validate_version(sqlite_platform, "lena", version.version_id)  # lena is data_engineer there
    assert (err.value.actor, err.value.role, err.value.action, err.value.project) == (
        "lena",
        "data_engineer",
        "version.validate",
        "p02_legal_sft",
    )


def test_cli_cross_tenant_exit_code(sqlite_platform: Platform, legal_version) -> None:
    home = sqlite_platform.settings.home_dir
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dataops_platform.cli.app",
            "--home",
            str(home),
            "--as",
            "dan",
            "--json",
            "version",
            "show",
            legal_version.version_id,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert json.loads(result.stderr)["error"] == "not_found"
    assert legal_version.content_digest not in result.stdout + result.stderr


def test_bad_input_from_another_tenant_is_not_found_and_audited(sqlite_platform: Platform, tmp_path: Path) -> None:
    """Input checks that run before the transaction still decide permission first, and audit."""
    from dataops_platform_tests.services.steps import audit_count, last_audit

    count = audit_count(sqlite_platform)
    with pytest.raises(NotFound):
        versions.register_version(sqlite_platform, "dan", "p02_legal_sft", tmp_path / "missing.jsonl")
    assert audit_count(sqlite_platform) == count + 1
    assert (last_audit(sqlite_platform).actor, last_audit(sqlite_platform).outcome) == ("dan", "denied")
    with pytest.raises(InvalidInput):  # lena may create versions there: her bad file is a failure
        versions.register_version(sqlite_platform, "lena", "p02_legal_sft", tmp_path / "missing.jsonl")
    assert (last_audit(sqlite_platform).actor, last_audit(sqlite_platform).outcome) == ("lena", "failed")
