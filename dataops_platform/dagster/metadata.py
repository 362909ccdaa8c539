"""What an asset's materialisation says about the governed version it registered, and how a
downstream asset or a check reads it back from the Dagster instance.

The metadata is the hand-over between steps and runs: a check evaluated after the asset, a
training asset in a later run, the Dagster UI all read `dataops/version_id` from the asset's
latest materialisation, so nothing but the event log has to remember which version an asset made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg

from dataops_platform.errors import InvalidInput

PREFIX = "dataops/"
VERSION_ID = "dataops/version_id"
PROJECT = "dataops/project"
DIGEST = "dataops/digest"
SOURCE_URI = "dataops/source_uri"
STATUS = "dataops/status"
PARENT = "dataops/parent"
PARENT_RULE = "dataops/parent_rule"
ROWS = "dataops/rows"
QUALITY_FAILURES = "dataops/quality_failures"
QUALITY_FAILURE_COUNT = "dataops/quality_failure_count"
SERVER = "dataops/server"


@dataclass(frozen=True)
class RegisteredRef:
    """A version an asset registered, as its materialisation recorded it (a snapshot: ask the
    platform for its status now)."""

    asset_key: dg.AssetKey
    version_id: str
    project: str
    digest: str | None
    source_uri: str | None
    run_id: str


def version_metadata(version: Any, parent_rule: str, server: str) -> dict[str, Any]:
    """The materialisation's metadata for `version` (an API Version): ids, digest, status, quality."""
    failures = list(version.quality_failures or [])
    table = "| failed threshold |\n|---|\n" + "".join(f"| {f} |\n" for f in failures) if failures else "none"
    return {
        VERSION_ID: version.version_id,
        PROJECT: version.project_id,
        DIGEST: version.content_digest,
        SOURCE_URI: dg.MetadataValue.text(version.source_uri or ""),
        STATUS: version.status,
        PARENT: version.parent_version or "",
        PARENT_RULE: parent_rule,
        ROWS: dg.MetadataValue.int(version.row_count),
        QUALITY_FAILURE_COUNT: dg.MetadataValue.int(len(failures)),
        QUALITY_FAILURES: dg.MetadataValue.md(table),
        SERVER: dg.MetadataValue.url(server),
    }


def as_key(asset: dg.AssetKey | str | Sequence[str]) -> dg.AssetKey:
    """An asset key from a key, a user string ("team/raw/orders") or a list of parts."""
    return dg.AssetKey.from_user_string(asset) if isinstance(asset, str) else dg.AssetKey.from_coercible(asset)


def _value(metadata: dict[str, Any], key: str) -> Any:
    entry = metadata.get(key)
    return getattr(entry, "value", entry)


def registered_ref(instance: dg.DagsterInstance, asset_key: dg.AssetKey) -> RegisteredRef:
    """The version `asset_key` registered at its latest materialisation; InvalidInput when it has
    none (never materialised in this instance, or not through `register_output`)."""
    event = instance.get_latest_materialization_event(asset_key)
    materialization = event.asset_materialization if event is not None else None
    metadata = dict(materialization.metadata) if materialization is not None else {}
    version_id = _value(metadata, VERSION_ID)
    if not isinstance(version_id, str) or not version_id:
        why = "has never been materialised here" if event is None else f"has no {VERSION_ID} in its latest materialisation"
        raise InvalidInput(
            f"asset {asset_key.to_user_string()} {why}: materialise it with DataOpsResource.register_output "
            "(or give the version id yourself)",
            field="asset_key",
            value=asset_key.to_user_string(),
        )
    return RegisteredRef(
        asset_key=asset_key,
        version_id=version_id,
        project=str(_value(metadata, PROJECT) or ""),
        digest=_value(metadata, DIGEST) or None,
        source_uri=_value(metadata, SOURCE_URI) or None,
        run_id=event.run_id,
    )
