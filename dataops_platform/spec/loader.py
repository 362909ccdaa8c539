"""Read, parse and cross-check a platform spec file; every problem names file, field path and value."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from dataops_platform.errors import InvalidInput
from dataops_platform.spec.actions import ACTIONS, SYSTEM_ROLE
from dataops_platform.spec.models import PlatformSpec


@dataclass(frozen=True)
class SpecProblem:
    path: str
    value: Any
    message: str

    def __str__(self) -> str:
        if self.value is None:
            shown = " (missing)" if self.message == "Field required" else ""
        else:
            shown = f" = {self.value!r}"
        return f"{self.path}{shown}: {self.message}"


class SpecInvalid(InvalidInput):
    """A spec file that cannot be applied; `problems` lists every one found."""

    def __init__(self, file: str, problems: list[SpecProblem]):
        lines = "\n".join(f"  - {p}" for p in problems)
        first = problems[0]
        super().__init__(
            f"invalid platform spec {file}: {len(problems)} problem(s)\n{lines}",
            field=first.path,
            value=first.value,
            file=file,
            problems=[{"path": p.path, "value": p.value, "message": p.message} for p in problems],
        )
        self.problems = problems


def _loc_to_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def _value_at(data: Any, loc: tuple[Any, ...]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _duplicates(items: list[Any], section: str) -> list[SpecProblem]:
    counts = Counter(item.id for item in items)
    return [
        SpecProblem(f"{section}[{i}].id", item.id, f"duplicate id (appears {counts[item.id]} times); ids must be unique")
        for i, item in enumerate(items)
        if counts[item.id] > 1
    ]


def cross_check(spec: PlatformSpec) -> list[SpecProblem]:
    """References between sections, which pydantic cannot see field by field."""
    problems: list[SpecProblem] = []
    for section in ("tenants", "users", "projects", "architecture", "apis", "task_queues", "ui_panels", "operating_rhythm"):
        problems += _duplicates(getattr(spec, section), section)
    tenants = {t.id: t for t in spec.tenants}
    users = {u.id for u in spec.users}
    roles = set(spec.roles)
    projects = {p.id for p in spec.projects}
    if spec.system_actor.id in users:
        problems.append(SpecProblem("system_actor.id", spec.system_actor.id, "collides with a user id; pick another"))
    if SYSTEM_ROLE in roles:
        problems.append(SpecProblem(f"roles.{SYSTEM_ROLE}", SYSTEM_ROLE, "is reserved for the system actor"))
    for name, role in spec.roles.items():
        for j, action in enumerate(role.actions):
            if action not in ACTIONS:
                problems.append(SpecProblem(f"roles.{name}.actions[{j}]", action, f"unknown action; known: {', '.join(ACTIONS)}"))
    for j, action in enumerate(spec.system_actor.actions):
        if action not in ACTIONS:
            problems.append(SpecProblem(f"system_actor.actions[{j}]", action, "unknown action"))
    for i, admin in enumerate(spec.platform_admins):
        if admin not in users:
            problems.append(SpecProblem(f"platform_admins[{i}]", admin, "unknown user; declare it under users"))
    per_tenant = Counter(p.tenant for p in spec.projects)
    for i, project in enumerate(spec.projects):
        if project.tenant not in tenants:
            problems.append(SpecProblem(f"projects[{i}].tenant", project.tenant, "unknown tenant; declare it under tenants"))
        if project.owner not in users:
            problems.append(SpecProblem(f"projects[{i}].owner", project.owner, "unknown user; declare it under users"))
        for user, role in project.members.items():
            if user not in users:
                problems.append(SpecProblem(f"projects[{i}].members.{user}", user, "unknown user; declare it under users"))
            if role not in roles:
                problems.append(
                    SpecProblem(f"projects[{i}].members.{user}", role, f"unknown role; known: {', '.join(sorted(roles))}")
                )
    for i, tenant in enumerate(spec.tenants):
        if per_tenant[tenant.id] > tenant.quota.max_projects:
            problems.append(
                SpecProblem(
                    f"tenants[{i}].quota.max_projects",
                    tenant.quota.max_projects,
                    f"tenant has {per_tenant[tenant.id]} projects; raise the quota or remove projects",
                )
            )
    policy = spec.governance_policy
    for key in list(policy.regression) + list(policy.quality_gate_by_project):
        if key not in projects:
            problems.append(SpecProblem(f"governance_policy.*.{key}", key, "unknown project"))
    for i, window in enumerate(policy.freeze_windows):
        if window.project not in projects:
            problems.append(SpecProblem(f"governance_policy.freeze_windows[{i}].project", window.project, "unknown project"))
        if window.end <= window.start:
            problems.append(SpecProblem(f"governance_policy.freeze_windows[{i}].end", str(window.end), "must be after start"))
    for i, api in enumerate(spec.apis):
        if api.action not in ACTIONS:
            problems.append(SpecProblem(f"apis[{i}].action", api.action, "unknown action"))
    if spec.system_actor.alert_project is not None and spec.system_actor.alert_project not in projects:
        unknown = spec.system_actor.alert_project
        problems.append(SpecProblem("system_actor.alert_project", unknown, "unknown project; declare it under projects"))
    problems += _rhythm_problems(spec)
    return problems


def _rhythm_problems(spec: PlatformSpec) -> list[SpecProblem]:
    """Each meeting must make a valid Dagster schedule: a cron, a real time zone, real assets."""
    from zoneinfo import available_timezones

    from dataops_platform.defs.graph import ASSET_NAMES

    problems = []
    zones = available_timezones()
    for i, meeting in enumerate(spec.operating_rhythm):
        if not _cron_ok(meeting.cron):
            problems.append(SpecProblem(f"operating_rhythm[{i}].cron", meeting.cron, "not a 5-field cron, e.g. '0 9 * * *'"))
        if meeting.timezone not in zones:
            problems.append(
                SpecProblem(f"operating_rhythm[{i}].timezone", meeting.timezone, "not an IANA time zone, e.g. Europe/Berlin")
            )
        for j, asset in enumerate(meeting.assets):
            if asset not in ASSET_NAMES:
                problems.append(
                    SpecProblem(f"operating_rhythm[{i}].assets[{j}]", asset, f"unknown asset; known: {', '.join(ASSET_NAMES)}")
                )
    return problems


_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))  # minute, hour, day of month, month, day of week
_CRON_ITEM = re.compile(r"^(\*|(\d+)(?:-(\d+))?)(?:/(\d+))?$")


def _cron_ok(cron: str) -> bool:
    """A plain 5-field cron (numbers, ranges, lists, steps): what Dagster schedules accept, without
    importing Dagster into `spec validate`; a test holds this to Dagster's own check."""
    fields = cron.split()
    if len(fields) != 5:
        return False
    for field, (low, high) in zip(fields, _CRON_RANGES, strict=True):
        for item in field.split(","):
            match = _CRON_ITEM.match(item)
            if match is None or match.group(4) == "0":
                return False
            numbers = [int(n) for n in match.group(2, 3) if n is not None]
            if any(not low <= n <= high for n in numbers) or (len(numbers) == 2 and numbers[0] > numbers[1]):
                return False
    return True


def parse_spec(raw: str, file: str = "<spec>") -> PlatformSpec:
    """Parse YAML text into a checked PlatformSpec, or raise SpecInvalid naming every problem."""
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(unknown position)"
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecInvalid(file, [SpecProblem(where, None, f"malformed YAML: {problem}")]) from None
    if not isinstance(data, dict):
        raise SpecInvalid(file, [SpecProblem("(root)", type(data).__name__, "the spec must be a YAML mapping")])
    try:
        spec = PlatformSpec.model_validate(data)
    except ValidationError as exc:
        problems = [SpecProblem(_loc_to_path(err["loc"]), _value_at(data, err["loc"]), err["msg"]) for err in exc.errors()]
        raise SpecInvalid(file, problems) from None
    problems = cross_check(spec)
    if problems:
        raise SpecInvalid(file, problems)
    return spec


def load_spec(path: Path | str) -> PlatformSpec:
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"spec file {path} does not exist", field="FILE", value=str(path)) from None
    except UnicodeDecodeError as exc:
        raise SpecInvalid(str(path), [SpecProblem(f"byte {exc.start}", None, "the file is not UTF-8 text")]) from None
    return parse_spec(raw, str(path))
