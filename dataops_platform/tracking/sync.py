"""`dataops experiment sync`: pull finished MLflow runs into the store, judged by the policy.

Which runs count (SPEC §9). A run is recorded into project P only when

- it is in P's own MLflow experiment (`dataops/<P>`): the run's experiment id must be the id of
  that experiment, not merely a `dataops/` experiment whose run carries the tag `dataops.project=P`;
- its tags name a dataset version of P (`dataops.dataset_version`);
- its MLflow user -- the run's `mlflow.user` tag, else `run.info.user_id` (MLflow's placeholder
  `unknown` counts as nobody) -- maps to a platform user: the user with that id, else the spec's
  `mlflow_users` document (`{mlflow user name: platform user id}`). System users never map
  (automation does not train), and the user must hold `experiment.log` in P.

It is then recorded *as that user* through `record_experiment` (whose `Platform.act` checks the
permission again and audits). Every other run is ignored: the refusal is audited (`denied` when
no platform user may log it -- unmapped, no role, another tenant --, `failed` when a permitted
user's run has bad tags or sits in the wrong experiment), with `object_ref` `mlflow_run:<id>`,
by the mapped user or, when nobody maps, by the system actor that examined the run; and the run
is listed in the sync report. How far the MLflow user can be trusted is how far the tracking
server authenticates it: a local file or SQLite store takes a run's `mlflow.user` at its word.
Alerts for regressed and failed runs are opened by the spec's system actor.

Ignored runs are re-examined. The cursor is the newest run end time the store knows (recorded
experiments and remembered ignored runs); each sync reads the runs that ended at or after it,
plus every run still remembered as ignored (the PlatformConfig document `mlflow_sync_ignored`:
`{run id: {fingerprint, end time, the refusal}}`), so a run ignored for a typo in its tags, a
missing mapping or a missing role is recorded by the first sync after the cause is fixed. The
fingerprint covers what the decision rests on (experiment, tags, MLflow user, status, params,
metrics) and the decision itself: a refusal is audited once per distinct fingerprint, not on
every sync, and a re-examined run that is still refused for the same reason writes nothing.
Runs that leave MLflow (deleted) are forgotten. Re-syncing never duplicates an experiment, an
alert or an edge (idempotent by MLflow run id, checked under the write lock).

What a caller sees (`SyncReport.for_caller`): only added experiments, alerts and ignored runs of
projects the caller may `read`; an ignored run is described only when every project it names
(its `dataops.project` tag and its experiment's project, where those are real projects) is
readable, and otherwise only counted, so no id or name of another tenant appears. The system
actor (the sensor, `dataops experiment sync` without `--as`) sees everything.

Non-finite metrics (SPEC §5): a NaN or infinite primary or guard metric makes the run `failed`
(an error naming the metric and the value, the run_failure alert, the gate blocks the version);
such a run is never a baseline, and `baseline_for` skips any experiment of an older store whose
primary or guard metric is not a finite number. Metric values are stored as valid JSON: finite
numbers as numbers, non-finite ones as the text "NaN" / "Infinity" / "-Infinity" under their
own name (`governance.experiments.storable_values`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dataops_platform.clock import iso
from dataops_platform.errors import AlreadyRecorded, DataOpsError, InvalidInput, NotFound, PermissionDenied
from dataops_platform.governance import audit
from dataops_platform.governance.alerts import open_alert
from dataops_platform.governance.authz import decide, projects_granting
from dataops_platform.governance.experiments import record_experiment
from dataops_platform.governance.gate import BLOCKING_EXPERIMENT_STATUSES, standing_regression
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.policy import config_document, governance_policy
from dataops_platform.store.models import DatasetVersion, Experiment, PlatformConfig, Project, User
from dataops_platform.tracking import client as tc
from dataops_platform.tracking.regression import MODEL_CANDIDATE, config_differences, is_finite_number, judge, regression_kind

log = logging.getLogger(__name__)
ACTION = "experiment.log"
MLFLOW_USERS_KEY = "mlflow_users"  # written by spec apply: {mlflow user name: platform user id}
IGNORED_KEY = "mlflow_sync_ignored"  # {run id: {fingerprint, ended_ms, the refusal}}: runs to re-examine
TEXT_LIMIT = 200  # characters of an MLflow-supplied value kept in an audit record or the report


@dataclass(frozen=True)
class IgnoredRun:
    """A run the sync did not record, and why."""

    run_id: str
    mlflow_experiment_id: str
    project: str | None  # the run's dataops.project tag, as written
    dataset_version: str | None  # the run's dataops.dataset_version tag, as written
    mlflow_user: str | None
    outcome: str  # denied | failed, as audited
    reason: str
    named: tuple[str, ...]  # the real projects the run names (tag, experiment): who may read about it
    new: bool = True  # refused (and audited) by this sync; False: re-examined, refused as before

    @property
    def message(self) -> str:
        return f"run {self.run_id} ignored: {self.reason}"

    def visible_to(self, readable: set[str] | None) -> bool:
        """Described to a caller who reads `readable` (None: the system actor, who reads all)."""
        return readable is None or (bool(self.named) and all(p in readable for p in self.named))

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "mlflow_experiment_id": self.mlflow_experiment_id,
            "project": self.project,
            "dataset_version": self.dataset_version,
            "mlflow_user": self.mlflow_user,
            "outcome": self.outcome,
            "reason": self.reason,
            "new": self.new,
        }


@dataclass
class SyncReport:
    """Everything one sync did. Render it for a caller with `for_caller`: it holds every tenant's runs."""

    caller: str | None = None  # who asked (None: the system actor)
    added: list[str] = field(default_factory=list)  # experiment ids
    already_synced: int = 0
    ignored: list[IgnoredRun] = field(default_factory=list)  # one per ignored run (new or still ignored)
    alerts: list[str] = field(default_factory=list)
    project_of: dict[str, str] = field(default_factory=dict, repr=False)  # experiment / alert id -> project
    already_synced_in: Counter[str] = field(default_factory=Counter, repr=False)  # project -> runs

    def for_caller(self, platform: Platform, caller: str | None) -> dict[str, Any]:
        """The report as `caller` may see it (None: the system actor, everything): only projects the
        caller may `read`; ignored runs naming any other project are counted, never described."""
        readable: set[str] | None = None
        if caller is not None:
            with platform.store.read() as session:
                readable = set(projects_granting(session, caller, "read"))

        def shown(object_id: str) -> bool:
            return readable is None or self.project_of.get(object_id) in readable

        described = [r for r in self.ignored if r.visible_to(readable)]
        return {
            "caller": caller,
            "added": [e for e in self.added if shown(e)],
            "already_synced": sum(n for p, n in self.already_synced_in.items() if readable is None or p in readable),
            "alerts": [a for a in self.alerts if shown(a)],
            "ignored": [r.as_dict() for r in described],
            "ignored_not_shown": len(self.ignored) - len(described),
        }


def gate_alert_key(category: str, experiment_id: str) -> str:
    """The source key of the alert a regressed or failed experiment raises (sync and sensor share it)."""
    return f"{category}:experiment:{experiment_id}"


def alert_for(status: str, regression_kind: str | None) -> tuple[str, str]:
    """(severity, category) of the alert a regressed or failed experiment raises.

    A data regression is high (it is about a dataset version: an incident with a review); a
    model-candidate regression and a crashed run are medium: a bad configuration, not bad data."""
    if status == "failed":
        return "medium", "run_failure"
    return ("medium" if regression_kind == MODEL_CANDIDATE else "high"), "regression"


def gate_alert_title(session: Session, experiment: Experiment, now: datetime) -> str:
    """What the alert of a regressed or failed experiment says: the verdict, its kind, the reasons and,
    for a data regression standing on the current release, the rollback candidate and the remedies."""
    head = f"{experiment.experiment_id} {experiment.status} on {experiment.dataset_version}"
    remedy = ""
    baseline = session.get(Experiment, experiment.baseline_ref) if experiment.baseline_ref else None
    if experiment.status == "regressed" and experiment.regression_kind == MODEL_CANDIDATE:
        rule = governance_policy(session).regression.get(experiment.project_id)
        changed = "; ".join(config_differences(experiment.params, baseline.params if baseline else None, rule))
        versus = f"vs baseline {experiment.baseline_ref}"
        head += f" (model-candidate regression: {changed or 'other params'} {versus}; version not blocked)"
    elif experiment.status == "regressed":
        head += " (data regression: the baseline's configuration does worse on this data)"
        standing = standing_regression(session, experiment.project_id, now)
        if standing is not None and experiment.experiment_id in standing.experiments:
            back = f"roll back to {standing.rollback_candidate}" if standing.rollback_candidate else "no earlier release"
            remedy = f"; {experiment.dataset_version} is the current release: {back}, release a successor or approve an exception"
    reasons = experiment.error or ""
    room = 400 - len(head) - len(remedy) - 2
    return f"{head}: {reasons[: max(room, 0)]}{remedy}"[:400]


def system_actor(session: Session) -> str:
    document = config_document(session, "system_actor")
    return document["id"] if document else "dataops-system"


def baseline_for(
    session: Session, project_id: str, primary: str, higher_is_better: bool, guards: tuple[str, ...] = ()
) -> Experiment | None:
    """The best completed run on the current release; when the current release has none yet (a run
    evaluating a fresh release), the best on the most recent earlier release: the last known good one.

    Only runs whose primary metric (and each guard metric they logged) is a finite number qualify:
    a NaN or infinite run is never a baseline, even when an older store recorded it as completed."""
    project = session.get(Project, project_id)
    released = session.scalars(
        select(DatasetVersion)
        .where(DatasetVersion.project_id == project_id, DatasetVersion.released_at.is_not(None))
        .order_by(DatasetVersion.released_at.desc(), DatasetVersion.version_id.desc())
    ).all()
    ordered = sorted(released, key=lambda v: v.version_id != project.current_release)  # current release first
    for version in ordered:
        runs = [
            e
            for e in session.scalars(
                select(Experiment).where(Experiment.dataset_version == version.version_id, Experiment.status == "completed")
            )
            if _usable_baseline(e.metric_summary or {}, primary, guards)
        ]
        if runs:
            return max(runs, key=lambda e: e.metric_summary[primary] if higher_is_better else -e.metric_summary[primary])
    return None


def _usable_baseline(metrics: dict[str, Any], primary: str, guards: tuple[str, ...]) -> bool:
    return is_finite_number(metrics.get(primary)) and all(is_finite_number(metrics[g]) for g in guards if g in metrics)


def platform_user_for(session: Session, mlflow_user: str | None) -> str | None:
    """The platform user an MLflow user name stands for: the user with that id, else the one the
    spec's `mlflow_users` document names; never a system user. None when nobody."""
    if not mlflow_user:
        return None
    candidates = [mlflow_user]
    mapping = config_document(session, MLFLOW_USERS_KEY) or {}
    if isinstance(mapping, dict) and isinstance(mapping.get(mlflow_user), str):
        candidates.append(mapping[mlflow_user])
    for candidate in candidates:
        user = session.get(User, candidate)
        if user is not None and not user.is_system:
            return user.id
    return None


def sync_runs(platform: Platform, tracking: tc.Tracking, caller: str | None = None) -> SyncReport:
    """Record every finished run that counts and is not yet in the store; safe to run any number of times.

    `caller` is who asked for the sync (None: the system actor -- the sensor, the CLI without
    `--as`); a caller must hold `experiment.log` in some project, and that decision is audited
    (PermissionDenied otherwise). The caller never changes who a run is recorded as.

    An unreachable tracking server stops the sync with an error naming it; what was recorded
    stays, and the next sync resumes after it."""
    if caller is not None:
        _require_somewhere(platform, caller)
    report = SyncReport(caller=caller)
    try:
        _sync_into(report, platform, tracking)
    except tc.tracking_errors() as exc:
        raise DataOpsError(
            f"MLflow at {tracking.shown_uri} failed during sync ({type(exc).__name__}: {str(exc)[:300]}); "
            f"{len(report.added)} run(s) recorded before it stopped. Check DATAOPS_MLFLOW_TRACKING_URI "
            "(on a local stack: `dataops stack status`) and sync again: it resumes without duplicates.",
            field="mlflow_tracking_uri",
            value=tracking.shown_uri,
            recorded=report.added,
        ) from exc
    return report


def sync_for_caller(platform: Platform, tracking: tc.Tracking, caller: str | None) -> dict[str, Any]:
    """One sync on behalf of `caller`, answered with what `caller` may see (REST, CLI `--as`)."""
    return sync_runs(platform, tracking, caller=caller).for_caller(platform, caller)


def remembered_ignored_runs(platform: Platform) -> list[str]:
    """Ids of the runs a sync ignored and will re-examine (for the sensor: a reason to sync)."""
    from dataops_platform.store.engine import has_schema

    if not has_schema(platform.settings.store_url):
        return []
    with platform.store.read() as session:
        return sorted(_ignored_document(session))


# -- the sync ---------------------------------------------------------------------------------


def _require_somewhere(platform: Platform, caller: str) -> None:
    """The caller holds experiment.log in some project; the decision is audited either way."""
    with platform.store.read() as session:
        granted = projects_granting(session, caller, ACTION)
    reason = f"granted by a project role in {', '.join(granted)}" if granted else f"no project role grants {ACTION}"
    entry = audit.AuditEntry(
        at=iso(platform.clock.now()),
        actor=caller,
        action=ACTION,
        outcome="allowed" if granted else "denied",
        details={"reason": reason, "operation": "experiment sync"},
    )
    platform.record([entry])
    if not granted:
        raise PermissionDenied(caller, None, ACTION, None, reason)


def _ended_ms(run: Any) -> int:
    return int(run.info.end_time or run.info.start_time or 0)


def _cursor_ms(session: Session, ignored: dict[str, Any]) -> int | None:
    newest = session.scalar(select(func.max(Experiment.run_ended_at)))
    ends = [int(newest.replace(tzinfo=newest.tzinfo or UTC).timestamp() * 1000)] if newest is not None else []
    ends += [int(entry["ended_ms"]) for entry in ignored.values() if isinstance(entry.get("ended_ms"), int)]
    return max(ends) if ends else None


def _ignored_document(session: Session) -> dict[str, Any]:
    document = config_document(session, IGNORED_KEY)
    return dict(document) if isinstance(document, dict) else {}


def _put_ignored(session: Session, document: dict[str, Any]) -> None:
    row = session.get(PlatformConfig, IGNORED_KEY)
    if row is None:
        session.add(PlatformConfig(key=IGNORED_KEY, value=document))
    else:
        row.value = document  # a new object: SQLAlchemy's JSON type does not track in-place changes


def _forget(platform: Platform, run_ids: set[str]) -> None:
    with platform.write() as session:
        document = _ignored_document(session)
        if run_ids & set(document):
            _put_ignored(session, {k: v for k, v in document.items() if k not in run_ids})


def _primary_metrics(session: Session) -> dict[str, str]:
    """project -> the primary metric its regression rule names: the column of the MLflow runs view."""
    try:
        return {project: rule.primary_metric for project, rule in governance_policy(session).regression.items()}
    except InvalidInput:  # no spec applied yet: no rule, so no metric to show
        return {}


def _sync_into(report: SyncReport, platform: Platform, tracking: tc.Tracking) -> None:
    with platform.store.read() as session:
        actor = system_actor(session)
        remembered = _ignored_document(session)
        cursor = _cursor_ms(session, remembered)
        primary = _primary_metrics(session)
    fresh = tracking.finished_runs(cursor)
    fresh_ids = {r.info.run_id for r in fresh}
    again = tracking.finished_runs_by_id([r for r in remembered if r not in fresh_ids])
    gone = set(remembered) - fresh_ids - {r.info.run_id for r in again}
    if gone:  # deleted in MLflow, or no longer in a dataops experiment: nothing left to re-examine
        _forget(platform, gone)
    experiments = tracking.dataops_experiments()
    own_experiment: dict[str, str | None] = {}

    def own(project_id: str) -> str | None:
        if project_id not in own_experiment:
            own_experiment[project_id] = tracking.project_experiment_id(project_id, primary.get(project_id))
        return own_experiment[project_id]

    for run in sorted([*again, *fresh], key=lambda r: (_ended_ms(r), r.info.run_id)):
        _sync_one(report, platform, tracking, run, actor, experiments, own, remembered.get(run.info.run_id))


@dataclass(frozen=True)
class _Examined:
    """What the sync found out about one run before deciding."""

    run_id: str
    mlflow_experiment_id: str
    project: str | None
    version: str | None
    mlflow_user: str | None
    user: str | None  # the platform user it maps to
    named: tuple[str, ...]
    target: str | None  # the project a refusal is audited in
    refusal: tuple[str, str] | None  # (outcome, reason), None when the run counts
    fingerprint: str


def _text(value: Any) -> str | None:
    """An MLflow-supplied value as text the store accepts (valid UTF-8, no NUL), bounded."""
    if value is None:
        return None
    text = str(value).encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    return text[:TEXT_LIMIT]


def _mlflow_user(run: Any) -> str | None:
    tagged = run.data.tags.get(tc.TAG_MLFLOW_USER)
    if tagged:
        return tagged
    user_id = run.info.user_id
    return None if not user_id or user_id == tc.MLFLOW_UNKNOWN_USER else user_id


def _project_of_experiment(session: Session, name: str | None) -> str | None:
    if not name or not name.startswith(tc.EXPERIMENT_PREFIX):
        return None
    project_id = name[len(tc.EXPERIMENT_PREFIX) :]
    return project_id if session.get(Project, project_id) is not None else None


def _examine(session: Session, run: Any, experiments: dict[str, str], own: Any) -> _Examined:
    """Decide whether a run counts (SPEC §9) without writing anything."""
    tags = run.data.tags
    run_id, experiment_id = run.info.run_id, run.info.experiment_id
    project_tag, version_tag = tags.get(tc.TAG_PROJECT), tags.get(tc.TAG_VERSION)
    mlflow_user = _mlflow_user(run)
    user = platform_user_for(session, mlflow_user)
    tag_project = project_tag if project_tag and session.get(Project, project_tag) is not None else None
    home_project = _project_of_experiment(session, experiments.get(experiment_id))
    named = tuple(dict.fromkeys(p for p in (tag_project, home_project) if p))
    target = tag_project or home_project
    where = f"MLflow experiment {_text(experiments.get(experiment_id, experiment_id))!r}"

    who = _text(mlflow_user)
    refusal: tuple[str, str] | None = None
    decision = decide(session, user, ACTION, target) if user and target else None
    if target is None:
        refusal = ("denied", f"the run names no project: tag {tc.TAG_PROJECT}={_text(project_tag)!r}; {where} is no project's")
    elif user is None or decision is None:
        refusal = ("denied", f"MLflow user {who!r} maps to no platform user (by user id or the spec's mlflow_users)")
    elif not decision.allowed:
        if decision.hidden or decision.role is None:
            refusal = ("denied", f"MLflow user {who!r} maps to no platform user who may log experiments in {target}")
        else:
            why = f"{decision.reason} ({decision.role})"
            refusal = ("denied", f"platform user {user!r} (MLflow user {who!r}) may not log experiments in {target}: {why}")
    elif tag_project is None:
        refusal = ("failed", f"tag {tc.TAG_PROJECT}={_text(project_tag)!r} names no project (the run is in {where})")
    elif run.info.experiment_id != own(tag_project):
        refusal = (
            "failed",
            f"the run is in {where}, not in project {tag_project}'s own experiment {tc.experiment_name(tag_project)!r}",
        )
    else:
        version = session.get(DatasetVersion, version_tag) if version_tag else None
        if version is None or version.project_id != tag_project:
            refusal = (
                "failed",
                f"tag {tc.TAG_VERSION}={_text(version_tag)!r} names no dataset version of project {tag_project}",
            )
    basis = [
        experiment_id,
        run.info.status,
        project_tag,
        version_tag,
        mlflow_user,
        sorted(run.data.params.items()),
        sorted((k, repr(v)) for k, v in run.data.metrics.items()),
        refusal,
    ]
    fingerprint = hashlib.sha256(json.dumps(basis, default=str).encode("utf-8", "backslashreplace")).hexdigest()
    return _Examined(
        run_id,
        experiment_id,
        _text(project_tag),
        _text(version_tag),
        _text(mlflow_user),
        user,
        named,
        target,
        refusal,
        fingerprint,
    )


def _ignored(seen: _Examined, outcome: str, reason: str, new: bool) -> IgnoredRun:
    return IgnoredRun(
        seen.run_id, seen.mlflow_experiment_id, seen.project, seen.version, seen.mlflow_user, outcome, reason, seen.named, new
    )


def _remember(platform: Platform, seen: _Examined, ended_ms: int, outcome: str, reason: str, entry_actor: str | None) -> bool:
    """Remember a refused run (and audit the refusal as `entry_actor`, unless it is None: already
    audited); False when another sync remembered the same refusal first (then nothing is written)."""
    with platform.write() as session:
        document = _ignored_document(session)
        if (document.get(seen.run_id) or {}).get("fingerprint") == seen.fingerprint:
            return False
        document[seen.run_id] = {
            "fingerprint": seen.fingerprint,
            "ended_ms": ended_ms,
            "outcome": outcome,
            "reason": reason,
            "named": list(seen.named),
        }
        if entry_actor is not None:
            decision = decide(session, entry_actor, ACTION, seen.target)
            details = {
                "reason": reason,
                "mlflow_run_id": seen.run_id,
                "mlflow_experiment_id": seen.mlflow_experiment_id,
                "mlflow_user": seen.mlflow_user,
                "tags": {tc.TAG_PROJECT: seen.project, tc.TAG_VERSION: seen.version},
            }
            entry = audit.AuditEntry(
                at=iso(platform.clock.now()),
                actor=entry_actor,
                role=decision.role,
                tenant=decision.tenant,
                project=seen.target,
                action=ACTION,
                object_ref=f"mlflow_run:{seen.run_id}",
                outcome=outcome,
                details=details,
            )
            audit.append(session, [entry])
        _put_ignored(session, document)
    return True


def _report_ignored(report: SyncReport, platform: Platform, seen: _Examined, ended_ms: int, outcome: str, reason: str,
                    entry_actor: str | None, remembered: dict[str, Any] | None) -> None:  # fmt: skip
    if remembered and remembered.get("fingerprint") == seen.fingerprint:
        # Refused before for the same reason: listed again, nothing written.
        report.ignored.append(_ignored(seen, remembered.get("outcome", outcome), remembered.get("reason", reason), False))
        return
    new = _remember(platform, seen, ended_ms, outcome, reason, entry_actor)
    ignored = _ignored(seen, outcome, reason, new)
    if new:
        log.warning(ignored.message)
    report.ignored.append(ignored)


def _sync_one(
    report: SyncReport,
    platform: Platform,
    tracking: tc.Tracking,
    run: Any,
    actor: str,
    experiments: dict[str, str],
    own: Any,
    remembered: dict[str, Any] | None,
) -> None:
    run_id = run.info.run_id
    with platform.store.read() as session:
        known = session.scalar(select(Experiment.project_id).where(Experiment.mlflow_run_id == run_id))
        if known is not None:
            report.already_synced += 1
            report.already_synced_in[known] += 1
            if remembered is not None:
                _forget(platform, {run_id})
            return
        seen = _examine(session, run, experiments, own)
        rule, baseline = None, None
        if seen.refusal is None:
            rule = governance_policy(session).regression.get(seen.project)
            if rule is not None:
                higher = rule.direction == "higher_is_better"
                baseline = baseline_for(session, seen.project, rule.primary_metric, higher, tuple(sorted(rule.guards)))
    ended_ms = _ended_ms(run)
    if seen.refusal is not None:
        outcome, reason = seen.refusal
        _report_ignored(report, platform, seen, ended_ms, outcome, reason, seen.user or actor, remembered)
        return
    if remembered and remembered.get("fingerprint") == seen.fingerprint:
        # Counted by the rules, but recording it failed before with these very inputs (e.g. a
        # param the store refuses): not retried until something about the run changes.
        report.ignored.append(_ignored(seen, remembered.get("outcome", "failed"), remembered.get("reason", ""), False))
        return
    tags = run.data.tags
    metrics = {k: float(v) for k, v in run.data.metrics.items()}
    if run.info.status == "FINISHED":
        verdict = judge(metrics, baseline.metric_summary if baseline else None, rule)
        status, deltas, error = verdict.status, verdict.deltas, "; ".join(verdict.reasons) or None
    else:
        status, deltas, error = "failed", {}, tags.get(tc.TAG_ERROR, f"MLflow run status {run.info.status}")
    if status == "failed":
        baseline = None  # nothing was compared
    kind = regression_kind(run.data.params, baseline.params if baseline else None, rule) if status == "regressed" else None
    try:
        experiment = record_experiment(
            platform,
            seen.user,
            seen.project,
            seen.version,
            status,
            metrics=metrics,
            params=dict(run.data.params),
            mlflow_run_id=run_id,
            baseline_ref=baseline.experiment_id if baseline else None,
            deltas=deltas,
            error=error,
            run_ended_at=datetime.fromtimestamp(ended_ms / 1000, tz=UTC),
            regression_kind=kind,
        )
    except AlreadyRecorded:  # another sync (the sensor, a person) recorded it since we looked
        report.already_synced += 1
        report.already_synced_in[seen.project] += 1
        return
    except DataOpsError as exc:
        # Refused inside record_experiment (a role revoked since we looked, a value the store
        # refuses): Platform.act has audited it already, so it is only remembered and listed.
        outcome = "denied" if isinstance(exc, (PermissionDenied, NotFound)) else "failed"
        reason = exc.message if isinstance(exc, InvalidInput) or outcome == "failed" else "permission denied"
        _report_ignored(report, platform, seen, ended_ms, outcome, _text(reason) or outcome, None, remembered)
        return
    if remembered is not None:
        _forget(platform, {run_id})
    report.added.append(experiment.experiment_id)
    report.project_of[experiment.experiment_id] = seen.project
    if status in BLOCKING_EXPERIMENT_STATUSES:
        severity, category = alert_for(status, kind)
        with platform.store.read() as session:
            title = gate_alert_title(session, session.get(Experiment, experiment.experiment_id), platform.clock.now())
        alert = open_alert(
            platform,
            actor,
            f"experiment:{experiment.experiment_id}",
            severity,
            category,
            title,
            source_key=gate_alert_key(category, experiment.experiment_id),
        )
        report.alerts.append(alert.alert_id)
        report.project_of[alert.alert_id] = seen.project
    tracking.set_tags(
        run_id,
        {
            tc.TAG_STATUS: status,
            tc.TAG_EXPERIMENT: experiment.experiment_id,
            **({tc.TAG_REGRESSION_KIND: kind} if kind else {}),
            **{f"dataops.delta.{k}": f"{v:+.4f}" for k, v in deltas.items()},
            **({tc.TAG_BASELINE_REF: baseline.experiment_id} if baseline else {}),
        },
    )
    if baseline and baseline.mlflow_run_id:
        tracking.set_tags(baseline.mlflow_run_id, {tc.TAG_BASELINE: "true"})
