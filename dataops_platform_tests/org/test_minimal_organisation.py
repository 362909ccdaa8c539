"""Issue 15 part 1: an organisation of its own, not the example, with a minimal spec: two tenants,
their projects (owner and members by role) and users; no architecture, API catalog, queues or
panels, no roles, policy, admins or rhythm. It validates (showing the effective counts and what came
from defaults), applies, and reaches 13/13 in a real Dagster materialisation on the empty store and
again after a version is registered, validated and released and an experiment is logged to MLflow
and synced; the artifacts and the report carry the organisation's name.

Everything goes through the real `dataops` entry point (in process), the real SQLite store, MLflow
store and Dagster instance under tmp_path.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dataops_platform.demo.sample_data import sample_records, write_records
from dataops_platform.settings import load_settings
from dataops_platform.tracking.client import Tracking, VersionRef
from dataops_platform_tests.helpers import CliResult, run_cli_inprocess

ADMIN = "ada"  # `dataops init`'s admin: the spec does not declare her and never names platform_admins
MINIMAL_SPEC = """\
tenants:
  - {id: northwind, name: Northwind Traders, quota: {max_projects: 2, max_dataset_versions: 20}}
  - {id: southpole, name: South Pole Insurance, quota: {max_projects: 2, max_dataset_versions: 20}}
users:
  - {id: nina, name: Nina (Northwind data engineer)}
  - {id: sam, name: Sam (South Pole data engineer)}
  - {id: pat, name: Pat (product manager)}
  - {id: quentin, name: Quentin (QA)}
  - {id: olga, name: Olga (ops)}
projects:
  - id: nw_demand
    tenant: northwind
    name: Demand forecast
    domain: supply
    owner: nina
    members: {nina: data_engineer, pat: platform_pm, quentin: qa, olga: ops}
  - id: sp_claims
    tenant: southpole
    name: Claims triage
    domain: insurance
    owner: sam
    members: {sam: data_engineer, pat: platform_pm, quentin: qa, olga: ops}
"""
DERIVED_NAME = "Northwind Traders and South Pole Insurance"


def dataops(home: Path, *args: str | Path, user: str | None = ADMIN, as_json: bool = True) -> CliResult:
    return run_cli_inprocess(home, *args, user=user, as_json=as_json)


def ok(result: CliResult) -> CliResult:
    assert result.code == 0, (result.stdout, result.stderr)
    return result


def checks_of(result: CliResult) -> dict[str, str]:
    return {c["name"]: c["status"] for c in result.json["checks"]}


def artifact(home: Path, relative: str) -> dict:
    return json.loads((load_settings(home).artifacts_dir / relative).read_text())


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "northwind-southpole.yaml"
    path.write_text(MINIMAL_SPEC)
    return path


def test_validate_shows_the_effective_counts_and_the_defaults(spec_file: Path, tmp_path: Path) -> None:
    summary = ok(dataops(tmp_path / "unused", "spec", "validate", spec_file, user=None)).json
    assert {k: summary[k] for k in ("tenants", "projects", "users", "roles", "apis", "layers", "queues", "panels")} == {
        "tenants": 2, "projects": 2, "users": 5, "roles": 5, "apis": 6, "layers": 4, "queues": 4, "panels": 5,
    }  # fmt: skip
    assert summary["meetings"] == 2 and summary["organisation"] == DERIVED_NAME
    assert summary["defaults"] == [
        "organisation", "roles", "platform_admins", "system_actor", "separation_of_duties", "governance_policy",
        "operating_rhythm", "notifications",
    ]  # fmt: skip
    assert summary["from_code"] == ["architecture", "apis", "task_queues", "ui_panels"] and summary["overrides"] == []
    text = " ".join(ok(dataops(tmp_path / "unused", "spec", "validate", spec_file, user=None, as_json=False)).stdout.split())
    assert f"valid for {DERIVED_NAME} (2 tenants, 2 projects, 5 users, 5 roles, 6 apis, 4 layers, 4 queues, 5 panels" in text
    assert "from defaults: organisation, roles, platform_admins" in text
    assert "from the platform's code: architecture, apis, task_queues, ui_panels (overridden: nothing)" in text


def test_validate_counts_read_right_for_one(spec_file: Path, tmp_path: Path) -> None:
    """A newcomer's trial read "1 projects" and "1 meetings"."""
    import yaml

    document = yaml.safe_load(spec_file.read_text())
    document["projects"] = document["projects"][:1]
    one = tmp_path / "one_project.yaml"
    one.write_text(yaml.safe_dump(document))
    text = " ".join(ok(dataops(tmp_path / "unused", "spec", "validate", one, user=None, as_json=False)).stdout.split())
    assert "2 tenants, 1 project, 5 users" in text and "1 projects" not in text


def test_a_project_left_out_of_the_spec_is_kept_and_said(spec_file: Path, tmp_path: Path) -> None:
    """A newcomer's trial: removing a project from the spec applied silently ('0 created, 1 changed')
    while the project and its data stayed. Apply never deletes what has history; it names it."""
    import yaml

    home = tmp_path / "home"
    ok(dataops(home, "init", "--admin", ADMIN, user=None))
    ok(dataops(home, "spec", "apply", spec_file))
    document = yaml.safe_load(spec_file.read_text())
    dropped = document["projects"].pop()["id"]
    less = tmp_path / "less.yaml"
    less.write_text(yaml.safe_dump(document))
    assert ok(dataops(home, "spec", "apply", less)).json["kept"] == [f"project:{dropped}"]
    text = " ".join(ok(dataops(home, "spec", "apply", less, as_json=False)).stdout.split())
    assert f"kept, not in {less}: project:{dropped}" in text
    assert ok(dataops(home, "spec", "apply", spec_file)).json["kept"] == []


def test_minimal_spec_reaches_13_of_13_empty_and_populated(spec_file: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    ok(dataops(home, "init", "--admin", ADMIN))
    applied = ok(dataops(home, "spec", "apply", spec_file)).json
    assert "project:nw_demand" in applied["created"] and "config:task_queues" in applied["created"]

    # The empty organisation: no version, no experiment, no alert.
    empty = ok(dataops(home, "materialize"))
    assert len(empty.json["checks"]) == 13 and set(checks_of(empty).values()) == {"passed"}, empty.json
    scope = artifact(home, "processed/platform_scope.json")
    assert scope["organisation"] == {"name": DERIVED_NAME, "short_name": "Northwind Traders and South Pole…",
                                     "source": "default (from the tenants' names)"}  # fmt: skip
    assert scope["platform_admins"] == [ADMIN]  # the spec named none: init's admin stays the admin
    assert artifact(home, "processed/operating_model.json")["rhythm"][0]["id"] == "daily_ops_review"
    system = scope["system_actor"]
    assert (system["id"], system["alert_project"]) == ("dataops-system", "nw_demand")  # failures go somewhere watched
    layers = artifact(home, "processed/architecture_spec.json")["layers"]
    assert [x["id"] for x in layers] == ["access_service", "scheduling_execution", "metadata_governance", "storage_assets"]

    # Populated through the services, by the right roles: a version registered, validated,
    # released, and an experiment logged to MLflow on it and synced.
    data = write_records(sample_records(24, seed=15), tmp_path / "demand.jsonl")
    version = ok(dataops(home, "version", "register", "nw_demand", data, user="nina")).json["version_id"]
    ok(dataops(home, "version", "validate", version, user="quentin"))
    ok(dataops(home, "version", "release", version, user="pat"))
    settings = load_settings(home)
    shown = ok(dataops(home, "version", "show", version, user="pat")).json
    record = shown.get("version", shown)
    ref = VersionRef(version, record["content_digest"], data.as_uri(), record["row_count"])
    with Tracking(settings.tracking_uri, settings.mlflow_artifact_root).run(
        "nw_demand", ref, {"model": "ridge", "alpha": "1.0"}, "baseline", user="nina"
    ) as run:
        run.log_metrics({"mape": 0.12})
    synced = ok(dataops(home, "experiment", "sync", user="dataops-system")).json
    assert len(synced["added"]) == 1 and synced["ignored"] == [] and synced["alerts"] == [], synced

    populated = ok(dataops(home, "materialize"))
    assert len(populated.json["checks"]) == 13 and set(checks_of(populated).values()) == {"passed"}, populated.json
    metrics = artifact(home, "reports/p8_metrics.json")
    assert {k: metrics[k] for k in ("tenants", "projects", "roles", "apis", "layers", "queues", "panels")} == {
        "tenants": 2, "projects": 2, "roles": 5, "apis": 6, "layers": 4, "queues": 4, "panels": 5,
    }  # fmt: skip
    assert (metrics["dataset_versions"], metrics["released_versions"], metrics["experiments_completed"]) == (1, 1, 1)
    report = (settings.artifacts_dir / "reports" / "p8_report.md").read_text()
    assert report.splitlines()[0] == f"# {DERIVED_NAME} platform report"
    assert "P08" not in report.splitlines()[0]


def test_a_declared_name_titles_the_artifacts_and_the_report(spec_file: Path, tmp_path: Path) -> None:
    spec_file.write_text("organisation: {name: Northwind & South Pole DataOps, short_name: NWSP}\n" + MINIMAL_SPEC)
    home = tmp_path / "home"
    ok(dataops(home, "init", "--admin", ADMIN))
    ok(dataops(home, "spec", "apply", spec_file))
    ok(dataops(home, "materialize"))
    assert artifact(home, "processed/platform_scope.json")["organisation"] == {
        "name": "Northwind & South Pole DataOps", "short_name": "NWSP", "source": "spec",
    }  # fmt: skip
    report = (load_settings(home).artifacts_dir / "reports" / "p8_report.md").read_text()
    assert report.splitlines()[0] == "# Northwind & South Pole DataOps platform report"
