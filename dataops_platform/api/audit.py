"""The audit log: a filtered page of records, and the verification of its hash chain."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, Field

from dataops_platform.api.common import Actor, Limit, Offset, Page, Plat, ProjectFilter, noun_router, page
from dataops_platform.api.records import record_model
from dataops_platform.governance.audit_service import AuditFilter, count_records, list_records, verify_chain
from dataops_platform.store.models import AuditRecord as AuditRow

router = noun_router("audit", "/audit")

AuditRecord = record_model(
    AuditRow, "AuditRecord", "One decision: who, as which role, did (or was refused) what, where; hash-chained."
)


class AuditPage(Page[AuditRecord]):  # type: ignore[valid-type]
    """A page of the audit records the caller may read, newest first."""


class AnchorFinding(BaseModel):
    """Why an anchor location (named by its label, never its path) and the chain disagree."""

    location: str
    kind: str = Field(description="unreadable, missing, ahead or differs")
    bad_seq: int | None
    message: str


class AuditVerification(BaseModel):
    ok: bool
    checked: int
    head_seq: int
    bad_seq: int | None
    reason: str | None
    problems: list[AnchorFinding] = Field(default_factory=list, description="every anchor finding, when the records held")


@router.get("", response_model=AuditPage)
def audit_list(
    plat: Plat,
    user: Actor,
    project: ProjectFilter = None,
    actor_filter: Annotated[str | None, Query(alias="actor", max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None, since: datetime | None = None,
    until: datetime | None = None, limit: Limit = 100, offset: Offset = 0,
) -> Any:  # fmt: skip
    flt = AuditFilter(project, actor_filter, action, since, until, limit, offset)
    return page(list_records(plat, user, flt), limit, offset, total=count_records(plat, user, flt))


@router.get("/verify", response_model=AuditVerification)
def audit_verify(plat: Plat, user: Actor) -> Any:
    result = verify_chain(plat, user)
    return {"ok": result.ok, "checked": result.checked, "head_seq": result.head.seq, "bad_seq": result.bad_seq,
            "reason": result.reason, "problems": [p.as_dict() for p in result.problems]}  # fmt: skip
