"""Dagster's current tooling loads the project (issue 15, part 5): `dg list defs` and `dg check defs`
read `[tool.dg]` in pyproject.toml and load the same definitions as workspace.yaml."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DG = Path(sys.executable).parent / "dg"  # dagster-dg-cli, a dev dependency


def dg(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert DG.exists(), f"{DG} missing: `make setup` installs dagster-dg-cli (pyproject dev dependencies)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATAOPS_")}
    env |= {"DATAOPS_HOME": str(home), "VIRTUAL_ENV": str(Path(sys.executable).parent.parent), "NO_COLOR": "1"}
    return subprocess.run([str(DG), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def listed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    result = dg(tmp_path_factory.mktemp("dg") / "home", "list", "defs", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_dg_list_defs_lists_what_workspace_yaml_loads(listed: dict) -> None:
    from dataops_platform.definitions import defs

    module = yaml.safe_load((REPO / "workspace.yaml").read_text())["load_from"][0]["python_module"]["module_name"]
    assert module == "dataops_platform.definitions", "workspace.yaml and [tool.dg] name the same module"
    repo = defs.get_repository_def()
    assert {a["asset_key"] for a in listed["assets"]} == {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    checks = {(c["asset_key"], c["name"]) for c in listed["asset_checks"]}
    assert checks == {(k.asset_key.to_user_string(), k.name) for k in repo.asset_graph.asset_check_keys}
    assert len(checks) == 13
    assert {s["name"] for s in listed["sensors"]} == {s.name for s in repo.sensor_defs}
    assert {j["name"] for j in listed["jobs"]} >= {"governance_refresh"}


def test_dg_check_defs_passes(tmp_path: Path) -> None:
    result = dg(tmp_path / "home", "check", "defs")
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "All definitions loaded successfully" in result.stdout
