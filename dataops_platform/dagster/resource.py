"""`DataOpsResource`: a team's Dagster code location's connection to the platform (docs/dagster.md).

    defs = dg.Definitions(
        assets=[...],
        resources={"dataops": DataOpsResource(server=dg.EnvVar("DATAOPS_SERVER"), token=dg.EnvVar("DATAOPS_TOKEN"))},
    )

The resource holds configuration only; `client()` opens a `DataOpsClient` as the user the token
belongs to. Unlike the bare client it never falls back to the environment or a credentials file:
what the resource is configured with is what it uses, and an empty or malformed value is refused
naming the resource's field (an empty DATAOPS_SERVER must not quietly mean "whatever this machine
logged in to last").
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import dagster as dg
from pydantic import Field

from dataops_platform.client import DataOpsClient, Unauthenticated
from dataops_platform.client.config import check_token, normalise_server
from dataops_platform.errors import InvalidInput

if TYPE_CHECKING:
    from dataops_platform.client.models import Version
    from dataops_platform.dagster.metadata import RegisteredRef

RESOURCE_NAME = "DataOpsResource"


class DataOpsResource(dg.ConfigurableResource):
    """The platform's REST API as the user a token belongs to."""

    server: str = Field(
        description="the platform's base URL, e.g. http://dataops.internal:8000 (use dg.EnvVar('DATAOPS_SERVER'))"
    )
    token: str = Field(description="a platform token, `dataops token create USER` (use dg.EnvVar('DATAOPS_TOKEN'))")
    timeout: float = Field(default=600.0, gt=0, description="seconds per call; registering reads the whole dataset")
    code_location: str | None = Field(
        default=None, description="the code location name recorded as provenance (default: the run's own, when it has one)"
    )

    def client(self) -> DataOpsClient:
        """A new client (close it, or use it as a context manager). InvalidInput names the field at fault."""
        if not isinstance(self.server, str) or not self.server.strip():
            raise InvalidInput(
                f"{RESOURCE_NAME}.server is empty: set DATAOPS_SERVER (or the resource's server) to the platform's "
                "base URL, e.g. http://127.0.0.1:8000",
                field="server",
                value=self.server if isinstance(self.server, str) else None,
            )
        if "@" in urlsplit(self.server.strip()).netloc:  # checked first: the client's own refusal quotes the URL whole
            raise InvalidInput(
                f"{RESOURCE_NAME}.server carries a user or password: give the platform's base URL only, and the "
                "token in DATAOPS_TOKEN",
                field=f"{RESOURCE_NAME}.server",
                value=None,
            )
        server = normalise_server(self.server.strip(), field=f"{RESOURCE_NAME}.server")
        if not isinstance(self.token, str) or not self.token.strip():
            raise InvalidInput(
                f"{RESOURCE_NAME}.token is empty: set DATAOPS_TOKEN (or the resource's token) to a token from "
                "`dataops token create USER`",
                field="token",
                value=None,
            )
        token = check_token(self.token, field=f"{RESOURCE_NAME}.token")
        return DataOpsClient(server, token, timeout=self.timeout, environ={})

    @contextmanager
    def connected(self) -> Iterator[DataOpsClient]:
        """A client for one block; a token the server refuses is reported as this resource's `token`."""
        with self.client() as platform:
            try:
                yield platform
            except Unauthenticated as exc:
                problem = dict(exc.problem)
                problem["detail"] = (
                    f"{RESOURCE_NAME}.token was refused by {platform.server}: {exc.message}; create a new one with "
                    "`dataops token create USER` and set DATAOPS_TOKEN"
                )
                problem["field"] = "token"
                raise Unauthenticated(exc.status, problem) from None

    # -- what an asset calls (dataops_platform/dagster/register.py, metadata.py) -------------------
    def register_output(
        self,
        context: dg.AssetExecutionContext,
        project: str,
        source: Any,
        *,
        parent: str | None = "latest",
        validate: bool = True,
        summary: list[str] | None = None,
        copy: bool | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dg.MaterializeResult:
        """Register what the asset wrote as a governed version of `project` and return the asset's
        MaterializeResult (its data version is the platform's digest). See `register.register_output`."""
        from dataops_platform.dagster.register import register_output

        return register_output(
            self, context, project, source, parent=parent, validate=validate, summary=summary, copy=copy, metadata=metadata
        )

    def registered(self, context: Any, asset: dg.AssetKey | str | list[str], *, passed_gate: bool = True) -> RegisteredRef:
        """The version `asset` registered at its latest materialisation (for a downstream asset or a check).

        `passed_gate` (default): the platform is asked now, and a version that has not passed the
        quality gate (rejected, or still a draft) is refused, GateRefused naming its status and
        failed thresholds, so no downstream asset trains on data the gate turned away (the blocking
        check stops it in the same run; this stops it in a later one too)."""
        from dataops_platform.dagster.checks import quality_gate_result
        from dataops_platform.dagster.metadata import as_key, registered_ref
        from dataops_platform.errors import GateRefused

        ref = registered_ref(context.instance, as_key(asset))
        if passed_gate:
            passed, why, _ = quality_gate_result(self.version(ref.version_id))
            if not passed:
                what = f"{as_key(asset).to_user_string()} registered {ref.version_id}, which downstream work may not use"
                raise GateRefused(f"{what} (pass passed_gate=False to read it anyway)", [why])
        return ref

    def version(self, version_id: str) -> Version:
        """The version as the platform knows it now (status, quality failures, ...)."""
        with self.connected() as platform:
            return platform.version_show(version_id)
