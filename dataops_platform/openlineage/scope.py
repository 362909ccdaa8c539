"""Which projects an export covers: one named project (checked), or every project the actor may read."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from dataops_platform.governance.authz import readable_projects
from dataops_platform.governance.platform import Platform


@contextmanager
def export_scope(platform: Platform, actor: str, project_id: str | None = None) -> Iterator[tuple[Session, list[str]]]:
    """A read session and the projects to export, sorted.

    With `project_id` the actor needs `read` there (PermissionDenied, or NotFound for another
    tenant's project); without it the scope is every project the actor may read, possibly none.
    Reads are checked, not audited, like `lineage impact` and the listings.
    """
    if project_id is not None:
        with platform.view(actor, project=project_id) as session:
            yield session, [project_id]
        return
    with platform.store.read() as session:
        yield session, sorted(readable_projects(session, actor))
