"""Sensors: the platform acting between human decisions, as its named system actor (SPEC §4).

Each sensor makes its governance moves through the same services as every other interface
(authorised, audited), keeps a cursor so a re-tick starts where the last one ended, and gives
every run request a `run_key` so Dagster never launches the same refresh twice:

- `mlflow_new_runs`: finished MLflow runs not yet seen -> sync them, refresh what depends on them;
- `release_gate_watch`: a new regression, failed run or rejected version (read off the audit log,
  the platform's own change feed) -> an alert exists for it, the versions' gate state is refreshed;
  and on every tick, a data regression standing on a current release with no unresolved alert
  (its exception expired) -> a high alert on the version (docs/findings.md);
- `sla_risk_watch`: an open alert past its acknowledge or resolve target -> one `sla_risk` alert;
- `platform_run_failure`: a failed run of the platform's own jobs -> a `run_failure` alert.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import dagster as dg
from sqlalchemy import func, select

from dataops_platform.defs.graph import downstream_of
from dataops_platform.defs.jobs import governance_job
from dataops_platform.defs.resources import GovernanceResource, MlflowResource
from dataops_platform.governance.alerts import ensure_release_regression_alerts, open_alert
from dataops_platform.governance.gate import BLOCKING_EXPERIMENT_STATUSES
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.policy import config_document, governance_policy
from dataops_platform.governance.refs import ref
from dataops_platform.governance.sla import sla_report
from dataops_platform.governance.watchers import open_quality_gate_alerts
from dataops_platform.store.models import Alert, AuditRecord, DatasetVersion, Experiment
from dataops_platform.tracking.sync import (
    alert_for,
    gate_alert_key,
    gate_alert_title,
    remembered_ignored_runs,
    sync_runs,
    system_actor,
)

TICK_SECONDS = 60
# The sensors that change the store start stopped, as Dagster's do: an operator turns them on
# (Automation page, or `dagster sensor start`) once the home is theirs. Running from the first
# load they would sync and alert on the real clock in the middle of a reference scenario played
# on a live stack. The run-failure sensor only reacts to our own failed runs, so it is on.
ACTING_SENSORS_DEFAULT = dg.DefaultSensorStatus.STOPPED
TRIGGER_TAG = "dataops/trigger"


def _acting_sensor(name: str, description: str):  # noqa: ANN202 - dagster's decorator
    """A sensor that acts on the store: ticks every minute, requests runs of the platform's job."""
    return dg.sensor(
        name=name,
        job=governance_job,
        minimum_interval_seconds=TICK_SECONDS,
        default_status=ACTING_SENSORS_DEFAULT,
        description=description,
    )


def _keys(names: Iterable[str]) -> list[dg.AssetKey]:
    return [dg.AssetKey(name) for name in names]


def _refresh(sensor: str, run_key: str, first_asset: str, reason: str) -> dg.RunRequest:
    """A run of `first_asset` and everything downstream of it (their checks included)."""
    return dg.RunRequest(
        run_key=f"{sensor}:{run_key}",
        asset_selection=_keys(downstream_of(first_asset)),
        tags={TRIGGER_TAG: f"sensor:{sensor}", "dataops/reason": reason[:200]},
    )


# -- new MLflow runs ---------------------------------------------------------------------------


def _mlflow_cursor(raw: str | None) -> tuple[int | None, set[str]]:
    """(newest end time seen in ms, ids of the runs that ended exactly then)."""
    if not raw:
        return None, set()
    data = json.loads(raw)
    return data["end_ms"], set(data["run_ids"])


@_acting_sensor(
    "mlflow_new_runs",
    "Syncs finished MLflow runs into the store and refreshes the experiment assets downstream.",
)
def mlflow_new_runs(
    context: dg.SensorEvaluationContext, governance: GovernanceResource, mlflow: MlflowResource
) -> dg.RunRequest | dg.SkipReason:
    end_ms, seen = _mlflow_cursor(context.cursor)
    tracking = mlflow.tracking()
    runs = [r for r in tracking.finished_runs(end_ms) if r.info.run_id not in seen]
    platform = governance.platform()
    try:
        # Runs a sync ignored (a typo in a tag, an unmapped MLflow user, a missing role) are looked
        # at again on every tick, so fixing the cause is enough: no new run is needed to pick them up.
        waiting = [] if runs else remembered_ignored_runs(platform)
        if not runs and not waiting:
            return dg.SkipReason("no MLflow run finished since the last tick")
        report = sync_runs(platform, tracking)  # idempotent by run id: a lost cursor only costs a re-check
    finally:
        platform.close()
    if runs:
        newest = max((r.info.end_time or r.info.start_time) for r in runs)
        at_newest = {r.info.run_id for r in runs if (r.info.end_time or r.info.start_time) == newest}
        context.update_cursor(
            json.dumps({"end_ms": newest, "run_ids": sorted(at_newest | (seen if newest == end_ms else set()))})
        )
    if not report.added:
        if not runs:
            return dg.SkipReason(
                f"no MLflow run finished since the last tick; {len(waiting)} ignored run(s) re-examined, still ignored"
            )
        return dg.SkipReason(f"{len(runs)} finished run(s) seen, none new to the store ({len(report.ignored)} ignored)")
    added = ",".join(report.added)
    return _refresh("mlflow_new_runs", added, "experiment_runs", f"synced {added}")


# -- the release gate --------------------------------------------------------------------------

GATE_ACTIONS = ("experiment.log", "version.validate")


def ensure_gate_alerts(platform: Platform, actor: str, experiment_ids: Iterable[str]) -> list[str]:
    """An alert for every regressed or failed experiment among these that has none, and for every
    rejected version; returns the alerts opened now (none when each already had one)."""
    opened = []
    wanted: list[tuple[Experiment, str]] = []
    with platform.store.read() as session:
        experiments = session.scalars(
            select(Experiment).where(
                Experiment.experiment_id.in_(list(experiment_ids)), Experiment.status.in_(BLOCKING_EXPERIMENT_STATUSES)
            )
        ).all()
        alerted = set(
            session.scalars(
                select(Alert.related_object).where(
                    Alert.related_object.in_([ref("experiment", e.experiment_id) for e in experiments])
                )
            )
        )
        now = platform.clock.now()
        wanted = [
            (e, gate_alert_title(session, e, now)) for e in experiments if ref("experiment", e.experiment_id) not in alerted
        ]
    for experiment, title in wanted:
        severity, category = alert_for(experiment.status, experiment.regression_kind)
        alert = open_alert(
            platform,
            actor,
            ref("experiment", experiment.experiment_id),
            severity,
            category,
            title,
            gate_alert_key(category, experiment.experiment_id),
        )
        opened.append(alert.alert_id)
    return opened + open_quality_gate_alerts(platform, actor)


@_acting_sensor(
    "release_gate_watch",
    "A new regression, failed run or rejected version: makes sure an alert exists and refreshes the gate state.",
)
def release_gate_watch(context: dg.SensorEvaluationContext, governance: GovernanceResource) -> dg.RunRequest | dg.SkipReason:
    first_tick = context.cursor is None
    after = int(context.cursor or 0)  # the last audit seq looked at
    platform = governance.platform()
    try:
        with platform.store.read() as session:
            head = session.scalar(select(func.max(AuditRecord.seq))) or 0
            changes = session.execute(
                select(AuditRecord.seq, AuditRecord.object_ref).where(
                    AuditRecord.seq > after,
                    AuditRecord.seq <= head,
                    AuditRecord.outcome == "allowed",
                    AuditRecord.action.in_(GATE_ACTIONS),
                )
            ).all()
            actor = system_actor(session)
            gate_events = _gate_events(session, changes)
        experiments = [object_id for _, kind, object_id in gate_events if kind == "experiment"]
        opened = ensure_gate_alerts(platform, actor, experiments) if changes else []
        # Time alone can bring a finding back (an exception expires), so this looks on every tick;
        # after the experiment alerts, which already cover a regression they were opened for.
        standing = ensure_release_regression_alerts(platform, actor)
    finally:
        platform.close()
    context.update_cursor(str(head))
    if standing and not gate_events:
        # Keyed by the alerts opened: each is a new episode, so its refresh is asked once.
        reason = f"data regression on a current release with no unresolved alert: opened {', '.join(standing)}"
        return _refresh("release_gate_watch", f"finding:{','.join(standing)}", "dataset_versions", reason)
    opened += standing
    if not changes:
        return dg.SkipReason(f"no experiment logged or version validated after audit record {after}")
    if not gate_events:
        return dg.SkipReason(f"audit records {after + 1}-{head}: nothing regressed, failed or was rejected")
    if first_tick and not opened:
        # Turned on over an existing home: history already has its alerts and its gate state.
        return dg.SkipReason(f"first tick: {len(gate_events)} earlier gate event(s) all have alerts; watching from {head}")
    names = ", ".join(f"{kind}:{object_id}" for _seq, kind, object_id in gate_events)
    # Keyed by the audit records that moved the gate, so a replayed tick asks for the same run.
    seqs = f"{gate_events[0][0]}-{max(seq for seq, _, _ in gate_events)}"
    return _refresh("release_gate_watch", seqs, "dataset_versions", f"{names}; alerts opened: {opened}")


def _gate_events(session, changes) -> list[tuple[int, str, str]]:  # noqa: ANN001
    """(audit seq, kind, id) of the changes that touch the release gate: blocking experiments,
    rejected versions; in audit order."""
    events = []
    for seq, object_ref in changes:
        kind, _, object_id = (object_ref or "").partition(":")
        if kind == "experiment":
            experiment = session.get(Experiment, object_id)
            if experiment is not None and experiment.status in BLOCKING_EXPERIMENT_STATUSES:
                events.append((seq, kind, object_id))
        elif kind == "version":
            version = session.get(DatasetVersion, object_id)
            if version is not None and version.status == "rejected":
                events.append((seq, kind, object_id))
    return sorted(events)


# -- SLA risk ----------------------------------------------------------------------------------


def sla_risk_key(alert_id: str) -> str:
    return f"sla_risk:alert:{alert_id}"


@_acting_sensor(
    "sla_risk_watch",
    "An open alert past its acknowledge or resolve target: raises one sla_risk alert, refreshes the SLA report.",
)
def sla_risk_watch(context: dg.SensorEvaluationContext, governance: GovernanceResource) -> dg.RunRequest | dg.SkipReason:
    escalated = set(json.loads(context.cursor)) if context.cursor else set()
    platform = governance.platform()
    try:
        with platform.store.read() as session:
            unresolved = session.scalars(
                select(Alert).where(Alert.status != "resolved", Alert.category != "sla_risk").order_by(Alert.alert_id)
            ).all()
            targets = governance_policy(session).sla
            actor = system_actor(session)
        report = sla_report(unresolved, targets, platform.clock.now())
        late = [b for b in report["breaches"] if b["alert_id"] not in escalated]
        opened = []
        for breach in late:
            alert = open_alert(
                platform,
                actor,
                ref("alert", breach["alert_id"]),
                breach["severity"],
                "sla_risk",
                f"{breach['alert_id']} outside its SLA: {'; '.join(breach['problems'])}"[:400],
                source_key=sla_risk_key(breach["alert_id"]),
            )
            opened.append(alert.alert_id)
    finally:
        platform.close()
    # Only alerts still unresolved can breach again, so the cursor keeps just those.
    still_open = {a.alert_id for a in unresolved}
    context.update_cursor(json.dumps(sorted((escalated | {b["alert_id"] for b in late}) & still_open)))
    if not late:
        return dg.SkipReason(f"{len(unresolved)} unresolved alert(s), none newly outside its SLA")
    late_ids = ",".join(b["alert_id"] for b in late)
    return _refresh("sla_risk_watch", late_ids, "alerts", f"outside SLA: {late_ids}; sla_risk alerts {opened}")


# -- failed platform runs ----------------------------------------------------------------------


def run_failure_key(run_id: str) -> str:
    return f"run_failure:dagster_run:{run_id}"


@dg.run_failure_sensor(
    name="platform_run_failure",
    minimum_interval_seconds=TICK_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="A failed run of the platform's own jobs raises a run_failure alert in the spec's system_actor.alert_project.",
)
def platform_run_failure(context: dg.RunFailureSensorContext, governance: GovernanceResource) -> dg.SkipReason | None:
    run = context.dagster_run
    platform = governance.platform()
    try:
        with platform.store.read() as session:
            project = (config_document(session, "system_actor") or {}).get("alert_project")
            actor = system_actor(session)
        if project is None:
            message = f"run {run.run_id} failed, but the spec names no system_actor.alert_project to raise it in"
            context.log.warning(message)
            return dg.SkipReason(message)
        reason = context.failure_event.message or "no failure message"
        alert = open_alert(
            platform,
            actor,
            ref("project", project),
            "high",
            "run_failure",
            f"Dagster run {run.run_id} of {run.job_name} failed: {reason}"[:400],
            source_key=run_failure_key(run.run_id),
        )
        context.log.info(f"run {run.run_id} failed: alert {alert.alert_id}")
    finally:
        platform.close()
    return None


SENSORS: list[dg.SensorDefinition] = [mlflow_new_runs, release_gate_watch, sla_risk_watch, platform_run_failure]
