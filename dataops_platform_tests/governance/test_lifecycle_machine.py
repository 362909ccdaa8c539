"""A stateful property test of the governance lifecycle on the real services (SPEC §3-§5).

A hypothesis `RuleBasedStateMachine` drives registration, validation, release, deprecation,
rollback, experiments and exceptions on a SQLite platform with the reference organisation,
with the right actors most of the time and the wrong ones some of the time. The machine keeps
its own small model of what must happen (which error class, or success and the new state) and
checks every call against it. After every step it re-reads the store: statuses and current
releases match the model, every service call left exactly one audit record with the right
outcome, and the audit chain verifies against the anchor.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import event as hypothesis_event
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import func, select

from dataops_platform.clock import FixedClock, as_utc
from dataops_platform.demo.sample_data import sample_records, write_records
from dataops_platform.errors import DataOpsError, GateRefused, InvalidInput, NotFound, PermissionDenied
from dataops_platform.governance import audit
from dataops_platform.governance.exceptions import approve_exception, request_exception
from dataops_platform.governance.experiments import record_experiment
from dataops_platform.governance.gate import BLOCKING_EXPERIMENT_STATUSES, EXPERIMENT_RULE, active_exception
from dataops_platform.governance.platform import Platform, tenant_tag
from dataops_platform.governance.rollback import execute_rollback
from dataops_platform.governance.versions import (
    deprecate_version,
    register_version,
    release_version,
    validate_version,
)
from dataops_platform.settings import load_settings
from dataops_platform.spec.loader import load_spec
from dataops_platform.store.models import (
    AuditRecord,
    DatasetVersion,
    ExceptionApproval,
    Experiment,
    Project,
)
from dataops_platform_tests.conftest import EXAMPLE_SPEC, T0, make_platform
from dataops_platform_tests.helpers import objects_snapshot

SPEC = load_spec(EXAMPLE_SPEC)
MEMBERS: dict[str, dict[str, str]] = {p.id: dict(p.members) for p in SPEC.projects}
TENANT_OF = {p.id: p.tenant for p in SPEC.projects}
ROLE_ACTIONS: dict[str, set[str]] = {name: set(role.actions) for name, role in SPEC.roles.items()}
POLICY = SPEC.governance_policy
QUOTA = {t.id: t.quota.max_dataset_versions for t in SPEC.tenants}
CREATOR_CANNOT_RELEASE = SPEC.separation_of_duties.creator_cannot_release
REQUESTER_CANNOT_APPROVE = SPEC.separation_of_duties.requester_cannot_approve

LEGAL, RETAIL = "p02_legal_sft", "p01_retail_search"
PROJECTS = tuple(MEMBERS)
BOGUS_VERSION, BOGUS_EXCEPTION = "ds_v999", "exc_999"

# Mostly the project under test; sometimes the retail project (its own engineer, a freeze window).
project_st = st.sampled_from([LEGAL, LEGAL, LEGAL, RETAIL])
# An index into the known objects; -1 names an object that does not exist.
pick_st = st.integers(min_value=-1, max_value=60)
# "fit": pick among the objects the move makes sense for (drafts to validate, ...); "any": among all.
aim_st = st.sampled_from(["fit", "fit", "fit", "any"])


@dataclass(frozen=True)
class DataFile:
    path: Path
    rows: int
    expect: str  # "validated" | "rejected" at the quality gate, or "duplicates" (refused at registration)


def _with_duplicates(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    records[1]["id"] = records[0]["id"]
    records[2]["id"] = records[0]["id"]
    return records


def _with_null_sources(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for r in records[:3]:
        r["source"] = None
    return records


@cache
def data_files() -> dict[str, DataFile]:
    """Small data files, written once per test process, each with a known fate at the gate."""
    root = Path(tempfile.mkdtemp(prefix="dataops-lifecycle-data-"))
    atexit.register(shutil.rmtree, root, True)
    # min_rows 20, max_duplicate_id_rate 0.01, max_null_rate 0.02, required splits train+test
    plans = {
        "good.jsonl": (sample_records(30, seed=11), "validated"),
        "good.csv": (sample_records(24, seed=12), "validated"),
        "good.parquet": (sample_records(40, seed=13), "validated"),
        "too_small.jsonl": (sample_records(12, seed=14), "rejected"),
        "train_only.csv": (sample_records(30, seed=15, splits=("train",)), "rejected"),
        "null_sources.jsonl": (_with_null_sources(sample_records(30, seed=16)), "rejected"),
        "duplicate_ids.jsonl": (_with_duplicates(sample_records(30, seed=17)), "duplicates"),
    }
    return {
        name: DataFile(write_records(records, root / name), len(records), expect) for name, (records, expect) in plans.items()
    }


@dataclass
class VersionModel:
    version_id: str
    project: str
    created_by: str
    quality: str  # what validation must decide
    status: str = "draft"
    released_at: datetime | None = None
    release_seq: int | None = None  # the order releases happened in (timestamps tie under a frozen clock)
    blocking: bool = False  # a regressed or failed experiment was recorded on it


@dataclass
class ExceptionModel:
    exception_id: str
    project: str
    version_id: str
    requested_by: str
    expires_at: datetime
    status: str = "requested"
    effective_from: datetime | None = None


def expected_denial(actor: str, action: str, project: str) -> type[DataOpsError] | None:
    """Deny by default (SPEC §4): outside the actor's tenants the project is hidden (NotFound)."""
    role = MEMBERS[project].get(actor)
    if role is None:
        actor_tenants = {TENANT_OF[p] for p, members in MEMBERS.items() if actor in members}
        return NotFound if TENANT_OF[project] not in actor_tenants else PermissionDenied
    if action not in ROLE_ACTIONS[role]:
        return PermissionDenied
    return None


def event(label: str) -> None:
    """A coverage statistic (pytest --hypothesis-show-statistics); a no-op when replaying by hand."""
    if currently_in_test_context():
        hypothesis_event(label)


OUTCOME_OF = {
    None: "allowed",
    NotFound: "denied",
    PermissionDenied: "denied",
    GateRefused: "failed",
    InvalidInput: "failed",
}


class LifecycleMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="dataops-lifecycle-"))
        self.clock = FixedClock(T0)
        self.platform = make_platform(load_settings(self.tmp / "home", database_url=None), self.clock)
        self.files = data_files()
        self.versions: dict[str, VersionModel] = {}
        self.exceptions: dict[str, ExceptionModel] = {}
        self.current: dict[str, str | None] = dict.fromkeys(PROJECTS)
        self.counters: dict[tuple[str, str], int] = {}  # ids are numbered per tenant
        self.releases = 0
        self.audit_count = self._store_audit_count()

    def teardown(self) -> None:
        self.platform.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- helpers ----------------------------------------------------------------------------
    @property
    def now(self) -> datetime:
        return self.clock.now()

    def _store_audit_count(self) -> int:
        with self.platform.store.read() as session:
            return session.scalar(select(func.count()).select_from(AuditRecord))

    def _version(self, pick: int, aim: str = "any", fit=None, project: str | None = None) -> str:
        """A known version (among those `fit` accepts when aiming, if any), or a missing one for pick -1."""
        ids = [v for v, m in self.versions.items() if project is None or m.project == project]
        fitting = [v for v in ids if fit(self.versions[v])] if fit is not None and aim == "fit" else []
        ids = fitting or ids
        return BOGUS_VERSION if pick < 0 or not ids else ids[pick % len(ids)]

    def _call(self, actor: str, action: str, expected: type[DataOpsError] | None, fn, *args, **kwargs) -> Any:
        """Run one service call; it must end as the model expects and leave exactly one audit record.

        A refused or failed call must change nothing but the audit log (SPEC §5); a denied one
        never reaches the service body, so that cheaper case is left to the invariants.
        """
        before = self._snapshot() if OUTCOME_OF[expected] == "failed" else None
        try:
            result, raised = fn(self.platform, actor, *args, **kwargs), None
        except DataOpsError as exc:
            result, raised = None, exc
        call = f"{fn.__name__}({actor!r}, {', '.join(map(repr, args))})"
        if expected is None:
            assert raised is None, f"{call} should succeed, raised {type(raised).__name__}: {raised}"
        else:
            assert raised is not None, f"{call} should raise {expected.__name__}, it succeeded"
            assert type(raised) is expected, f"{call} should raise {expected.__name__}, raised {type(raised).__name__}: {raised}"
        event(f"{action} {OUTCOME_OF[expected]}" + (f" ({expected.__name__})" if expected else ""))
        self.audit_count += 1
        if before is not None:
            assert self._snapshot() == before, f"{call} was {OUTCOME_OF[expected]} but changed the store"
        with self.platform.store.read() as session:
            count = session.scalar(select(func.count()).select_from(AuditRecord))
            last = session.scalars(select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(1)).one()
        assert count == self.audit_count, f"{call}: {count - self.audit_count + 1} audit records written, expected 1"
        assert (last.seq, last.actor, last.action, last.outcome) == (
            count,
            actor,
            action,
            OUTCOME_OF[expected],
        ), f"{call}: last audit record is {(last.seq, last.actor, last.action, last.outcome)}"
        return result

    def _snapshot(self) -> dict[str, list[tuple]]:
        """Every row of every table except the audit log (and its feed rows)."""
        return objects_snapshot(self.platform)

    def _active_exception(self, version_id: str) -> bool:
        return any(
            x.version_id == version_id and x.status == "approved" and x.effective_from <= self.now < x.expires_at
            for x in self.exceptions.values()
        )

    def _frozen(self, project: str) -> bool:
        return any(w.project == project and as_utc(w.start) <= self.now < as_utc(w.end) for w in POLICY.freeze_windows)

    def _expect_id(self, kind: str, prefix: str, project: str) -> str:
        """The id the store must allocate next: `<tenant>.<prefix><n>`, n counted per tenant."""
        tenant = TENANT_OF[project]
        self.counters[(kind, tenant)] = self.counters.get((kind, tenant), 0) + 1
        return f"{tenant_tag(tenant)}.{prefix}{self.counters[(kind, tenant)]:03d}"

    def _tenant_versions(self, project: str) -> int:
        return sum(1 for v in self.versions.values() if TENANT_OF[v.project] == TENANT_OF[project])

    # -- rules ------------------------------------------------------------------------------
    @initialize(shipped=st.sampled_from([2, 0, 1, 3]))
    def start_with_releases(self, shipped: int) -> None:
        """Most runs start from a project that already shipped a few releases (so rollback has targets)."""
        for n in range(shipped):
            self.ship(("good.jsonl", "good.csv", "good.parquet")[n], None)

    @rule(
        project=project_st,
        actor=st.sampled_from(["lena", "lena", "lena", "dan", "dan", "quinn", "priya"]),
        file=st.sampled_from(sorted(data_files())),
        parent_pick=st.one_of(st.none(), pick_st),
    )
    def register(self, project: str, actor: str, file: str, parent_pick: int | None) -> None:
        self._register(project, actor, file, parent_pick)

    def _register(self, project: str, actor: str, file: str, parent_pick: int | None) -> str | None:
        data = self.files[file]
        parent = None if parent_pick is None else self._version(parent_pick)
        expected = expected_denial(actor, "version.create", project)
        if expected is None:
            if parent is not None and (parent not in self.versions or self.versions[parent].project != project):
                expected = InvalidInput
            elif self._tenant_versions(project) >= QUOTA[TENANT_OF[project]]:
                expected = GateRefused
            elif data.expect == "duplicates":
                expected = InvalidInput
        version = self._call(actor, "version.create", expected, register_version, project, data.path, parent=parent)
        if expected is None:
            version_id = f"{tenant_tag(TENANT_OF[project])}.ds_v{self._tenant_versions(project) + 1:03d}"
            assert version.version_id == version_id
            assert (version.status, version.parent_version, version.row_count) == ("draft", parent, data.rows)
            assert (self.platform.settings.data_dir / version.data_location).is_file()
            self.versions[version_id] = VersionModel(version_id, project, actor, data.expect)
            return version_id
        return None

    @rule(
        file=st.sampled_from(["good.jsonl", "good.csv", "good.parquet"]),
        parent_pick=st.one_of(st.none(), pick_st),
    )
    def ship(self, file: str, parent_pick: int | None) -> None:
        """The happy path, a minute later: lena registers, quinn validates, priya releases (3 calls)."""
        self.clock.advance(minutes=1)
        version_id = self._register(LEGAL, "lena", file, parent_pick)
        if version_id is not None:
            self._validate(version_id, "quinn")
            self._release(version_id, "priya")

    @rule(pick=pick_st, aim=aim_st, actor=st.sampled_from(["quinn", "quinn", "quinn", "lena", "omar", "hugo"]))
    def validate(self, pick: int, aim: str, actor: str) -> None:
        self._validate(self._version(pick, aim, lambda v: v.status == "draft"), actor)

    def _validate(self, version_id: str, actor: str) -> None:
        model = self.versions.get(version_id)
        if model is None:
            expected = NotFound
        else:
            expected = expected_denial(actor, "version.validate", model.project)
            if expected is None and model.status != "draft":
                expected = GateRefused
        version = self._call(actor, "version.validate", expected, validate_version, version_id)
        if expected is None:
            assert version.status == model.quality, f"{version_id} ({model.quality} data) became {version.status}"
            assert bool(version.quality_failures) == (model.quality == "rejected")
            model.status = model.quality

    @rule(
        pick=pick_st,
        aim=aim_st,
        actor=st.sampled_from(["priya", "priya", "priya", "priya", "lena", "omar", "dan"]),
    )
    def release(self, pick: int, aim: str, actor: str) -> None:
        self._release(self._version(pick, aim, lambda v: v.status == "validated"), actor)

    def _release(self, version_id: str, actor: str) -> None:
        model = self.versions.get(version_id)
        if model is None:
            expected = NotFound
        else:
            expected = expected_denial(actor, "version.release", model.project)
            if expected is None:
                refused = (
                    model.status != "validated"
                    or (model.blocking and not self._active_exception(version_id))
                    or self._frozen(model.project)
                    or (CREATOR_CANNOT_RELEASE and model.created_by == actor)
                )
                expected = GateRefused if refused else None
                if model.blocking and model.status == "validated":
                    waived = self._active_exception(version_id)
                    event(f"release of a version with a regressed run, waived: {waived}")
        self._call(actor, "version.release", expected, release_version, version_id)
        if expected is None:
            self._assert_release_was_gated(version_id)
            self.releases += 1
            model.status, model.released_at, model.release_seq = "released", self.now, self.releases
            self.current[model.project] = version_id

    def _assert_release_was_gated(self, version_id: str) -> None:
        """At a successful release: no regressed/failed experiment on it without an active exception."""
        with self.platform.store.read() as session:
            blocking = session.scalars(
                select(Experiment.experiment_id).where(
                    Experiment.dataset_version == version_id,
                    Experiment.status.in_(BLOCKING_EXPERIMENT_STATUSES),
                )
            ).all()
            waiver = active_exception(session, version_id, EXPERIMENT_RULE, self.now)
        assert not blocking or waiver is not None, f"{version_id} released with un-waived experiments {blocking}"

    @rule(
        pick=pick_st,
        hours=st.sampled_from([24, 1, 24 * 7]),
        wait_minutes=st.one_of(st.none(), st.sampled_from([0, 30, 2 * 24 * 60, 8 * 24 * 60])),
    )
    def waive(self, pick: int, hours: int, wait_minutes: int | None) -> None:
        """A regressed run on a validated version, then the waiver: lena requests it, priya approves it;
        then, unless `wait_minutes` is None, priya tries to release it that much later (maybe expired)."""
        candidates = [v for v, m in self.versions.items() if m.status == "validated" and m.project == LEGAL]
        if candidates and pick >= 0:
            version_id = candidates[pick % len(candidates)]
        else:  # a fresh validated version
            version_id = self._register(LEGAL, "lena", "good.jsonl", None)
            if version_id is None:
                return
            self._validate(version_id, "quinn")
        self._record(LEGAL, version_id, "regressed", "lena")
        exception_id = self._request(version_id, "lena", hours, EXPERIMENT_RULE)
        self._approve(exception_id, "priya")
        if wait_minutes is not None:
            self.clock.advance(minutes=wait_minutes)
            self._release(version_id, "priya")

    @rule(pick=pick_st, aim=aim_st, actor=st.sampled_from(["priya", "priya", "priya", "omar", "lena"]))
    def deprecate(self, pick: int, aim: str, actor: str) -> None:
        version_id = self._version(pick, aim, lambda v: v.status == "released")
        model = self.versions.get(version_id)
        if model is None:
            expected = NotFound
        else:
            expected = expected_denial(actor, "version.deprecate", model.project)
            if expected is None and (model.status != "released" or self.current[model.project] == version_id):
                expected = GateRefused
        self._call(actor, "version.deprecate", expected, deprecate_version, version_id)
        if expected is None:
            model.status = "deprecated"

    @rule(
        project=project_st,
        pick=pick_st,
        aim=aim_st,
        actor=st.sampled_from(["priya", "omar", "omar", "lena", "quinn"]),
    )
    def rollback(self, project: str, pick: int, aim: str, actor: str) -> None:
        target_id = self._version(pick, aim, lambda v: v.status == "released", project)
        target = self.versions.get(target_id)
        current_id = self.current[project]
        current = self.versions[current_id] if current_id else None
        expected = expected_denial(actor, "rollback.execute", project)
        if expected is None:
            if target is None:
                expected = InvalidInput
            elif (
                current is None
                or current_id == target_id
                or target.status != "released"
                or target.release_seq > current.release_seq  # roll back only to an earlier release
            ):
                expected = GateRefused
        result = self._call(
            actor,
            "rollback.execute",
            expected,
            execute_rollback,
            project,
            target_id,
            "state machine rollback",
        )
        if expected is None:
            event, plan = result
            assert event.rollback_id == self._expect_id("rollback", "rb_", project)
            assert (event.from_version, event.to_version, plan.from_version) == (
                current_id,
                target_id,
                current_id,
            )
            current.status = "rolled_back"
            self.current[project] = target_id

    @rule(
        project=project_st,
        pick=pick_st,
        aim=aim_st,
        status=st.sampled_from(["completed", "regressed", "failed"]),
        actor=st.sampled_from(["lena", "lena", "lena", "quinn", "omar", "dan"]),
    )
    def experiment(self, project: str, pick: int, aim: str, status: str, actor: str) -> None:
        # Aiming: a version of this project; otherwise any (a version of another project is refused).
        version_id = self._version(pick, aim, lambda v: v.project == project and v.status in ("draft", "validated"))
        self._record(project, version_id, status, actor)

    def _record(self, project: str, version_id: str, status: str, actor: str) -> None:
        model = self.versions.get(version_id)
        expected = expected_denial(actor, "experiment.log", project)
        if expected is None and (model is None or model.project != project):
            expected = InvalidInput
        experiment = self._call(
            actor,
            "experiment.log",
            expected,
            record_experiment,
            project,
            version_id,
            status,
            metrics={"f1": 0.8},
        )
        if expected is None:
            assert experiment.experiment_id == self._expect_id("experiment", "exp_", project)
            assert experiment.requires_review == (status != "completed")
            model.blocking = model.blocking or status in BLOCKING_EXPERIMENT_STATUSES

    @rule(
        pick=pick_st,
        aim=aim_st,
        actor=st.sampled_from(["lena", "lena", "lena", "priya", "quinn"]),
        hours=st.sampled_from([24, 1, 24 * 14, 24 * 14 + 1, -1]),
        rule_name=st.sampled_from([EXPERIMENT_RULE, EXPERIMENT_RULE, EXPERIMENT_RULE, "quality_gate"]),
    )
    def request_exception(self, pick: int, aim: str, actor: str, hours: int, rule_name: str) -> None:
        self._request(
            self._version(pick, aim, lambda v: v.blocking and v.status == "validated"),
            actor,
            hours,
            rule_name,
        )

    def _request(self, version_id: str, actor: str, hours: int, rule_name: str) -> str | None:
        model = self.versions.get(version_id)
        expires_at = self.now + timedelta(hours=hours)
        if model is None:
            expected = NotFound
        else:
            expected = expected_denial(actor, "exception.request", model.project)
            if expected is None and (
                rule_name not in POLICY.exceptions.waivable_rules
                or expires_at <= self.now
                or expires_at > self.now + timedelta(days=POLICY.exceptions.max_days)
            ):
                expected = InvalidInput
        exc = self._call(
            actor,
            "exception.request",
            expected,
            request_exception,
            version_id,
            rule_name,
            "waive for the test",
            expires_at,
        )
        if expected is None:
            exception_id = self._expect_id("exception", "exc_", model.project)
            assert (exc.exception_id, exc.status) == (exception_id, "requested")
            self.exceptions[exception_id] = ExceptionModel(exception_id, model.project, version_id, actor, expires_at)
            return exception_id
        return None

    @rule(pick=pick_st, aim=aim_st, actor=st.sampled_from(["priya", "priya", "alice", "alice", "lena", "omar"]))
    def approve_exception(self, pick: int, aim: str, actor: str) -> None:
        ids = list(self.exceptions)
        if aim == "fit":
            ids = [x for x, m in self.exceptions.items() if m.status == "requested" and self.now < m.expires_at] or ids
        self._approve(BOGUS_EXCEPTION if pick < 0 or not ids else ids[pick % len(ids)], actor)

    def _approve(self, exception_id: str | None, actor: str) -> None:
        if exception_id is None:
            return
        model = self.exceptions.get(exception_id)
        if model is None:
            expected = NotFound
        else:
            expected = expected_denial(actor, "exception.approve", model.project)
            if expected is None and (
                model.status != "requested"
                or self.now >= model.expires_at
                or (REQUESTER_CANNOT_APPROVE and model.requested_by == actor)
            ):
                expected = GateRefused
        self._call(actor, "exception.approve", expected, approve_exception, exception_id)
        if expected is None:
            model.status, model.effective_from = "approved", self.now

    @rule(minutes=st.sampled_from([1, 30, 24 * 60, 7 * 24 * 60, 15 * 24 * 60]))
    def let_time_pass(self, minutes: int) -> None:
        self.clock.advance(minutes=minutes)

    # -- invariants -------------------------------------------------------------------------
    @invariant()
    def store_matches_the_model(self) -> None:
        with self.platform.store.read() as session:
            count = session.scalar(select(func.count()).select_from(AuditRecord))
            assert count == self.audit_count, f"audit holds {count} records, {self.audit_count} expected"
            result = audit.verify(session, self.platform.anchor)
            assert result.ok, f"audit chain broken: {result.reason}"
            assert result.head.seq == count
            statuses = dict(session.execute(select(DatasetVersion.version_id, DatasetVersion.status)).all())
            assert statuses == {v: m.status for v, m in self.versions.items()}
            exceptions = dict(session.execute(select(ExceptionApproval.exception_id, ExceptionApproval.status)).all())
            assert exceptions == {x: m.status for x, m in self.exceptions.items()}
            for project in session.scalars(select(Project)):
                assert project.current_release == self.current[project.id], project.id
                if project.current_release is not None:
                    current = session.get(DatasetVersion, project.current_release)
                    assert current is not None and current.project_id == project.id
                    assert current.status == "released", f"{project.id} current release {current.version_id} is {current.status}"
                    assert current.released_by is not None and current.released_at is not None


TestLifecycleMachine = LifecycleMachine.TestCase
TestLifecycleMachine.settings = settings(
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# -- rollback order under a frozen clock: the cases the machine found, pinned down ----------------
def _three_validated_versions(platform: Platform) -> list[str]:
    ids = []
    for name in ("good.jsonl", "good.csv", "good.parquet"):
        version = register_version(platform, "lena", LEGAL, data_files()[name].path)
        validate_version(platform, "quinn", version.version_id)
        ids.append(version.version_id)
    return ids


def test_rollback_to_a_release_made_earlier_at_the_same_instant_is_allowed(sqlite_platform: Platform) -> None:
    """Released ds_v002 then ds_v001 at one instant: ds_v002 is the earlier release, a valid target."""
    v1, v2, _ = _three_validated_versions(sqlite_platform)
    release_version(sqlite_platform, "priya", v2)
    release_version(sqlite_platform, "priya", v1)  # same clock reading: only the order tells them apart
    try:
        event, _plan = execute_rollback(sqlite_platform, "omar", LEGAL, v2, "back to the earlier release")
    except GateRefused as refused:
        raise AssertionError(f"rollback from {v1} to {v2} (released before {v1}) was refused: {refused.conditions}") from None
    assert (event.from_version, event.to_version) == (v1, v2)


def test_rollback_to_a_release_made_later_at_the_same_instant_is_refused(sqlite_platform: Platform) -> None:
    """Released ds_v002, ds_v001, ds_v003 at one instant, back to ds_v002: ds_v001 came later, no target."""
    v1, v2, v3 = _three_validated_versions(sqlite_platform)
    for version_id in (v2, v1, v3):
        release_version(sqlite_platform, "priya", version_id)
    execute_rollback(sqlite_platform, "omar", LEGAL, v2, "back to the first release")
    try:
        execute_rollback(sqlite_platform, "omar", LEGAL, v1, "forward to a later release")
    except GateRefused as refused:
        assert any("earlier release" in c for c in refused.conditions), refused.conditions
    else:
        raise AssertionError(f"rollback from {v2} to {v1}, released after {v2}, was allowed (a roll forward)")
