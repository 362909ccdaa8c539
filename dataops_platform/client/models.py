"""What the client's calls return: the REST API's own response models (one definition, so the
client and the OpenAPI document can never disagree). Every model keeps the API's field names;
timestamps are aware datetimes."""

from dataops_platform.api.alerts import Alert, SlaReport
from dataops_platform.api.audit import AuditPage, AuditRecord, AuditVerification
from dataops_platform.api.exceptions import ExceptionRecord
from dataops_platform.api.experiments import Experiment, SyncReport
from dataops_platform.api.lineage import Impact, LineageGraph, OpenLineageExport
from dataops_platform.api.notify_routes import Delivery, DeliveryList
from dataops_platform.api.platform_routes import Metrics, SpecApplyReport, SpecValidation
from dataops_platform.api.reviews import Review
from dataops_platform.api.rollbacks import Rollback, RollbackResult
from dataops_platform.api.tokens import Token, TokenCreated
from dataops_platform.api.version_data import VersionSource
from dataops_platform.api.versions import RegisteredVersion, VerifyResult, Version, VersionDetail, VersionDiff

__all__ = [
    "Alert", "AuditPage", "AuditRecord", "AuditVerification", "Delivery", "DeliveryList", "ExceptionRecord", "Experiment",
    "Impact", "LineageGraph", "Metrics", "OpenLineageExport", "RegisteredVersion", "Review", "Rollback", "RollbackResult",
    "SlaReport", "SpecApplyReport", "SpecValidation", "SyncReport", "Token", "TokenCreated", "Version", "VersionDetail",
    "VersionDiff", "VersionSource", "VerifyResult",
]  # fmt: skip
