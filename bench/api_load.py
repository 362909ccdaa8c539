"""REST API load over loopback, beside the same service calls made in-process in the same run.

A temporary home is set up the way the tests set one up (`initialize` + `apply_spec` with
examples/platform.yaml), a dataset version is registered in p01 by dan and omar (ops) gets a
bearer token. A real uvicorn server then serves that home from a child process on 127.0.0.1 (a
free port), so the clients and the server do not share a GIL. Two routes are measured:

  read      GET  /api/v1/versions/{id}   vs  versions.show_version(platform, "omar", id)
  mutating  POST /api/v1/alerts          vs  alerts.open_alert(platform, "omar", "version:<id>", ...)

each with 1 client (sequential: latency) and with --clients clients at once (threads, one
keep-alive connection each: throughput). The in-process side runs the same number of calls with
the same number of threads, on its own Platform over the same store, while the server is idle.
Every figure and ratio printed comes from this one run; times are wall clock and the HTTP
latency includes the client (requests) itself.

    python bench/api_load.py                    # 1,000 requests per route, mode and side
    python bench/api_load.py --requests 5000 --clients 16
    python bench/api_load.py --quick            # smoke run, ~20 s; figures indicative only
    python bench/api_load.py --database-url postgresql+psycopg://...   # the store on PostgreSQL

Exit status: 0 when every request got its expected status, every opened alert is in the store
once and the audit chain verifies; 2 otherwise.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from dataops_platform.clock import FixedClock  # noqa: E402
from dataops_platform.governance import alerts, audit, versions  # noqa: E402
from dataops_platform.governance.bootstrap import initialize  # noqa: E402
from dataops_platform.governance.platform import Platform  # noqa: E402
from dataops_platform.governance.spec_apply import apply_spec  # noqa: E402
from dataops_platform.governance.tokens import create_token  # noqa: E402
from dataops_platform.settings import Settings, load_settings  # noqa: E402
from dataops_platform.spec.loader import load_spec  # noqa: E402

EXAMPLE_SPEC = REPO / "examples" / "platform.yaml"
ADMIN, USER, ENGINEER, PROJECT = "alice", "omar", "dan", "p01_retail_search"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
WARMUP = 50


def say(line: str = "") -> None:
    print(line, flush=True)


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min) {five:.2f} (5 min) on {os.cpu_count()} CPUs"


# ---------------------------------------------------------------------------------------------
# The server (child process)
# ---------------------------------------------------------------------------------------------
def serve(home: str, database_url: str | None) -> None:
    """Run in the child: serve the home's API on a free loopback port and print the port first."""
    import uvicorn

    from dataops_platform.api.app import create_app

    settings = load_settings(home, **({"database_url": database_url} if database_url else {}))
    app = create_app(settings, Platform(settings))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    server.run(sockets=[sock])


def start_server(home: Path, database_url: str | None) -> tuple[subprocess.Popen, str]:
    args = [sys.executable, str(Path(__file__).resolve()), "--serve", str(home)]
    if database_url:
        args += ["--database-url", database_url]
    child = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=REPO)
    port = child.stdout.readline().strip()
    if not port.isdigit():
        child.kill()
        raise RuntimeError(f"the server did not start (printed {port!r})")
    base = f"http://127.0.0.1:{port}"
    import requests

    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(f"{base}/openapi.json", timeout=5)
            return child, base
        except requests.ConnectionError:
            if time.monotonic() > deadline or child.poll() is not None:
                child.kill()
                raise RuntimeError("the server did not answer") from None
            time.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------
@dataclass
class Result:
    route: str
    side: str  # "http" or "in-process"
    clients: int
    n: int
    seconds: float
    latencies: list[float]
    errors: list[str]

    @property
    def rate(self) -> float:
        return self.n / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def run(route: str, side: str, clients: int, n: int, make_call: Callable[[], Callable[[int], str | None]]) -> Result:
    """`n` calls split over `clients` threads started together; each thread builds its own caller
    (its own HTTP session) first. A caller returns None when the call did what it should."""
    per_thread = [n // clients + (1 if i < n % clients else 0) for i in range(clients)]
    barrier = threading.Barrier(clients + 1)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []

    def worker(t: int) -> None:
        call = make_call()
        barrier.wait()
        for i in range(per_thread[t]):
            started = time.perf_counter()
            problem = call(t * 1_000_000 + i)
            latencies[t].append(time.perf_counter() - started)
            if problem:
                errors.append(problem)

    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(worker, t) for t in range(clients)]
        barrier.wait()
        started = time.perf_counter()
        for future in futures:
            future.result()
        seconds = time.perf_counter() - started
    return Result(route, side, clients, n, seconds, [x for xs in latencies for x in xs], errors)


def http_caller(base: str, token: str, route: str, version_id: str) -> Callable[[], Callable[[int], str | None]]:
    import requests

    def make() -> Callable[[int], str | None]:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        if route == "read":
            url = f"{base}/api/v1/versions/{version_id}"

            def call(_: int) -> str | None:
                response = session.get(url, timeout=60)
                return None if response.status_code == 200 else f"GET {response.status_code}: {response.text[:200]}"
        else:
            url = f"{base}/api/v1/alerts"

            def call(i: int) -> str | None:
                body = {
                    "related_object": f"version:{version_id}",
                    "severity": "low",
                    "category": "operational",
                    "title": f"http {i}",
                }
                response = session.post(url, json=body, timeout=60)
                return None if response.status_code == 201 else f"POST {response.status_code}: {response.text[:200]}"

        return call

    return make


def inprocess_caller(platform: Platform, route: str, version_id: str) -> Callable[[], Callable[[int], str | None]]:
    def make() -> Callable[[int], str | None]:
        if route == "read":

            def call(_: int) -> str | None:
                versions.show_version(platform, USER, version_id)
                return None
        else:

            def call(i: int) -> str | None:
                alerts.open_alert(platform, USER, f"version:{version_id}", "low", "operational", f"in-process {i}")
                return None

        return call

    return make


def auth_caller(platform: Platform, token: str) -> Callable[[], Callable[[int], str | None]]:
    """The bearer-token check every HTTP request pays first (hash + one indexed read), alone."""
    from dataops_platform.governance.tokens import authenticate

    def make() -> Callable[[int], str | None]:
        return lambda _: None if authenticate(platform, f"Bearer {token}") == USER else "token of the wrong user"

    return make


def setup(home: Path, database_url: str | None) -> tuple[Settings, Platform, str, str]:
    from dataops_platform.demo.sample_data import sample_records, write_records

    settings = load_settings(home, **({"database_url": database_url} if database_url else {}))
    platform = Platform(settings, FixedClock(T0))
    initialize(platform, ADMIN)
    apply_spec(platform, ADMIN, load_spec(EXAMPLE_SPEC), str(EXAMPLE_SPEC))
    data = write_records(sample_records(200, seed=7), home.parent / "bench_data.jsonl")
    version_id = versions.register_version(platform, ENGINEER, PROJECT, data, change_summary=["bench"]).version_id
    token = create_token(platform, ADMIN, USER)[1]
    return settings, platform, version_id, token


def fresh_database(server_url: str) -> tuple[str, Callable[[], None]]:
    """A scratch PostgreSQL database on the server of `server_url`, and how to drop it."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"dataops_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(server_url).set(database=name).render_as_string(hide_password=False), drop


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="calls per route, side and mode (default 1000)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients in the concurrent mode (default 8)")
    parser.add_argument("--quick", action="store_true", help="100 calls each: a smoke run")
    parser.add_argument("--database-url", help="a PostgreSQL server URL: the store goes into a scratch database on it")
    parser.add_argument("--serve", metavar="HOME", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.database_url)
        return 0
    n = 100 if args.quick else args.requests
    failures: list[str] = []
    say(f"# REST API load over loopback vs in-process service calls ({'quick' if args.quick else 'full'} run)")
    say(f"python {sys.version.split()[0]}, {load()}")
    with tempfile.TemporaryDirectory(prefix="dataops_api_bench_") as tmp:
        drop = None
        database_url = None
        if args.database_url:
            database_url, drop = fresh_database(args.database_url)
        try:
            settings, platform, version_id, token = setup(Path(tmp) / "home", database_url)
            say(f"store: {platform.store.engine.dialect.name}; version {version_id} in {PROJECT}; user {USER} (ops)")
            child, base = start_server(settings.home_dir, database_url)
            results: list[Result] = []
            try:
                for route in ("read", "mutating"):
                    for clients in (1, args.clients):
                        for side in ("in-process", "http"):
                            make = (
                                inprocess_caller(platform, route, version_id)
                                if side == "in-process"
                                else http_caller(base, token, route, version_id)
                            )
                            run(route, side, clients, min(WARMUP, n), make)  # warm-up, not reported
                            result = run(route, side, clients, n, make)
                            results.append(result)
                            failures += [f"{route}/{side}/{clients}: {e}" for e in result.errors[:3]]
                            say(
                                f"  {route:<8} {side:<10} {clients:>2} client(s): {result.rate:>8,.0f} req/s  "
                                f"p50 {result.pct(0.50):6.2f} ms  p95 {result.pct(0.95):6.2f} ms"
                            )
            finally:
                child.terminate()
                child.wait(timeout=30)
            auth = run("auth", "in-process", 1, n, auth_caller(platform, token))
            failures += check_store(platform, results, n)
            report(results, args.clients, auth)
            platform.close()
        finally:
            if drop:
                drop()
    say()
    say(f"{load()} at the end")
    if failures:
        say("CHECKS FAILED:")
        for failure in failures[:20]:
            say(f"  {failure}")
        return 2
    say("checks: every request got its expected status; every alert stored once; audit chain verifies")
    return 0


def check_store(platform: Platform, results: list[Result], n: int) -> list[str]:
    from sqlalchemy import func, select

    from dataops_platform.store.models import Alert

    expected = {"http": 0, "in-process": 0}
    for r in results:
        if r.route == "mutating":
            expected[r.side] += r.n + min(WARMUP, n)
    out = []
    with platform.store.read() as session:
        for side, prefix in (("http", "http %"), ("in-process", "in-process %")):
            count = session.scalar(select(func.count()).select_from(Alert).where(Alert.title.like(prefix)))
            if count != expected[side]:
                out.append(f"{side}: {count} alerts stored, {expected[side]} opened")
        verdict = audit.verify(session, platform.anchor)
    if not verdict.ok:
        out.append(f"audit chain: {verdict.reason}")
    return out


def report(results: list[Result], clients: int, auth: Result) -> None:
    say()
    say(
        "| route | clients | in-process req/s | HTTP req/s | HTTP / in-process rate | in-process p50 / p95 ms | "
        "HTTP p50 / p95 ms | HTTP - in-process p50 ms |"
    )
    say("|---|---|---|---|---|---|---|---|")
    for route in ("read", "mutating"):
        for c in (1, clients):
            local = next(r for r in results if (r.route, r.side, r.clients) == (route, "in-process", c))
            http = next(r for r in results if (r.route, r.side, r.clients) == (route, "http", c))
            name = "GET /versions/{id}" if route == "read" else "POST /alerts"
            say(
                f"| {name} | {c} | {local.rate:,.0f} | {http.rate:,.0f} | {http.rate / local.rate:.2f} | "
                f"{local.pct(0.5):.2f} / {local.pct(0.95):.2f} | {http.pct(0.5):.2f} / {http.pct(0.95):.2f} | "
                f"{http.pct(0.5) - local.pct(0.5):.2f} |"
            )
    mean = statistics.mean
    overhead = mean(
        [
            next(r for r in results if (r.route, r.side, r.clients) == (route, "http", 1)).pct(0.5)
            - next(r for r in results if (r.route, r.side, r.clients) == (route, "in-process", 1)).pct(0.5)
            for route in ("read", "mutating")
        ]
    )
    say()
    say(f"API overhead per request (1 client, p50, HTTP minus in-process, mean of both routes): {overhead:.2f} ms")
    say(f"  of which the bearer-token check, timed alone in-process: p50 {auth.pct(0.5):.2f} ms, p95 {auth.pct(0.95):.2f} ms")


if __name__ == "__main__":
    sys.exit(main())
