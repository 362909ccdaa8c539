"""A real `dataops serve` in a child process over a home set up through the real CLI, for the
client and remote-CLI tests: a small organisation of its own (Northwind), one token per user."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from dataops_platform_tests.helpers import REPO, CliResult, run_cli_inprocess

NORTHWIND_SPEC = """\
version: 1
organisation: {name: Northwind Analytics, short_name: NW}
tenants:
  - {id: nw_sales, name: Sales analytics, quota: {max_projects: 2, max_dataset_versions: 20}}
  - {id: nw_fleet, name: Fleet operations, quota: {max_projects: 2, max_dataset_versions: 20}}
users:
  - {id: root, name: Root Admin}
  - {id: ana, name: Ana (sales data engineer)}
  - {id: quentin, name: Quentin (QA)}
  - {id: paula, name: Paula (platform PM)}
  - {id: oscar, name: Oscar (ops)}
  - {id: zed, name: Zed (fleet data engineer)}
platform_admins: [root]
projects:
  - id: churn_model
    tenant: nw_sales
    name: Customer churn model
    domain: sales
    owner: ana
    members: {ana: data_engineer, quentin: qa, paula: platform_pm, oscar: ops}
  - id: fleet_eta
    tenant: nw_fleet
    name: Delivery ETA
    domain: fleet
    owner: zed
    members: {zed: data_engineer}
"""


def cli_in(home: Path | None, *args: str | Path, user: str | None = None, as_json: bool = False,
           env: dict[str, str] | None = None) -> CliResult:  # fmt: skip
    """The real entry point in this process; never a credentials file of the machine's user."""
    env = {"DATAOPS_CREDENTIALS": os.devnull + ".absent"} | (env or {})
    return run_cli_inprocess(home, *args, user=user, as_json=as_json, env=env)


def init_home(home: Path, spec_text: str, users: Sequence[str], admin: str = "root") -> dict[str, str]:
    """`dataops init`, `spec apply`, then a token per user made by the admin: {user: token}."""
    assert cli_in(home, "init", "--admin", admin).code == 0
    spec = home.parent / f"{home.name}.platform.yaml"
    spec.write_text(spec_text, encoding="utf-8")
    applied = cli_in(home, "spec", "apply", spec, user=admin)
    assert applied.code == 0, applied
    tokens = {}
    for user in users:
        made = cli_in(home, "token", "create", user, user=admin, as_json=True)
        assert made.code == 0, made
        import json

        tokens[user] = json.loads(made.stdout)["token"]
    return tokens


@dataclass
class Server:
    url: str
    home: Path
    process: subprocess.Popen


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The test's environment without DATAOPS_* / MLFLOW_* (a server configured by its home only)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("DATAOPS_", "MLFLOW_"))} | (extra or {})


def _ready(url: str, process: subprocess.Popen, log: Path) -> bool:
    """True once the server answers; False when it exited because its port was taken meanwhile."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            text = log.read_text(errors="replace")
            if "address already in use" in text.lower():
                return False
            raise RuntimeError(f"dataops serve exited with {process.returncode}:\n{text[-3000:]}")
        try:
            if httpx.get(url + "/openapi.json", timeout=2).status_code == 200:
                return True
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"dataops serve did not answer within 60 s:\n{log.read_text(errors='replace')[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)  # its own session: the server and nothing else
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@contextlib.contextmanager
def serve(home: Path, env: dict[str, str] | None = None) -> Iterator[Server]:
    """`dataops --home HOME serve` in a child process on a free loopback port, until the block ends.
    A port taken between picking it and serve binding it is picked again (3 attempts)."""
    log = home.parent / f"{home.name}.serve.log"
    for _attempt in range(3):
        port = free_port()
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "dataops_platform.cli.app", "--home", str(home), "serve", "--port", str(port)],
                cwd=REPO, env=child_env(env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            if not _ready(url, process, log):
                continue
        except BaseException:
            _stop(process)
            raise
        try:
            yield Server(url, home, process)
        finally:
            _stop(process)
        return
    raise RuntimeError(f"dataops serve found no free port in 3 attempts:\n{log.read_text(errors='replace')[-2000:]}")
