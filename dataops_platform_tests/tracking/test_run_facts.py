"""Issue 17: `Tracking.runs_facts` answers for many runs what `run_exists` answers for each, in a few
calls, and `Tracking.deleted_runs` lists what MLflow holds as deleted.

Real MLflow stores only: SQLite, PostgreSQL, the file store, and a real `mlflow server` on loopback.
Each store gets experiments active, deleted and restored, runs active, finished, failed, deleted and
restored, ids MLflow never had and hostile ids; the answer must be `{i: run_exists(i)}` for every id.
The real MlflowClient is wrapped only to record the calls made (count, filter strings)."""

from __future__ import annotations

import http.server
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from dataops_platform.stack.services import free_port
from dataops_platform.tracking import client as tc
from dataops_platform.tracking.client import Tracking

HOSTILE = [
    "",
    " ",
    "'",
    '"',
    "')",
    "a' OR '1'='1",
    "x') OR attributes.run_id LIKE ('%",
    "\\",
    "\\'",
    "%",
    "*",
    "..",
    "../../etc/passwd",
    "a/b",
    "a b",
    "a&run_id=b",
    "a#b",
    "?",
    "\x00",
    "a\x00b",
    "\n",
    "0" * 32 + "\n",
    "é" * 32,
    "日本語",
    "\U0001f600",
    "\ud800",  # a lone surrogate: not encodable as UTF-8
    "a\ud800",
    "a" * 256,  # the longest id MLflow's client lets through to the store
    "a" * 257,
    "a" + "é" * 255,  # \w is unicode in MLflow's run id pattern: sent to the store, found nowhere
    "x" * 10_000,
    "é" * 5_000,
    "no-such-run",  # well-formed for MLflow's client, not minted by it
    "run_with_underscore",
]


class Recording:
    """The real MlflowClient, recording each call the facts methods make."""

    def __init__(self, client: MlflowClient) -> None:
        self._client = client
        self.calls: list[tuple[str, Any, Any]] = []

    def get_run(self, run_id: str) -> Any:
        self.calls.append(("get_run", run_id, None))
        return self._client.get_run(run_id)

    def search_runs(self, experiment_ids: list[str], **kwargs: Any) -> Any:
        self.calls.append(("search_runs", kwargs.get("filter_string"), kwargs.get("page_token")))
        return self._client.search_runs(experiment_ids, **kwargs)

    def search_experiments(self, **kwargs: Any) -> Any:
        self.calls.append(("search_experiments", None, kwargs.get("page_token")))
        return self._client.search_experiments(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def named(self, name: str) -> list[tuple[str, Any, Any]]:
        return [c for c in self.calls if c[0] == name]


def recorded(uri: str) -> tuple[Tracking, Recording]:
    tracking = Tracking(uri)
    recorder = Recording(tracking.client)
    tracking._client = recorder  # noqa: SLF001 - only to count the calls; the client underneath is real
    return tracking, recorder


@dataclass
class Scenario:
    runs: dict[str, str]  # label -> run id
    ids: list[str]  # what a caller asks about: real runs, missing runs, hostile ids, duplicates


def build_scenario(tracking: Tracking) -> Scenario:
    """Experiments and runs in every state MLflow has."""
    client = tracking.client
    tag = uuid.uuid4().hex[:8]  # a shared server holds other tests' experiments too
    a = tracking.experiment_id(f"facts_a_{tag}")
    b = tracking.experiment_id(f"facts_b_{tag}")
    c = client.create_experiment(f"team/plain_{tag}")  # not a dataops experiment: still MLflow's run
    d = tracking.experiment_id(f"facts_d_{tag}")
    runs = {label: client.create_run(a).info.run_id for label in ("running", "finished", "failed", "deleted", "restored")}
    client.set_terminated(runs["finished"], status="FINISHED")
    client.set_terminated(runs["failed"], status="FAILED")
    client.delete_run(runs["deleted"])
    client.delete_run(runs["restored"])
    client.restore_run(runs["restored"])
    runs["in_deleted_experiment"] = client.create_run(b).info.run_id
    client.delete_experiment(b)
    runs["plain"] = client.create_run(c).info.run_id
    runs["in_restored_experiment"] = client.create_run(d).info.run_id
    client.delete_experiment(d)
    client.restore_experiment(d)
    runs["default_experiment"] = client.create_run("0").info.run_id
    real = list(runs.values())
    missing = ["0" * 32, "f" * 32, uuid.uuid4().hex]
    foreign_forms = [real[0].upper(), real[0][:31], real[0] + "0", real[0] + "\n", " " + real[0], f"'{real[0]}'"]
    return Scenario(runs, real + missing + foreign_forms + HOSTILE + real[:3] + ["0" * 32])


# -- the stores ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `mlflow server` on loopback (SQLite behind it), as the stack runs it."""
    root = tmp_path_factory.mktemp("mlflow_server")
    port = free_port()
    log = (root / "server.log").open("wb")
    command = [
        str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not start: {(root / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and its workers: its own session
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture(params=["sqlite", "postgresql", "file", "server"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mlflow.db'}"
    if request.param == "postgresql":
        return request.getfixturevalue("pg_database")
    if request.param == "file":
        monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # maintenance mode in MLflow 3: opt in
        return (tmp_path / "mlruns").as_uri()
    return request.getfixturevalue("mlflow_server")


# -- runs_facts == run_exists ----------------------------------------------------------------------


def test_runs_facts_answers_what_run_exists_answers_for_every_id(store_uri: str) -> None:
    tracking, recorder = recorded(store_uri)
    scenario = build_scenario(tracking)
    recorder.calls.clear()
    facts = tracking.runs_facts(iter(scenario.ids))  # any iterable, read once
    calls = list(recorder.calls)
    one_by_one = {i: tracking.run_exists(i) for i in scenario.ids}
    assert facts == one_by_one
    assert list(facts) == list(dict.fromkeys(scenario.ids))  # every id once, in the caller's order

    runs = scenario.runs
    assert facts[runs["running"]] == {
        "run_id": runs["running"], "status": "RUNNING", "experiment_id": facts[runs["running"]]["experiment_id"],
        "lifecycle_stage": "active",
    }  # fmt: skip
    assert (facts[runs["finished"]]["status"], facts[runs["failed"]]["status"]) == ("FINISHED", "FAILED")
    assert facts[runs["deleted"]]["lifecycle_stage"] == "deleted"
    assert facts[runs["restored"]]["lifecycle_stage"] == "active"
    for label in ("in_deleted_experiment", "plain", "in_restored_experiment", "default_experiment"):
        assert facts[runs[label]] is not None and facts[runs[label]]["run_id"] == runs[label], label
    assert facts[runs["default_experiment"]]["experiment_id"] == "0"
    for absent in ["0" * 32, "f" * 32, *HOSTILE]:
        assert facts[absent] is None, repr(absent[:40])
    assert facts[runs["running"].upper()] is None and facts[runs["running"] + "\n"] is None

    # A hostile id never reaches a filter string: only minted ids are spliced, each found run costs nothing more.
    searches = [c[1] for c in calls if c[0] == "search_runs"]
    assert len(searches) == 1  # one batch, one experiment chunk, one page
    spliced = re.findall(r"'([^']*)'", searches[0])
    assert set(spliced) == {i for i in scenario.ids if tc.MINTED_RUN_ID.fullmatch(i)}
    asked_one_by_one = [c[1] for c in calls if c[0] == "get_run"]
    found_in_batch = {i for i in facts if tc.MINTED_RUN_ID.fullmatch(i) and facts[i] is not None}
    assert asked_one_by_one == [i for i in dict.fromkeys(scenario.ids) if i not in found_in_batch]


def test_deleted_runs_lists_every_run_mlflow_holds_as_deleted(store_uri: str) -> None:
    tracking = Tracking(store_uri)
    scenario = build_scenario(tracking)
    deleted = tracking.deleted_runs()
    assert scenario.runs["deleted"] in deleted
    assert scenario.runs["restored"] not in deleted and scenario.runs["running"] not in deleted
    for label, run_id in scenario.runs.items():  # a run of a deleted experiment: as MLflow itself says
        facts = tracking.run_exists(run_id)
        assert (run_id in deleted) == (facts["lifecycle_stage"] == "deleted"), label
    assert deleted == {run_id: tracking.run_exists(run_id) for run_id in deleted}
    assert {f["lifecycle_stage"] for f in deleted.values()} == {"deleted"}


def test_batches_and_pages_are_followed_to_the_end(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Small batches, pages and experiment chunks: the same answer, through page tokens."""
    tracking, recorder = recorded(f"sqlite:///{tmp_path / 'mlflow.db'}")
    scenario = build_scenario(tracking)
    extra = tracking.experiment_id("facts_many")
    more = [tracking.client.create_run(extra).info.run_id for _ in range(7)]
    small = {"FACTS_BATCH": 3, "RUN_PAGE": 2, "DELETED_PAGE": 1, "EXPERIMENT_PAGE": 2, "EXPERIMENT_BATCH": 2}
    for name, value in small.items():
        monkeypatch.setattr(tc, name, value)
    tracking.client.delete_run(more[0])
    tracking.client.delete_run(more[1])
    ids = scenario.ids + more
    recorder.calls.clear()
    assert tracking.runs_facts(ids) == {i: tracking.run_exists(i) for i in ids}
    assert any(token for _, _, token in recorder.named("search_runs"))  # a second page was read
    assert any(token for _, _, token in recorder.named("search_experiments"))
    assert max(len(re.findall("'", f or "")) // 2 for _, f, _ in recorder.named("search_runs")) == 3
    deleted = tracking.deleted_runs()
    assert {scenario.runs["deleted"], more[0], more[1]} <= set(deleted)
    assert deleted == {run_id: tracking.run_exists(run_id) for run_id in deleted}


def test_a_full_batch_parses_and_costs_one_search(tmp_path: Path) -> None:
    """FACTS_BATCH real ids in one filter (sqlparse's token ceiling is about 3,300) and past it."""
    tracking, recorder = recorded(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = tracking.experiment_id("facts_full")
    ids = [tracking.client.create_run(experiment).info.run_id for _ in range(tc.FACTS_BATCH + 5)]
    recorder.calls.clear()
    facts = tracking.runs_facts(ids)
    assert [c[0] for c in recorder.calls] == ["search_experiments", "search_runs", "search_runs"]
    expected = {i: {"run_id": i, "status": "RUNNING", "experiment_id": experiment, "lifecycle_stage": "active"} for i in ids}
    assert facts == expected


def test_a_search_mlflow_refuses_raises_instead_of_reading_as_missing_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Past sqlparse's token ceiling MLflow answers INVALID_PARAMETER_VALUE, the code get_run uses for
    a malformed id: from a search it must raise, not read as 3,400 runs that vanished."""
    tracking, recorder = recorded(f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setattr(tc, "FACTS_BATCH", 3400)
    with pytest.raises(MlflowException, match="Error on parsing filter") as raised:
        tracking.runs_facts([uuid.uuid4().hex for _ in range(3400)])
    assert raised.value.error_code == "INVALID_PARAMETER_VALUE"
    assert recorder.named("get_run") == []


def test_no_ids_no_calls_and_a_non_string_id_is_refused(tmp_path: Path) -> None:
    tracking, recorder = recorded(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert tracking.runs_facts([]) == {} and recorder.calls == []
    with pytest.raises(TypeError, match="run ids must be strings, got int 7"):
        tracking.runs_facts(["0" * 32, 7])  # type: ignore[list-item]
    assert recorder.calls == []  # refused before asking MLflow anything


# -- MLflow failing: raise, never "no such run" -----------------------------------------------------


def test_an_unreachable_tracking_server_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    tracking = Tracking("http://127.0.0.1:9")  # the discard port: nothing listens
    with pytest.raises(MlflowException, match="127.0.0.1:9"):
        tracking.runs_facts(["0" * 32, "'"])
    with pytest.raises(MlflowException, match="127.0.0.1:9"):
        tracking.deleted_runs()
    # An id MLflow's own client refuses is None without a request, in run_exists as here.
    assert tracking.runs_facts(["'", "x" * 10_000]) == {"'": None, "x" * 10_000: None} == {
        "'": tracking.run_exists("'"), "x" * 10_000: tracking.run_exists("x" * 10_000)
    }  # fmt: skip


class _Failing(http.server.BaseHTTPRequestHandler):
    def _fail(self) -> None:
        body = b'{"error_code": "INTERNAL_ERROR", "message": "database is locked"}'
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _fail  # noqa: N815 - http.server's handler names

    def log_message(self, *args: Any) -> None:
        pass


def test_a_tracking_server_answering_5xx_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        tracking = Tracking(f"http://127.0.0.1:{server.server_address[1]}")
        for call in (lambda: tracking.runs_facts([uuid.uuid4().hex]), tracking.deleted_runs):
            with pytest.raises((MlflowException, requests.exceptions.RequestException)) as raised:
                call()
            assert "500" in str(raised.value) or "INTERNAL_ERROR" in str(raised.value)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
