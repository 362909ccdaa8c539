"""Turn what an asset wrote into a governed version (SPEC §15): register it with the Dagster run and
asset as provenance, optionally validate it, and answer the asset's MaterializeResult whose data
version is the platform's digest.

The parent, unless given, is the newest version *this asset* registered in the project that the
quality gate did not reject, found from the provenance the platform keeps on every version (so
it survives a new Dagster instance and ignores other assets or people registering into the same
project). An asset that never registered there continues the project's line: the newest version
that was not rejected. Why not simply the project's newest version: two assets (or a person and an
asset) feeding one project would otherwise chain each other's data, and a diff against the parent
would compare unrelated files. Why not rejected ones: a rejected version is no part of the line
(its data failed the gate), so the next good one is diffed against the last good one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from dataops_platform.client import DataOpsClient
from dataops_platform.dagster import metadata as md
from dataops_platform.errors import InvalidInput

if TYPE_CHECKING:
    from dataops_platform.dagster.resource import DataOpsResource

LATEST = "latest"
NOT_IN_LINE = ("rejected",)  # statuses that never become a parent by default


def _seq(version_id: str) -> int:
    found = re.search(r"(\d+)$", version_id)
    return int(found.group(1)) if found else -1


def newest(versions: Sequence[Any]) -> Any | None:
    """The newest of API versions: by created_at, then the id's sequence number (ds_v010 after ds_v009)."""
    return max(versions, key=lambda v: (v.created_at, _seq(v.version_id)), default=None)


def latest_parent(platform: DataOpsClient, project: str, asset_key: dg.AssetKey) -> tuple[str | None, str]:
    """(parent version id or None, the rule that chose it) for a new version of `project` by `asset_key`."""
    versions = platform.version_list(project)
    line = [v for v in versions if v.status not in NOT_IN_LINE]
    key = asset_key.to_user_string()
    mine = [v for v in line if v.provenance is not None and v.provenance.dagster_asset_key == key]
    if mine:
        return newest(mine).version_id, f"latest: the newest version asset {key} registered"
    tried = any(v.provenance is not None and v.provenance.dagster_asset_key == key for v in versions)
    why = f"{key} had registered none that was not rejected" if tried else f"{key} had registered none"
    if line:
        return newest(line).version_id, f"latest: the project's newest version ({why})"
    return None, "latest: none (the project's first version)"


def code_location(resource: DataOpsResource, context: Any) -> str | None:
    """The code location recorded as provenance: the resource's setting, else the run's own origin
    (an in-process run, e.g. `dg.materialize`, has none)."""
    if resource.code_location:
        return resource.code_location
    origin = getattr(context.run, "remote_job_origin", None)
    return origin.repository_origin.code_location_origin.location_name if origin is not None else None


def provenance_of(resource: DataOpsResource, context: Any) -> dict[str, str]:
    found = {"dagster_run_id": context.run.run_id, "dagster_asset_key": context.asset_key.to_user_string()}
    location = code_location(resource, context)
    return found | ({"dagster_code_location": location} if location else {})


def register_output(
    resource: DataOpsResource,
    context: dg.AssetExecutionContext,
    project: str,
    source: str | Path,
    *,
    parent: str | None = LATEST,
    validate: bool = True,
    summary: Sequence[str] | None = None,
    copy: bool | None = None,
    metadata: dict[str, Any] | None = None,
) -> dg.MaterializeResult:
    """Register `source` (a local file, uploaded; or `s3://`, `iceberg:`, `delta:`, `inbox:PATH` read by the
    server) as a new version of `project`, as the resource's token user (needs version.create;
    `validate` needs version.validate too).

    `parent`: "latest" (the default, see the module's docstring), a version id, or None for a
    root version. A rejected version still materialises the asset (its data was written and is
    on record, status `rejected`): the blocking checks of `dataops_checks` stop what depends on it.
    Raises the client's typed errors: InvalidInput (the data, or `metadata` keys under `dataops/`,
    which are the platform's), PermissionDenied, NotFound, GateRefused (the tenant's version quota)."""
    if not isinstance(project, str) or not project.strip():
        raise InvalidInput(
            "project is empty: give the platform project id the version belongs to", field="project", value=project
        )
    if isinstance(summary, str):  # a bare string would be split into one line per character
        summary = [summary]
    reserved = sorted(k for k in (metadata or {}) if str(k).startswith(md.PREFIX))
    if reserved:  # the checks and downstream assets trust these keys: a caller may not set them
        raise InvalidInput(
            f"metadata keys {reserved} are the platform's ({md.PREFIX}*): name your own keys otherwise",
            field="metadata",
            value=reserved,
        )
    lines = list(summary or [f"materialised by {context.asset_key.to_user_string()} in run {context.run.run_id}"])
    with resource.connected() as platform:
        if parent == LATEST:
            parent, rule = latest_parent(platform, project, context.asset_key)
        else:
            rule = "given" if parent is not None else "given: none (a root version)"
        registered = platform.version_register(
            project,
            source,
            parent=parent,
            summary=lines,
            copy=copy,
            provenance=provenance_of(resource, context),
        )
        version: Any = registered
        if validate and registered.status == "draft":
            version = platform.version_validate(registered.version_id)
        server = platform.server
    context.log.info(
        f"{project}: registered {version.version_id} (parent {version.parent_version or 'none'}, {rule}), status {version.status}"
    )
    extra = {"dataops/same_content_as": ", ".join(registered.same_content_as)} if registered.same_content_as else {}
    return dg.MaterializeResult(
        metadata={**md.version_metadata(version, rule, server), **extra, **(metadata or {})},
        data_version=dg.DataVersion(version.content_digest),
    )
