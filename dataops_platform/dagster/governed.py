"""The platform's governed datasets as assets of a team's code location (SPEC §15).

`governed_datasets(projects)` gives one external asset per project, `dataops/<project>`: the
project's current release, which the platform (not this code location) produces. A sensor
observes them: when a project's current release changes it reports an `AssetObservation` whose
data version is the platform's digest (with the version id, rows and source as metadata), so
Dagster's staleness and automation conditions of the assets that depend on it follow the
platform's releases.

Why a sensor and plain `AssetSpec`s rather than `@dg.multi_observable_source_asset`: in Dagster
1.13 the observable source assets are beta and need a run per observation; a sensor tick asks the
platform once for every project, keeps a cursor (the version each project was last seen at) and
reports only what changed, with no run at all.
"""

# No `from __future__ import annotations` here: Dagster reads the decorated functions' `context`
# annotations at definition time and refuses them as strings.

import json
from collections.abc import Sequence
from typing import Any

import dagster as dg

from dataops_platform.dagster import metadata as md
from dataops_platform.dagster.resource import DataOpsResource
from dataops_platform.errors import InvalidInput

KEY_PREFIX = "dataops"
GROUP = "governed_datasets"
DATA_VERSION_TAG = "dagster/data_version"  # what ObserveResult(data_version=...) writes; AssetObservation reads it


def governed_dataset_key(project: str, key_prefix: str = KEY_PREFIX) -> dg.AssetKey:
    """The asset key of a project's governed dataset: `dataops/<project>`."""
    return dg.AssetKey([key_prefix, project])


def current_release(versions: Sequence[Any]) -> Any | None:
    """The project's current release: the released version with the highest release_seq."""
    released = [v for v in versions if v.status == "released"]
    return max(released, key=lambda v: (v.release_seq or 0, v.created_at), default=None)


def governed_dataset_specs(
    projects: Sequence[str], *, key_prefix: str = KEY_PREFIX, group_name: str = GROUP
) -> list[dg.AssetSpec]:
    """One external asset per project (produced by the platform, observed by the sensor)."""
    _check_projects(projects)
    return [
        dg.AssetSpec(
            governed_dataset_key(p, key_prefix),
            description=f"The current release of the platform's project {p} (a governed dataset; its data version is the "
            "platform's content digest).",
            group_name=group_name,
            kinds={"dataops"},
            metadata={md.PROJECT: p},
            tags={"dataops/governed": "true"},
        )
        for p in projects
    ]


def observations(platform: Any, projects: Sequence[str], seen: dict[str, str], key_prefix: str) -> list[dg.AssetObservation]:
    """An observation for each project whose current release is not the one in `seen` (updated in place)."""
    out = []
    for project in projects:
        release = current_release(platform.version_list(project))
        if release is None or seen.get(project) == release.version_id:
            continue
        seen[project] = release.version_id
        out.append(
            dg.AssetObservation(
                asset_key=governed_dataset_key(project, key_prefix),
                description=f"{project}: current release {release.version_id}",
                metadata={
                    md.VERSION_ID: release.version_id,
                    md.PROJECT: project,
                    md.STATUS: release.status,
                    md.ROWS: dg.MetadataValue.int(release.row_count),
                    md.DIGEST: release.content_digest,
                    md.SOURCE_URI: dg.MetadataValue.text(release.source_uri or ""),
                    "dataops/released_at": release.released_at.isoformat() if release.released_at else "",
                },
                tags={DATA_VERSION_TAG: release.content_digest},
            )
        )
    return out


def governed_dataset_sensor(
    projects: Sequence[str],
    *,
    key_prefix: str = KEY_PREFIX,
    resource_key: str = "dataops",
    minimum_interval_seconds: int = 300,
    name: str = "dataops_governed_datasets",
) -> dg.SensorDefinition:
    """A sensor reporting each project's current release as an observation of its governed dataset."""
    _check_projects(projects)
    watched = list(projects)

    @dg.sensor(
        name=name,
        minimum_interval_seconds=minimum_interval_seconds,
        required_resource_keys={resource_key},
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Observes the platform's current release of each project (data version = the platform's digest).",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        resource = getattr(context.resources, resource_key)
        if not isinstance(resource, DataOpsResource):
            raise InvalidInput(f"resource {resource_key!r} is not a DataOpsResource", field="resource_key", value=resource_key)
        seen = _cursor(context.cursor)
        with resource.connected() as platform:
            events = observations(platform, watched, seen, key_prefix)
        cursor = json.dumps(seen, sort_keys=True)
        if not events:
            return dg.SensorResult(skip_reason="no project's current release changed", cursor=cursor)
        return dg.SensorResult(asset_events=events, cursor=cursor)

    return _sensor


def governed_datasets(projects: Sequence[str], **options: Any) -> dg.Definitions:
    """The governed datasets of `projects` and their sensor, to merge into a code location's
    Definitions (`dg.Definitions.merge(defs, governed_datasets([...]))`). Options: key_prefix,
    group_name, resource_key, minimum_interval_seconds."""
    spec_options = {k: options[k] for k in ("key_prefix", "group_name") if k in options}
    sensor_options = {k: options[k] for k in ("key_prefix", "resource_key", "minimum_interval_seconds") if k in options}
    unknown = set(options) - set(spec_options) - set(sensor_options)
    if unknown:
        raise InvalidInput(f"unknown option(s) {sorted(unknown)}", field="options", value=sorted(unknown))
    return dg.Definitions(
        assets=governed_dataset_specs(projects, **spec_options), sensors=[governed_dataset_sensor(projects, **sensor_options)]
    )


def _cursor(text: str | None) -> dict[str, str]:
    """The sensor's cursor ({project: version id last reported}); an unreadable one starts afresh."""
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _check_projects(projects: Sequence[str]) -> None:
    if isinstance(projects, str) or not projects:
        raise InvalidInput("projects must be a non-empty list of project ids", field="projects", value=str(projects)[:100])
    bad = [p for p in projects if not isinstance(p, str) or not p.strip() or "/" in p]
    if bad or len(set(projects)) != len(projects):
        raise InvalidInput(
            f"projects {list(projects)!r}: every id once, non-empty, without '/'",
            field="projects",
            value=str(bad or projects)[:100],
        )
