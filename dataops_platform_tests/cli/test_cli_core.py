"""The core of the `dataops` command line (SPEC §13): init, the acting user, audit list and verify,
and the exit codes 0 / 1 / 2 / 3 / 4.

Most calls go through the real entry point `dataops_platform.cli.app.main` in this process (fast);
`test_entry_point_in_a_child_process` checks the same exit codes through a child process.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import select

from dataops_platform.clock import FixedClock
from dataops_platform.errors import PermissionDenied
from dataops_platform.governance.bootstrap import initialize
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.spec_apply import apply_spec
from dataops_platform.settings import load_settings
from dataops_platform.spec.loader import load_spec
from dataops_platform.store.models import AuditRecord
from dataops_platform_tests.conftest import T0
from dataops_platform_tests.helpers import EXAMPLE_SPEC, CliResult, run_cli, run_cli_inprocess

ADMIN = "alice"
P01, P02, P03 = "p01_retail_search", "p02_legal_sft", "p03_clinical_qa"
# (actor, action, project): allowed and denied mutations that give `audit list` something to filter.
ACTIVITY = [
    ("dan", "version.create", P01),
    ("lena", "version.create", P02),
    ("omar", "alert.open", P01),
    ("omar", "alert.open", P03),
    ("quinn", "version.validate", P02),
    ("dan", "version.release", P01),  # denied: data engineers do not release
    ("hugo", "version.create", P03),
]


def cli(home: Path | None, *args: str | Path, user: str | None = None, as_json: bool = False,
        env: dict[str, str] | None = None) -> CliResult:  # fmt: skip
    return run_cli_inprocess(home, *args, user=user, as_json=as_json, env=env)


@pytest.fixture(scope="module")
def base_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Initialised, example spec applied, ACTIVITY recorded; built through the API and closed cleanly."""
    home = tmp_path_factory.mktemp("cli") / "home"
    platform = Platform(load_settings(home), FixedClock(T0))
    initialize(platform, ADMIN)
    apply_spec(platform, ADMIN, load_spec(EXAMPLE_SPEC), str(EXAMPLE_SPEC))
    for actor, action, project in ACTIVITY:
        try:
            with platform.act(actor, action, project=project, object_ref=f"probe:{actor}"):
                pass
        except PermissionDenied:
            pass
    platform.close()
    yield home


@pytest.fixture
def home(base_home: Path, tmp_path: Path) -> Path:
    """A private copy of the base home, for tests that change it."""
    return Path(shutil.copytree(base_home, tmp_path / "home"))


def all_records(home: Path) -> list[AuditRecord]:
    platform = Platform(load_settings(home))
    try:
        with platform.store.read() as session:
            return list(session.scalars(select(AuditRecord).order_by(AuditRecord.seq.desc())))
    finally:
        platform.close()


# ---------------------------------------------------------------------------------------------
# init
# ---------------------------------------------------------------------------------------------
def test_init_is_idempotent_for_the_same_admin_and_refuses_another(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = cli(home, "init", "--admin", ADMIN, as_json=True)
    assert first.code == 0, first.stderr
    assert (first.json["admin"], first.json["created"]) == (ADMIN, True)
    again = cli(home, "init", "--admin", ADMIN)
    assert again.code == 0, again.stderr
    assert "already initialised" in again.stdout
    other = cli(home, "init", "--admin", "mallory")
    assert other.code == 4, (other.stdout, other.stderr)
    assert "already initialised" in other.error_text and "alice" in other.error_text
    records = all_records(home)
    assert [(r.actor, r.action, r.outcome) for r in records] == [(ADMIN, "platform.init", "allowed")]
    assert cli(home, "audit", "verify", user=ADMIN).code == 0


def test_init_rejects_a_bad_admin_id(tmp_path: Path) -> None:
    result = cli(tmp_path / "home", "init", "--admin", "bad id!")
    assert result.code == 2
    assert "--admin" in result.error_text and "bad id!" in result.error_text


NEED_STORE = [("audit", "list"), ("audit", "verify"), ("spec", "apply", str(EXAMPLE_SPEC)),
              ("version", "list")]  # fmt: skip


@pytest.mark.parametrize("args", NEED_STORE)
def test_commands_before_init_exit_2_pointing_at_init(tmp_path: Path, args: tuple[str, ...]) -> None:
    home = tmp_path / "home"
    result = cli(home, *args, user=ADMIN)
    assert result.code == 2, (result.stdout, result.stderr)
    assert "dataops init" in result.error_text
    assert not (home / "governance.db").exists()


def test_store_without_schema_exits_2_pointing_at_init(tmp_path: Path, pg_database: str) -> None:
    result = cli(tmp_path / "home", "audit", "list", user=ADMIN, env={"DATAOPS_DATABASE_URL": pg_database})
    assert result.code == 2, (result.stdout, result.stderr)
    assert "dataops init" in result.error_text


# ---------------------------------------------------------------------------------------------
# the acting user
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args", NEED_STORE)
def test_missing_acting_user_exits_2(base_home: Path, args: tuple[str, ...]) -> None:
    result = cli(base_home, *args)
    assert result.code == 2, (result.stdout, result.stderr)
    assert "--as" in result.error_text and "DATAOPS_USER" in result.error_text


def test_acting_user_from_the_environment(base_home: Path) -> None:
    result = cli(base_home, "audit", "list", as_json=True, env={"DATAOPS_USER": ADMIN})
    assert result.code == 0, result.stderr
    assert len(result.json) == len(all_records(base_home))


# ---------------------------------------------------------------------------------------------
# audit verify
# ---------------------------------------------------------------------------------------------
def test_verify_intact_store(base_home: Path) -> None:
    human = cli(base_home, "audit", "verify", user=ADMIN)
    assert human.code == 0, human.stderr
    assert "intact" in human.stdout
    machine = cli(base_home, "audit", "verify", user="quinn", as_json=True)  # audit.read via qa
    count = len(all_records(base_home))
    assert machine.code == 0
    assert machine.json == {"ok": True, "checked": count, "head_seq": count, "bad_seq": None, "reason": None, "problems": []}


VERIFY_EXIT_BUG = (
    "`audit verify` found the chain broken but exited 0: cli/app.py main() ignores the exit code that "
    "app(standalone_mode=False) returns for `raise typer.Exit(1)`"
)


def test_verify_after_tampering_exits_1_naming_the_record(home: Path) -> None:
    with sqlite3.connect(home / "governance.db") as db:
        db.execute("UPDATE audit_records SET actor = 'mallory' WHERE seq = 4")
    human = cli(home, "audit", "verify", user=ADMIN)
    assert "broken at seq 4" in human.stdout
    machine = cli(home, "audit", "verify", user=ADMIN, as_json=True)
    assert (machine.json["ok"], machine.json["bad_seq"]) == (False, 4)
    assert (human.code, machine.code) == (1, 1), VERIFY_EXIT_BUG


def test_verify_after_cutting_the_tail_exits_1(home: Path) -> None:
    newest = all_records(home)[0].seq
    with sqlite3.connect(home / "governance.db") as db:
        db.execute("DELETE FROM audit_records WHERE seq = ?", (newest,))
    machine = cli(home, "audit", "verify", user=ADMIN, as_json=True)
    assert (machine.json["ok"], machine.json["bad_seq"]) == (False, newest)
    assert "newest records removed" in machine.json["reason"]
    assert machine.code == 1, VERIFY_EXIT_BUG


def test_verify_needs_audit_read(base_home: Path) -> None:
    result = cli(base_home, "audit", "verify", user="dan")
    assert result.code == 3, (result.stdout, result.stderr)
    assert "'dan'" in result.error_text and "audit.read" in result.error_text


# ---------------------------------------------------------------------------------------------
# audit list
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("filters", [
    {"project": P01},
    {"actor": "omar"},
    {"action": "version.create"},
    {"project": P01, "actor": "dan"},
    {"actor": "omar", "action": "alert.open", "project": P03},
    {"action": "spec.apply"},
    {"actor": "nobody-at-all"},
])  # fmt: skip
def test_list_filters(base_home: Path, filters: dict[str, str]) -> None:
    options = [part for key, value in filters.items() for part in (f"--{key}", value)]
    result = cli(base_home, "audit", "list", *options, user=ADMIN, as_json=True)
    assert result.code == 0, result.stderr
    expected = [r.seq for r in all_records(base_home)
                if all(getattr(r, key) == value for key, value in filters.items())]  # fmt: skip
    assert [row["seq"] for row in result.json] == expected
    for row in result.json:
        assert {key: row[key] for key in filters} == filters


def test_list_shows_denied_records_and_every_field(base_home: Path) -> None:
    result = cli(base_home, "audit", "list", "--actor", "dan", "--project", P01, user=ADMIN, as_json=True)
    assert result.code == 0
    rows = {row["action"]: row for row in result.json}
    assert rows["version.release"]["outcome"] == "denied"
    assert rows["version.create"]["outcome"] == "allowed"
    created = rows["version.create"]
    assert (created["role"], created["tenant"]) == ("data_engineer", "t01_retail")
    assert all(len(row["hash"]) == 64 for row in result.json)


def test_list_scope_follows_audit_read(base_home: Path) -> None:
    """quinn (qa in every project, no platform role) sees project records but not platform-level ones."""
    result = cli(base_home, "audit", "list", "--limit", "1000", user="quinn", as_json=True)
    assert result.code == 0
    expected = [r.seq for r in all_records(base_home) if r.project is not None]
    assert [row["seq"] for row in result.json] == expected
    limited = cli(base_home, "audit", "list", "--limit", "2", user=ADMIN, as_json=True)
    assert [row["seq"] for row in limited.json] == [r.seq for r in all_records(base_home)[:2]]


@pytest.mark.parametrize("user", ["dan", "priya"])
def test_list_without_audit_read_exits_3(base_home: Path, user: str) -> None:
    result = cli(base_home, "audit", "list", user=user)
    assert result.code == 3, (result.stdout, result.stderr)
    assert f"'{user}'" in result.error_text and "audit.read" in result.error_text
    assert result.stdout == ""


def test_list_of_a_project_without_audit_read_exits_3(base_home: Path) -> None:
    result = cli(base_home, "audit", "list", "--project", P01, user="dan")  # dan's own project, wrong role
    assert result.code == 3
    for fact in ("'dan'", "data_engineer", "audit.read", P01):
        assert fact in result.error_text


def test_list_of_another_tenants_project_answers_not_found(base_home: Path) -> None:
    result = cli(base_home, "audit", "list", "--project", P02, user="dan", as_json=True)
    assert result.code == 2
    assert '"error": "not_found"' in result.stderr


def test_list_rejects_a_bad_time(base_home: Path) -> None:
    result = cli(base_home, "audit", "list", "--since", "yesterday", user=ADMIN)
    assert result.code == 2
    assert "--since" in result.error_text and "yesterday" in result.error_text


# ---------------------------------------------------------------------------------------------
# the same exit codes through a child process
# ---------------------------------------------------------------------------------------------
def test_entry_point_in_a_child_process(home: Path, tmp_path: Path) -> None:
    calls = {  # expected exit code -> call; independent, so run side by side
        2: lambda: run_cli(tmp_path / "fresh", "audit", "list", user=ADMIN),  # before init
        3: lambda: run_cli(home, "audit", "list", user="dan"),  # no audit.read
        4: lambda: run_cli(home, "init", "--admin", "mallory"),  # another admin
        0: lambda: run_cli(home, "audit", "verify", user=ADMIN),
    }
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = {code: pool.submit(call) for code, call in calls.items()}
        got = {code: future.result() for code, future in futures.items()}
    assert {code: result.code for code, result in got.items()} == {code: code for code in calls}, got
    with sqlite3.connect(home / "governance.db") as db:
        db.execute("UPDATE audit_records SET outcome = 'allowed' WHERE outcome = 'denied'")
    broken = run_cli(home, "audit", "verify", user=ADMIN)
    assert "audit chain broken" in broken.stdout
    assert broken.code == 1, VERIFY_EXIT_BUG
