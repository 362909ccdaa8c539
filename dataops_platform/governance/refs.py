"""Object references (`version:ds_v005`, `experiment:exp_007`): parsing and resolving to a project.

External references (`dagster_run:<run id>`, `mlflow_run:<run id>`) name runs that live outside
the platform and appear only in lineage: they have no row and no project of their own (`EXTERNAL_KINDS`).

A bare id is accepted where a reference is expected (`resolve`): its prefix names the kind
(`ds_v001` is a version, `t01_retail.exp_002` an experiment), and an id without its tenant tag
is looked up in the tenants; exactly one readable match is taken, several are refused naming them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dataops_platform.errors import InvalidInput, NotFound
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


# The id prefix of each kind (`Platform.next_id`); a project's id is its own (from the spec).
ID_PREFIXES: dict[str, str] = {
    "version": "ds_v",
    "experiment": "exp_",
    "alert": "alert_",
    "rollback": "rb_",
    "exception": "exc_",
    "review": "ir_",
}


# Runs outside the platform that lineage names: a team's Dagster run that produced a version, the
# MLflow run an experiment was recorded from. Their ids are Dagster's and MLflow's run ids.
EXTERNAL_KINDS = ("dagster_run", "mlflow_run")
EXTERNAL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


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


def parse_external(value: str, field: str = "REF") -> tuple[str, str] | None:
    """(kind, run id) of an external reference, None for any other value; a malformed run id is refused."""
    kind, sep, object_id = value.partition(":")
    if not sep or kind not in EXTERNAL_KINDS:
        return None
    if not EXTERNAL_ID.fullmatch(object_id):
        raise InvalidInput(
            f"{field} {value!r}: a {kind} id is 1-64 letters, digits, '_' or '-' (e.g. {kind}:4f9c0e2a-1b7d)",
            field=field,
            value=value[:100],
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


def resolve(session: Session, value: str, field: str = "REF", readable: Callable[[str], bool] | None = None) -> str:
    """`value` as a KIND:ID reference. KIND:ID is taken as given. A bare id is matched by its
    prefix to a kind (a project by its id), with or without its tenant tag (`ds_v001` matches
    `t01_retail.ds_v001` and `t02_legal.ds_v001`); only objects in projects `readable` accepts
    count, so another tenant's objects are neither taken nor named. One match is the reference;
    none is not found; several are refused naming each."""
    if ":" in value:
        parse_ref(value, field)
        return value
    local = value.rpartition(".")[2]
    kinds = [kind for kind, prefix in ID_PREFIXES.items() if local.startswith(prefix) and local[len(prefix) :].isdigit()]
    ids = [value] if "." in value else [value, *(f"{tag}." + value for tag in _tenant_tags(session))]
    found = [ref(kind, object_id) for kind in kinds for object_id in ids if session.get(KINDS[kind], object_id) is not None]
    if session.get(Project, value) is not None:
        found.append(ref("project", value))
    if readable is not None:
        found = [r for r in found if (p := project_of(session, r)) is not None and readable(p)]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise InvalidInput(
            f"{field} {value!r} is ambiguous: it matches {', '.join(found)}; give one of them", field=field, value=value
        )
    if not kinds:
        raise InvalidInput(
            f"{field} {value!r} is not an object reference: use KIND:ID with KIND one of {', '.join(KINDS)}, or an id "
            f"whose prefix names its kind ({', '.join(f'{p}001: {k}' for k, p in ID_PREFIXES.items())}), or a project id",
            field=field,
            value=value,
        )
    raise NotFound(f"{field} {value!r} not found (or not visible)", field=field, value=value)


def _tenant_tags(session: Session) -> list[str]:
    from dataops_platform.governance.platform import tenant_tag
    from dataops_platform.store.models import Tenant

    return [tenant_tag(t) for t in session.scalars(select(Tenant.id).order_by(Tenant.id))]
