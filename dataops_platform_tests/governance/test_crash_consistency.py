"""Crash consistency: SIGKILL a writer at random moments; every operation is wholly there or absent.

A worker process (crash_worker.py) runs the version lifecycle in a tight loop on a SQLite home
and prints a line after each committed operation. The test kills it with SIGKILL at seeded
random moments, 20 times, restarting it on the same home. After every kill the store must open,
the audit chain must verify against its anchor, every object must have exactly its audit
record (and every allowed audit record its object), releases and rollbacks must be complete,
the current release must be what the audit log says it is, every content file must be there
with its digest, and everything the worker reported as committed must have survived.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from dataops_platform.clock import SystemClock
from dataops_platform.governance import audit
from dataops_platform.governance.platform import Platform
from dataops_platform.settings import Settings, load_settings
from dataops_platform.store.models import (
    AuditRecord,
    DatasetVersion,
    Experiment,
    LineageEdge,
    Project,
    RollbackEvent,
)
from dataops_platform_tests.conftest import EXAMPLE_SPEC, REPO, make_platform
from dataops_platform_tests.helpers import numbers_by_tenant, tenant_counters

pytestmark = pytest.mark.slow

WORKER = Path(__file__).with_name("crash_worker.py")
PROJECT = "p02_legal_sft"
KILLS = 20
SEED = 20261102
READY_TIMEOUT_S = 30.0


class Worker:
    """One crash_worker process; a thread collects its stdout lines as they arrive."""

    def __init__(self, home: Path, scratch: Path) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        }
        env.pop("DATAOPS_DATABASE_URL", None)
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), str(home), str(scratch)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=env,
        )
        self.lines: list[str] = []
        self.ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            if not raw.endswith("\n"):  # cut short by the kill (cannot happen for one small write)
                continue
            line = raw.rstrip("\n")
            if line == "ready":
                self.ready.set()
            else:
                self.lines.append(line)

    def kill(self) -> tuple[int, str]:
        """SIGKILL (if still running), then wait; returns the exit status and stderr."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._reader.join(timeout=30)
        return self.proc.returncode, self.proc.stderr.read()


def _prepare_home(tmp_path: Path) -> Settings:
    """init + the example spec, with quotas raised so the worker never runs into them."""
    spec = yaml.safe_load(EXAMPLE_SPEC.read_text())
    for tenant in spec["tenants"]:
        tenant["quota"]["max_dataset_versions"] = 1_000_000
    spec_path = tmp_path / "platform.yaml"
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    settings = load_settings(tmp_path / "home", database_url=None)
    make_platform(settings, SystemClock(), spec_path).close()
    return settings


def _check_store(settings: Settings, reported: dict[str, set], kill_no: int) -> dict[str, int]:
    """Every invariant that must hold after a crash; returns counts of what the store holds."""
    where = f"after kill {kill_no}"
    platform = Platform(settings)
    try:
        with platform.store.read() as session:
            result = audit.verify(session, platform.anchor)
            assert result.ok, f"{where}: audit chain does not verify: {result.reason}"

            records = session.scalars(select(AuditRecord).order_by(AuditRecord.seq)).all()
            allowed: dict[str, list[AuditRecord]] = defaultdict(list)
            for record in records:
                if record.outcome == "allowed":
                    allowed[record.action].append(record)
                else:  # the worker only does what it may; nothing may be refused or fail
                    raise AssertionError(f"{where}: unexpected {record.outcome} audit record {record.seq}")

            def refs(action: str) -> list[str]:
                return [r.object_ref for r in allowed[action]]

            versions = {v.version_id: v for v in session.scalars(select(DatasetVersion))}
            experiments = {e.experiment_id: e for e in session.scalars(select(Experiment))}
            rollbacks = {r.rollback_id: r for r in session.scalars(select(RollbackEvent))}
            edges = {(e.source_ref, e.target_ref, e.edge_type) for e in session.scalars(select(LineageEdge))}
            project = session.get(Project, PROJECT)

            # versions <-> version.create, one to one
            create_refs = refs("version.create")
            assert len(create_refs) == len(set(create_refs)), f"{where}: a version.create record repeats"
            assert sorted(create_refs) == sorted(f"version:{v}" for v in versions), (
                f"{where}: versions and version.create records differ: {set(create_refs) ^ {f'version:{v}' for v in versions}}"
            )
            # ids are allocated inside the transaction: no gaps, and the counter agrees
            per_tenant = numbers_by_tenant(list(versions), "ds_v")  # ids are numbered per tenant
            for tag, numbers in per_tenant.items():
                assert numbers == list(range(1, len(numbers) + 1)), f"{where}: {tag} version ids have gaps: {numbers}"
            counters = tenant_counters(session, "dataset_version")
            assert counters == {tag: len(n) for tag, n in per_tenant.items()}, f"{where}: id counter ahead of versions"

            for version_id, version in versions.items():
                # the kept copy (registered with copy=True) present and complete: its name is its sha256
                content = settings.data_dir / version.copy_location
                assert content.is_file(), f"{where}: {version_id} content file {content} is missing"
                digest = hashlib.sha256(content.read_bytes()).hexdigest()
                assert content.name.startswith(digest), f"{where}: {version_id} content file is damaged"
                if version.parent_version is not None:
                    edge = (f"version:{version.parent_version}", f"version:{version_id}", "derived_from")
                    assert edge in edges, f"{where}: {version_id} has no derived_from edge from its parent"

            # experiments <-> experiment.log
            assert sorted(refs("experiment.log")) == sorted(f"experiment:{e}" for e in experiments), (
                f"{where}: experiments and experiment.log records differ"
            )
            for experiment_id, experiment in experiments.items():
                used = (f"version:{experiment.dataset_version}", f"experiment:{experiment_id}", "used")
                assert used in edges, f"{where}: {experiment_id} has no used edge"

            # validation: validated_by set <-> version.validate record
            validated = sorted(f"version:{v}" for v, m in versions.items() if m.validated_by is not None)
            assert sorted(refs("version.validate")) == validated, f"{where}: validations and records differ"

            # releases: released_by/at set <-> version.release record; status consistent
            released = sorted(f"version:{v}" for v, m in versions.items() if m.released_at is not None)
            assert sorted(refs("version.release")) == released, f"{where}: releases and records differ"
            for version_id, version in versions.items():
                if version.status in ("released", "rolled_back", "deprecated"):
                    assert version.released_by == "priya" and version.released_at is not None, (
                        f"{where}: {version_id} is {version.status} without released_by/at"
                    )
                else:
                    assert version.released_at is None and version.released_by is None, (
                        f"{where}: {version_id} is {version.status} but has release fields"
                    )

            # rollbacks <-> rollback.execute, with the abandoned version rolled back and lineage
            assert sorted(refs("rollback.execute")) == sorted(f"rollback:{r}" for r in rollbacks), (
                f"{where}: rollback events and rollback.execute records differ"
            )
            for rollback_id, event in rollbacks.items():
                assert versions[event.from_version].status == "rolled_back", (
                    f"{where}: {rollback_id} abandoned {event.from_version}, which is {versions[event.from_version].status}"
                )
                assert versions[event.to_version].released_at is not None
                rb = f"rollback:{rollback_id}"
                assert (f"version:{event.from_version}", rb, "rolled_back_from") in edges, f"{where}: {rb}"
                assert (f"version:{event.to_version}", rb, "restored_to") in edges, f"{where}: {rb}"
            abandoned = {e.from_version for e in rollbacks.values()}
            rolled_back = {v for v, m in versions.items() if m.status == "rolled_back"}
            assert rolled_back == abandoned, f"{where}: rolled_back versions {rolled_back} != abandoned {abandoned}"

            # the current release is what the audit log says: the last release or rollback decides
            expected_current = None
            for record in records:
                if record.action == "version.release":
                    expected_current = record.object_ref.removeprefix("version:")
                elif record.action == "rollback.execute":
                    expected_current = json.loads(record.details)["to_version"]
            assert project.current_release == expected_current, (
                f"{where}: current release {project.current_release}, the audit log says {expected_current}"
            )
            if project.current_release is not None:
                assert versions[project.current_release].status == "released"

            # durability: everything the worker reported as committed survived the kill
            missing = {
                "register": reported["register"] - versions.keys(),
                "experiment": reported["experiment"] - experiments.keys(),
                "validate": {v for v in reported["validate"] if versions[v].validated_by is None},
                "release": {v for v in reported["release"] if versions[v].released_at is None},
                "rollback": reported["rollback"] - rollbacks.keys(),
            }
            assert not any(missing.values()), f"{where}: reported as committed but gone: {missing}"
            return {
                "versions": len(versions),
                "releases": len(released),
                "rollbacks": len(rollbacks),
                "audit": len(records),
            }
    finally:
        platform.close()


def _record(reported: dict[str, set], lines: list[str]) -> None:
    for line in lines:
        kind, object_id, *_rest = line.split()
        reported[kind].add(object_id)


def test_sigkill_at_random_moments_leaves_every_operation_whole_or_absent(tmp_path: Path) -> None:
    started = time.monotonic()
    settings = _prepare_home(tmp_path)
    rng = random.Random(SEED)
    reported: dict[str, set] = defaultdict(set)
    mid_operation_kills = 0
    counts: dict[str, int] = {}
    for kill_no in range(1, KILLS + 1):
        worker = Worker(settings.home_dir, tmp_path / "scratch")
        if kill_no % 5 == 0:
            # now and then while the worker is still starting up and opening the store
            time.sleep(rng.uniform(0.0, 1.0))
        else:
            assert worker.ready.wait(READY_TIMEOUT_S), f"worker {kill_no} never became ready"
            time.sleep(rng.uniform(0.02, 1.2))
        status, stderr = worker.kill()
        assert status == -signal.SIGKILL, f"worker {kill_no} ended by itself ({status}):\n{stderr}"
        _record(reported, worker.lines)
        mid_operation_kills += bool(worker.lines)
        counts = _check_store(settings, reported, kill_no)

    elapsed = time.monotonic() - started
    print(f"crash test: {KILLS} kills, {counts} in the store, {elapsed:.1f}s")
    # The kills must have landed amid real work, not only before the first operation.
    assert mid_operation_kills >= KILLS // 2, f"only {mid_operation_kills} kills landed after some work"
    assert counts["releases"] > 0 and counts["rollbacks"] > 0, counts
    # And the store is still usable: a fresh worker gets through a full round after all those kills.
    worker = Worker(settings.home_dir, tmp_path / "scratch")
    assert worker.ready.wait(READY_TIMEOUT_S), "the last worker never became ready"
    deadline = time.monotonic() + 30
    while not any(line.startswith("release ") for line in worker.lines) and time.monotonic() < deadline:
        time.sleep(0.05)
    status, stderr = worker.kill()
    assert any(line.startswith("release ") for line in worker.lines), f"no release after the kills:\n{stderr}"
    _record(reported, worker.lines)
    _check_store(settings, reported, KILLS + 1)
