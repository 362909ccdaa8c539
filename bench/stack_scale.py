"""The graph-scale workload on the local stack against the embedded default, in the same run.

For each size N (default 1,000 and 10,000 objects; 100,000 with --sizes 100000, it takes minutes):

  embedded   bench/graph_scale.py's own children: a fresh SQLite home filled with N objects
             (`graph_scale.fill`), then `materialize_all` in process, on the fresh home and again
             over the artifacts it wrote (the re-run, the steady state of a scheduled home)
  stack      `stack_up` (PostgreSQL, Redis, the MLflow server, dagster-daemon, dagster-webserver
             and two Celery workers under supervisord); the same N objects, from the same
             generator and seed (`graph_scale.generate`), bulk-inserted into the stack's stores
             (`stack_settings`: the governance store is PostgreSQL, the MLflow runs go to the
             MLflow server); then governance_refresh submitted to the webserver and run by the
             daemon and the Celery workers, first run and re-run, timed from submission to the
             run's end
  ops        governance operations per second: omar opens alerts (`alerts.open_alert`, one
             transaction and one audit record each) from 1 client process, then from --clients
             processes at once, on the embedded SQLite home and on the stack's PostgreSQL store

The selection is graph_scale's on both sides: every asset and every check except rule 7's (only
--mlflow-runs experiments get a real MLflow run, so rule 7 fails, and its blocking check would skip
everything below experiment_runs), submitted with `runs.submit_job(assets=..., checks=...)`.

Peak RSS: the embedded figure is the materialising process's ru_maxrss. The stack is many processes:
a sampler thread reads /proc/<pid>/status (VmHWM, VmRSS) and /proc/<pid>/stat (CPU time) of every
process of the stack (`stack_processes`: they carry its id) every 0.5 s, including short-lived run
processes, and of our own PostgreSQL cluster (the postmaster and its children); it reports the
high-water mark of each process, the largest sum of resident memory seen at one moment, and the CPU
seconds each kind of process used during each run.

    python bench/stack_scale.py                         # 1,000 and 10,000 objects (about 8 minutes)
    python bench/stack_scale.py --sizes 100000          # the large size alone
    python bench/stack_scale.py --sizes 1000 --no-rerun --ops 200  # a smoke run
    python bench/stack_scale.py --postgres postgresql+psycopg://postgres@127.0.0.1:55432/postgres
                                                        # the stack's databases on that server

The stack is always taken down with its databases (`stack_down(purge=True)`), and the temporary
homes are removed. Exit status: 0 when every run materialised every selected asset and every ops
check held (alerts and audit records each grew by exactly the number of operations, and the chain
verifies); 2 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform as host
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import graph_scale as gs  # noqa: E402 - the workload builders; it puts the repository on sys.path

SIZES = (1_000, 10_000)
RUN_TIMEOUT_S = 3_600.0
SAMPLE_EVERY_S = 0.5
OPS_TARGET = "t01_retail.ds_v001"  # graph_scale.generate puts the first version in p01_retail_search, where omar is ops
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
say, mib = gs.say, gs.mib


# -- children ----------------------------------------------------------------------------------
def fill_stack(home: Path, n: int, seed: int, mlflow_runs: int) -> dict[str, Any]:
    """Child process: graph_scale's workload (same generator, seed, MLflow runs, bulk inserts and one
    real audit chain) into the running stack's stores, then the pool limits synced from the spec as
    `dataops demo --stack` does."""
    from dataops_platform.stack.config import sync_pool_limits
    from dataops_platform.stack.services import running_state, stack_settings

    settings = stack_settings(home, running_state(home))
    filled = gs.fill_stores(settings, n, seed, mlflow_runs)
    return filled | {"pool_limits": sync_pool_limits(settings)}


def ops_client(home: Path, database_url: str | None, count: int, run_dir: Path, index: int) -> dict[str, Any]:
    """Child process: `count` alert opens as omar, each its own transaction, after the start file."""
    from dataops_platform.governance.alerts import open_alert
    from dataops_platform.governance.platform import Platform
    from dataops_platform.settings import load_settings

    platform = Platform(load_settings(home, database_url=database_url))
    open_alert(platform, "omar", f"version:{OPS_TARGET}", "low", "operational", f"bench warm-up {index}")  # connect, warm caches
    (run_dir / f"ready_{index}").touch()
    while not (run_dir / "start").exists():
        time.sleep(0.002)
    latencies = []
    start = time.time()
    for i in range(count):
        t = time.perf_counter()
        open_alert(platform, "omar", f"version:{OPS_TARGET}", "low", "operational", f"bench client {index} op {i}")
        latencies.append(time.perf_counter() - t)
    end = time.time()
    platform.close()
    return {"start": start, "end": end, "latencies": latencies}


# -- the stack's processes ---------------------------------------------------------------------
def _read(path: str) -> str | None:
    try:
        with open(path) as fh:
            return fh.read()
    except OSError:
        return None


def _label(pid: int) -> str:
    """What a process of the stack is, from its command line."""
    raw = _read(f"/proc/{pid}/cmdline") or ""
    cmd = raw.replace("\0", " ")
    for needle, label in (
        ("supervisord", "supervisord"), ("redis-server", "redis"), ("dagster-daemon", "dagster-daemon"),
        ("dagster-webserver", "dagster-webserver"), ("api grpc", "dagster code server (gRPC)"),
        # The code server runs each run in a multiprocessing 'spawn' child; every step captures its
        # output through `tail -F` plus an orphan watcher (dagster's compute log manager).
        ("resource_tracker", "multiprocessing resource tracker"), ("spawn_main", "dagster run process"),
        ("execute_run", "dagster run process"), ("watch_orphans", "compute-log orphan watcher"),
        ("tail -F", "compute-log tail"), ("huey", "mlflow job consumers (huey)"),
        ("mlflow.server.jobs", "mlflow job runner"), ("uvicorn", "mlflow uvicorn"), ("mlflow server", "mlflow server"),
    ):  # fmt: skip
        if needle in cmd:
            return label
    if "celery" in cmd:
        return "celery worker"
    if raw.startswith("postgres") or "/postgres" in raw.split("\0")[0]:
        return "postgresql"
    return " ".join([Path(cmd.split(" ")[0]).name, *cmd.split(" ")[1:3]]).strip()[:32] or f"pid {pid}"


def _postmaster(state: Any) -> int | None:
    """Our own cluster's postmaster: the parent of a backend we connect to (not counted otherwise:
    the stack starts it with its id removed from the environment so `down` stops it with pg_ctl)."""
    if not state.own_postgres:
        return None
    from sqlalchemy import create_engine, text

    engine = create_engine(state.postgres_admin_url)
    try:
        with engine.connect() as conn:
            backend = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        stat = _read(f"/proc/{backend}/stat")
        return int(stat.rsplit(")", 1)[1].split()[1]) if stat else None
    finally:
        engine.dispose()


@dataclass
class Proc:
    label: str
    hwm: int = 0  # VmHWM, bytes
    cpu: float = 0.0  # CPU seconds at the latest sample
    history: list[tuple[float, float]] = field(default_factory=list)  # (time, CPU seconds)


class Sampler(threading.Thread):
    """Every SAMPLE_EVERY_S: each stack process's VmHWM, VmRSS and CPU time."""

    def __init__(self, stack_id: str, postmaster: int | None) -> None:
        super().__init__(daemon=True)
        self.stack_id, self.postmaster = stack_id, postmaster
        self.procs: dict[int, Proc] = {}
        self.peak_sum_rss = 0
        self.peak_sum_rss_pg = 0
        self._halt = threading.Event()
        self.lock = threading.Lock()

    def _pids(self) -> tuple[list[int], list[int]]:
        from dataops_platform.stack.services import stack_processes

        stack = stack_processes(self.stack_id)
        pg = []
        if self.postmaster:
            pg = [self.postmaster]
            for entry in os.listdir("/proc"):
                if entry.isdigit() and (stat := _read(f"/proc/{entry}/stat")):
                    if int(stat.rsplit(")", 1)[1].split()[1]) == self.postmaster:
                        pg.append(int(entry))
        return stack, pg

    def sample(self) -> None:
        stack, pg = self._pids()
        now = time.monotonic()
        sums = {"stack": 0, "pg": 0}
        with self.lock:
            for group, pids in (("stack", stack), ("pg", pg)):
                for pid in pids:
                    status, stat = _read(f"/proc/{pid}/status"), _read(f"/proc/{pid}/stat")
                    if not status or not stat:
                        continue
                    fields = {k: v for k, _, v in (line.partition(":") for line in status.splitlines())}
                    hwm = int(fields.get("VmHWM", "0 kB").split()[0]) * 1024
                    rss = int(fields.get("VmRSS", "0 kB").split()[0]) * 1024
                    ticks = stat.rsplit(")", 1)[1].split()
                    cpu = (int(ticks[11]) + int(ticks[12])) / CLK_TCK  # utime + stime
                    proc = self.procs.get(pid)
                    if proc is None:
                        label = "postgresql" if group == "pg" else _label(pid)
                        proc = self.procs[pid] = Proc(label)
                    proc.hwm, proc.cpu = max(proc.hwm, hwm), cpu
                    proc.history.append((now, cpu))
                    sums[group] += rss
            self.peak_sum_rss = max(self.peak_sum_rss, sums["stack"])
            self.peak_sum_rss_pg = max(self.peak_sum_rss_pg, sums["pg"])

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(SAMPLE_EVERY_S)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)
        self.sample()

    def cpu_between(self, t0: float, t1: float) -> dict[str, float]:
        """CPU seconds per kind of process between two monotonic times (a process first seen after
        t0 counts from zero: it was born in the window)."""
        out: dict[str, float] = defaultdict(float)
        with self.lock:
            for proc in self.procs.values():
                before = [c for t, c in proc.history if t <= t0]
                inside = [c for t, c in proc.history if t0 < t <= t1]
                if not inside:
                    continue
                out[proc.label] += inside[-1] - (before[-1] if before else 0.0)
        return dict(out)

    def by_label(self) -> dict[str, tuple[int, int, int]]:
        """kind -> (processes seen, largest VmHWM, sum of VmHWM)."""
        out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        with self.lock:
            for proc in self.procs.values():
                if proc.hwm == 0:  # a kernel thread or a process gone before its first read
                    continue
                row = out[proc.label]
                row[0] += 1
                row[1] = max(row[1], proc.hwm)
                row[2] += proc.hwm
        return {k: (v[0], v[1], v[2]) for k, v in out.items()}


# -- runs on the stack -------------------------------------------------------------------------
def selection() -> tuple[list[str], list[tuple[str, str]]]:
    """graph_scale's selection: every asset, every check but rule 7's."""
    from dataops_platform.defs.assets import ASSETS
    from dataops_platform.defs.checks import CHECKS

    assets = sorted(key.to_user_string() for a in ASSETS for key in a.keys)
    checks = [(key.asset_key.to_user_string(), key.name) for c in CHECKS for key in c.check_keys if key.name != gs.RULE7_CHECK]
    return assets, checks


def _covered(intervals: list[tuple[float, float]], depth: int) -> float:
    """Seconds during which at least `depth` of the intervals overlap."""
    edges = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    covered, running, since = 0.0, 0, 0.0
    for at, delta in edges:
        if running >= depth:
            covered += at - since
        running += delta
        since = at
    return covered


def stack_run(home: Path, state: Any, sampler: Sampler, label: str) -> dict[str, Any]:
    """Submit the selection, wait for the run's end; seconds, steps, checks, rules and CPU per process kind."""
    import dagster as dg

    from dataops_platform.stack.runs import run_outcome, submit_job, wait_for_run
    from dataops_platform.stack.services import stack_settings

    assets, checks = selection()
    sampler.sample()
    m0, submitted = time.monotonic(), time.time()
    run_id = submit_job(state, assets=assets, checks=checks, tags={"dataops/bench": f"stack_scale {label}"})
    status = wait_for_run(state, run_id, timeout=RUN_TIMEOUT_S)
    sampler.sample()
    settings = stack_settings(home, state)
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        record = instance.get_run_record_by_id(run_id)
        materialised = {
            r.event_log_entry.dagster_event.asset_key.to_user_string()
            for r in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION, limit=1000).records
        }
    # wait_for_run polls once a second; the run record has the exact start and end.
    started, ended = record.start_time, record.end_time
    outcome, steps, run_pid = run_outcome(home, state, run_id)
    cpu = sampler.cpu_between(m0, m0 + (ended - submitted) + SAMPLE_EVERY_S)
    busy = _covered([(s.started, s.ended) for s in steps if s.ended is not None], 1)
    both = _covered([(s.started, s.ended) for s in steps if s.ended is not None], 2)
    results_path = settings.artifacts_dir / "reports" / "p8_test_results.json"
    rules = json.loads(results_path.read_text())["results"] if results_path.exists() else []
    return {
        "run_id": run_id, "status": status, "success": outcome.success, "seconds": round(ended - submitted, 3),
        "run_seconds": round(ended - started, 3), "queued_seconds": round(started - submitted, 3),
        "busy_seconds": round(busy, 3), "two_steps_seconds": round(both, 3),
        "steps": {s.step: round(s.ended - s.started, 3) for s in steps if s.ended is not None},
        "step_pids": sorted({s.pid for s in steps if s.pid}), "run_pid": run_pid,
        "checks": [{"name": c.name, "passed": c.passed} for c in outcome.checks],
        "materialised": sorted(materialised), "assets": len(assets), "cpu": cpu,
        "rules": [{"rule": r["rule"], "passed": r["passed"], "checked": r["checked"], "violations": len(r["violations"]),
                   "first": r["violations"][:1]} for r in rules],
    }  # fmt: skip


# -- governance operations per second ----------------------------------------------------------
def _self_child(args: list[str]) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATAOPS_")}
    return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip


def _store_counts(home: Path, database_url: str | None) -> tuple[int, int, bool]:
    """(alerts, audit head seq, chain verifies) of a store."""
    from sqlalchemy import func, select

    from dataops_platform.governance import audit
    from dataops_platform.governance.platform import Platform
    from dataops_platform.settings import load_settings
    from dataops_platform.store.models import Alert

    platform = Platform(load_settings(home, database_url=database_url))
    try:
        with platform.store.read() as session:
            alerts = int(session.scalar(select(func.count()).select_from(Alert)) or 0)
            verdict = audit.verify(session, platform.anchor)
        return alerts, verdict.head.seq, verdict.ok
    finally:
        platform.close()


def ops_rate(home: Path, database_url: str | None, total: int, clients: int) -> dict[str, Any]:
    """`total` alert opens split over `clients` processes started together; ops/s over the wall
    time from the first start to the last end, and the store checked afterwards."""
    per_client = total // clients
    total = per_client * clients
    run_dir = Path(tempfile.mkdtemp(prefix="dataops-ops-"))
    alerts0, seq0, _ = _store_counts(home, database_url)
    procs = [_self_child(["--child-ops", str(home), database_url or "-", str(per_client), str(run_dir), str(i)])
             for i in range(clients)]  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not all((run_dir / f"ready_{i}").exists() for i in range(clients)):
            dead = [p for p in procs if p.poll() not in (None, 0)]
            if dead:
                raise RuntimeError(f"an ops client exited: {dead[0].communicate()[1][-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("ops clients not ready after 300 s")
            time.sleep(0.02)
        (run_dir / "start").touch()
        reports = []
        for proc in procs:
            out, err = proc.communicate(timeout=900)
            if proc.returncode != 0:
                raise RuntimeError(f"an ops client exited with {proc.returncode}: {err[-2000:]}")
            reports.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        shutil.rmtree(run_dir, ignore_errors=True)
    alerts1, seq1, verified = _store_counts(home, database_url)
    wall = max(r["end"] for r in reports) - min(r["start"] for r in reports)
    latencies = sorted(x for r in reports for x in r["latencies"])
    # Each client also opened one warm-up alert before the start file.
    ok = alerts1 - alerts0 == total + clients and seq1 - seq0 == total + clients and verified
    return {"clients": clients, "ops": total, "seconds": round(wall, 3), "rate": total / wall,
            "p50_ms": 1000 * latencies[len(latencies) // 2], "p95_ms": 1000 * latencies[int(len(latencies) * 0.95)],
            "ok": ok, "verified": verified}  # fmt: skip


# -- the driver --------------------------------------------------------------------------------
def report_stack_run(label: str, r: dict[str, Any]) -> None:
    slow = sorted(r["steps"].items(), key=lambda kv: -kv[1])[:6]
    say(f"    {label}: {r['seconds']:.2f} s from submission to the run's end (queued and launched "
        f"{r['queued_seconds']:.2f} s, run {r['run_seconds']:.2f} s), run {r['status']}; "
        f"{len(r['step_pids'])} step processes")  # fmt: skip
    say(f"      a step was running {r['busy_seconds']:.2f} s of the run, two at once {r['two_steps_seconds']:.2f} s; "
        f"steps: sum {sum(r['steps'].values()):.2f} s over {len(r['steps'])} steps; slowest: "
        + ", ".join(f"{k} {v:.2f} s" for k, v in slow))  # fmt: skip
    cpu = sorted(r["cpu"].items(), key=lambda kv: -kv[1])
    say(f"      CPU seconds in the run window ({sum(r['cpu'].values()):.1f} s in all, on {os.cpu_count()} CPUs): "
        + ", ".join(f"{k} {v:.1f}" for k, v in cpu if v >= 0.05))  # fmt: skip
    failed = [c["name"] for c in r["checks"] if not c["passed"]]
    say(f"      Dagster checks: {len(r['checks']) - len(failed)}/{len(r['checks'])} passed"
        + (f"; failed: {', '.join(failed)}" if failed else ""))  # fmt: skip
    bad = [x for x in r["rules"] if not x["passed"]]
    say(f"      test_report (all 13 rules): {len(r['rules']) - len(bad)}/{len(r['rules'])} pass"
        + "".join(f"\n        FAIL {x['rule']}: {x['violations']:,} of {x['checked']:,} checked" for x in bad))  # fmt: skip


def report_processes(sampler: Sampler) -> None:
    rows = sorted(sampler.by_label().items(), key=lambda kv: -kv[1][1])
    say(f"    stack processes (VmHWM; sampled every {SAMPLE_EVERY_S:g} s from `up` to `down`):")
    say(f"      {'process':32} {'seen':>5} {'max VmHWM':>10} {'sum VmHWM':>10}")
    for label, (count, peak, total) in rows:
        say(f"      {label:32} {count:>5} {mib(peak):>10} {mib(total):>10}")
    say(f"      largest sum of VmRSS at one moment: {mib(sampler.peak_sum_rss)} over the stack's own processes"
        + (f", {mib(sampler.peak_sum_rss_pg)} over PostgreSQL's (shared buffers counted in each backend)"
           if sampler.postmaster else ""))  # fmt: skip


def report_ops(label: str, r: dict[str, Any]) -> None:
    say(f"    {label:28} {r['clients']:>2} client(s): {r['rate']:8.1f} ops/s ({r['ops']:,} ops in {r['seconds']:.2f} s), "
        f"p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms{'' if r['ok'] else '  CHECK FAILED'}")  # fmt: skip


def bench_size(n: int, args: argparse.Namespace) -> dict[str, Any]:
    from dataops_platform.stack.services import load_state, stack_down, stack_up

    tmp = Path(tempfile.mkdtemp(prefix=f"dataops-stack-scale-{n}-"))
    out: dict[str, Any] = {"n": n}
    try:
        embedded = tmp / "embedded"
        say(f"[{n:,} objects] embedded: filling {embedded} ...")
        filled = gs.run_child(["--child-fill", str(embedded), str(n), str(args.seed), str(args.mlflow_runs)])
        say(f"    {filled['versions']:,} versions, {filled['experiments']:,} experiments, {filled['alerts']:,} alerts, "
            f"{filled['edges']:,} edges, {filled['audit_records']:,} audit records; "
            f"filled in {filled['seconds']:.1f} s")  # fmt: skip
        out["embedded"] = []
        for label in ("first run", "re-run")[: 1 if args.no_rerun else 2]:
            result = gs.run_child(["--child-materialise", str(embedded)])
            gs.report_run(f"embedded {label}", result)
            out["embedded"].append(result)
        out["ops_sqlite"] = [ops_rate(embedded, None, args.ops, c) for c in (1, args.clients)]
        for r in out["ops_sqlite"]:
            report_ops("embedded (SQLite)", r)

        home = tmp / "stack"
        say(f"[{n:,} objects] stack: starting under {home} ...")
        t = time.perf_counter()
        state = None
        try:
            state = stack_up(home, postgres_url=args.postgres, progress=lambda m: None)
            out["up_seconds"] = time.perf_counter() - t
            sampler = Sampler(state.stack_id, _postmaster(state))
            sampler.start()
            try:
                sampler.sample()
                out["idle_rss"] = sampler.peak_sum_rss
                say(f"    up and healthy in {out['up_seconds']:.1f} s ("
                    + ("own PostgreSQL cluster" if state.own_postgres else "databases on the given server")
                    + f"), {mib(out['idle_rss'])} resident over the stack's processes at rest")  # fmt: skip
                filled = run_child_json(["--child-fill-stack", str(home), str(n), str(args.seed), str(args.mlflow_runs)])
                say(f"    filled the stack's stores in {filled['seconds']:.1f} s ({filled['audit_records']:,} audit records, "
                    f"{filled['mlflow_runs']} MLflow runs through the server in {filled['mlflow_seconds']:.1f} s); "
                    f"pool limits {filled['pool_limits']}")  # fmt: skip
                out["stack"] = []
                for label in ("first run", "re-run")[: 1 if args.no_rerun else 2]:
                    result = stack_run(home, state, sampler, label)
                    report_stack_run(f"stack {label}", result)
                    out["stack"].append(result)
                out["ops_pg"] = [ops_rate(home, state.url("governance"), args.ops, c) for c in (1, args.clients)]
                for r in out["ops_pg"]:
                    report_ops("stack (PostgreSQL)", r)
            finally:
                sampler.stop()
            report_processes(sampler)
            out["stack_peak_sum_rss"] = sampler.peak_sum_rss
            out["stack_peak_sum_rss_pg"] = sampler.peak_sum_rss_pg
            out["stack_max_hwm"] = max((p.hwm for p in sampler.procs.values() if p.label != "postgresql"), default=0)
            out["stack_processes"] = sampler.by_label()
        finally:
            if state is not None or load_state(home) is not None:
                stack_down(home, purge=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    say()
    return out


def run_child_json(args: list[str]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        say("\n".join(proc.stderr.splitlines()[-40:]))
        raise RuntimeError(f"child {args[0]} exited with {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _complete(r: dict[str, Any]) -> bool:
    return len(r["materialised"]) == r["assets"]


def summary(results: list[dict[str, Any]], args: argparse.Namespace) -> bool:
    say("summary: seconds (embedded: materialize_all in process; stack: submission to the run's end, and the run alone),")
    say("peak RSS (embedded: the one process; stack: the largest process, and the largest sum over its processes)")
    say(f"  {'objects':>9} {'run':>7} {'embedded':>9} {'stack':>9} {'run only':>9} {'stack/emb':>9} {'emb RSS':>9} "
        f"{'stack max':>10} {'stack sum':>10} {'at rest':>9}")  # fmt: skip
    ok = True
    for r in results:
        for i, (emb, stk) in enumerate(zip(r["embedded"], r["stack"], strict=True)):
            ok &= _complete(emb) and _complete(stk)
            say(f"  {r['n']:>9,} {('first', 're-run')[i]:>7} {emb['seconds']:>8.2f}s {stk['seconds']:>8.2f}s "
                f"{stk['run_seconds']:>8.2f}s {stk['seconds'] / emb['seconds']:>8.2f}x {mib(emb['peak_rss']):>9} "
                f"{mib(r['stack_max_hwm']):>10} {mib(r['stack_peak_sum_rss']):>10} {mib(r['idle_rss']):>9}")  # fmt: skip
    for label, key in (("embedded", "embedded"), ("stack", "stack")):
        for small in results:
            for big in results:
                if big["n"] == 10 * small["n"]:
                    k = [b["seconds"] / s["seconds"] for b, s in zip(big[key], small[key], strict=True)]
                    say(f"  {label}: {big['n']:,} / {small['n']:,} objects, time x{k[0]:.2f} (first run)"
                        + (f", x{k[1]:.2f} (re-run)" if len(k) > 1 else ""))  # fmt: skip
    say()
    say(f"governance operations/s (alert open: one transaction and one audit record each; {args.clients} = --clients)")
    say(f"  {'objects':>9} {'store':>10} {'1 client':>10} {f'{args.clients} clients':>11} {'x 1 client':>10} "
        f"{'p95 ms (1)':>10} {f'p95 ms ({args.clients})':>10}")  # fmt: skip
    for r in results:
        for store, key in (("SQLite", "ops_sqlite"), ("PostgreSQL", "ops_pg")):
            one, many = r[key]
            ok &= one["ok"] and many["ok"]
            say(f"  {r['n']:>9,} {store:>10} {one['rate']:>10.1f} {many['rate']:>11.1f} {many['rate'] / one['rate']:>9.2f}x "
                f"{one['p95_ms']:>10.1f} {many['p95_ms']:>10.1f}")  # fmt: skip
        pg, lite = r["ops_pg"], r["ops_sqlite"]
        say(f"  {'':>9} {'PG/SQLite':>10} {pg[0]['rate'] / lite[0]['rate']:>9.2f}x {pg[1]['rate'] / lite[1]['rate']:>10.2f}x")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", help="comma-separated object counts (default 1000,10000)")
    parser.add_argument("--mlflow-runs", type=int, default=10, help="experiments with a real MLflow run (default 10)")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--ops", type=int, default=800, help="alert opens per ops measurement (default 800)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client processes (default 8)")
    parser.add_argument("--postgres", help="PostgreSQL admin URL for the stack's databases (default: its own cluster)")
    parser.add_argument("--no-rerun", action="store_true", help="materialise once per side (no steady-state re-run)")
    parser.add_argument("--child-fill-stack", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--child-ops", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_fill_stack:
        home, n, seed, runs = args.child_fill_stack
        print(json.dumps(fill_stack(Path(home), int(n), int(seed), int(runs))))
        return 0
    if args.child_ops:
        home, url, count, run_dir, index = args.child_ops
        print(json.dumps(ops_client(Path(home), None if url == "-" else url, int(count), Path(run_dir), int(index))))
        return 0

    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else list(SIZES)
    say(f"stack scale benchmark: Python {host.python_version()}, {host.machine()}, {os.cpu_count()} CPUs, "
        f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
    say("Workload: bench/graph_scale.py's (generate, same seed) on both sides; selection: every asset and check but")
    say(f"rule 7's ({gs.RULE7_CHECK}: only {args.mlflow_runs} experiments have a real MLflow run).")
    say()
    results = [bench_size(n, args) for n in sizes]
    ok = summary(results, args)
    say(f"load at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main())
