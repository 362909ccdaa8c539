"""Spec files through the real command line (SPEC §13): a bad file exits 2 naming the file, the field
path and the value, and leaves the store byte-for-byte as it was; applying is idempotent; only a
platform admin may apply, and a denial is audited.

Each test works on its own copy of one home that was initialised and given the example spec by
`dataops init` and `dataops spec apply` in child processes.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from dataops_platform.governance import audit
from dataops_platform.governance.platform import Platform
from dataops_platform.settings import load_settings
from dataops_platform.spec.actions import DEFAULT_ROLES
from dataops_platform.spec.loader import SpecInvalid, load_spec
from dataops_platform_tests.helpers import (
    EXAMPLE_SPEC,
    CliResult,
    audit_after,
    head_seq,
    objects_snapshot,
    run_cli,
    run_cli_inprocess,
    store_digests,
)

ADMIN = "alice"


@pytest.fixture(scope="module")
def applied_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home after `init --admin alice` and one `spec apply` of the example (never modified)."""
    home = tmp_path_factory.mktemp("applied") / "home"
    init = run_cli(home, "init", "--admin", ADMIN)
    assert init.code == 0, init.stderr
    first = run_cli(home, "spec", "apply", EXAMPLE_SPEC, user=ADMIN, as_json=True)
    assert first.code == 0, first.stderr
    assert first.json["noop"] is False and "project:p01_retail_search" in first.json["created"]
    return home


def copy_home(template: Path, target: Path) -> Path:
    shutil.copytree(template, target)
    return target


def open_platform(home: Path) -> Platform:
    return Platform(load_settings(home))


# ---------------------------------------------------------------------------------------------
# Bad spec files
# ---------------------------------------------------------------------------------------------
def example() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE_SPEC.read_text())


def edited(change: Callable[[dict[str, Any]], None]) -> Callable[[], str]:
    def build() -> str:
        data = example()
        change(data)
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)

    return build


def _tab_indented() -> str:
    return EXAMPLE_SPEC.read_text().replace("\ntenants:\n", "\ntenants:\n\t- id: t09\n", 1)


TAB_LINE = EXAMPLE_SPEC.read_text().split("\ntenants:\n")[0].count("\n") + 3  # the line after `tenants:`


def _default_roles_plus(role: str, action: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data["roles"] = {name: {"actions": list(actions)} for name, actions in DEFAULT_ROLES.items()}
        data["roles"][role]["actions"].append(action)

    return change


def _set(path: tuple, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        target = data
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return change


def _delete(path: tuple) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        target = data
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]

    return change


def _duplicate_tenant(data: dict[str, Any]) -> None:
    quota = {"max_projects": 1, "max_dataset_versions": 1}
    data["tenants"].append({"id": "t01_retail", "name": "Retail, again", "quota": quota})


# case -> (file text, field paths the message must name, value text the message must name).
# These run through `dataops spec apply` in child processes.
BAD_SPECS: dict[str, tuple[Callable[[], str], list[str], str | None]] = {
    # The value of a YAML syntax error is the offending token, named by the parser's message.
    "malformed_yaml": (_tab_indented, [f"line {TAB_LINE}, column 1", "malformed YAML", "'\\t'"], None),
    "missing_required_field": (edited(_delete(("tenants", 1, "name"))),
                               ["tenants[1].name (missing)", "Field required"], None),
    "unknown_role_in_members": (edited(_set(("projects", 0, "members", "dan"), "superuser")),
                                ["projects[0].members.dan", "unknown role"], "'superuser'"),
    "unknown_action_in_role": (edited(_default_roles_plus("qa", "version.destroy")),
                               [f"roles.qa.actions[{len(DEFAULT_ROLES['qa'])}]", "unknown action"],
                               "'version.destroy'"),
    "duplicate_tenant_id": (edited(_duplicate_tenant), ["tenants[0].id", "tenants[3].id", "duplicate id"],
                            "'t01_retail'"),
    "project_in_unknown_tenant": (edited(_set(("projects", 1, "tenant"), "t09_nowhere")),
                                  ["projects[1].tenant", "unknown tenant"], "'t09_nowhere'"),
    "membership_of_unknown_user": (edited(_set(("projects", 2, "members", "zoe"), "qa")),
                                   ["projects[2].members.zoe", "unknown user"], "'zoe'"),
}  # fmt: skip

# More of the same kind, run through the same entry point in this process (faster).
MORE_BAD_SPECS: dict[str, tuple[Callable[[], str], list[str], str | None]] = {
    "missing_required_section": (edited(_delete(("users",))), ["users (missing)", "Field required"], None),
    "unknown_key": (edited(_set(("tenantz",), [])), ["tenantz", "unknown key `tenantz`; did you mean `tenants`?"], "[]"),
    "wrong_type": (edited(_set(("tenants", 0, "quota", "max_projects"), "many")),
                   ["tenants[0].quota.max_projects"], "'many'"),
    "unknown_platform_admin": (edited(_set(("platform_admins",), ["alice", "mallory"])),
                               ["platform_admins[1]", "unknown user"], "'mallory'"),
    "unknown_owner": (edited(_set(("projects", 0, "owner"), "nobody")), ["projects[0].owner"], "'nobody'"),
    "quota_exceeded": (edited(_set(("tenants", 0, "quota", "max_projects"), 0)),
                       ["tenants[0].quota.max_projects"], "0"),
}  # fmt: skip


@pytest.fixture(scope="module")
def bad_runs(applied_home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every bad file applied by the admin on its own copy of the home, in parallel child processes."""
    root = tmp_path_factory.mktemp("bad")
    jobs = {}
    for case, (build, _, _) in BAD_SPECS.items():
        spec_file = root / f"{case}.yaml"
        spec_file.write_text(build())
        home = copy_home(applied_home, root / f"home_{case}")
        jobs[case] = {"file": spec_file, "home": home, "before": store_digests(home)}

    def run(case: str) -> CliResult:
        return run_cli(jobs[case]["home"], "spec", "apply", jobs[case]["file"], user=ADMIN)

    with ThreadPoolExecutor(max_workers=3) as pool:
        for case, result in zip(jobs, pool.map(run, list(jobs)), strict=True):
            jobs[case]["result"] = result
            jobs[case]["after"] = store_digests(jobs[case]["home"])
    return jobs


def assert_names_file_field_value(result: CliResult, spec_file: Path, fields: list[str],
                                  value: str | None) -> None:  # fmt: skip
    assert result.code == 2, (result.stdout, result.stderr)
    message = result.error_text
    assert str(spec_file) in message, message
    for field in fields:
        assert field in message, message
    if value is not None:
        assert f"= {value}" in message, message
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_bad_spec_exits_2_naming_file_field_and_value(bad_runs: dict[str, dict[str, Any]], case: str) -> None:
    _, fields, value = BAD_SPECS[case]
    assert_names_file_field_value(bad_runs[case]["result"], bad_runs[case]["file"], fields, value)


@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_bad_spec_leaves_store_byte_for_byte_unchanged(bad_runs: dict[str, Any], case: str) -> None:
    job = bad_runs[case]
    assert job["before"]["governance.db"] is not None
    assert job["after"] == job["before"]


@pytest.mark.parametrize("case", list(MORE_BAD_SPECS))
def test_more_bad_specs(applied_home: Path, tmp_path: Path, case: str) -> None:
    build, fields, value = MORE_BAD_SPECS[case]
    spec_file = tmp_path / f"{case}.yaml"
    spec_file.write_text(build())
    home = copy_home(applied_home, tmp_path / "home")
    before = store_digests(home)
    result = run_cli_inprocess(home, "spec", "apply", spec_file, user=ADMIN)
    assert_names_file_field_value(result, spec_file, fields, value)
    assert store_digests(home) == before


ALL_BAD = {**BAD_SPECS, **MORE_BAD_SPECS}


@pytest.mark.parametrize("case", [c for c in ALL_BAD if c != "malformed_yaml"])
def test_bad_spec_problem_carries_path_and_value(tmp_path: Path, case: str) -> None:
    """The loader's structured problem (what --json and the REST API report) has the same path and value."""
    build, fields, value = ALL_BAD[case]
    spec_file = tmp_path / "bad.yaml"
    spec_file.write_text(build())
    with pytest.raises(SpecInvalid) as err:
        load_spec(spec_file)
    problems = [(p.path, repr(p.value)) for p in err.value.problems]
    # A missing field has no value: the message says "(missing)", the structured problem None.
    path, expected = fields[0].removesuffix(" (missing)"), value if value is not None else "None"
    assert (path, expected) in problems, problems
    assert err.value.exit_code == 2 and err.value.facts["file"] == str(spec_file)


def test_missing_spec_file_exits_2(applied_home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = run_cli_inprocess(applied_home, "spec", "validate", missing, as_json=True)
    assert result.code == 2
    assert str(missing) in result.error_text and "does not exist" in result.error_text


# ---------------------------------------------------------------------------------------------
# Applying: idempotent, admin only, failures roll back
# ---------------------------------------------------------------------------------------------
def test_second_apply_is_a_noop(applied_home: Path, tmp_path: Path) -> None:
    home = copy_home(applied_home, tmp_path / "home")
    platform = open_platform(home)
    objects, before = objects_snapshot(platform), head_seq(platform)
    platform.close()
    second = run_cli(home, "spec", "apply", EXAMPLE_SPEC, user=ADMIN, as_json=True)
    assert second.code == 0, second.stderr
    assert second.json["noop"] is True
    assert (second.json["created"], second.json["changed"]) == ([], [])
    assert "project:p01_retail_search" in second.json["unchanged"]
    human = run_cli_inprocess(home, "spec", "apply", EXAMPLE_SPEC, user=ADMIN)
    assert human.code == 0 and "nothing to change" in human.stdout
    platform = open_platform(home)
    try:
        assert objects_snapshot(platform) == objects
        records = audit_after(platform, before)
        assert [(r.actor, r.action, r.outcome, r.project) for r in records] == [(ADMIN, "spec.apply", "allowed", None)] * 2
        with platform.store.read() as session:
            assert audit.verify(session, platform.anchor).ok
    finally:
        platform.close()


def test_non_admin_apply_exits_3_and_is_audited(applied_home: Path, tmp_path: Path) -> None:
    home = copy_home(applied_home, tmp_path / "home")
    platform = open_platform(home)
    objects, before = objects_snapshot(platform), head_seq(platform)
    platform.close()
    result = run_cli(home, "spec", "apply", EXAMPLE_SPEC, user="dan")  # data engineer of p01 only
    assert result.code == 3, (result.stdout, result.stderr)
    for fact in ("'dan'", "spec.apply", "the platform", "role none"):
        assert fact in result.error_text
    platform = open_platform(home)
    try:
        assert objects_snapshot(platform) == objects
        records = audit_after(platform, before)
        assert [(r.actor, r.role, r.action, r.outcome, r.project) for r in records] == [
            ("dan", None, "spec.apply", "denied", None)
        ]
        with platform.store.read() as session:
            assert audit.verify(session, platform.anchor).ok
    finally:
        platform.close()


def test_apply_refused_by_the_store_rolls_back_and_audits(applied_home: Path, tmp_path: Path) -> None:
    """A file that is valid alone but cannot be applied (moving a project between tenants) changes nothing."""
    home = copy_home(applied_home, tmp_path / "home")
    data = example()
    data["projects"][0]["tenant"] = "t02_legal"
    data["users"].append({"id": "zed", "name": "Zed, added by the same file"})
    spec_file = tmp_path / "move.yaml"
    spec_file.write_text(yaml.safe_dump(data, sort_keys=False))
    platform = open_platform(home)
    objects, before = objects_snapshot(platform), head_seq(platform)
    platform.close()
    result = run_cli(home, "spec", "apply", spec_file, user=ADMIN)
    assert result.code == 2, (result.stdout, result.stderr)
    assert "projects[0].tenant" in result.error_text
    assert "t02_legal" in result.error_text, (
        "SPEC §13: an exit-2 message names the field and the value; the refused value is missing "
        f"(governance/spec_apply.py apply_spec_rows): {result.error_text}"
    )
    platform = open_platform(home)
    try:
        assert objects_snapshot(platform) == objects  # the new user `zed` was rolled back too
        records = audit_after(platform, before)
        assert [(r.actor, r.action, r.outcome) for r in records] == [(ADMIN, "spec.apply", "failed")]
    finally:
        platform.close()
