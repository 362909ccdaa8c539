"""Notification benchmark (issue 16): delivery throughput to a loopback receiver with 1 and 8
routes, and `alert open` latency with notifications configured against without, in one run.

    python bench/notify.py            # 300 events per throughput run, 300 alert opens per mode
    python bench/notify.py --quick    # 50 / 50, a smoke run

Everything runs on SQLite in temporary homes with `examples/platform.yaml` plus a `notifications`
section; the receiver is a `ThreadingHTTPServer` on 127.0.0.1 that checks every signature.
Throughput counts events whose every delivery was received, over the wall time of
`dispatch_until_idle` (each delivery: a claim share, one signed HTTP POST, one audited write).
Latency alternates the two platforms call by call so both see the same machine state; the goal
is p50 with notifications <= 1.2x without.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from dataops_platform.clock import FixedClock  # noqa: E402
from dataops_platform.governance.alerts import open_alert  # noqa: E402
from dataops_platform.governance.bootstrap import initialize  # noqa: E402
from dataops_platform.governance.platform import Platform  # noqa: E402
from dataops_platform.governance.spec_apply import apply_spec  # noqa: E402
from dataops_platform.notify.dispatch import dispatch_until_idle  # noqa: E402
from dataops_platform.notify.events import verify_signature  # noqa: E402
from dataops_platform.settings import load_settings  # noqa: E402
from dataops_platform.spec.loader import load_spec  # noqa: E402

SECRET_ENV, SECRET = "DATAOPS_BENCH_HOOK_SECRET", "bench-secret"
EVENTS = ["alert.opened", "alert.acknowledged", "alert.resolved"]


class Receiver:
    def __init__(self) -> None:
        self.count = 0
        self.bad = 0
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = verify_signature(SECRET, self.headers, body) is None
                with lock:
                    outer.count += 1
                    outer.bad += not ok
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


def make(tmp: Path, name: str, routes: int, url: str | None) -> Platform:
    document = yaml.safe_load((REPO / "examples" / "platform.yaml").read_text())
    if routes:
        document["notifications"] = {
            "channels": [
                {"id": f"hook{i}", "kind": "webhook", "url": f"{url}/r{i}", "secret_env": SECRET_ENV} for i in range(routes)
            ],
            "routes": [{"channel": f"hook{i}", "projects": ["*"], "events": EVENTS} for i in range(routes)],
        }
    spec = tmp / f"{name}.yaml"
    spec.write_text(yaml.safe_dump(document, sort_keys=False))
    platform = Platform(load_settings(tmp / name), FixedClock(datetime(2026, 11, 2, 9, 0, tzinfo=UTC)))
    initialize(platform, "alice")
    apply_spec(platform, "alice", load_spec(spec), str(spec))
    return platform


def throughput(tmp: Path, receiver: Receiver, routes: int, events: int) -> tuple[float, float]:
    platform = make(tmp, f"tp{routes}", routes, receiver.url)
    for i in range(events):
        open_alert(platform, "omar", "project:p02_legal_sft", "high", "operational", f"bench {i}")
    before = receiver.count
    started = time.perf_counter()
    report = dispatch_until_idle(platform, limit=100)
    elapsed = time.perf_counter() - started
    platform.close()
    assert report.delivered == events * routes == receiver.count - before, (report, receiver.count - before)
    return events / elapsed, events * routes / elapsed


def latency(tmp: Path, receiver: Receiver, calls: int) -> tuple[list[float], list[float]]:
    without, with_ = make(tmp, "lat0", 0, None), make(tmp, "lat1", 1, receiver.url)
    times: dict[int, list[float]] = {0: [], 1: []}
    for i in range(calls):
        for key, platform in ((0, without), (1, with_)) if i % 2 else ((1, with_), (0, without)):
            started = time.perf_counter()
            open_alert(platform, "omar", "project:p02_legal_sft", "high", "operational", f"latency {i}")
            times[key].append(time.perf_counter() - started)
    without.close()
    with_.close()
    return times[0], times[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    events = calls = 50 if args.quick else 300
    os.environ[SECRET_ENV] = SECRET
    receiver = Receiver()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        print(f"throughput: {events} alert.opened events, dispatched to a loopback webhook receiver (signature checked)")
        for routes in (1, 8):
            per_event, per_delivery = throughput(tmp, receiver, routes, events)
            print(f"  {routes} route(s): {per_event:8.1f} events/s delivered ({per_delivery:8.1f} deliveries/s)")
        off, on = latency(tmp, receiver, calls)
        p50_off, p50_on = statistics.median(off) * 1000, statistics.median(on) * 1000
        p95_off = statistics.quantiles(off, n=20)[18] * 1000
        p95_on = statistics.quantiles(on, n=20)[18] * 1000
        print(f"alert open latency over {calls} calls each, interleaved:")
        print(f"  without notifications: p50 {p50_off:6.2f} ms, p95 {p95_off:6.2f} ms")
        print(f"  with 1 webhook route:  p50 {p50_on:6.2f} ms, p95 {p95_on:6.2f} ms")
        ratio = p50_on / p50_off
        print(f"  ratio (p50): {ratio:.2f}x  (goal <= 1.20x: {'met' if ratio <= 1.2 else 'NOT met'})")
    assert receiver.bad == 0, f"{receiver.bad} request(s) failed the signature check"


if __name__ == "__main__":
    main()
