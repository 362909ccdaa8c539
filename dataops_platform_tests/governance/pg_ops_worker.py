"""Worker for test_pg_concurrency: a fixed number of governance operations on a shared store.

    python -m dataops_platform_tests.governance.pg_ops_worker HOME DATABASE_URL INDEX OPS RUN_DIR

Opens `Platform(load_settings(HOME, database_url=DATABASE_URL))`, writes RUN_DIR/ready_INDEX,
waits for RUN_DIR/start (so every worker starts at the same moment), then performs exactly OPS
service calls in rounds of ten in the project PROJECTS[INDEX % 3], each through the real service
layer as the user whose role grants it (examples/platform.yaml):

    1 register a fresh data file (the project's engineer; parent = the current release)
    2 validate it (quinn)                       3 record a completed experiment on it (engineer)
    4 release it (priya)                        5 a refusal: priya releases it again (illegal
                                                  transition) or omar tries to (no role grants it)
    6-8 open, acknowledge, resolve an alert on it (omar)
    9 every third round: roll back to this worker's previous release (omar), racing the other
      workers' releases and rollbacks in the project; otherwise a second experiment (quinn)
   10 deprecate this worker's release from two rounds back (priya); it may since have become the
      current release again or been rolled back, then the refusal is the outcome (in the first two
      rounds, another experiment by the engineer)

Every call writes exactly one audit record, whatever its outcome. The worker counts outcomes per
(action, outcome) and lists the ids it created, and prints that as one JSON line at the end. Only
DataOpsError counts as an outcome; anything else is a bug and exits with status 1.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dataops_platform.clock import FixedClock
from dataops_platform.demo.sample_data import sample_records, write_records
from dataops_platform.errors import DataOpsError, PermissionDenied
from dataops_platform.governance.alerts import acknowledge_alert, open_alert, resolve_alert
from dataops_platform.governance.experiments import record_experiment
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.rollback import execute_rollback
from dataops_platform.governance.versions import deprecate_version, register_version, release_version, validate_version
from dataops_platform.settings import load_settings
from dataops_platform.store.models import Project

PROJECTS = (("p01_retail_search", "dan"), ("p02_legal_sft", "lena"), ("p03_clinical_qa", "hugo"))
OPS_PER_ROUND = 10
START_TIMEOUT_S = 120.0
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # far from the spec's year-end freeze window


class Worker:
    def __init__(self, platform: Platform, clock: FixedClock, index: int, scratch: Path) -> None:
        self.platform, self.clock, self.index, self.scratch = platform, clock, index, scratch
        self.project, self.engineer = PROJECTS[index % len(PROJECTS)]
        self.outcomes: Counter[str] = Counter()  # "action outcome" -> count
        self.created: dict[str, list[str]] = {"versions": [], "experiments": [], "alerts": [], "rollbacks": []}
        self.ops = 0

    def call(self, action: str, fn: Callable[[], Any]) -> Any | None:
        """One service call = one audit record; the outcome is what the audit record must say."""
        self.clock.advance(seconds=1)  # each worker's own ordered timeline, like a host's clock
        self.ops += 1
        try:
            result = fn()
        except PermissionDenied:
            self.outcomes[f"{action} denied"] += 1
            return None
        except DataOpsError:
            self.outcomes[f"{action} failed"] += 1
            return None
        self.outcomes[f"{action} allowed"] += 1
        return result

    def current_release(self) -> str | None:
        with self.platform.store.read() as session:
            return session.get(Project, self.project).current_release

    def data_file(self, round_no: int) -> Path:
        seed = self.index * 100_000 + round_no
        records = sample_records(24, seed=seed, id_prefix=f"w{self.index}r{round_no}_")
        return write_records(records, self.scratch / f"w{self.index}_{round_no}.jsonl")

    def round(self, round_no: int, releases: list[str], budget: int) -> None:
        """Up to `budget` operations of one round (the last round may be cut short)."""
        p = self.platform
        state: dict[str, Any] = {}

        def register() -> Any:
            data = self.data_file(round_no)
            parent = self.current_release()
            version = register_version(p, self.engineer, self.project, data, parent=parent, change_summary=[f"round {round_no}"])
            data.unlink()
            return version

        def step_register() -> None:
            version = self.call("version.create", register)
            if version is None:
                raise RuntimeError(f"worker {self.index}: register refused in round {round_no}")
            state["version"] = version.version_id
            self.created["versions"].append(version.version_id)

        def step_experiment(actor: str) -> Callable[[], None]:
            def run() -> None:
                exp = self.call(
                    "experiment.log",
                    lambda: record_experiment(p, actor, self.project, state["version"], "completed", metrics={"f1": 0.8}),
                )
                if exp is not None:
                    self.created["experiments"].append(exp.experiment_id)

            return run

        def step_release() -> None:
            if self.call("version.release", lambda: release_version(p, "priya", state["version"])) is not None:
                releases.append(state["version"])

        def step_refused_release() -> None:
            actor = "priya" if round_no % 2 else "omar"  # an illegal transition, or a role without the action
            self.call("version.release", lambda: release_version(p, actor, state["version"]))

        def step_open_alert() -> None:
            alert = self.call(
                "alert.open",
                lambda: open_alert(p, "omar", f"version:{state['version']}", "medium", "operational", f"worker {self.index}"),
            )
            if alert is not None:
                state["alert"] = alert.alert_id
                self.created["alerts"].append(alert.alert_id)

        def step_ack() -> None:
            self.call("alert.ack", lambda: acknowledge_alert(p, "omar", state["alert"]))

        def step_resolve() -> None:
            self.call("alert.resolve", lambda: resolve_alert(p, "omar", state["alert"], "checked by the worker"))

        def step_rollback_or_experiment() -> None:
            if round_no % 3 == 2 and len(releases) >= 2:
                target = releases[-2]
                event = self.call(
                    "rollback.execute",
                    lambda: execute_rollback(p, "omar", self.project, target, f"worker {self.index} round {round_no}")[0],
                )
                if event is not None:
                    self.created["rollbacks"].append(event.rollback_id)
            else:
                step_experiment("quinn")()

        def step_deprecate() -> None:
            if len(releases) >= 3:
                self.call("version.deprecate", lambda: deprecate_version(p, "priya", releases[-3]))
            else:
                step_experiment(self.engineer)()

        steps = [
            step_register,
            lambda: self.call("version.validate", lambda: validate_version(p, "quinn", state["version"])),
            step_experiment(self.engineer),
            step_release,
            step_refused_release,
            step_open_alert,
            step_ack,
            step_resolve,
            step_rollback_or_experiment,
            step_deprecate,
        ]
        for step in steps[:budget]:
            step()

    def run(self, total: int) -> None:
        releases: list[str] = []
        round_no = 0
        while self.ops < total:
            self.round(round_no, releases, min(OPS_PER_ROUND, total - self.ops))
            round_no += 1


def main(home: Path, database_url: str, index: int, total: int, run_dir: Path) -> None:
    clock = FixedClock(T0 + timedelta(hours=index))
    platform = Platform(load_settings(home, database_url=database_url), clock)
    scratch = run_dir / f"scratch_{index}"
    scratch.mkdir(parents=True, exist_ok=True)
    worker = Worker(platform, clock, index, scratch)
    (run_dir / f"ready_{index}").touch()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not (run_dir / "start").exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"worker {index}: no start signal after {START_TIMEOUT_S:.0f} s")
        time.sleep(0.005)
    started = time.monotonic()
    worker.run(total)
    seconds = time.monotonic() - started
    platform.close()
    report = {"index": index, "pid": os.getpid(), "project": worker.project, "ops": worker.ops, "seconds": seconds,
              "outcomes": dict(worker.outcomes), "created": worker.created}  # fmt: skip
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 6:
        raise SystemExit(__doc__)
    try:
        main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5]))
    except SystemExit:
        raise
    except BaseException:  # noqa: BLE001 - a bug: the parent shows this and fails the test
        traceback.print_exc()
        sys.exit(1)
