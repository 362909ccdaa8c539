"""Helpers for the governance-core tests: a small two-tenant organisation, CLI runners, store
snapshots, raw audit-chain tampering and the worker of the concurrent-append tests.

Everything here works on the real stores (SQLite files, the PostgreSQL server of conftest); nothing
is mocked. Fixtures stay in the test modules; this file only holds plain functions.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Connection, make_url

from dataops_platform.clock import Clock
from dataops_platform.governance import audit
from dataops_platform.governance.bootstrap import initialize
from dataops_platform.governance.platform import Platform
from dataops_platform.governance.spec_apply import apply_spec
from dataops_platform.settings import Settings, load_settings
from dataops_platform.spec.actions import DEFAULT_ROLES
from dataops_platform.spec.loader import parse_spec
from dataops_platform.store.models import AuditRecord, Base, GraphChange

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_SPEC = REPO / "examples" / "platform.yaml"

# --------------------------------------------------------------------------------------------
# A dedicated two-tenant organisation for the permission matrix
# --------------------------------------------------------------------------------------------
ROOT = "root"  # the platform admin (init + spec.apply); member of no project
TENANT_A, TENANT_B = "ta", "tb"
A1, A2, B1 = "a1", "a2", "b1"
ROLE_USERS: dict[str, str] = {role: f"u_{role}" for role in DEFAULT_ROLES}  # each a member of a1 only
NOBODY = "u_nobody"  # a declared user without any membership
OWNER_A2, OWNER_B1 = "own_a2", "own_b1"
PROJECT_TENANT = {A1: TENANT_A, A2: TENANT_A, B1: TENANT_B}
MATRIX_SPEC_NAME = "matrix.yaml"


def matrix_spec_text() -> str:
    """Tenant ta with projects a1 and a2, tenant tb with b1; one user per default role, in a1 only."""
    users = [ROOT, *ROLE_USERS.values(), NOBODY, OWNER_A2, OWNER_B1]
    a1_members = ", ".join(f"{user}: {role}" for role, user in ROLE_USERS.items())
    return f"""\
version: 1
tenants:
  - {{id: {TENANT_A}, name: Tenant A, quota: {{max_projects: 5, max_dataset_versions: 50}}}}
  - {{id: {TENANT_B}, name: Tenant B, quota: {{max_projects: 5, max_dataset_versions: 50}}}}
users:
{chr(10).join(f"  - {{id: {u}, name: {u}}}" for u in users)}
platform_admins: [{ROOT}]
projects:
  - {{id: {A1}, tenant: {TENANT_A}, name: Project A1, domain: a, owner: u_data_engineer,
     members: {{{a1_members}}}}}
  - {{id: {A2}, tenant: {TENANT_A}, name: Project A2, domain: a, owner: {OWNER_A2},
     members: {{{OWNER_A2}: admin}}}}
  - {{id: {B1}, tenant: {TENANT_B}, name: Project B1, domain: b, owner: {OWNER_B1},
     members: {{{OWNER_B1}: admin}}}}
governance_policy:
  sla:
    critical: {{acknowledge_minutes: 15, resolve_minutes: 60}}
"""


def matrix_platform(settings: Settings, clock: Clock | None = None) -> Platform:
    """An initialised platform (admin `root`) with the two-tenant matrix spec applied by root."""
    platform = Platform(settings, clock)
    initialize(platform, ROOT)
    apply_spec(platform, ROOT, parse_spec(matrix_spec_text(), MATRIX_SPEC_NAME), MATRIX_SPEC_NAME)
    return platform


# --------------------------------------------------------------------------------------------
# Store inspection
# --------------------------------------------------------------------------------------------
def audit_count(platform: Platform) -> int:
    with platform.store.read() as session:
        return int(session.scalar(select(func.count()).select_from(AuditRecord)) or 0)


def audit_after(platform: Platform, seq: int) -> list[AuditRecord]:
    """Audit records with a seq above `seq`, oldest first."""
    with platform.store.read() as session:
        query = select(AuditRecord).where(AuditRecord.seq > seq).order_by(AuditRecord.seq)
        return list(session.scalars(query))


def head_seq(platform: Platform) -> int:
    with platform.store.read() as session:
        return audit.read_head(session).seq


def objects_snapshot(platform: Platform, *, skip: Sequence[str] = ("audit_records",)) -> dict[str, list]:
    """Every row of every governance table (except `skip`), as sortable text tuples: what a refused
    action must leave as it was. The change feed's rows for the tables skipped are left out too (a
    refused action's audit record has its feed row); a feed row for any other table stays, so a
    write that slipped through shows twice."""
    out: dict[str, list] = {}
    with platform.store.read() as session:
        for table in Base.metadata.sorted_tables:
            if table.name in skip:
                continue
            rows = session.execute(select(table))
            if table.name == GraphChange.__tablename__:
                rows = (r for r in rows if r.tbl not in skip)
            out[table.name] = sorted(tuple(str(v) for v in row) for row in rows)
    return out


def sha256_file(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def store_digests(home: Path) -> dict[str, str | None]:
    """sha256 of the SQLite store, its WAL/SHM files and the audit anchor (None when absent)."""
    names = ("governance.db", "governance.db-wal", "governance.db-shm", "audit_anchor.json")
    return {name: sha256_file(home / name) for name in names}


# --------------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def error_text(self) -> str:
        """stderr with Rich's line wrapping undone (whitespace runs collapsed to one space)."""
        return " ".join(self.stderr.split())


def cli_args(home: Path | None, args: Sequence[str], user: str | None, as_json: bool) -> list[str]:
    out: list[str] = []
    if home is not None:
        out += ["--home", str(home)]
    if user is not None:
        out += ["--as", user]
    if as_json:
        out.append("--json")
    return out + [str(a) for a in args]


def _clean_env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATAOPS_")}
    env.update(extra or {})
    return env


def run_cli(home: Path | None, *args: str | Path, user: str | None = None, as_json: bool = False,
            env: dict[str, str] | None = None, timeout: float = 120) -> CliResult:  # fmt: skip
    """The real `dataops` entry point in a child process (`python -m dataops_platform.cli.app`).

    DATAOPS_* variables of the test environment are dropped; `env` adds some back.
    """
    proc = subprocess.run(
        [sys.executable, "-m", "dataops_platform.cli.app", *cli_args(home, args, user, as_json)],
        capture_output=True, text=True, check=False, env=_clean_env(env), timeout=timeout, cwd=REPO,
    )  # fmt: skip
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def run_cli_inprocess(home: Path | None, *args: str | Path, user: str | None = None, as_json: bool = False,
                      env: dict[str, str] | None = None) -> CliResult:  # fmt: skip
    """The same entry point (`dataops_platform.cli.app.main`) in this process: fast, same exit codes.

    sys.argv and the DATAOPS_* environment are set for the call and restored afterwards.
    """
    from dataops_platform.cli.app import main

    argv = ["dataops", *cli_args(home, args, user, as_json)]
    saved_argv, saved_env = sys.argv, dict(os.environ)
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        sys.argv = argv
        for key in [k for k in os.environ if k.startswith("DATAOPS_")]:
            del os.environ[key]
        os.environ.update(env or {})
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv = saved_argv
        os.environ.clear()
        os.environ.update(saved_env)
    return CliResult(code, out.getvalue(), err.getvalue())


# --------------------------------------------------------------------------------------------
# PostgreSQL databases that outlive one test (for module-scoped fixtures)
# --------------------------------------------------------------------------------------------
@contextlib.contextmanager
def pg_scratch_database(server_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database on the test server, dropped on exit."""
    name = f"dataops_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# --------------------------------------------------------------------------------------------
# Raw audit-chain tampering (plain SQL, as an attacker with database access would do it)
# --------------------------------------------------------------------------------------------
CHAIN_FIELDS = ("at", "actor", "role", "tenant", "project", "action", "object_ref", "outcome", "details",
                "prev_hash", "hash")  # fmt: skip


def chain_rows(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(text(f"SELECT seq, {', '.join(CHAIN_FIELDS)} FROM audit_records ORDER BY seq"))
    return [dict(r._mapping) for r in rows]


def shift_seqs_up(conn: Connection, from_seq: int) -> None:
    """seq -> seq + 1 for every record at or above `from_seq` (two steps: seq is the primary key)."""
    conn.execute(text("UPDATE audit_records SET seq = -(seq + 1) WHERE seq >= :k"), {"k": from_seq})
    conn.execute(text("UPDATE audit_records SET seq = -seq WHERE seq < 0"))


def insert_record(conn: Connection, seq: int, values: dict[str, Any]) -> None:
    cols = ["seq", *CHAIN_FIELDS]
    conn.execute(
        text(f"INSERT INTO audit_records ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})"),
        {"seq": seq, **values},
    )


def swap_contents(conn: Connection, seq_a: int, seq_b: int) -> None:
    """Exchange every column but seq between two records (hash is unique: park one first)."""
    rows = {r["seq"]: r for r in chain_rows(conn) if r["seq"] in (seq_a, seq_b)}
    assignments = ", ".join(f"{c} = :{c}" for c in CHAIN_FIELDS)
    park = text("UPDATE audit_records SET hash = :h WHERE seq = :s")
    conn.execute(park, {"h": "parked" + "0" * 58, "s": seq_a})
    update = text(f"UPDATE audit_records SET {assignments} WHERE seq = :seq")
    for target, source in ((seq_b, seq_a), (seq_a, seq_b)):
        conn.execute(update, {**{c: rows[source][c] for c in CHAIN_FIELDS}, "seq": target})


# --------------------------------------------------------------------------------------------
# Concurrent writers (run in spawned processes: everything here must be importable and picklable)
# --------------------------------------------------------------------------------------------
def append_worker(home: str, database_url: str | None, actor: str, action: str, project: str, count: int,
                  barrier: Any, results: Any) -> None:  # fmt: skip
    """Act `count` times as `actor` through `Platform.act`, one transaction each, after the barrier."""
    try:
        overrides: dict[str, object] = {"database_url": database_url} if database_url else {}
        platform = Platform(load_settings(home, **overrides))
        done = 0
        barrier.wait(timeout=120)
        for _ in range(count):
            with platform.act(actor, action, project=project) as op:
                op.object_ref = op.next_id("concurrency", "c_", 5)
            done += 1
        platform.close()
        results.put((actor, done, None))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails the test
        import traceback

        results.put((actor, -1, "".join(traceback.format_exception(exc))))


# --------------------------------------------------------------------------------------------
# Readable ids, numbered per tenant (`<tenant>.ds_v007`)
# --------------------------------------------------------------------------------------------
def numbers_by_tenant(ids: Sequence[str], prefix: str) -> dict[str, list[int]]:
    """The sorted numbers of readable ids, per tenant tag: {"t02_legal": [1, 2, 3]}."""
    out: dict[str, list[int]] = {}
    for object_id in ids:
        tag, _, local = object_id.rpartition(".")
        out.setdefault(tag, []).append(int(local.removeprefix(prefix)))
    return {tag: sorted(numbers) for tag, numbers in out.items()}


def tenant_counters(session: Any, kind: str) -> dict[str, int]:
    """The id counter of `kind` per tenant tag, as the store holds it."""
    from dataops_platform.governance.platform import tenant_counter, tenant_tag
    from dataops_platform.store.models import IdCounter, Tenant

    out = {}
    for tenant in session.scalars(select(Tenant.id)):
        counter = session.get(IdCounter, tenant_counter(kind, tenant))
        if counter is not None:
            out[tenant_tag(tenant)] = counter.last
    return out


def materialize_assets(settings: Settings, assets: list[str], tags: dict[str, str] | None = None) -> Any:
    """`dg.materialize` of the named governance assets and their checks, on an ephemeral instance,
    failures kept in the result (a failed check is what many tests look for)."""
    import dagster as dg

    from dataops_platform.defs.assets import ASSETS
    from dataops_platform.defs.checks import CHECKS
    from dataops_platform.defs.resources import default_resources

    return dg.materialize(
        [*ASSETS, *CHECKS],
        instance=dg.DagsterInstance.ephemeral(),
        resources=default_resources(settings.home_dir),
        selection=dg.AssetSelection.assets(*assets),
        raise_on_error=False,
        tags=tags,
    )
