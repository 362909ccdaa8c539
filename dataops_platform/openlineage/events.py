"""The governance store's lineage as OpenLineage run events (SPEC §13 `lineage export --openlineage`).

Mapping (namespace `dataops://<tenant>/<project>` for the datasets and jobs of a project):

  dataset   one per dataset version, named by its version id: schema (the profile's fields),
            version (the content digest), documentation (change summary), dataops_datasetVersion;
            dataops_lifecycle on the version an operation moved, with the status it moved to
  job/run   one job per governed operation, named `<action>:<object id>` after the SPEC §4 action:
            version.create:V     inputs: parent version (derived_from)   outputs: V (draft, CREATE);
                                 a version a team's Dagster run produced names it as the run's
                                 `parent` (namespace `dagster`, job = the asset key; when the run id
                                 is a UUID, as Dagster's are) and in dataops_operation.details.provenance
            version.validate:V   inputs: V with the quality gate's metrics and assertions
            version.release:V    inputs: the release it superseded        outputs: V (released)
            version.deprecate:V  outputs: V (deprecated)
            experiment.log:E     inputs: E's dataset version; COMPLETE when completed or regressed,
                                 FAIL when failed; metrics and verdict in dataops_experiment
            rollback.execute:R   inputs: the abandoned version            outputs: the restored one

Every run is a START and a COMPLETE/FAIL event at the time the store recorded for the operation
(never the time of the export). Run ids are uuid5 of the job's namespace and name. Events are
sorted by (time, lifecycle order of the action, object id, START first), and every facet holds
facts fixed when the operation happened: exporting an unchanged store gives identical bytes, and
a change to the store adds or alters only the events of the objects it touched.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    data_quality_assertions_dataset,
    data_quality_metrics_input_dataset,
    dataset_version_dataset,
    documentation_dataset,
    error_message_run,
    job_type_job,
    lifecycle_state_change_dataset,
    parent_run,
    schema_dataset,
)
from openlineage.client.generated.base import DatasetFacet, InputDatasetFacet, RunFacet
from openlineage.client.serde import Serde
from sqlalchemy import select
from sqlalchemy.orm import Session

from dataops_platform.clock import as_utc
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.refs import ref
from dataops_platform.openlineage.facets import (
    PRODUCER,
    DataopsDatasetVersionFacet,
    DataopsExperimentRunFacet,
    DataopsLifecycleFacet,
    DataopsOperationRunFacet,
)
from dataops_platform.openlineage.scope import export_scope
from dataops_platform.store.models import AuditRecord, DatasetVersion, Experiment, LineageEdge, Project, RollbackEvent

RUN_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:dataops_platform:openlineage:run")
INTEGRATION = "DATAOPS_PLATFORM"
# Lifecycle order: breaks ties between operations recorded at the same instant (a frozen clock).
ACTION_ORDER = {
    "version.create": 0,
    "version.validate": 1,
    "version.release": 2,
    "experiment.log": 3,
    "version.deprecate": 4,
    "rollback.execute": 5,
}
JOB_TYPES = {
    "version.create": "DATASET_VERSION",
    "version.validate": "QUALITY_GATE",
    "version.release": "RELEASE",
    "version.deprecate": "DEPRECATION",
    "experiment.log": "EXPERIMENT",
    "rollback.execute": "ROLLBACK",
}
EXPERIMENT_STATES = {"completed": RunState.COMPLETE, "regressed": RunState.COMPLETE, "failed": RunState.FAIL}


def namespace(tenant_id: str, project_id: str) -> str:
    return f"dataops://{tenant_id}/{project_id}"


def run_id(job_namespace: str, job_name: str) -> str:
    """The same operation always gets the same run id (uuid5), so a re-export re-sends the same runs."""
    return str(uuid.uuid5(RUN_ID_NAMESPACE, f"{job_namespace}/{job_name}"))


def timestamp(moment: datetime) -> str:
    return as_utc(moment).isoformat(timespec="microseconds")


@dataclass
class GovernedRun:
    """One governed operation: becomes a START and a COMPLETE/FAIL event."""

    at: datetime
    action: str
    object_id: str
    object_ref: str
    project: str
    tenant: str
    actor: str | None
    inputs: list[InputDataset] = field(default_factory=list)
    outputs: list[OutputDataset] = field(default_factory=list)
    state: RunState = RunState.COMPLETE
    details: dict = field(default_factory=dict)
    result_facets: dict[str, RunFacet] = field(default_factory=dict)  # on the terminal event only
    run_facets: dict[str, RunFacet] = field(default_factory=dict)  # on both events (e.g. the parent run)

    @property
    def sort_key(self) -> tuple:
        return (as_utc(self.at), ACTION_ORDER[self.action], self.object_id)

    def events(self) -> list[RunEvent]:
        job_namespace = namespace(self.tenant, self.project)
        job_name = f"{self.action}:{self.object_id}"
        job = Job(
            namespace=job_namespace,
            name=job_name,
            facets={
                "jobType": job_type_job.JobTypeJobFacet(
                    processingType="BATCH", integration=INTEGRATION, jobType=JOB_TYPES[self.action], producer=PRODUCER
                )
            },
        )
        operation = DataopsOperationRunFacet(
            action=self.action,
            objectRef=self.object_ref,
            actor=self.actor,
            project=self.project,
            tenant=self.tenant,
            details=self.details,
            producer=PRODUCER,
        )
        identity = run_id(job_namespace, job_name)
        return [
            RunEvent(
                eventTime=timestamp(self.at),
                producer=PRODUCER,
                eventType=state,
                run=Run(runId=identity, facets={"dataops_operation": operation, **self.run_facets, **(facets or {})}),
                job=job,
                inputs=self.inputs,
                outputs=self.outputs,
            )
            for state, facets in ((RunState.START, None), (self.state, self.result_facets))
        ]


class _Datasets:
    """Dataset references for the versions in scope, with the facets that never change."""

    def __init__(self, versions: dict[str, DatasetVersion], tenants: dict[str, str]) -> None:
        self.versions = versions
        self.tenants = tenants

    def facets(self, version_id: str, lifecycle: DataopsLifecycleFacet | None = None) -> dict[str, DatasetFacet]:
        v = self.versions.get(version_id)
        if v is None:  # a dangling reference; rule 6 reports it, the export only names it
            return {}
        facets: dict[str, DatasetFacet] = {
            "schema": schema_dataset.SchemaDatasetFacet(
                fields=[schema_dataset.SchemaDatasetFacetFields(name=str(name)) for name in v.schema_fields], producer=PRODUCER
            ),
            "version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=v.content_digest, producer=PRODUCER),
            "dataops_datasetVersion": DataopsDatasetVersionFacet(
                versionId=v.version_id,
                project=v.project_id,
                tenant=self.tenants[v.project_id],
                parentVersion=v.parent_version,
                contentDigest=v.content_digest,
                rowCount=v.row_count,
                sourceFormat=v.source_format,
                dataLocation=v.data_location,
                changeSummary=list(v.change_summary),
                createdBy=v.created_by,
                createdAt=timestamp(v.created_at),
                producer=PRODUCER,
            ),
        }
        if v.change_summary:
            facets["documentation"] = documentation_dataset.DocumentationDatasetFacet(
                description="; ".join(v.change_summary), contentType="text/plain", producer=PRODUCER
            )
        if lifecycle is not None:
            facets["dataops_lifecycle"] = lifecycle
        return facets

    def input(
        self,
        project_id: str,
        version_id: str,
        lifecycle: DataopsLifecycleFacet | None = None,
        input_facets: dict[str, InputDatasetFacet] | None = None,
    ) -> InputDataset:
        return InputDataset(
            namespace=namespace(self.tenants[project_id], project_id),
            name=version_id,
            facets=self.facets(version_id, lifecycle),
            inputFacets=input_facets or {},
        )

    def output(
        self, project_id: str, version_id: str, lifecycle: DataopsLifecycleFacet, extra: dict[str, DatasetFacet] | None = None
    ) -> OutputDataset:
        return OutputDataset(
            namespace=namespace(self.tenants[project_id], project_id),
            name=version_id,
            facets={**self.facets(version_id, lifecycle), **(extra or {})},
        )


def _lifecycle(status: str, previous: str | None, action: str, actor: str | None, at: datetime, **extra) -> DataopsLifecycleFacet:
    return DataopsLifecycleFacet(
        status=status,
        previousStatus=previous,
        transition=action,
        changedBy=actor,
        changedAt=timestamp(at),
        producer=PRODUCER,
        **extra,
    )


def _quality_facets(v: DatasetVersion) -> dict[str, InputDatasetFacet]:
    """What the quality gate measured (row count, null counts of required fields) and concluded."""
    nulls = v.quality_signals.get("null_rate", {})
    metrics = data_quality_metrics_input_dataset.DataQualityMetricsInputDatasetFacet(
        rowCount=v.row_count,
        columnMetrics={
            name: data_quality_metrics_input_dataset.ColumnMetrics(nullCount=round(rate * v.row_count))
            for name, rate in sorted(nulls.items())
        },
        producer=PRODUCER,
    )
    Assertion = data_quality_assertions_dataset.Assertion
    if v.quality_failures:
        assertions = [
            Assertion(assertion="quality_gate", success=False, severity="error", description=str(failure))
            for failure in v.quality_failures
        ]
    else:
        assertions = [
            Assertion(
                assertion="quality_gate",
                success=True,
                severity="error",
                description="every quality threshold of the governance policy held",
            )
        ]
    return {
        "dataQualityMetrics": metrics,
        "dataQualityAssertions": data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
            assertions=assertions, producer=PRODUCER
        ),
    }


def _version_runs(
    v: DatasetVersion, ds: _Datasets, superseded: dict[str, str], deprecated_by: dict[str, str]
) -> list[GovernedRun]:
    project, tenant, vref = v.project_id, ds.tenants[v.project_id], ref("version", v.version_id)
    runs = [
        GovernedRun(
            at=v.created_at,
            action="version.create",
            object_id=v.version_id,
            object_ref=vref,
            project=project,
            tenant=tenant,
            actor=v.created_by,
            inputs=[ds.input(project, v.parent_version)] if v.parent_version else [],
            outputs=[
                ds.output(
                    project,
                    v.version_id,
                    _lifecycle("draft", None, "version.create", v.created_by, v.created_at),
                    {
                        "lifecycleStateChange": lifecycle_state_change_dataset.LifecycleStateChangeDatasetFacet(
                            lifecycleStateChange=lifecycle_state_change_dataset.LifecycleStateChange.CREATE, producer=PRODUCER
                        )
                    },
                )
            ],
            details=({"parentVersion": v.parent_version, "edge": "derived_from"} if v.parent_version else {})
            | ({"provenance": dict(v.provenance)} if v.provenance else {}),
            run_facets=_produced_by(v.provenance),
        )
    ]
    if v.validated_at is not None and v.validated_by is not None:
        verdict = "rejected" if v.quality_failures else "validated"
        lifecycle = _lifecycle(
            verdict, "draft", "version.validate", v.validated_by, v.validated_at, qualityFailures=list(v.quality_failures) or None
        )
        runs.append(
            GovernedRun(
                at=v.validated_at,
                action="version.validate",
                object_id=v.version_id,
                object_ref=vref,
                project=project,
                tenant=tenant,
                actor=v.validated_by,
                inputs=[ds.input(project, v.version_id, lifecycle, _quality_facets(v))],
                details={"verdict": verdict},
            )
        )
    if v.released_at is not None and v.released_by is not None:
        previous_release = superseded.get(v.version_id)
        was = "validated" if v.validated_at is not None and not v.quality_failures else "draft"
        lifecycle = _lifecycle("released", was, "version.release", v.released_by, v.released_at, currentRelease=True)
        runs.append(
            GovernedRun(
                at=v.released_at,
                action="version.release",
                object_id=v.version_id,
                object_ref=vref,
                project=project,
                tenant=tenant,
                actor=v.released_by,
                inputs=[ds.input(project, previous_release)] if previous_release else [],
                outputs=[ds.output(project, v.version_id, lifecycle)],
                details={"previousRelease": previous_release, "edge": "supersedes"} if previous_release else {},
            )
        )
    if v.status == "deprecated" and v.retired_at is not None:
        actor = deprecated_by.get(v.version_id)
        lifecycle = _lifecycle("deprecated", "released", "version.deprecate", actor, v.retired_at)
        runs.append(
            GovernedRun(
                at=v.retired_at,
                action="version.deprecate",
                object_id=v.version_id,
                object_ref=vref,
                project=project,
                tenant=tenant,
                actor=actor,
                outputs=[ds.output(project, v.version_id, lifecycle)],
            )
        )
    return runs


def _produced_by(provenance: dict | None) -> dict[str, RunFacet]:
    """The Dagster run that produced a version as the OpenLineage parent of its registration run
    (OpenLineage run ids are UUIDs: another run id is kept in the details only)."""
    if not provenance:
        return {}
    try:
        parent_id = str(uuid.UUID(provenance["dagster_run_id"]))
    except ValueError:
        return {}
    job = parent_run.Job(namespace="dagster", name=provenance["dagster_asset_key"])
    return {"parent": parent_run.ParentRunFacet(run=parent_run.Run(runId=parent_id), job=job, producer=PRODUCER)}


def _experiment_run(e: Experiment, ds: _Datasets) -> GovernedRun:
    facets: dict[str, RunFacet] = {
        "dataops_experiment": DataopsExperimentRunFacet(
            experimentId=e.experiment_id,
            verdict=e.status,
            verdictReason=e.error,
            metrics=dict(e.metric_summary),
            params=dict(e.params),
            baselineRef=e.baseline_ref,
            deltas=dict(e.deltas),
            requiresReview=e.requires_review,
            mlflowRunId=e.mlflow_run_id,
            mlflowRunEndedAt=timestamp(e.run_ended_at) if e.run_ended_at else None,
            producer=PRODUCER,
        )
    }
    if e.status == "failed":
        facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
            message=e.error or "the run failed", programmingLanguage="python", producer=PRODUCER
        )
    return GovernedRun(
        # When the platform recorded and judged the run: on the same clock as every other
        # operation (MLflow's own end time is in the facet).
        at=e.recorded_at,
        action="experiment.log",
        object_id=e.experiment_id,
        object_ref=ref("experiment", e.experiment_id),
        project=e.project_id,
        tenant=ds.tenants[e.project_id],
        actor=e.recorded_by,
        inputs=[ds.input(e.project_id, e.dataset_version)],
        state=EXPERIMENT_STATES.get(e.status, RunState.FAIL),
        details={"datasetVersion": e.dataset_version, "edge": "used"},
        result_facets=facets,
    )


def _rollback_run(r: RollbackEvent, ds: _Datasets) -> GovernedRun:
    at, actor = r.executed_at, r.executed_by
    return GovernedRun(
        at=at,
        action="rollback.execute",
        object_id=r.rollback_id,
        object_ref=ref("rollback", r.rollback_id),
        project=r.project_id,
        tenant=ds.tenants[r.project_id],
        actor=actor,
        inputs=[ds.input(r.project_id, r.from_version, _lifecycle("rolled_back", "released", "rollback.execute", actor, at))],
        outputs=[
            ds.output(
                r.project_id, r.to_version, _lifecycle("released", "released", "rollback.execute", actor, at, currentRelease=True)
            )
        ],
        state=RunState.COMPLETE if r.status == "completed" else RunState.FAIL,
        details={
            "fromVersion": r.from_version,
            "toVersion": r.to_version,
            "reason": r.reason,
            "trigger": r.trigger_ref,
            "status": r.status,
        },
    )


def governed_runs(session: Session, projects: list[str]) -> list[GovernedRun]:
    """Every governed operation of `projects` that creates or relates dataset versions, sorted."""
    tenants = dict(session.execute(select(Project.id, Project.tenant_id).where(Project.id.in_(projects))).tuples().all())
    versions = {
        v.version_id: v
        for v in session.scalars(
            select(DatasetVersion).where(DatasetVersion.project_id.in_(projects)).order_by(DatasetVersion.version_id)
        )
    }
    ds = _Datasets(versions, tenants)
    superseded = {
        target.partition(":")[2]: source.partition(":")[2]
        for source, target in session.execute(
            select(LineageEdge.source_ref, LineageEdge.target_ref).where(
                LineageEdge.project_id.in_(projects), LineageEdge.edge_type == "supersedes"
            )
        ).tuples()
    }
    deprecated = [ref("version", v.version_id) for v in versions.values() if v.status == "deprecated"]
    # The version row keeps no deprecating actor; the audit log does (one allowed record per version).
    deprecated_by = {
        object_ref.partition(":")[2]: actor
        for object_ref, actor in session.execute(
            select(AuditRecord.object_ref, AuditRecord.actor).where(
                AuditRecord.action == "version.deprecate",
                AuditRecord.outcome == "allowed",
                AuditRecord.object_ref.in_(deprecated),
            )
        ).tuples()
    }
    runs: list[GovernedRun] = []
    for v in versions.values():
        runs.extend(_version_runs(v, ds, superseded, deprecated_by))
    for e in session.scalars(select(Experiment).where(Experiment.project_id.in_(projects))):
        runs.append(_experiment_run(e, ds))
    for r in session.scalars(select(RollbackEvent).where(RollbackEvent.project_id.in_(projects))):
        runs.append(_rollback_run(r, ds))
    return sorted(runs, key=lambda run: run.sort_key)


@dataclass(frozen=True)
class RunEventExport:
    """The events of one export and the projects they cover."""

    projects: list[str]
    events: list[RunEvent]

    def json_lines(self) -> str:
        """One event per line, serialised exactly as the client's transports send it."""
        return "".join(Serde.to_json(event) + "\n" for event in self.events)


def export_run_events(platform: Platform, actor: str, project_id: str | None = None) -> RunEventExport:
    """The OpenLineage run events of one project, or of every project `actor` may read."""
    with export_scope(platform, actor, project_id) as (session, projects):
        runs = governed_runs(session, projects)
        return RunEventExport(projects, [event for run in runs for event in run.events()])
