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
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest

from dataops_platform.client import DataOpsClient
from dataops_platform.settings import load_settings
from dataops_platform_tests.helpers import REPO

USER_PROJECT = REPO / "examples" / "user_project"
SPEC = USER_PROJECT / "platform.yaml"
ADMIN, PM, PIPELINE = "ada", "ingrid", "fjord-pipeline"
MLFLOW_LOGIN = "fjord-ci"  # what MLflow records as the user of the pipeline's runs (users[].mlflow_users)
PROJECT = "fj_late_delivery"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATAOPS_", "MLFLOW_"))}
    return env | extra


def dataops(home: Path, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "dataops_platform.cli.app", "--home", str(home), *args],
        env=clean_env(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, f"dataops {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-2000:]}"
    return proc.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    home: Path
    tracking_uri: str
    tokens: dict[str, str]
    process: subprocess.Popen

    def client(self, user: str) -> DataOpsClient:
        return DataOpsClient(self.url, self.tokens[user], timeout=120, environ={})


def _ready(url: str, process: subprocess.Popen, log: Path) -> bool:
    """True once the server answers; False when it exited because its port was taken meanwhile."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            text = log.read_text(errors="replace")
            if "address already in use" in text.lower():
                return False
            pytest.fail(f"dataops serve exited with {process.returncode}:\n{text[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/openapi.json", timeout=2) as answer:
                if answer.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"dataops serve did not answer within 60 s:\n{log.read_text(errors='replace')[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)  # its own session: the server and nothing else
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("fjord_home")
    dataops(home, "init", "--admin", ADMIN)
    dataops(home, "--as", ADMIN, "spec", "apply", str(SPEC))
    made = {user: dataops(home, "--as", ADMIN, "--json", "token", "create", user) for user in (PIPELINE, PM)}
    tokens = {user: json.loads(out)["token"] for user, out in made.items()}
    log = home / "serve.log"
    for _attempt in range(3):  # the free port is free when picked; another process may take it before serve binds
        port = free_port()
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "dataops_platform.cli.app", "--home", str(home), "serve", "--port", str(port)],
                env=clean_env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            if not _ready(url, process, log):
                continue
        except BaseException:
            _stop(process)
            raise
        try:
            yield Server(url, home, load_settings(home).tracking_uri, tokens, process)
        finally:
            _stop(process)
        return
    pytest.fail(f"dataops serve found no free port in 3 attempts:\n{log.read_text(errors='replace')[-2000:]}")


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
