"""Rollbacks: return a project's current release to an earlier release (or preview it), and list them."""

from typing import Any

from pydantic import BaseModel, Field

from dataops_platform.api.common import Actor, Input, Limit, ObjectId, Offset, Page, Plat, noun_router, page
from dataops_platform.api.records import record_model
from dataops_platform.artifacts.build import row
from dataops_platform.governance import rollback
from dataops_platform.governance.listing import list_visible
from dataops_platform.store.models import RollbackEvent

router = noun_router("rollback", "/projects/{project}")

Rollback = record_model(RollbackEvent, "Rollback", "A rollback: from which release to which, why, by whom, and what hung below.")


class RollbackPage(Page[Rollback]):  # type: ignore[valid-type]
    """A page of a project's rollbacks, oldest first."""


class RollbackRequest(Input):
    to: str = Field(max_length=64)
    reason: str = Field(max_length=2000)
    trigger: str | None = Field(default=None, max_length=128)
    dry_run: bool = False


class RollbackResult(BaseModel):
    """The impact (objects below the abandoned version, by kind) and, unless a dry run, the rollback."""

    dry_run: bool
    project: str
    from_version: str
    to_version: str
    impact: dict[str, list[str]]
    releases_below: list[str]
    rollback: Rollback | None = None  # type: ignore[valid-type]


@router.post("/rollback", response_model=RollbackResult)
def rollback_execute(plat: Plat, user: Actor, project: ObjectId, body: RollbackRequest) -> Any:
    """Return the project's current release to `to` (an earlier release); `dry_run` only shows the impact."""
    if body.dry_run:
        return {"dry_run": True} | rollback.preview_rollback(plat, user, project, body.to, body.trigger).as_dict()
    event, plan = rollback.execute_rollback(plat, user, project, body.to, body.reason, body.trigger)
    return {"dry_run": False, "rollback": row(event)} | plan.as_dict()


@router.get("/rollbacks", response_model=RollbackPage)
def rollback_list(plat: Plat, user: Actor, project: ObjectId, limit: Limit = 100, offset: Offset = 0) -> Any:
    """The project's rollbacks (needs read there)."""
    return page(list_visible(plat, user, RollbackEvent, project), limit, offset)
