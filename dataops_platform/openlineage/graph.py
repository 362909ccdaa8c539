"""The plain lineage graph of the projects an actor may read: every object as a node, every typed edge.

The same shape as the `lineage_graph` artifact (nodes `{ref, kind, project_id}`, edges `{source,
target, type, project_id, created_at}`), cut to the actor's projects, plus the list of projects.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dataops_platform.clock import as_utc
from dataops_platform.governance import refs
from dataops_platform.governance.platform import Platform
from dataops_platform.openlineage.scope import export_scope
from dataops_platform.store.models import LineageEdge

NODE_KINDS = ("version", "experiment", "alert", "rollback", "exception", "review")  # the objects that live in a project


def lineage_graph(session: Session, projects: list[str]) -> dict[str, Any]:
    """Nodes sorted by ref; edges in the order they were recorded (so a new edge only appends)."""
    edges = [
        {
            "source": edge.source_ref,
            "target": edge.target_ref,
            "type": edge.edge_type,
            "project_id": edge.project_id,
            "created_at": as_utc(edge.created_at).isoformat(),
        }
        for edge in session.scalars(select(LineageEdge).where(LineageEdge.project_id.in_(projects)).order_by(LineageEdge.id))
    ]
    nodes: dict[str, dict[str, Any]] = {}
    for kind in NODE_KINDS:
        model = refs.KINDS[kind]
        key = model.__mapper__.primary_key[0]
        for object_id, project_id in session.execute(select(key, model.project_id).where(model.project_id.in_(projects))):
            ref = refs.ref(kind, object_id)
            nodes[ref] = {"ref": ref, "kind": kind, "project_id": project_id}
    for edge in edges:  # an edge may name an object the store no longer holds; rule 6 reports it
        for ref in (edge["source"], edge["target"]):
            nodes.setdefault(ref, {"ref": ref, "kind": ref.partition(":")[0], "project_id": edge["project_id"]})
    return {"projects": projects, "nodes": sorted(nodes.values(), key=lambda n: n["ref"]), "edges": edges}


def export_graph(platform: Platform, actor: str, project_id: str | None = None) -> dict[str, Any]:
    """The plain graph as `actor` may see it: one project, or all the projects they read."""
    with export_scope(platform, actor, project_id) as (session, projects):
        return lineage_graph(session, projects)
