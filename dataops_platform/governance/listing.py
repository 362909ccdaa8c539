"""Listing objects a user may read: one named project (checked), or every project they read in."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select

from dataops_platform.governance.authz import readable_projects
from dataops_platform.governance.platform import Platform

T = TypeVar("T")


def list_visible(platform: Platform, actor: str, model: type[T], project_id: str | None = None, *where: Any) -> list[T]:
    """Rows of `model` in `project_id` (needs read there), or across the actor's readable projects."""
    if project_id is not None:
        with platform.view(actor, project=project_id) as session:
            projects = [project_id]
            return _query(session, model, projects, where)
    with platform.store.read() as session:
        return _query(session, model, readable_projects(session, actor), where)


def _query(session: Any, model: Any, projects: list[str], where: tuple) -> list:
    key = model.__mapper__.primary_key[0]
    return list(session.scalars(select(model).where(model.project_id.in_(projects), *where).order_by(key)))
