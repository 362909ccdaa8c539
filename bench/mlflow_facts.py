"""MLflow run facts benchmark (issue 17): `Tracking.run_exists` one run at a time against
`Tracking.runs_facts` for all of them, on a real MLflow SQLite store, calls and seconds.

    python bench/mlflow_facts.py                  # 2,000 runs in 10 experiments, SQLite store
    python bench/mlflow_facts.py --server         # the same, then over a `mlflow server` on loopback
    python bench/mlflow_facts.py --runs 200 --repeat 1      # a smoke run

The store is made in a temporary directory (deleted at the end) through MlflowClient: `--experiments`
experiments named like the platform's (`dataops/<project>`) plus one deleted experiment; each run has
3 tags, 5 params and 3 metrics (one log_batch); 5% of the runs are deleted and 1% deleted then
restored. The ids asked about are every run, `--missing` minted-looking ids MLflow never had and a
few hostile ids (quotes, a 10 kB string, NUL), as a governance store may hold them. Both answers
are compared id by id (the benchmark fails when they differ). Calls are counted by recording every
MlflowClient method called (the client underneath is real; a get_run of an id MLflow's client refuses
as malformed, 6 of the hostile ids, is counted though it sends no request); seconds are wall time,
best of `--repeat` passes for runs_facts and deleted_runs, one pass for run_exists. "runs only" is
runs_facts over the ids MLflow has: the batched searches alone, no get_run for a missing id.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dataops_platform.stack.services import free_port  # noqa: E402
from dataops_platform.tracking.client import Tracking  # noqa: E402

HOSTILE = ["'", "a' OR '1'='1", "\\", "x" * 10_000, "\x00", "é" * 32, "no-such-run", "0" * 32 + "\n"]


class Counting:
    """The real MlflowClient, counting the calls made through it."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if not callable(method):
            return method

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return method(*args, **kwargs)

        return counted


def say(msg: str) -> None:
    print(msg, flush=True)


def fill(uri: str, runs: int, experiments: int) -> list[str]:
    """The store: experiments, runs with data, some deleted, some restored; the run ids."""
    from mlflow.entities import Metric, Param

    tracking = Tracking(uri)
    client = tracking.client
    exp_ids = [tracking.experiment_id(f"p{i:02d}_bench") for i in range(experiments)]
    gone = tracking.experiment_id("p_deleted_bench")
    ids: list[str] = []
    now = int(time.time() * 1000)
    for n in range(runs):
        experiment = gone if n % 50 == 7 else exp_ids[n % experiments]
        tags = {"dataops.project": f"p{n % experiments:02d}", "dataops.dataset_version": f"v{n}", "mlflow.user": "bench"}
        run_id = client.create_run(experiment, tags=tags).info.run_id
        params = [Param(f"param_{k}", str((n * 7 + k) % 13)) for k in range(5)]
        metrics = [Metric(f"metric_{k}", ((n + k) % 100) / 100, now, 0) for k in range(3)]
        client.log_batch(run_id, metrics=metrics, params=params)
        ids.append(run_id)
    for n, run_id in enumerate(ids):
        if n % 20 == 3 or n % 100 == 11:
            client.delete_run(run_id)
        if n % 100 == 11:
            client.restore_run(run_id)
    client.delete_experiment(gone)
    return ids


def timed(fn: Callable[[], Any], repeat: int) -> tuple[Any, float]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return result, best


def measure(label: str, uri: str, ids: list[str], repeat: int) -> dict[str, Any]:
    one = Tracking(uri)
    one._client = counting_one = Counting(one.client)  # noqa: SLF001 - counting only
    start = time.perf_counter()
    by_one = {i: one.run_exists(i) for i in ids}
    t_one = time.perf_counter() - start

    many = Tracking(uri)
    many._client = counting_many = Counting(many.client)  # noqa: SLF001
    facts, t_many = timed(lambda: many.runs_facts(ids), repeat)
    per_call = {name: count // repeat for name, count in sorted(counting_many.calls.items())}
    calls_many = sum(per_call.values())
    if facts != by_one:
        wrong = [i for i in ids if facts.get(i) != by_one[i]][:5]
        raise SystemExit(f"{label}: runs_facts differs from run_exists for {[w[:40] for w in wrong]}")

    runs_only = [i for i in ids if by_one[i]]
    _, t_runs_only = timed(lambda: many.runs_facts(runs_only), repeat)
    counting_many.calls.clear()
    deleted, t_deleted = timed(many.deleted_runs, repeat)
    expected_deleted = {i for i, f in by_one.items() if f and f["lifecycle_stage"] == "deleted"}
    if set(deleted) != expected_deleted:
        raise SystemExit(f"{label}: deleted_runs lists {len(deleted)} runs, run_exists says {len(expected_deleted)}")
    calls_deleted = sum(counting_many.calls.values()) // repeat
    found = sum(1 for f in by_one.values() if f)
    say(
        f"{label}: {len(ids)} ids ({found} runs, {len(ids) - found} without one)\n"
        f"  run_exists one by one: {t_one:8.3f} s  {sum(counting_one.calls.values()):6d} calls "
        f"({t_one / len(ids) * 1000:.2f} ms/id)\n"
        f"  runs_facts:            {t_many:8.3f} s  {calls_many:6d} calls ({per_call})  "
        f"x{t_one / t_many:.1f} faster\n"
        f"  runs_facts, runs only: {t_runs_only:8.3f} s  (the {found} ids MLflow has: no get_run)\n"
        f"  deleted_runs:          {t_deleted:8.3f} s  {calls_deleted:6d} calls ({len(deleted)} deleted runs)"
    )
    return {"one_s": t_one, "many_s": t_many, "many_calls": calls_many, "runs_only_s": t_runs_only, "deleted_s": t_deleted}


def start_server(root: Path, backend: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri", backend,
        "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    log = (root / "server.log").open("wb")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_server(proc)
                raise SystemExit(f"mlflow server did not start: {(root / 'server.log').read_text()[-2000:]}") from None
            time.sleep(0.5)


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--experiments", type=int, default=10)
    parser.add_argument("--missing", type=int, default=20, help="minted-looking ids MLflow never had (default 20)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=17, help="seeds the missing ids")
    parser.add_argument("--server", action="store_true", help="also measure over a `mlflow server` on loopback")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with tempfile.TemporaryDirectory(prefix="mlflow_facts_") as tmp:
        root = Path(tmp)
        backend = f"sqlite:///{root / 'mlflow.db'}"
        start = time.perf_counter()
        run_ids = fill(backend, args.runs, args.experiments)
        say(f"filled {args.runs} runs in {args.experiments}+1 experiments in {time.perf_counter() - start:.1f} s")
        missing = [uuid.UUID(int=(args.seed << 64) + n).hex for n in range(args.missing)]
        ids = run_ids + missing + HOSTILE
        measure("SQLite store", backend, ids, args.repeat)
        if args.server:
            proc, url = start_server(root, backend)
            try:
                measure(f"mlflow server {url}", url, ids, args.repeat)
            finally:
                stop_server(proc)


if __name__ == "__main__":
    main()
