"""The platform's custom OpenLineage facets (prefixed `dataops_`) and the producer URI of every event.

The platform is not served from a URL of its own, so the producer and the facets' schema
references are URNs (valid URIs, as the spec requires); the fields are documented here.
Every facet's content is fixed once the operation it describes has happened, so re-exporting
an unchanged store gives the same bytes.
"""

from __future__ import annotations

from typing import Any

import attr
from openlineage.client.generated.base import DatasetFacet, RunFacet

from dataops_platform import __version__

PRODUCER = f"urn:dataops_platform:{__version__}"
SCHEMA_BASE = "urn:dataops_platform:openlineage-facets:1"


def _schema(name: str) -> str:
    return f"{SCHEMA_BASE}#/$defs/{name}"


@attr.define(kw_only=True)
class DataopsDatasetVersionFacet(DatasetFacet):
    """`dataops_datasetVersion`: what registration recorded about a dataset version (never changes)."""

    versionId: str
    project: str
    tenant: str
    parentVersion: str | None = None
    contentDigest: str
    digestAlgorithm: str = "sha256"
    rowCount: int
    sourceFormat: str
    dataLocation: str  # relative to $DATAOPS_HOME/data (content-addressed)
    changeSummary: list[str] = attr.field(factory=list)
    createdBy: str
    createdAt: str

    @staticmethod
    def _get_schema() -> str:
        return _schema("DataopsDatasetVersionFacet")


@attr.define(kw_only=True)
class DataopsLifecycleFacet(DatasetFacet):
    """`dataops_lifecycle`: the lifecycle status a version reached by the run carrying this facet.

    Status as of that operation, not the version's current status: the latest event about a
    version gives its current status, and older events never change.
    """

    status: str
    previousStatus: str | None = None
    transition: str  # the SPEC §4 action that moved it
    changedBy: str | None = None
    changedAt: str
    currentRelease: bool | None = None  # true when the operation made it the project's current release
    qualityFailures: list[str] | None = None

    @staticmethod
    def _get_schema() -> str:
        return _schema("DataopsLifecycleFacet")


@attr.define(kw_only=True)
class DataopsOperationRunFacet(RunFacet):
    """`dataops_operation`: the governed operation behind a run, as the audit log names it."""

    action: str
    objectRef: str
    actor: str | None = None
    project: str
    tenant: str
    details: dict[str, Any] = attr.field(factory=dict)

    @staticmethod
    def _get_schema() -> str:
        return _schema("DataopsOperationRunFacet")


@attr.define(kw_only=True)
class DataopsExperimentRunFacet(RunFacet):
    """`dataops_experiment`: an experiment's metrics and the platform's verdict on it (SPEC §5, §9)."""

    experimentId: str
    verdict: str  # completed | regressed | failed, decided by the governance policy
    verdictReason: str | None = None
    metrics: dict[str, Any] = attr.field(factory=dict)
    params: dict[str, Any] = attr.field(factory=dict)
    baselineRef: str | None = None
    deltas: dict[str, Any] = attr.field(factory=dict)
    requiresReview: bool
    mlflowRunId: str | None = None
    mlflowRunEndedAt: str | None = None

    @staticmethod
    def _get_schema() -> str:
        return _schema("DataopsExperimentRunFacet")


CUSTOM_FACETS: dict[str, type[Any]] = {
    "dataops_datasetVersion": DataopsDatasetVersionFacet,
    "dataops_lifecycle": DataopsLifecycleFacet,
    "dataops_operation": DataopsOperationRunFacet,
    "dataops_experiment": DataopsExperimentRunFacet,
}
