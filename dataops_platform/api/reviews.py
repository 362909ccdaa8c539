"""Incident reviews: what happened, why, and the fix items with owners and due dates."""

from typing import Annotated, Any

from pydantic import BaseModel, Field

from dataops_platform.api.common import Actor, Input, Limit, Offset, Page, Plat, ProjectFilter, noun_router, page
from dataops_platform.api.records import record_model
from dataops_platform.artifacts.build import row
from dataops_platform.governance import reviews
from dataops_platform.store.models import IncidentReview

router = noun_router("reviews")


class FixItem(BaseModel):
    description: str
    owner: str
    due: str


Review = record_model(
    IncidentReview,
    "Review",
    "An incident review of related objects (alerts, versions, rollbacks).",
    types={"related_refs": list[str], "fix_items": list[FixItem]},
)


class ReviewPage(Page[Review]):  # type: ignore[valid-type]
    """A page of the reviews the caller may read."""


class FixItemBody(Input):
    description: str = Field(max_length=1000)
    owner: str = Field(max_length=64)
    due: str = Field(max_length=10, description="YYYY-MM-DD")


class ReviewBody(Input):
    related: list[Annotated[str, Field(max_length=128)]] = Field(max_length=50)
    symptom: str = Field(max_length=4000)
    impact_scope: str = Field(default="", max_length=4000)
    root_cause: str = Field(default="", max_length=4000)
    mitigation: str = Field(default="", max_length=4000)
    fix_items: list[FixItemBody] = Field(default_factory=list, max_length=50)


@router.get("/reviews", response_model=ReviewPage)
def review_list(plat: Plat, user: Actor, project: ProjectFilter = None, limit: Limit = 100, offset: Offset = 0) -> Any:
    return page(reviews.list_reviews(plat, user, project), limit, offset)


@router.post("/reviews", status_code=201, response_model=Review)
def review_add(plat: Plat, user: Actor, body: ReviewBody) -> Any:
    items = tuple(reviews.FixItem.parse(f"{i.description}|{i.owner}|{i.due}") for i in body.fix_items)
    review = reviews.ReviewInput(body.related, body.symptom, body.impact_scope, body.root_cause, body.mitigation, items)
    return row(reviews.add_review(plat, user, review))
