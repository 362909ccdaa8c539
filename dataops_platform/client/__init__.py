"""A typed Python client of the platform's REST API (docs/client.md).

    from dataops_platform.client import DataOpsClient, GateRefused

    with DataOpsClient() as platform:   # DATAOPS_SERVER + DATAOPS_TOKEN, or `dataops login URL`
        try:
            platform.version_release("t01_retail.ds_v004")
        except GateRefused as refused:
            print(refused.conditions)
"""

from dataops_platform.client.client import DataOpsClient
from dataops_platform.client.errors import (
    AuditIntegrity,
    GateRefused,
    InvalidInput,
    NotFound,
    PermissionDenied,
    ServerError,
    ServerUnreachable,
    TooLarge,
    Unauthenticated,
)

__all__ = [
    "AuditIntegrity", "DataOpsClient", "GateRefused", "InvalidInput", "NotFound", "PermissionDenied", "ServerError",
    "ServerUnreachable", "TooLarge", "Unauthenticated",
]  # fmt: skip
