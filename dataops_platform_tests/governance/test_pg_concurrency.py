"""Concurrency on PostgreSQL: 8 processes x 250 governance operations at once leave one intact audit
chain with exactly 2,000 new records and no lost update.

Eight real OS processes (pg_ops_worker.py) open the same PostgreSQL store and, released together by
a start file, each run 250 service calls: register, validate, experiment, release, a refused
release, alert open/ack/resolve, rollbacks and deprecations, two or three workers per project, so
releases and rollbacks of one project race each other. Every call writes one audit record whatever
its outcome. Afterwards the chain must verify end to end with contiguous seqs and no fork, every
outcome a worker saw must be in the audit log and vice versa, every object a worker created must be
in the store (ids allocated without a gap or a duplicate), and each project's current release must
be a released version and exactly what replaying the audit log in seq order says it is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from dataops_platform.clock import FixedClock
from dataops_platform.governance.audit_service import verify_chain
from dataops_platform.governance.platform import Platform
from dataops_platform.settings import load_settings
from dataops_platform.store.models import Alert, AuditRecord, DatasetVersion, Experiment, Project, RollbackEvent
from dataops_platform_tests.conftest import ADMIN, EXAMPLE_SPEC, REPO, T0, make_platform
from dataops_platform_tests.governance.pg_ops_worker import PROJECTS
from dataops_platform_tests.governance.pg_ops_worker import T0 as WORKER_T0
from dataops_platform_tests.helpers import numbers_by_tenant, tenant_counters

pytestmark = pytest.mark.slow

WORKERS = 8
OPS_PER_WORKER = 250
READY_TIMEOUT_S = 120.0
RUN_TIMEOUT_S = 300.0


def _platform(tmp_path: Path, database_url: str) -> Platform:
    """The example organisation on `database_url`, quotas raised so no worker runs into them."""
    spec = yaml.safe_load(EXAMPLE_SPEC.read_text())
    for tenant in spec["tenants"]:
        tenant["quota"]["max_dataset_versions"] = 100_000
    spec_path = tmp_path / "platform.yaml"
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return make_platform(load_settings(tmp_path / "home", database_url=database_url), FixedClock(T0), spec_path)


def _start_workers(home: Path, database_url: str, run_dir: Path) -> list[subprocess.Popen]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATAOPS_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    procs = []
    for index in range(WORKERS):
        # Files, not pipes: a worker must never block on a full pipe nobody is reading yet.
        out = open(run_dir / f"out_{index}.txt", "w")  # noqa: SIM115 - closed once the worker ended
        err = open(run_dir / f"err_{index}.txt", "w")  # noqa: SIM115
        args = [str(home), database_url, str(index), str(OPS_PER_WORKER), str(run_dir)]
        procs.append(subprocess.Popen([sys.executable, "-m", "dataops_platform_tests.governance.pg_ops_worker", *args],
                                      stdout=out, stderr=err, cwd=REPO, env=env))  # fmt: skip
        out.close()
        err.close()
    return procs


def _stderr(run_dir: Path, index: int) -> str:
    return (run_dir / f"err_{index}.txt").read_text()[-4000:]


def _run_workers(home: Path, database_url: str, run_dir: Path) -> list[dict]:
    """Start every worker, release them together once all are ready, collect their reports."""
    procs = _start_workers(home, database_url, run_dir)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not all((run_dir / f"ready_{i}").exists() for i in range(WORKERS)):
            for i, proc in enumerate(procs):
                assert proc.poll() is None, f"worker {i} exited with {proc.returncode} before start:\n{_stderr(run_dir, i)}"
            assert time.monotonic() < deadline, f"workers not ready after {READY_TIMEOUT_S:.0f} s"
            time.sleep(0.05)
        (run_dir / "start").touch()
        deadline = time.monotonic() + RUN_TIMEOUT_S
        for i, proc in enumerate(procs):
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            assert proc.returncode == 0, f"worker {i} exited with {proc.returncode}:\n{_stderr(run_dir, i)}"
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return [json.loads((run_dir / f"out_{i}.txt").read_text().strip().splitlines()[-1]) for i in range(WORKERS)]


def _worker_of(record: AuditRecord) -> int:
    """Each worker's clock starts `index` hours after the worker T0 (pg_ops_worker.main)."""
    return int((datetime.fromisoformat(record.at) - WORKER_T0).total_seconds() // 3600)


def _replay(records: list[AuditRecord]) -> tuple[dict[str, str], dict[str, str | None]]:
    """Version statuses and each project's current release as the allowed audit records, in seq order, say."""
    status: dict[str, str] = {}
    current: dict[str, str | None] = {project: None for project, _ in PROJECTS}
    for r in records:
        if r.outcome != "allowed" or r.project is None:
            continue
        details = json.loads(r.details)
        version = r.object_ref.removeprefix("version:") if r.object_ref else None
        if r.action == "version.create":
            status[version] = "draft"
        elif r.action == "version.validate":
            status[version] = details["status"]
        elif r.action == "version.release":
            status[version] = "released"
            assert details["previous_release"] == current[r.project], f"seq {r.seq}: release superseded a stale release"
            current[r.project] = version
        elif r.action == "version.deprecate":
            status[version] = "deprecated"
        elif r.action == "rollback.execute":
            assert details["from_version"] == current[r.project], f"seq {r.seq}: rollback from a stale release"
            status[details["from_version"]] = "rolled_back"
            current[r.project] = details["to_version"]
    return status, current


def test_eight_processes_keep_one_chain_and_lose_no_update(pg_database: str, tmp_path: Path) -> None:
    platform = _platform(tmp_path, pg_database)
    try:
        with platform.store.read() as session:
            before = session.scalars(select(AuditRecord.seq).order_by(AuditRecord.seq)).all()
        run_dir = tmp_path / "run"
        run_dir.mkdir()
        reports = _run_workers(platform.settings.home_dir, pg_database, run_dir)
        total = WORKERS * OPS_PER_WORKER
        assert [r["ops"] for r in reports] == [OPS_PER_WORKER] * WORKERS

        with platform.store.read() as session:
            records = session.scalars(select(AuditRecord).order_by(AuditRecord.seq)).all()
            versions = {v.version_id: v for v in session.scalars(select(DatasetVersion))}
            experiments = session.scalars(select(Experiment.experiment_id)).all()
            alerts = {a.alert_id: a for a in session.scalars(select(Alert))}
            rollbacks = session.scalars(select(RollbackEvent.rollback_id)).all()
            projects = {p.id: p.current_release for p in session.scalars(select(Project))}
            kinds = ("dataset_version", "experiment", "alert", "rollback")
            tenant_count = {kind: tenant_counters(session, kind) for kind in kinds}
        new = records[len(before) :]

        # One chain: exactly 2,000 new records, seqs 1..head without a gap, verified end to end
        # (hashes, prev links and the anchor) by the audit service, and no record with a sibling.
        assert len(new) == total, f"expected {total} new audit records, found {len(new)}"
        assert [r.seq for r in records] == list(range(1, len(records) + 1))
        verdict = verify_chain(platform, ADMIN)
        assert verdict.ok, verdict.reason
        assert verdict.checked == len(records) and verdict.head.seq == records[-1].seq
        assert len({r.prev_hash for r in records}) == len(records), "two records share a predecessor: the chain forked"
        assert len({r.hash for r in records}) == len(records)
        assert platform.anchor.read() == verdict.head

        # The workers really ran at once: their records interleave in the chain.
        owners = [_worker_of(r) for r in new]
        assert set(owners) == set(range(WORKERS))
        switches = sum(a != b for a, b in zip(owners, owners[1:], strict=False))
        assert switches >= total // 10, f"only {switches} switches between workers: they did not run concurrently"

        # Every outcome a worker saw has its audit record, and nothing else was recorded; no
        # operation crashed (a bug would be audited as failed with error "internal").
        seen = sum((Counter(r["outcomes"]) for r in reports), Counter())
        recorded = Counter(f"{r.action} {r.outcome}" for r in new)
        assert recorded == seen
        assert not [r.seq for r in new if json.loads(r.details).get("error") == "internal"]
        assert recorded["version.release failed"] + recorded["version.release denied"] == WORKERS * (OPS_PER_WORKER // 10)
        assert recorded["rollback.execute allowed"] > 0, "no rollback went through: the race was not exercised"

        # No lost object: what the workers created is exactly what the store holds, and the ids
        # were allocated under the lock (no duplicate across processes, no gap, counters agree).
        def created(kind: str) -> list[str]:
            return [object_id for r in reports for object_id in r["created"][kind]]

        for kind, stored, prefix, counter in (
            ("versions", list(versions), "ds_v", "dataset_version"),
            ("experiments", experiments, "exp_", "experiment"),
            ("alerts", list(alerts), "alert_", "alert"),
            ("rollbacks", rollbacks, "rb_", "rollback"),
        ):
            ids = created(kind)
            assert len(ids) == len(set(ids)), f"two workers were given the same {kind} id"
            assert sorted(ids) == sorted(stored), f"{kind}: created and stored differ"
            per_tenant = numbers_by_tenant(stored, prefix)  # ids are numbered per tenant
            assert all(numbers == list(range(1, len(numbers) + 1)) for numbers in per_tenant.values()), per_tenant
            assert tenant_count[counter] == {tag: len(numbers) for tag, numbers in per_tenant.items()}
        assert all(a.status == "resolved" and a.acknowledged_at is not None for a in alerts.values())

        # No lost update: replaying the allowed records in seq order gives every version's status
        # and each project's current release; each project has one current release, a released
        # version of its own, and every release got its own release_seq.
        status, current = _replay(records)
        assert status == {v: m.status for v, m in versions.items()}
        assert projects == current
        for project, release in projects.items():
            assert release is not None and versions[release].status == "released"
            assert versions[release].project_id == project
        # release_seq counts a project's own releases (issue 12: nothing of other tenants shows)
        release_seqs = [(m.project_id, m.release_seq) for m in versions.values() if m.release_seq is not None]
        assert len(release_seqs) == len(set(release_seqs)) == recorded["version.release allowed"]
    finally:
        platform.close()
