"""Which bytes of a version the API may serve, decided from what the version recorded.

Served: the version's kept copy (content-addressed, read-only: always the registered bytes) or,
without one, its single local source file while its size and modification time still match the
pin. Not served: several files, S3 objects, Delta and Iceberg tables (their URI and pin say where
to read them), and anything over the deployment's dataset size limit. The caller's read permission
is decided by the route (`versions.show_version`) before this module looks at any file.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from dataops_platform.errors import InvalidInput, TooLarge
from dataops_platform.governance.datasets import ReadLimits, version_source
from dataops_platform.governance.platform import Platform
from dataops_platform.sources.base import reopen_source
from dataops_platform.store.models import DatasetVersion


class VersionSource(BaseModel):
    """Where a version's data lives and what pins its bytes."""

    version_id: str
    project_id: str
    source_uri: str | None = Field(description="as recorded at registration (None: a legacy version, only its kept copy)")
    source_kind: str | None = Field(description="local, s3, delta or iceberg")
    source_format: str
    source_pin: dict[str, Any] | None = Field(description="file sizes and sha256, S3 ETags / VersionIds, table versions")
    content_digest: str
    digest_algorithm: str
    kept_copy: bool = Field(description="the platform keeps a content-addressed copy of the original bytes")
    download: str | None = Field(description="path of the data route when the platform serves the bytes, else None")
    note: str = Field(description="what is served, or why not and where to read the data instead")


@dataclass(frozen=True)
class Served:
    path: Path
    filename: str


def _locate(platform: Platform, version: DatasetVersion) -> Served | str:
    """The file to serve, or why there is none (a sentence naming the source and the fix)."""
    where = version.source_uri or version.data_location
    kept = version_source(version, platform.settings)
    if kept is not None:
        if len(kept.files) != 1:
            return f"{version.version_id} keeps {len(kept.files)} files; download is one file only: read the source {where}"
        return Served(kept.files[0][0], _filename(version, kept.files[0][0]))
    if version.source_kind != "local" or not version.source_uri:
        return (f"{version.version_id} is a {version.source_kind} source ({where}): the platform does not serve its bytes; "
                "read it at its source with the recorded pin")  # fmt: skip
    try:
        source = reopen_source(version.source_uri, platform.settings)
    except InvalidInput as gone:
        return f"{version.version_id}'s source can no longer be read ({gone.message}); it has no kept copy"
    files = getattr(source, "files", [])
    if len(files) != 1:
        return f"{version.version_id}'s source {where} holds {len(files)} files; download is one file only"
    path = files[0][0]
    pinned = ((version.source_pin or {}).get("files") or [{}])[0]
    info = path.stat()
    if (pinned.get("size"), pinned.get("mtime_ns")) != (info.st_size, info.st_mtime_ns):
        return (f"{version.version_id}'s source file {where} changed since it was registered (size or mtime differ "
                "from the pin): run verify; it has no kept copy")  # fmt: skip
    return Served(path, _filename(version, path))


def _filename(version: DatasetVersion, path: Path) -> str:
    pinned = ((version.source_pin or {}).get("files") or [{}])[0].get("name")
    return Path(pinned).name if pinned else path.name


def describe(platform: Platform, version: DatasetVersion) -> dict[str, Any]:
    located = _locate(platform, version)
    served = isinstance(located, Served)
    return {
        "version_id": version.version_id,
        "project_id": version.project_id,
        "source_uri": version.source_uri,
        "source_kind": version.source_kind,
        "source_format": version.source_format,
        "source_pin": version.source_pin,
        "content_digest": version.content_digest,
        "digest_algorithm": version.digest_algorithm,
        "kept_copy": version.copy_location is not None,
        "download": f"/api/v1/versions/{version.version_id}/data" if served else None,
        "note": f"served: {located.filename}" if served else located,
    }


def servable(platform: Platform, version: DatasetVersion) -> Served:
    """The file to stream, or InvalidInput (field `version_id`) / TooLarge saying why not."""
    located = _locate(platform, version)
    if isinstance(located, str):
        raise InvalidInput(located, field="version_id", value=version.version_id)
    limit = ReadLimits.from_settings(platform.settings).max_bytes
    size = located.path.stat().st_size
    if size > limit:
        raise TooLarge(f"{version.version_id}'s data is {size} bytes, over the download limit of {limit}; read it at its "
                       "source", field="version_id", value=version.version_id)  # fmt: skip
    return located
