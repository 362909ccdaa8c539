"""Lineage: what hangs below (or above) an object, and the export of the caller's projects' graph
(typed nodes and edges) or of its OpenLineage run events."""

import json
from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import BaseModel, Field

from dataops_platform.api.common import Actor, Plat, ProjectFilter, noun_router
from dataops_platform.governance import lineage

router = noun_router("lineage", "/lineage")


class ImpactItem(BaseModel):
    ref: str
    depth: int = Field(description="the shortest distance from `ref` in edges")


class Impact(BaseModel):
    ref: str
    upstream: bool
    items: list[ImpactItem]


class LineageNode(BaseModel):
    ref: str
    kind: str
    project_id: str | None


class LineageEdge(BaseModel):
    source: str
    target: str
    type: str
    project_id: str
    created_at: str


class LineageGraph(BaseModel):
    """Every object of the caller's projects as a node, every typed edge in the order recorded."""

    format: Literal["graph"]
    projects: list[str]
    nodes: list[LineageNode]
    edges: list[LineageEdge]


class OpenLineageExport(BaseModel):
    """OpenLineage run events (https://openlineage.io/spec), one per governed operation, in order."""

    format: Literal["openlineage"]
    projects: list[str]
    events: list[dict[str, Any]] = Field(description="OpenLineage RunEvent objects, as the OpenLineage client serialises them")


@router.get("/impact", response_model=Impact)
def lineage_impact(
    plat: Plat, user: Actor, ref: Annotated[str, Query(max_length=128)],
    depth: Annotated[int | None, Query(ge=1, le=100)] = None, upstream: bool = False,
) -> Any:  # fmt: skip
    """What hangs below (or with `upstream`, above) `ref`: KIND:ID, a bare id, or a run outside the
    platform (`dagster_run:ID`, `mlflow_run:ID`), seen through the edges of the projects the caller reads."""
    rows = lineage.impact(plat, user, ref, depth, upstream)
    return {"ref": ref, "upstream": upstream, "items": [{"ref": r.ref, "depth": r.depth} for r in rows]}


@router.get("/export", response_model=LineageGraph | OpenLineageExport)
def lineage_export(plat: Plat, user: Actor, openlineage: bool = False, project: ProjectFilter = None) -> Any:
    """The lineage of one project or of every project the caller may read (`format` says which shape)."""
    if not openlineage:
        from dataops_platform.openlineage.graph import export_graph

        return {"format": "graph"} | export_graph(plat, user, project)
    from dataops_platform.openlineage.events import export_run_events

    export = export_run_events(plat, user, project)
    events = [json.loads(line) for line in export.json_lines().splitlines()]  # serialised as the client sends them
    return {"format": "openlineage", "projects": export.projects, "events": events}
