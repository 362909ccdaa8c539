"""Issue 14 part 5: a team's training code logs runs the platform counts (SPEC §9).

Real parts only: the reference organisation on SQLite (lena's MLflow user name `lena-laptop`
mapped through `users[].mlflow_users` by a real spec apply), real dataset versions, MLflow's
SQLite store under the home, training code in child processes that import MLflow with the
plugins installed from this package's entry points, and the real `dataops experiment sync`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from sqlalchemy import select

from dataops_platform.clock import FixedClock
from dataops_platform.errors import InvalidInput
from dataops_platform.governance.bootstrap import initialize
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.spec_apply import apply_spec
from dataops_platform.settings import Settings
from dataops_platform.spec.loader import load_spec
from dataops_platform.store.models import DatasetVersion, Experiment
from dataops_platform.tracking import client as tc
from dataops_platform.tracking.client import Tracking
from dataops_platform.tracking.sync import sync_runs
from dataops_platform_tests.conftest import ADMIN, EXAMPLE_SPEC
from dataops_platform_tests.helpers import audit_after, head_seq, run_cli_inprocess
from dataops_platform_tests.services.steps import PROJECT, registered

MLFLOW_USER = "lena-laptop"  # what MLflow records for lena's runs (her machine's login)
OTHER_TENANT = "p01_retail_search"  # tenant t01_retail: lena holds no role there
TRAINING = """
import json, sys
import mlflow
with mlflow.start_run() as run:
    mlflow.log_params({"C": 1.0, "max_iter": 200})
    mlflow.log_metrics({"f1": 0.91, "latency_ms": 120.0})
print(json.dumps({"run_id": run.info.run_id}))
"""


@pytest.fixture
def platform(sqlite_settings: Settings, clock: FixedClock, tmp_path: Path) -> Iterator[Platform]:
    """The reference organisation, with lena's MLflow user name declared in the spec."""
    text = EXAMPLE_SPEC.read_text(encoding="utf-8")
    line = "  - {id: lena, name: Lena (legal data engineer)}"
    assert line in text
    spec = tmp_path / "platform.yaml"
    spec.write_text(text.replace(line, line[:-1] + f", mlflow_users: [{MLFLOW_USER}]}}"), encoding="utf-8")
    p = Platform(sqlite_settings, clock)
    initialize(p, ADMIN)
    apply_spec(p, ADMIN, load_spec(spec), str(spec))
    p.settings.ensure_home()
    yield p
    p.close()


@pytest.fixture
def version(platform: Platform, tmp_path: Path) -> DatasetVersion:
    return registered(platform, tmp_path)


@pytest.fixture
def mlflow_client(platform: Platform) -> MlflowClient:
    return MlflowClient(tracking_uri=platform.settings.tracking_uri)


def training_env(platform: Platform, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATAOPS_", "MLFLOW_"))}
    env.update(MLFLOW_TRACKING_URI=platform.settings.tracking_uri, LOGNAME=MLFLOW_USER, USER=MLFLOW_USER)
    env.update(extra)
    return env


def train(platform: Platform, cwd: Path, script: str = TRAINING, **env: str) -> tuple[dict[str, Any], str]:
    """Run training code in a child process, as a team would; (its JSON line, its stderr)."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=training_env(platform, **env), cwd=cwd, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def recorded(platform: Platform, run_id: str) -> Experiment | None:
    with platform.store.read() as session:
        return session.scalars(select(Experiment).where(Experiment.mlflow_run_id == run_id)).one_or_none()


def audited(platform: Platform, since: int, run_id: str) -> list[tuple[str, str, str | None]]:
    return [(r.actor, r.outcome, r.project) for r in audit_after(platform, since) if r.object_ref == f"mlflow_run:{run_id}"]


def tracking(platform: Platform) -> Tracking:
    return Tracking(platform.settings.tracking_uri, platform.settings.mlflow_artifact_root)


# -- the plugin: a plain mlflow.start_run() ------------------------------------------------------


def test_plain_start_run_with_the_two_variables_is_synced_as_the_mapped_user(
    platform: Platform, version: DatasetVersion, mlflow_client: MlflowClient, tmp_path: Path
) -> None:
    out, _ = train(platform, tmp_path, DATAOPS_PROJECT=PROJECT, DATAOPS_DATASET_VERSION=version.version_id)
    run = mlflow_client.get_run(out["run_id"])
    experiment = mlflow_client.get_experiment(run.info.experiment_id)
    assert experiment.name == f"dataops/{PROJECT}"  # the default-experiment plugin, no MLFLOW_EXPERIMENT_NAME
    assert run.data.tags[tc.TAG_PROJECT] == PROJECT and run.data.tags[tc.TAG_VERSION] == version.version_id
    assert run.data.tags["mlflow.user"] == MLFLOW_USER

    sync = run_cli_inprocess(platform.settings.home_dir, "experiment", "sync", as_json=True)
    assert sync.code == 0, sync.stderr
    found = recorded(platform, out["run_id"])
    assert found is not None and found.experiment_id in sync.json["added"]
    assert (found.project_id, found.dataset_version, found.recorded_by) == (PROJECT, version.version_id, "lena")
    assert found.status == "completed" and found.metric_summary == {"f1": 0.91, "latency_ms": 120.0}
    assert mlflow_client.get_run(out["run_id"]).data.tags[tc.TAG_STATUS] == "completed"  # the verdict written back


def test_the_digest_variable_adds_the_digest_tag_and_log_dataset_the_input(
    platform: Platform, version: DatasetVersion, mlflow_client: MlflowClient, tmp_path: Path
) -> None:
    script = """
    import json
    import mlflow
    import dataops_platform.mlflow as dataops
    with mlflow.start_run() as run:
        dataops.log_dataset()  # a context provider adds tags only: the input is one call
        mlflow.log_metrics({"f1": 0.9, "latency_ms": 100.0})
    print(json.dumps({"run_id": run.info.run_id}))
    """
    env = dict(DATAOPS_DATASET_DIGEST=version.content_digest, DATAOPS_DATASET_SOURCE=version.source_uri)
    out, _ = train(platform, tmp_path, script, DATAOPS_PROJECT=PROJECT, DATAOPS_DATASET_VERSION=version.version_id, **env)
    run = mlflow_client.get_run(out["run_id"])
    assert run.data.tags[tc.TAG_DIGEST] == version.content_digest
    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.digest == version.content_digest[: tc.MLFLOW_DIGEST_CHARS]
    assert version.source_uri in dataset_input.dataset.source
    sync_runs(platform, tracking(platform))
    assert recorded(platform, out["run_id"]).recorded_by == "lena"


# -- the helper --------------------------------------------------------------------------------


HELPER = """
import json, os
import mlflow
import dataops_platform.mlflow as dataops
with dataops.start_run(project="{project}", dataset_version="{version}", digest="{digest}", source="{source}",
                       run_name="helper-run") as run:
    mlflow.log_metrics({{"f1": 0.92, "latency_ms": 110.0}})
print(json.dumps({{"run_id": run.info.run_id}}))
"""


def test_the_helper_logs_the_dataset_input_and_is_synced_like_the_plugins_run(
    platform: Platform, version: DatasetVersion, mlflow_client: MlflowClient, tmp_path: Path
) -> None:
    script = HELPER.format(project=PROJECT, version=version.version_id, digest=version.content_digest, source=version.source_uri)
    out, _ = train(platform, tmp_path, script)  # no DATAOPS_* variables: everything passed
    run = mlflow_client.get_run(out["run_id"])
    assert mlflow_client.get_experiment(run.info.experiment_id).name == f"dataops/{PROJECT}"
    assert run.data.tags[tc.TAG_VERSION] == version.version_id and run.data.tags[tc.TAG_DIGEST] == version.content_digest
    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.name == version.version_id
    assert dataset_input.dataset.digest == version.content_digest[: tc.MLFLOW_DIGEST_CHARS]
    assert json.loads(dataset_input.dataset.source)["uri"] == version.source_uri
    assert {t.key: t.value for t in dataset_input.tags}["mlflow.data.context"] == "training"

    report = sync_runs(platform, tracking(platform))
    found = recorded(platform, out["run_id"])
    assert found.experiment_id in report.added and (found.recorded_by, found.status) == ("lena", "completed")


def test_a_failing_block_ends_the_run_failed_with_the_error_and_sync_judges_it_failed(
    platform: Platform, version: DatasetVersion, mlflow_client: MlflowClient, tmp_path: Path
) -> None:
    script = """
    import json
    import dataops_platform.mlflow as dataops
    try:
        with dataops.start_run() as run:
            raise RuntimeError("out of memory")
    except RuntimeError:
        pass
    print(json.dumps({"run_id": run.info.run_id}))
    """
    out, _ = train(platform, tmp_path, script, DATAOPS_PROJECT=PROJECT, DATAOPS_DATASET_VERSION=version.version_id)
    run = mlflow_client.get_run(out["run_id"])
    assert run.info.status == "FAILED" and run.data.tags[tc.TAG_ERROR] == "RuntimeError: out of memory"
    sync_runs(platform, tracking(platform))
    found = recorded(platform, out["run_id"])
    assert (found.status, found.error) == ("failed", "RuntimeError: out of memory")


@pytest.mark.parametrize(
    ("kwargs", "field", "says"),
    [
        ({"project": ""}, "project", "DATAOPS_PROJECT"),
        ({"project": "P02 Legal"}, "project", "not a platform id"),
        ({"project": "p02\x00x"}, "project", "NUL"),
        ({"dataset_version": "ds'; drop"}, "dataset_version", "not a platform id"),
        ({"digest": "abc", "source": "/data/x.csv"}, "digest", "64 lowercase hex"),
        ({"digest": "a" * 64}, "source", "without its source"),
        ({"tags": {"dataops.project": "p01_retail_search"}}, "tags", "the platform's"),
    ],
    ids=["empty-project", "bad-project", "nul", "bad-version", "bad-digest", "digest-no-source", "reserved-tag"],
)
def test_the_helper_refuses_bad_values_before_a_run_starts(
    platform: Platform, version: DatasetVersion, mlflow_client: MlflowClient, kwargs: dict[str, Any], field: str, says: str
) -> None:
    import mlflow
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    import dataops_platform.mlflow as dataops

    given = {"project": PROJECT, "dataset_version": version.version_id} | kwargs
    with _use_tracking_uri(platform.settings.tracking_uri):
        with pytest.raises(InvalidInput) as error, dataops.start_run(**given):
            pytest.fail("the block must not run")
        assert mlflow.active_run() is None
    assert error.value.field == field and says in error.value.message
    assert mlflow_client.search_runs([e.experiment_id for e in mlflow_client.search_experiments()]) == []


def test_the_helper_refuses_a_source_mlflow_cannot_name_before_a_run_starts(
    platform: Platform, version: DatasetVersion, mlflow_client: MlflowClient
) -> None:
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    import dataops_platform.mlflow as dataops

    with _use_tracking_uri(platform.settings.tracking_uri):
        with pytest.raises(InvalidInput) as error, dataops.start_run(
            PROJECT, version.version_id, digest=version.content_digest, source="nosuchscheme://bucket/x"
        ):
            pytest.fail("the block must not run")
    assert error.value.field == "source" and "nosuchscheme://bucket/x" in error.value.message
    assert mlflow_client.search_runs([e.experiment_id for e in mlflow_client.search_experiments()]) == []


# -- the training view ---------------------------------------------------------------------------


def test_platform_experiments_open_on_the_training_view_with_the_verdict_columns(
    platform: Platform, version: DatasetVersion, mlflow_client: MlflowClient, tmp_path: Path
) -> None:
    # An experiment an older platform created: no kind tag, no view.
    old_id = mlflow_client.create_experiment(f"dataops/{PROJECT}", tags={tc.TAG_PROJECT: PROJECT})
    assert tc.TAG_EXPERIMENT_KIND not in mlflow_client.get_experiment(old_id).tags
    out, _ = train(platform, tmp_path, DATAOPS_PROJECT=PROJECT, DATAOPS_DATASET_VERSION=version.version_id)
    assert mlflow_client.get_run(out["run_id"]).info.experiment_id == old_id  # the existing one, not a second
    tags = mlflow_client.get_experiment(old_id).tags
    assert tags["mlflow.experimentKind"] == "custom_model_development"  # MLflow 3.17's training view
    sync_runs(platform, tracking(platform))
    tags = mlflow_client.get_experiment(old_id).tags
    view = json.loads(tags["mlflow.sharedViewState.dataops"])
    columns = json.loads(view["state"])["selectedColumns"]
    assert "metrics.`f1`" in columns and "tags.`dataops.status`" in columns  # f1: p02's primary metric
    assert view["name"] and isinstance(view["createdAt"], int)

    # A new project's experiment, created by the platform itself (Tracking.experiment_id), has them at once.
    created = mlflow_client.get_experiment(tracking(platform).experiment_id("p03_clinical_qa"))
    assert created.tags["mlflow.experimentKind"] == "custom_model_development"
    assert created.tags[tc.TAG_PROJECT] == "p03_clinical_qa" and "mlflow.sharedViewState.dataops" in created.tags


# -- hostile environments ---------------------------------------------------------------------------


HOSTILE = """
import json, os
import mlflow
runs = {}
for case, project, version in json.loads(os.environ["CASES"]):
    os.environ["DATAOPS_PROJECT"], os.environ["DATAOPS_DATASET_VERSION"] = project, version
    with mlflow.start_run() as run:
        mlflow.log_metrics({"f1": 0.9, "latency_ms": 100.0})
    runs[case] = run.info.run_id
print(json.dumps(runs))
"""


def test_hostile_environments_give_runs_the_sync_never_counts(
    platform: Platform, version: DatasetVersion, mlflow_client: MlflowClient, tmp_path: Path
) -> None:
    foreign = registered(platform, tmp_path, project=OTHER_TENANT, actor="dan")  # another tenant's version
    cases = [
        ("other_tenant", OTHER_TENANT, version.version_id),
        ("foreign_version", PROJECT, foreign.version_id),
        ("no_such_project", "p99_nowhere", version.version_id),
        ("bad_text", "p02_legal_sft' OR '1'='1", version.version_id),
        ("no_version", PROJECT, ""),
    ]
    runs, stderr = train(platform, tmp_path, HOSTILE, CASES=json.dumps(cases))
    name_of = {case: mlflow_client.get_experiment(mlflow_client.get_run(r).info.experiment_id).name for case, r in runs.items()}
    assert name_of["other_tenant"] == f"dataops/{OTHER_TENANT}" and name_of["foreign_version"] == f"dataops/{PROJECT}"
    # A malformed value is refused by the plugins (MLflow logs the refusal and goes on): no dataops experiment.
    assert name_of["bad_text"] == name_of["no_version"] == "Default"
    assert "is not a platform id" in stderr and "dataset_version is not given" in stderr
    assert not any(e.name.startswith("dataops/p02_legal_sft'") for e in mlflow_client.search_experiments())

    seq = head_seq(platform)
    report = sync_runs(platform, tracking(platform))
    assert report.added == [] and all(recorded(platform, r) is None for r in runs.values())
    ignored = {r.run_id: r for r in report.ignored}
    assert audited(platform, seq, runs["other_tenant"]) == [("lena", "denied", OTHER_TENANT)]
    assert f"who may log experiments in {OTHER_TENANT}" in ignored[runs["other_tenant"]].reason
    assert audited(platform, seq, runs["foreign_version"]) == [("lena", "failed", PROJECT)]
    assert "names no dataset version of project p02_legal_sft" in ignored[runs["foreign_version"]].reason
    ((actor, outcome, project),) = audited(platform, seq, runs["no_such_project"])
    assert (outcome, project) == ("denied", None) and "names no project" in ignored[runs["no_such_project"]].reason
    # Outside every dataops/ experiment: not even examined.
    assert runs["bad_text"] not in ignored and runs["no_version"] not in ignored


def test_the_helper_warns_when_mlflow_would_log_to_its_default_store(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """No tracking URI: the run lands in ./mlflow.db, which the platform never syncs; said before it starts."""
    import warnings

    import mlflow
    from mlflow.tracking._tracking_service import utils

    from dataops_platform.mlflow import start_run

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setattr(utils, "_tracking_uri", None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with start_run(project="p02_legal_sft", dataset_version="t02_legal.ds_v002"):
            pass
    assert any("MLflow has no tracking URI" in str(w.message) for w in caught), [str(w.message) for w in caught]
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'set.db'}")
    with warnings.catch_warnings(record=True) as quiet:
        warnings.simplefilter("always")
        with start_run(project="p02_legal_sft", dataset_version="t02_legal.ds_v002"):
            pass
    assert not any("MLflow has no tracking URI" in str(w.message) for w in quiet)
    monkeypatch.setattr(utils, "_tracking_uri", None)
