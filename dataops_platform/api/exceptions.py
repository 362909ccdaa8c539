"""Time-boxed exceptions to a release-gate rule: request, approve (not by the requester), list."""

from datetime import datetime
from typing import Any

from pydantic import Field

from dataops_platform.api.common import Actor, Input, Limit, ObjectId, Offset, Page, Plat, ProjectFilter, noun_router, page
from dataops_platform.api.records import record_model
from dataops_platform.artifacts.build import row
from dataops_platform.governance import exceptions
from dataops_platform.store.models import ExceptionApproval

router = noun_router("exceptions")

ExceptionRecord = record_model(
    ExceptionApproval, "ExceptionRecord", "An exception waiving one gate rule for one version until it expires."
)


class ExceptionPage(Page[ExceptionRecord]):  # type: ignore[valid-type]
    """A page of the exceptions the caller may read."""


class ExceptionRequest(Input):
    version: str = Field(max_length=64)
    rule: str = Field(max_length=64)
    reason: str = Field(max_length=4000)
    expires_at: datetime
    follow_up: str | None = Field(default=None, max_length=4000)


@router.get("/exceptions", response_model=ExceptionPage)
def exception_list(plat: Plat, user: Actor, project: ProjectFilter = None, limit: Limit = 100, offset: Offset = 0) -> Any:
    return page(exceptions.list_exceptions(plat, user, project), limit, offset)


@router.post("/exceptions", status_code=201, response_model=ExceptionRecord)
def exception_request(plat: Plat, user: Actor, body: ExceptionRequest) -> Any:
    return row(exceptions.request_exception(plat, user, body.version, body.rule, body.reason, body.expires_at,
                                            body.follow_up))  # fmt: skip


@router.post("/exceptions/{exception_id}/approve", response_model=ExceptionRecord)
def exception_approve(plat: Plat, user: Actor, exception_id: ObjectId) -> Any:
    return row(exceptions.approve_exception(plat, user, exception_id))
