"""Object references (`version:ds_v005`, `experiment:exp_007`): parsing and resolving to a project."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from dataops_platform.errors import InvalidInput
from dataops_platform.store.models import (
    Alert,
    DatasetVersion,
    ExceptionApproval,
    Experiment,
    IncidentReview,
    Project,
    RollbackEvent,
)

KINDS: dict[str, type[Any]] = {
    "version": DatasetVersion,
    "experiment": Experiment,
    "alert": Alert,
    "rollback": RollbackEvent,
    "exception": ExceptionApproval,
    "review": IncidentReview,
    "project": Project,  # what a platform-wide alert (a failed governance run) is raised on
}


def ref(kind: str, object_id: str) -> str:
    return f"{kind}:{object_id}"


def parse_ref(value: str, field: str = "REF") -> tuple[str, str]:
    kind, sep, object_id = value.partition(":")
    if not sep or kind not in KINDS or not object_id:
        raise InvalidInput(
            f"{field} {value!r} is not an object reference; use KIND:ID with KIND one of {', '.join(KINDS)} "
            "(e.g. version:ds_v001)",
            field=field,
            value=value,
        )
    return kind, object_id


def load(session: Session, value: str, field: str = "REF") -> Any | None:
    kind, object_id = parse_ref(value, field)
    return session.get(KINDS[kind], object_id)


def project_of(session: Session, value: str, field: str = "REF") -> str | None:
    obj = load(session, value, field)
    if obj is None:
        return None
    return obj.id if isinstance(obj, Project) else obj.project_id
