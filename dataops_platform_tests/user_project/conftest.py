"""A real platform for a team's code location: `dataops init` home, the Fjord Freight spec
(examples/user_project/platform.yaml, a new organisation) applied by its admin, tokens from
`dataops token create`, and `dataops serve` as a subprocess on a free loopback port. MLflow's store
is the home's own (SQLite under $DATAOPS_HOME/mlflow): the server syncs from it, the team's
training logs to it through MLFLOW_TRACKING_URI.

Each test module gets its own server (module scope), so the versions one module registers never
become another's "latest" parent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest

from dataops_platform.client import DataOpsClient
from dataops_platform.settings import load_settings
from dataops_platform_tests.client.serving import child_env, serve
from dataops_platform_tests.helpers import REPO

USER_PROJECT = REPO / "examples" / "user_project"
SPEC = USER_PROJECT / "platform.yaml"
ADMIN, PM, PIPELINE = "ada", "ingrid", "fjord-pipeline"
MLFLOW_LOGIN = "fjord-ci"  # what MLflow records as the user of the pipeline's runs (users[].mlflow_users)
PROJECT = "fj_late_delivery"


def clean_env(**extra: str) -> dict[str, str]:
    return child_env(extra)


def dataops(home: Path, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "dataops_platform.cli.app", "--home", str(home), *args],
        env=clean_env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, f"dataops {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-2000:]}"
    return proc.stdout


@dataclass
class Server:
    url: str
    home: Path
    tracking_uri: str
    tokens: dict[str, str]
    process: subprocess.Popen

    def client(self, user: str) -> DataOpsClient:
        return DataOpsClient(self.url, self.tokens[user], timeout=120, environ={})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("fjord_home")
    dataops(home, "init", "--admin", ADMIN)
    dataops(home, "--as", ADMIN, "spec", "apply", str(SPEC))
    made = {user: dataops(home, "--as", ADMIN, "--json", "token", "create", user) for user in (PIPELINE, PM)}
    tokens = {user: json.loads(out)["token"] for user, out in made.items()}
    with serve(home) as served:
        yield Server(served.url, home, load_settings(home).tracking_uri, tokens, served.process)


@pytest.fixture
def team_env(server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """The environment of the team's code location: its platform server and token, MLflow's tracking
    URI, the CI machine's login (MLflow's run user), a working directory of its own."""
    for key in [k for k in os.environ if k.startswith(("DATAOPS_", "MLFLOW_"))]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("DATAOPS_SERVER", server.url)
    monkeypatch.setenv("DATAOPS_TOKEN", server.tokens[PIPELINE])
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.tracking_uri)
    monkeypatch.setenv("USER", MLFLOW_LOGIN)
    monkeypatch.setenv("LOGNAME", MLFLOW_LOGIN)
    monkeypatch.chdir(tmp_path)
    previous = mlflow.get_tracking_uri()
    yield tmp_path
    mlflow.set_tracking_uri(previous)  # the team's asset sets it process-wide


@pytest.fixture
def user_project(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """examples/user_project's package, imported as its own code location would import it."""
    monkeypatch.syspath_prepend(str(USER_PROJECT))
    for name in [n for n in sys.modules if n == "user_project" or n.startswith("user_project.")]:
        monkeypatch.delitem(sys.modules, name)
    import user_project.definitions

    yield user_project.definitions
    for name in [n for n in sys.modules if n == "user_project" or n.startswith("user_project.")]:
        sys.modules.pop(name, None)
