"""Incident reviews: root cause and owned, dated fix items for alerts, rollbacks and versions (SPEC §6)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from dataops_platform.errors import InvalidInput
from dataops_platform.governance import lineage, refs
from dataops_platform.governance.listing import list_visible
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.refs import ref
from dataops_platform.store.models import Alert, IncidentReview, Membership, RollbackEvent

REVIEWABLE_KINDS = ("alert", "rollback", "version")
SERIOUS_SEVERITIES = ("critical", "high")


@dataclass(frozen=True)
class FixItem:
    description: str
    owner: str
    due: date

    @classmethod
    def parse(cls, text: str) -> FixItem:
        """`description|owner|YYYY-MM-DD`, as given on the command line."""
        parts = [p.strip() for p in text.split("|")]
        if len(parts) != 3 or not all(parts):
            raise InvalidInput(f"--fix {text!r} must be 'description|owner|YYYY-MM-DD'", field="fix", value=text)
        try:
            due = date.fromisoformat(parts[2])
        except ValueError:
            raise InvalidInput(f"--fix {text!r}: due date {parts[2]!r} is not YYYY-MM-DD", field="fix", value=text) from None
        return cls(parts[0], parts[1], due)

    def as_dict(self) -> dict[str, str]:
        return {"description": self.description, "owner": self.owner, "due": self.due.isoformat()}


@dataclass(frozen=True)
class ReviewInput:
    related: list[str]
    symptom: str
    impact_scope: str = ""
    root_cause: str = ""
    mitigation: str = ""
    fix_items: tuple[FixItem, ...] = ()


def _missing_parts(review: ReviewInput) -> list[str]:
    missing = [name for name in ("symptom", "impact_scope", "root_cause", "mitigation") if not getattr(review, name).strip()]
    if not review.fix_items:
        missing.append("fix_items (at least one, with owner and due date)")
    return missing


def add_review(platform: Platform, actor: str, review: ReviewInput) -> IncidentReview:
    """Write a review (needs review.write). High/critical alerts and rollbacks need a complete one."""
    if not review.related:
        raise InvalidInput("a review must name at least one --alert, --rollback or --version", field="related", value=[])
    for value in review.related:
        kind, _ = refs.parse_ref(value, "related")
        if kind not in REVIEWABLE_KINDS:
            raise InvalidInput(f"{value!r}: reviews link alerts, rollbacks and versions", field="related", value=value)
    if not review.symptom.strip():
        raise InvalidInput("--symptom is required", field="symptom", value=review.symptom)
    first = review.related[0]
    with platform.act(actor, "review.write", project=lambda s: refs.project_of(s, first), object_ref=first) as op:
        serious = []
        for value in review.related:
            obj = refs.load(op.session, value, "related")
            if obj is None or obj.project_id != op.project:
                raise InvalidInput(f"{value!r}: no such object in project {op.project}", field="related", value=value)
            if isinstance(obj, RollbackEvent) or (isinstance(obj, Alert) and obj.severity in SERIOUS_SEVERITIES):
                serious.append(value)
        for item in review.fix_items:
            # An owner is someone who can act on the fix: a member of the project, not any known user.
            # Unknown users answer the same way: the message does not tell who exists elsewhere.
            if op.session.get(Membership, (item.owner, op.project)) is None:
                raise InvalidInput(
                    f"fix item {item.description!r}: owner {item.owner!r} is not a member of project {op.project}; "
                    "give a member of the project as the owner",
                    field="fix.owner",
                    value=item.owner,
                    project=op.project,
                    fix=item.description,
                )
        missing = _missing_parts(review)
        if serious and missing:
            raise InvalidInput(
                f"review of {', '.join(serious)} is incomplete: missing {', '.join(missing)}; "
                "high/critical alerts and rollbacks need symptom, impact scope, root cause, mitigation and fix items",
                field=missing[0].split(" ")[0],
                value=None,
            )
        row = IncidentReview(
            review_id=op.next_id("review", "ir_"),
            project_id=op.project,
            related_refs=list(review.related),
            symptom=review.symptom,
            impact_scope=review.impact_scope,
            root_cause=review.root_cause,
            mitigation=review.mitigation,
            fix_items=[f.as_dict() for f in review.fix_items],
            author=actor,
            created_at=op.now,
        )
        op.session.add(row)
        op.session.flush()
        for value in review.related:
            lineage.add_edge(op.session, op.project, value, ref("review", row.review_id), "reviews", op.now)
            obj = refs.load(op.session, value)
            if isinstance(obj, RollbackEvent):
                obj.review_ref = row.review_id
        op.object_ref = ref("review", row.review_id)
        op.details = {"related": review.related, "fix_items": len(review.fix_items)}
    return row


def list_reviews(platform: Platform, actor: str, project_id: str | None = None) -> list[IncidentReview]:
    return list_visible(platform, actor, IncidentReview, project_id)
