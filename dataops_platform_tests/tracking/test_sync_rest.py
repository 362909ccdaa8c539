"""Issue 12 finding 9 over REST: `POST /api/v1/experiments/sync` answers each caller with only what
they may read, on a real MLflow store and a live server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataops_platform.governance.platform import Platform
from dataops_platform.tracking.client import Tracking
from dataops_platform_tests.api.conftest import live_server
from dataops_platform_tests.helpers import audit_after, head_seq
from dataops_platform_tests.services.steps import PROJECT, released
from dataops_platform_tests.tracking.test_sync_trust import LEGAL_TENANT, RETAIL, experiment_of, log_run


@pytest.fixture
def tracking(sqlite_platform: Platform) -> Tracking:
    sqlite_platform.settings.ensure_home()
    return Tracking(sqlite_platform.settings.tracking_uri, sqlite_platform.settings.mlflow_artifact_root)


def test_finding9_rest_sync_report_to_an_outsider_names_nothing_of_another_tenant(
    sqlite_platform: Platform, tracking: Tracking, tmp_path: Path
) -> None:
    platform = sqlite_platform
    legal = released(platform, tmp_path)
    retail = released(platform, tmp_path, project=RETAIL, actor="dan")
    mine = log_run(tracking, project=RETAIL, version=retail.version_id, user="dan")
    theirs = log_run(tracking, version=legal.version_id, user="lena")
    foreign = log_run(tracking, version=legal.version_id, user="dan", experiment_id=tracking.experiment_id(RETAIL))
    with live_server(platform, "alice") as api:
        before = head_seq(platform)
        response = api.call("POST", "experiments/sync", "dan")
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["added"] == [experiment_of(platform, mine).experiment_id]
        assert experiment_of(platform, theirs).recorded_by == "lena" and experiment_of(platform, foreign) is None
        assert answer["ignored"] == [] and answer["ignored_not_shown"] == 1
        for secret in (PROJECT, LEGAL_TENANT, legal.version_id, theirs, foreign):
            assert secret not in response.text, secret
        # The caller's own decision, then each run's: dan may trigger a sync, lena's run is lena's.
        records = [(r.actor, r.outcome, r.object_ref) for r in audit_after(platform, before) if r.action == "experiment.log"]
        assert records[0] == ("dan", "allowed", None)
        assert ("dan", "denied", f"mlflow_run:{foreign}") in records

        denied = api.call("POST", "experiments/sync", "omar")  # ops: experiment.log nowhere
        assert denied.status_code == 403
        assert json.dumps(denied.json()).find(PROJECT) == -1
