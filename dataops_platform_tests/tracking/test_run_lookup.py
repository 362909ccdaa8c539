"""What the experiment_runs artifact says about each run (rule 7): a run that exists, one deleted in
the MLflow UI (still restorable: a finding), one MLflow does not have (None: a violation), and an
MLflow that does not answer (an error: an outage is not a vanished run)."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException

from dataops_platform.tracking.client import Tracking


def test_run_lookup_tells_a_deleted_run_from_a_missing_one(tmp_path: Path) -> None:
    tracking = Tracking(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = tracking.experiment_id("p_lookup")
    run_id = tracking.client.create_run(experiment).info.run_id
    assert tracking.run_exists(run_id) == {
        "run_id": run_id,
        "status": "RUNNING",
        "experiment_id": experiment,
        "lifecycle_stage": "active",
    }
    tracking.client.delete_run(run_id)
    assert tracking.run_exists(run_id)["lifecycle_stage"] == "deleted"
    assert tracking.run_exists("0" * 32) is None
    assert tracking.run_exists("no-such-run") is None


def test_an_unreachable_tracking_server_raises_instead_of_reading_as_no_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    tracking = Tracking("http://127.0.0.1:9")  # the discard port: nothing listens
    with pytest.raises(MlflowException, match="127.0.0.1:9"):
        tracking.run_exists("0" * 32)
