"""What a spec amounts to once the platform's defaults fill what it leaves out.

The platform's own description (`dataops_platform.self_description`: layers, API catalog, queues,
panels) merged with a spec's overrides (a queue's limit, a panel's title); the organisation's name,
declared or made from its tenants' names; and the summary `dataops spec validate` prints: the
effective counts and which sections came from defaults or from the code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dataops_platform import self_description as code
from dataops_platform.spec.models import MAX_NAME, MAX_SHORT_NAME, PlatformSpec

# Sections the code provides (a spec may only override some of their fields).
FROM_CODE = ("architecture", "apis", "task_queues", "ui_panels")
# Sections of a spec with a default; `tenants` and `users` are the only ones a spec must write.
DEFAULTED = (
    "organisation",
    "projects",
    "roles",
    "platform_admins",
    "system_actor",
    "separation_of_duties",
    "governance_policy",
    "operating_rhythm",
    "notifications",
)


def layers() -> list[dict[str, Any]]:
    return [{"id": x.id, "name": x.name, "packages": list(x.packages)} for x in code.LAYERS]


def api_catalog() -> list[dict[str, Any]]:
    return [
        {"id": a.id, "command": a.command, "route": a.route, "action": a.action, "description": a.description}
        for a in code.API_CATALOG
    ]


def queues(overrides: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The platform's queues with the spec's limits applied. An override naming no queue of the code
    (the code dropped a queue after the spec was applied; a spec naming one is refused) is kept as
    a queue of its own, so the consistency rules see it: no asset uses it."""
    out = [
        {"id": q.id, "limit": q.limit, "description": q.description, "in_code": True, "overridden": []} for q in code.QUEUES
    ]
    return _apply(out, overrides, {"limit": None, "description": ""})


def panels(overrides: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The platform's panels with the spec's titles applied (unknown ids kept, as for `queues`)."""
    out = [{"id": p.id, "title": p.title, "in_code": True, "overridden": []} for p in code.PANELS]
    return _apply(out, overrides, {"title": None})


def _apply(items: list[dict[str, Any]], overrides: Mapping[str, Mapping[str, Any]], blank: dict[str, Any]) -> list[dict]:
    by_id = {item["id"]: item for item in items}
    for key, change in sorted(overrides.items()):
        item = by_id.get(key)
        if item is None:
            item = by_id[key] = {"id": key, **blank, "in_code": False, "overridden": []}
            items.append(item)
        for field, value in sorted(change.items()):
            item[field] = value
            item["overridden"].append(field)
    return items


def queue_limits(overrides: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """{queue: limit} of the code's queues under a spec's overrides: what the Dagster pools get."""
    return {q["id"]: int(q["limit"]) for q in queues(overrides) if q["in_code"]}


def overrides_document(spec: PlatformSpec, section: str) -> dict[str, Any]:
    """The config document `spec apply` stores for `task_queues` / `ui_panels`: only the overrides."""
    value = getattr(spec, section)
    return {"overrides": {key: override.model_dump(mode="json") for key, override in value.items()}}


def stored_overrides(document: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The overrides of a stored `task_queues` / `ui_panels` document (none in a store that never
    applied a spec, or one applied before the code described itself)."""
    return dict((document or {}).get("overrides", {}))


def organisation(declared: Mapping[str, Any] | None, tenant_names: Sequence[str]) -> dict[str, Any]:
    """The organisation's name as the artifacts carry it: the declared one, else one made from its
    tenants' names ("Acme", "Acme and Globex", "Acme, Globex and 3 more tenants")."""
    if declared and declared.get("name"):
        name = declared["name"]
        short = declared.get("short_name") or _shorten(name)
        return {"name": name, "short_name": short, "source": "spec"}
    name = _name_from_tenants(list(tenant_names))
    return {"name": name, "short_name": _shorten(name), "source": "default (from the tenants' names)"}


def _name_from_tenants(names: list[str]) -> str:
    if not names:
        return "DataOps platform"
    if len(names) == 1:
        name = names[0]
    elif len(names) <= 3:
        name = f"{', '.join(names[:-1])} and {names[-1]}"
    else:
        name = f"{', '.join(names[:2])} and {len(names) - 2} more tenants"
    return name if len(name) <= MAX_NAME else f"{len(names)} tenants"


def _shorten(name: str) -> str:
    """The name itself when it fits MAX_SHORT_NAME, else cut after a whole word, marked with '…'."""
    if len(name) <= MAX_SHORT_NAME:
        return name
    head = name[: MAX_SHORT_NAME - 1]
    words = head.rsplit(" ", 1)[0] if " " in head[MAX_SHORT_NAME // 2 :] else head
    return words.rstrip(" ,") + "…"


def summary(spec: PlatformSpec) -> dict[str, Any]:
    """The effective counts of a checked spec and where each section came from."""
    written = spec.model_fields_set
    overrides = [f"task_queues.{k}.{f}" for k, v in spec.task_queues.items() for f in v.model_fields_set]
    overrides += [f"ui_panels.{k}.{f}" for k, v in spec.ui_panels.items() for f in v.model_fields_set]
    return {
        "organisation": organisation(
            spec.organisation.model_dump() if spec.organisation else None, [t.name for t in spec.tenants]
        )["name"],
        "tenants": len(spec.tenants),
        "projects": len(spec.projects),
        "users": len(spec.users),
        "roles": len(spec.roles),
        "apis": len(code.API_CATALOG),
        "layers": len(code.LAYERS),
        "queues": len(code.QUEUES),
        "panels": len(code.PANELS),
        "meetings": len(spec.operating_rhythm),
        "defaults": [section for section in DEFAULTED if section not in written],
        "from_code": list(FROM_CODE),
        "overrides": overrides,
    }
