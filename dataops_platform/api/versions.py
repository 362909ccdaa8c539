"""Dataset versions: list, show, register (an inbox path or an upload), the lifecycle, diff, verify,
and a version's source (URI and pin) and data (the bytes, where the platform may serve them)."""

import tempfile
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field, WithJsonSchema

from dataops_platform.api import version_data as data_files
from dataops_platform.api.common import Actor, Conf, Input, Limit, ObjectId, Offset, Page, Plat, ProjectFilter, noun_router, page
from dataops_platform.api.guard import MAX_UPLOAD_BYTES
from dataops_platform.api.records import record_model
from dataops_platform.artifacts.build import row
from dataops_platform.governance import versions
from dataops_platform.governance.provenance import Provenance
from dataops_platform.store.models import DatasetVersion

router = noun_router("versions")

Version = record_model(
    DatasetVersion,
    "Version",
    "A dataset version: its data (digest, source, pin, kept copy), profile, quality and lifecycle.",
    types={
        "change_summary": list[str], "schema_fields": list[str], "quality_failures": list[str], "provenance": Provenance | None,
    },
)  # fmt: skip
# The body documents the Provenance schema but takes any JSON: the service checks it after the
# permission check, so a bad value is refused naming its field and audited like any other refusal.
ProvenanceBody = Annotated[
    Any,
    WithJsonSchema({"anyOf": [{"$ref": "#/components/schemas/Provenance"}, {"type": "null"}]}),
    Field(description="the team's Dagster run and asset that produced the data (recorded and linked in lineage)"),
]
DEFAULT_UPLOAD_SUMMARY = ["uploaded through the API"]


class VersionPage(Page[Version]):  # type: ignore[valid-type]
    """A page of the versions the caller may read."""


class VersionDetail(Version):  # type: ignore[valid-type, misc]
    """A version and whether it is its project's current release."""

    is_current_release: bool


class RegisteredVersion(Version):  # type: ignore[valid-type, misc]
    """A new version and the earlier versions of its project with the same content (told, not refused)."""

    same_content_as: list[str]


class RegisterByPath(Input):
    project: str = Field(max_length=64)
    path: str = Field(max_length=500, description="relative to $DATAOPS_HOME/inbox/<your tenant>/; or s3://, iceberg:, delta:")
    parent: str | None = Field(default=None, max_length=64)
    summary: list[str] = Field(default_factory=list, max_length=50)
    copy_data: bool | None = Field(
        default=None,
        alias="copy",
        description="keep a content-addressed copy of the original bytes (the CLI's --copy); default: the project's policy",
    )
    provenance: ProvenanceBody = None


class RowExamples(BaseModel):
    added: list[str]
    removed: list[str]
    changed: list[str]


class TypeChange(BaseModel):
    from_: str = Field(alias="from")
    to: str


class SignalShift(BaseModel):
    """Shifts of the split / label shares and of the quality signals (new minus old)."""

    split_distribution: dict[str, float]
    label_distribution: dict[str, float]
    duplicate_id_rate: float
    null_rate: dict[str, float]


class VersionDiff(BaseModel):
    """What changed from `from` to `to`: rows by id (counts, example ids), columns, signals."""

    from_: str = Field(alias="from")
    to: str
    rows_added: int
    rows_removed: int
    rows_changed: int
    examples: RowExamples
    columns_added: list[str]
    columns_removed: list[str]
    columns_type_changed: list[str]
    column_types: dict[str, TypeChange]
    signals: SignalShift


class VerifyResult(BaseModel):
    """The version's source re-read: `ok`, `drifted` (digest or pin differ) or `unreadable` (`reason`)."""

    version_id: str
    status: str
    expected_digest: str
    found_digest: str | None
    digest_algorithm: str
    pin_changes: list[str]
    reason: str | None = None
    alert_id: str | None = Field(default=None, description="the data_drift alert a released version raised")


BINARY = {"type": "string", "format": "binary"}
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "description": f"The data file's bytes (JSON Lines, CSV or Parquet as `filename` says), at most {MAX_UPLOAD_BYTES} bytes",
        "content": {"application/octet-stream": {"schema": BINARY}},
    }
}


UPLOAD_PREFIX = "upload-"
STALE_UPLOAD_SECONDS = 6 * 3600  # far longer than any upload may take: a younger one may be in flight


def sweep_stale_uploads(settings: Any, now: float | None = None) -> list[str]:
    """Remove what uploads cut short by a killed server left under $DATAOPS_HOME/uploads (an upload's
    bytes live there only while its request runs: a registered upload is kept under data/). Only
    directories older than STALE_UPLOAD_SECONDS go: another server process may be taking one in now."""
    import shutil
    import time

    root = settings.home_dir / "uploads"
    cutoff = (time.time() if now is None else now) - STALE_UPLOAD_SECONDS
    removed = []
    for entry in root.glob(f"{UPLOAD_PREFIX}*") if root.is_dir() else ():
        try:
            if entry.is_dir() and not entry.is_symlink() and entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry)
                removed.append(entry.name)
        except OSError:
            continue  # another process removed it first, or it is not ours to remove
    return removed


def _registered(plat: Any, version: DatasetVersion) -> dict[str, Any]:
    return row(version) | {"same_content_as": versions.same_content_as(plat, version)}


@router.get("/versions", response_model=VersionPage)
def version_list(plat: Plat, user: Actor, project: ProjectFilter = None, limit: Limit = 100, offset: Offset = 0) -> Any:
    return page(versions.list_versions(plat, user, project), limit, offset)


@router.get("/versions/{version_id}", response_model=VersionDetail)
def version_show(plat: Plat, user: Actor, version_id: ObjectId) -> Any:
    version, current = versions.show_version(plat, user, version_id)
    return row(version) | {"is_current_release": current}


@router.post("/versions", status_code=201, response_model=RegisteredVersion)
def version_register(plat: Plat, settings: Conf, user: Actor, body: RegisterByPath) -> Any:
    """Register a file (or directory, or Delta table) under your tenant's $DATAOPS_HOME/inbox/<tenant>/ as a draft version."""
    # Permission first, then the path (confined to the tenant's inbox, named relative to it), then the file.
    registered = versions.register_version(plat, user, body.project, body.path, body.parent, body.summary,
                                           root=settings.inbox_dir, copy=body.copy_data, provenance=body.provenance)  # fmt: skip
    return _registered(plat, registered)


@router.put("/projects/{project}/versions/upload", status_code=201, response_model=RegisteredVersion, openapi_extra=UPLOAD_BODY)
async def version_upload(
    plat: Plat, settings: Conf, user: Actor, project: ObjectId, request: Request,
    filename: Annotated[str, Query(max_length=200, pattern=r"^[\w.-]+\.(jsonl|ndjson|csv|parquet)$")],
    parent: Annotated[str | None, Query(max_length=64)] = None,
    summary: Annotated[list[str] | None, Query(max_length=50, description="the change summary, one line per value "
                                               f"(default: {DEFAULT_UPLOAD_SUMMARY[0]!r})")] = None,
    dagster_run_id: Annotated[str | None, Query(description="provenance: the Dagster run that produced the data")] = None,
    dagster_asset_key: Annotated[str | None, Query(description="provenance: the asset key, e.g. team/raw/orders")] = None,
    dagster_code_location: Annotated[str | None, Query(description="provenance: the Dagster code location")] = None,
) -> Any:  # fmt: skip
    """Register the request body (a data file's bytes) as a draft version; its bytes are always kept.
    The `dagster_*` parameters record its provenance (`dagster_run_id` and `dagster_asset_key` go together)."""
    given = (("dagster_run_id", dagster_run_id), ("dagster_asset_key", dagster_asset_key),
             ("dagster_code_location", dagster_code_location))  # fmt: skip
    provenance = {k: v for k, v in given if v is not None} or None
    # Permission and visibility first (a caller who may not create versions there, or cannot see
    # the project, is answered before one byte of the upload is read), then the provenance.
    await anyio.to_thread.run_sync(versions.check_can_register, plat, user, project, parent, provenance)
    uploads = settings.home_dir / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=uploads, prefix=UPLOAD_PREFIX) as tmp:
        path = Path(tmp) / filename
        with path.open("wb") as out:  # streamed: RequestGuard cuts the stream at MAX_UPLOAD_BYTES
            async for chunk in request.stream():
                out.write(chunk)
        registered = await anyio.to_thread.run_sync(
            # An upload has no place of its own to live: its original bytes are always kept (copy).
            lambda: versions.register_version(
                plat,
                user,
                project,
                path,
                parent,
                summary or DEFAULT_UPLOAD_SUMMARY,
                label=filename,
                copy=True,
                provenance=provenance,
                uploaded=True,  # its source is the kept copy: the request's file is gone afterwards
            )
        )
        return await anyio.to_thread.run_sync(_registered, plat, registered)


@router.post("/versions/{version_id}/validate", response_model=Version)
def version_validate(plat: Plat, user: Actor, version_id: ObjectId) -> Any:
    """Run the project's quality gate: validated, or rejected naming every failed threshold."""
    return row(versions.validate_version(plat, user, version_id))


@router.post("/versions/{version_id}/release", response_model=Version)
def version_release(plat: Plat, user: Actor, version_id: ObjectId) -> Any:
    """Release through the gate (409 naming every failed condition)."""
    return row(versions.release_version(plat, user, version_id))


@router.post("/versions/{version_id}/deprecate", response_model=Version)
def version_deprecate(plat: Plat, user: Actor, version_id: ObjectId) -> Any:
    return row(versions.deprecate_version(plat, user, version_id))


@router.get("/versions/{version_id}/diff/{other_id}", response_model=VersionDiff, response_model_by_alias=True)
def version_diff(plat: Plat, user: Actor, version_id: ObjectId, other_id: ObjectId) -> Any:
    """What changed from `version_id` to `other_id`: rows added / removed / changed by id (example ids
    under `examples`), columns added / removed / retyped, shifts of the distributions and signals."""
    return versions.diff_versions(plat, user, version_id, other_id)


@router.post("/versions/{version_id}/verify", response_model=VerifyResult)
def version_verify(plat: Plat, user: Actor, version_id: ObjectId) -> Any:
    """Re-read the version's source and compare pin and digest (recorded and audited)."""
    return versions.verify_version(plat, user, version_id)


@router.get("/versions/{version_id}/source", response_model=data_files.VersionSource)
def version_source(plat: Plat, user: Actor, version_id: ObjectId) -> Any:
    """Where the version's data is and the pin that identifies its bytes. `download` is the path of
    the data route when the platform serves the bytes (a kept copy, or one local file still as
    pinned); S3, Delta and Iceberg sources are answered with their URI and pin only."""
    version, _ = versions.show_version(plat, user, version_id)
    return data_files.describe(plat, version)


@router.get(
    "/versions/{version_id}/data",
    response_class=FileResponse,
    responses={200: {"description": "The version's bytes", "content": {"application/octet-stream": {"schema": BINARY}}}},
)
def version_data(plat: Plat, user: Actor, version_id: ObjectId) -> FileResponse:
    """The version's original bytes, streamed: its kept copy, or its local source file while it is
    still the pinned file. Read permission is decided before any byte is read; bounded by the
    deployment's dataset size limit. Other sources: 400 naming the source (read it there)."""
    version, _ = versions.show_version(plat, user, version_id)
    served = data_files.servable(plat, version)
    return FileResponse(served.path, media_type="application/octet-stream", filename=served.filename)
