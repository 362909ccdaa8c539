"""The release gate (SPEC §5): every condition evaluated, every failure named; and the same gate
judged afterwards (rule 8 and the regression findings), so the two can never disagree.

What blocks a release: a `failed` experiment, or a `regressed` one that is a **data regression**
(the baseline's training configuration doing worse on this data). A **model-candidate regression**
(other parameters than the baseline's) is a bad model, not bad data: it raises an alert and blocks
nothing. An approved, unexpired exception on exactly that version and rule waives both.

Afterwards the gate is judged as it stood at release time: an experiment recorded before the
release that blocked it, with no exception valid at that moment, means the gate was bypassed (an
integrity violation). A data regression on the current release recorded later is a finding, an
incident with an alert and a rollback candidate, until a remedy clears it: a rollback, a released
successor, or an exception on the version (see docs/findings.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from dataops_platform.clock import as_utc
from dataops_platform.governance.policy import governance_policy, separation_of_duties
from dataops_platform.store.models import DatasetVersion, ExceptionApproval, Experiment, Project
from dataops_platform.tracking.regression import MODEL_CANDIDATE

BLOCKING_EXPERIMENT_STATUSES = ("regressed", "failed")  # the statuses that can block (and raise an alert)
EXPERIMENT_RULE = "experiment_status"


def blocks_release(status: str, regression_kind: str | None) -> bool:
    """Whether an experiment with this verdict keeps its version from being released.

    A regression without a kind (recorded by hand, or by an older store) counts as a data
    regression: it blocks, as every regression did before the kinds existed."""
    return status == "failed" or (status == "regressed" and regression_kind != MODEL_CANDIDATE)


def is_data_regression(status: str, regression_kind: str | None) -> bool:
    return status == "regressed" and regression_kind != MODEL_CANDIDATE


def blocks_release_clause() -> ColumnElement[bool]:
    """`blocks_release` as a SQL condition on experiments."""
    return or_(
        Experiment.status == "failed",
        and_(
            Experiment.status == "regressed",
            or_(Experiment.regression_kind.is_(None), Experiment.regression_kind != MODEL_CANDIDATE),
        ),
    )


def _instant(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    return as_utc(value if isinstance(value, datetime) else datetime.fromisoformat(value))


def waiver_valid_at(
    rule: str,
    status: str,
    approved_at: datetime | str | None,
    effective_from: datetime | str | None,
    expires_at: datetime | str,
    at: datetime | str,
) -> bool:
    """An exception that waived the experiment rule at the instant `at` (approved by then, not yet expired)."""
    start = _instant(effective_from) or _instant(approved_at)
    moment = _instant(at)
    return rule == EXPERIMENT_RULE and status == "approved" and start is not None and start <= moment < _instant(expires_at)


@dataclass(frozen=True)
class ExperimentFacts:
    """What the after-the-fact gate needs of one experiment, from a store row or an artifact row."""

    experiment_id: str
    status: str
    regression_kind: str | None
    recorded_at: datetime

    @classmethod
    def of(cls, e: Any) -> ExperimentFacts:
        get = e.get if isinstance(e, dict) else lambda k: getattr(e, k)
        return cls(get("experiment_id"), get("status"), get("regression_kind"), _instant(get("recorded_at")))


@dataclass(frozen=True)
class ReleasedVerdict:
    """One released version judged by the gate as it stood at release time, and as it stands now."""

    bypassed: list[str]  # blocked the release, recorded before it, no exception valid then: integrity
    standing: list[str]  # data regressions on it not waived now (a finding when it is the current release)


def judge_released(
    released_at: datetime | str,
    experiments: Iterable[ExperimentFacts],
    waived_at_release: bool,
    waived_now: bool,
) -> ReleasedVerdict:
    """The gate's verdict on a released version's experiments.

    "Before the release" is strictly earlier than `released_at`: the gate runs inside the release
    transaction, so an experiment committed before it would have been seen and refused; a tie on
    the clock can only be an experiment recorded after the release."""
    at = _instant(released_at)
    bypassed, standing = [], []
    for e in experiments:
        before = e.recorded_at < at
        if before and blocks_release(e.status, e.regression_kind) and not waived_at_release:
            bypassed.append(e.experiment_id)
        elif is_data_regression(e.status, e.regression_kind) and not waived_now:
            standing.append(e.experiment_id)
    return ReleasedVerdict(bypassed, standing)


def rollback_candidate(releases: Iterable[tuple[str, str, int | None]], current_seq: int | None) -> str | None:
    """The release to roll back to from the current one: the latest earlier release still `released`.

    `releases` are (version_id, status, release_seq) of one project."""
    if current_seq is None:
        return None
    earlier = [(seq, vid) for vid, status, seq in releases if status == "released" and seq is not None and seq < current_seq]
    return max(earlier)[1] if earlier else None


def regression_finding(project_id: str, version_id: str, experiments: list[str], candidate: str | None) -> str:
    """The finding a data regression on the current release is, with its three remedies."""
    first = experiments[0]
    what = f"{', '.join(experiments)} {'is a data regression' if len(experiments) == 1 else 'are data regressions'}"
    back = (
        f"roll back to {candidate} (`dataops rollback {project_id} --to {candidate} --reason ... --trigger experiment:{first}`)"
        if candidate
        else f"no earlier release of {project_id} to roll back to"
    )
    return (
        f"{version_id} is the current release of {project_id} and {what} (the baseline's training configuration doing "
        f"worse on this data) with no approved, unexpired exception: {back}; or release a successor; "
        f"or approve an exception (`dataops exception request {version_id} --rule {EXPERIMENT_RULE} ...`)"
    )


# -- the gate over the store ------------------------------------------------------------------------


def active_exception(session: Session, version_id: str, rule: str, now: datetime) -> ExceptionApproval | None:
    """An approved exception covering exactly this version and rule, effective now; expiry needs no job."""
    candidates = session.scalars(
        select(ExceptionApproval).where(
            ExceptionApproval.version_id == version_id,
            ExceptionApproval.rule == rule,
            ExceptionApproval.status == "approved",
        )
    )
    for exc in candidates:
        starts = as_utc(exc.effective_from) if exc.effective_from else None
        if (starts is None or starts <= now) and now < as_utc(exc.expires_at):
            return exc
    return None


def release_conditions(session: Session, version: DatasetVersion, releaser: str, now: datetime) -> list[str]:
    """The failed release conditions for `version` released by `releaser` at `now`; empty means releasable."""
    blocking = session.scalars(
        select(Experiment)
        .where(Experiment.dataset_version == version.version_id, blocks_release_clause())
        .order_by(Experiment.experiment_id)
    ).all()
    excepted = bool(blocking) and active_exception(session, version.version_id, EXPERIMENT_RULE, now) is not None
    failed = gate_blockers(
        version.version_id,
        version.project_id,
        version.status,
        version.quality_failures,
        [(e.experiment_id, e.status) for e in blocking],
        excepted,
        governance_policy(session).freeze_windows,
        now,
    )
    if separation_of_duties(session).creator_cannot_release and version.created_by == releaser:
        failed.append(f"separation_of_duties: {releaser!r} created {version.version_id} and may not release it")
    return failed


def gate_blockers(
    version_id: str,
    project_id: str,
    status: str,
    quality_failures: list[str],
    blocking: list[tuple[str, str]],
    excepted: bool,
    freeze_windows: list[Any],
    now: datetime,
) -> list[str]:
    """Gate conditions 1-3 (quality gate, experiments, freeze), which hold whoever releases: what
    the release command checks and what the dataset_versions artifact shows on each version.
    `blocking` lists only the experiments that block (`blocks_release`)."""
    failed: list[str] = []
    if status != "validated":
        detail = f"; failed thresholds: {'; '.join(quality_failures)}" if quality_failures else ""
        failed.append(f"quality_gate: version is {status}, it must be validated (passed the quality gate){detail}")
    if blocking and not excepted:
        names = ", ".join(f"{eid} ({estatus})" for eid, estatus in blocking)
        failed.append(f"{EXPERIMENT_RULE}: {names} on {version_id} with no approved, unexpired exception")
    for window in freeze_windows:
        if window.project == project_id and as_utc(window.start) <= now < as_utc(window.end):
            failed.append(f"freeze_window: {project_id} is frozen until {window.end.isoformat()} ({window.reason})")
    return failed


@dataclass(frozen=True)
class StandingRegression:
    """A data regression finding on a project's current release, as the store holds it now."""

    project_id: str
    version_id: str
    experiments: list[str]
    rollback_candidate: str | None

    @property
    def message(self) -> str:
        return regression_finding(self.project_id, self.version_id, self.experiments, self.rollback_candidate)


def project_rollback_candidate(session: Session, project_id: str, current: DatasetVersion) -> str | None:
    releases = session.execute(
        select(DatasetVersion.version_id, DatasetVersion.status, DatasetVersion.release_seq).where(
            DatasetVersion.project_id == project_id, DatasetVersion.released_at.is_not(None)
        )
    ).tuples()
    return rollback_candidate(releases, current.release_seq)


def standing_regression(session: Session, project_id: str, now: datetime) -> StandingRegression | None:
    """The data regression finding on `project_id`'s current release at `now`, None when there is none."""
    project = session.get(Project, project_id)
    current = session.get(DatasetVersion, project.current_release) if project and project.current_release else None
    if current is None or current.released_at is None:
        return None
    experiments = [
        ExperimentFacts.of(e)
        for e in session.scalars(
            select(Experiment)
            .where(Experiment.dataset_version == current.version_id, Experiment.status == "regressed")
            .order_by(Experiment.experiment_id)
        )
    ]
    if not experiments:
        return None
    exceptions = session.scalars(select(ExceptionApproval).where(ExceptionApproval.version_id == current.version_id)).all()
    at_release = any(
        waiver_valid_at(x.rule, x.status, x.approved_at, x.effective_from, x.expires_at, current.released_at) for x in exceptions
    )
    now_waived = active_exception(session, current.version_id, EXPERIMENT_RULE, now) is not None
    verdict = judge_released(current.released_at, experiments, at_release, now_waived)
    if not verdict.standing:
        return None
    return StandingRegression(
        project_id, current.version_id, verdict.standing, project_rollback_candidate(session, project_id, current)
    )
