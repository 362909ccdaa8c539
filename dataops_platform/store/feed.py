"""The change feed: every write to a governance table, in commit order, with a cursor.

Database triggers (installed by migration 0009) append one row to `graph_changes` for each row
inserted, updated or deleted in the tables the governance artifacts are built from: through the
services, an admin's SQL console or a corruption test alike, so an incremental refresh
(`artifacts.incremental`) never misses a write the way a feed written by the services would. A row
names the table, the changed row's key (as text) and, for rows other records depend on, the key
they link to (an experiment's dataset version, an edge's two ends, a project's current release):
an update writes the old and the new image, so moving a link marks both ends.

What the triggers cannot see (the tables being recreated by a later migration, which drops
SQLite's triggers with the old table; a schema made by `create_all`) is detected: `feed_installed`
is false and the refresh rebuilds in full.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, delete, func, select, text
from sqlalchemy.orm import Session

from dataops_platform.store.models import GraphChange

# table -> (key column, link columns): what a change row records of each changed row.
WATCHED: dict[str, tuple[str, tuple[str, ...]]] = {
    "tenants": ("id", ()),
    "users": ("id", ()),
    "projects": ("id", ("current_release",)),
    "roles": ("name", ()),
    "role_actions": ("role", ()),
    "memberships": ("project_id", ()),
    "platform_memberships": ("user_id", ()),
    "platform_config": ("key", ()),
    "dataset_versions": ("version_id", ()),
    "experiments": ("experiment_id", ("dataset_version",)),
    "exception_approvals": ("exception_id", ("version_id",)),
    "lineage_edges": ("id", ("source_ref", "target_ref")),
    "rollback_events": ("rollback_id", ()),
    "alerts": ("alert_id", ()),
    "incident_reviews": ("review_id", ()),
    "audit_records": ("seq", ()),
}
_EVENTS = {"insert": ("INSERT", ("NEW",)), "update": ("UPDATE", ("OLD", "NEW")), "delete": ("DELETE", ("OLD",))}
_TOKEN = {"sqlite": "lower(hex(randomblob(8)))", "postgresql": "substr(md5(random()::text), 1, 16)"}


def _trigger_name(table: str, event: str) -> str:
    return f"graph_feed_{table}_{event}"


def _values(table: str, image: str, dialect: str) -> list[str]:
    key, links = WATCHED[table]
    token = _TOKEN[dialect]
    rows = [f"('{table}', CAST({image}.{key} AS TEXT), CAST({image}.{link} AS TEXT), {token})" for link in links]
    return rows or [f"('{table}', CAST({image}.{key} AS TEXT), NULL, {token})"]


def _unique_sets(table: str) -> list[tuple[str, ...]]:
    """The column sets of `table` a row must not share with another: its primary key, its unique
    constraints and unique indexes (what SQLite's REPLACE deletes a clashing row for)."""
    from sqlalchemy import Index, UniqueConstraint

    from dataops_platform.store.models import Base

    model = Base.metadata.tables[table]
    sets = [tuple(c.name for c in k.columns) for k in model.constraints if isinstance(k, UniqueConstraint)]
    sets += [tuple(c.name for c in i.columns) for i in model.indexes if isinstance(i, Index) and i.unique]
    sets += [(c.name,) for c in model.columns if c.unique]
    # Sorted: constraints and indexes are sets, and the trigger text made of them is compared exactly.
    return list(dict.fromkeys([tuple(c.name for c in model.primary_key.columns), *sorted(sets)]))


def _clashing(table: str, event: str) -> str:
    """SQLite: the rows an INSERT OR REPLACE / UPDATE OR REPLACE is about to delete without firing
    any delete trigger (unless a connection turned recursive_triggers on), recorded before it does."""
    key, links = WATCHED[table]
    match = " OR ".join("(" + " AND ".join(f"{c} = NEW.{c}" for c in cols) + ")" for cols in _unique_sets(table))
    other = " AND rowid <> OLD.rowid" if event == "update" else ""
    selects = [
        f"SELECT '{table}', CAST({key} AS TEXT), {f'CAST({link} AS TEXT)' if link else 'NULL'}, {_TOKEN['sqlite']} "
        f"FROM {table} WHERE ({match}){other}"
        for link in (links or (None,))
    ]
    return f"INSERT INTO graph_changes (tbl, key, link, token) {' UNION ALL '.join(selects)};"


GUARD = "graph_feed_guard"  # on graph_changes itself: its rows are appended and pruned, never edited
_GUARD_MESSAGE = "graph_changes is append-only: the change feed's rows are never edited"


def install_statements(dialect: str, schema: str | None = None) -> list[str]:
    """The DDL creating every trigger of the feed (idempotent: existing ones are replaced). On
    PostgreSQL the functions name the feed's table with its `schema`: an unqualified name would
    resolve through the writer's search_path, where a temporary table of the same name comes first
    and would swallow that session's changes."""
    statements: list[str] = []
    if dialect == "postgresql":
        feed_table = '"' + schema.replace('"', '""') + '".graph_changes' if schema else "graph_changes"
        statements.append(
            f"CREATE OR REPLACE FUNCTION {GUARD}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"RAISE EXCEPTION '{_GUARD_MESSAGE.replace(chr(39), chr(39) * 2)}'; END $$"
        )
        statements.append(f"DROP TRIGGER IF EXISTS {GUARD} ON graph_changes")
        statements.append(f"CREATE TRIGGER {GUARD} BEFORE UPDATE ON graph_changes FOR EACH ROW EXECUTE FUNCTION {GUARD}()")
        statements.append(f"ALTER TABLE graph_changes ENABLE ALWAYS TRIGGER {GUARD}")
        for table in WATCHED:
            for event, (verb, images) in _EVENTS.items():
                values = ", ".join(v for image in images for v in _values(table, image, dialect))
                name = _trigger_name(table, event)
                statements.append(
                    f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    f"INSERT INTO {feed_table} (tbl, key, link, token) VALUES {values}; RETURN NULL; END $$"
                )
                statements.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
                statements.append(f"CREATE TRIGGER {name} AFTER {verb} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()")
                # Fired in replica mode too (pg_restore --disable-triggers, bulk loaders set it).
                statements.append(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {name}")
            # TRUNCATE deletes rows without row triggers: a change with no key (every row: a full rebuild).
            name = _trigger_name(table, "truncate")
            statements.append(
                f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"INSERT INTO {feed_table} (tbl, key, link, token) VALUES ('{table}', NULL, NULL, {_TOKEN[dialect]}); "
                "RETURN NULL; END $$"
            )
            statements.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            statements.append(f"CREATE TRIGGER {name} AFTER TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {name}()")
            statements.append(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {name}")
        return statements
    statements.append(f"DROP TRIGGER IF EXISTS {GUARD}")
    statements.append(
        f"CREATE TRIGGER {GUARD} BEFORE UPDATE ON graph_changes FOR EACH ROW BEGIN "
        f"SELECT RAISE(ABORT, '{_GUARD_MESSAGE.replace(chr(39), chr(39) * 2)}'); END"
    )
    for table in WATCHED:
        for event, (verb, images) in _EVENTS.items():
            values = ", ".join(v for image in images for v in _values(table, image, dialect))
            name = _trigger_name(table, event)
            statements.append(f"DROP TRIGGER IF EXISTS {name}")
            statements.append(
                f"CREATE TRIGGER {name} AFTER {verb} ON {table} FOR EACH ROW BEGIN "
                f"INSERT INTO graph_changes (tbl, key, link, token) VALUES {values}; END"
            )
        for event in ("insert", "update"):
            name = _trigger_name(table, f"{event}_clash")
            statements.append(f"DROP TRIGGER IF EXISTS {name}")
            body = _clashing(table, event)
            statements.append(f"CREATE TRIGGER {name} BEFORE {event.upper()} ON {table} FOR EACH ROW BEGIN {body} END")
    return statements


def _triggers(dialect: str) -> Iterator[tuple[str, str]]:
    """(table, trigger name) of every trigger `install_statements` makes for `dialect`."""
    yield "graph_changes", GUARD
    extra = ("truncate",) if dialect == "postgresql" else ("insert_clash", "update_clash")
    for table in WATCHED:
        for event in (*_EVENTS, *extra):
            yield table, _trigger_name(table, event)


def drop_statements(dialect: str) -> list[str]:
    out = []
    for table, name in _triggers(dialect):
        if dialect == "postgresql":
            out += [f"DROP TRIGGER IF EXISTS {name} ON {table}", f"DROP FUNCTION IF EXISTS {name}()"]
        else:
            out.append(f"DROP TRIGGER IF EXISTS {name}")
    return out


def install(conn: Connection) -> None:
    """(Re)create the feed's triggers: migration 0009, `dataops init` when some are missing, and any
    later migration that recreates a watched table."""
    dialect = conn.dialect.name
    for statement in install_statements(dialect, _feed_schema(conn) if dialect == "postgresql" else None):
        conn.execute(text(statement))


_PG_FEED_SCHEMA = """
SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass('graph_changes')
"""


def _feed_schema(conn: Connection | Session) -> str:
    """PostgreSQL: the schema the feed's table is in, as this (the platform's own) session resolves it."""
    schema = conn.execute(text(_PG_FEED_SCHEMA)).scalar()
    if schema is None:
        raise RuntimeError("graph_changes is not there: the schema was not made by the migrations")
    return schema


def feed_installed(session: Session) -> bool:
    """Whether the feed can be trusted: every trigger in place, on its own table, enabled and exactly
    as `install_statements` makes it, and nothing else on the feed's own table. A trigger of the
    same name that does something else (a body replaced, a WHEN clause, a setting on its function,
    a table renamed away with its triggers), or a trigger, rule or row security on graph_changes
    that could drop or change its rows, and a refresh rebuilds in full instead."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        schema = _feed_schema(session)
        rows = {tuple(r) for r in session.execute(text(_PG_TRIGGERS), {"schema": schema}).tuples()}
        on_feed = {r for r in rows if r[1] == "graph_changes"}
        tampered = session.execute(text(_PG_FEED_TAMPERED), {"schema": schema}).scalar()
        expected = _expected(dialect, schema)
    else:
        rows = {tuple(r) for r in session.execute(text("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'"))}
        on_feed, tampered, expected = {r for r in rows if r[1] == "graph_changes"}, False, _expected(dialect)
    return expected <= rows and on_feed <= expected and not tampered


# Each trigger of the feed's schema with its table, kind (pg_trigger.tgtype: row 1, before 2, insert
# 4, delete 8, update 16, truncate 32), whether it is enabled always, has no WHEN clause nor column
# list, whether its function has no settings of its own (a search_path there would redirect it),
# and the body of the function it executes.
_PG_TRIGGERS = """
SELECT t.tgname, c.relname,
       t.tgtype::int || ' ' || t.tgenabled::text || ' ' || (t.tgqual IS NULL)::text || ' ' || (t.tgattr::text = '')::text
       || ' ' || (p.proconfig IS NULL)::text || ' ' || p.proname || ' ' || p.prosrc
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_proc p ON p.oid = t.tgfoid
WHERE NOT t.tgisinternal AND c.relnamespace = CAST(:schema AS regnamespace)
"""
# Rules (DO INSTEAD NOTHING) or row-level security on the feed's table: either can make its rows vanish.
_PG_FEED_TAMPERED = """
SELECT EXISTS (SELECT 1 FROM pg_rewrite r WHERE r.ev_class = c.oid) OR c.relrowsecurity
FROM pg_class c WHERE c.relname = 'graph_changes' AND c.relnamespace = CAST(:schema AS regnamespace)
"""
_PG_TGTYPE = {"insert": 5, "update": 17, "delete": 9, "truncate": 32, "guard": 19}


def _expected(dialect: str, schema: str | None = None) -> set[tuple[str, str, str]]:
    """(trigger, table, definition) of every trigger `install_statements` makes, as the catalogue
    shows them: SQLite keeps each CREATE TRIGGER statement's text; for PostgreSQL, the description
    `_PG_TRIGGERS` gives of the trigger and its function."""
    statements = install_statements(dialect, schema)
    if dialect != "postgresql":
        created = {s.split()[2]: s for s in statements if s.startswith("CREATE TRIGGER ")}
        return {(name, table, created[name]) for table, name in _triggers(dialect)}
    functions = [s for s in statements if s.startswith("CREATE OR REPLACE FUNCTION ")]
    bodies = {s.split()[4].removesuffix("()"): s.split("$$")[1] for s in functions}
    return {
        (name, table, f"{_PG_TGTYPE[name.rpartition('_')[2]]} A true true true {name} {bodies[name]}")
        for table, name in _triggers(dialect)
    }


@dataclass(frozen=True)
class Change:
    seq: int
    table: str
    key: str | None
    link: str | None


def head(session: Session) -> int:
    """The newest seq the feed has handed out (0 before the first change): the sequence's own value,
    not the newest row, so changes deleted from the end of the feed show as missing."""
    if session.get_bind().dialect.name == "postgresql":
        last, called = session.execute(text(f"SELECT last_value, is_called FROM {_pg_sequence(session)}")).one()
        return int(last) if called else 0
    value = session.execute(text("SELECT seq FROM sqlite_sequence WHERE name = 'graph_changes'")).scalar()
    return int(value or 0)


def _pg_sequence(session: Session) -> str:
    name = session.execute(text("SELECT pg_get_serial_sequence('graph_changes', 'seq')")).scalar_one()
    if not name:
        raise RuntimeError("graph_changes.seq has no sequence: the schema was not made by the migrations")
    return name


def horizon(session: Session) -> tuple[int, int]:
    """PostgreSQL: (every transaction with an id below this has ended, no transaction has an id at or
    above this yet), from the current snapshot: what tells a seq still held by an open transaction
    from one a rolled-back transaction left for good."""
    snapshot = "pg_current_snapshot()"
    xmin, xmax = session.execute(
        text(f"SELECT pg_snapshot_xmin({snapshot})::text::bigint, pg_snapshot_xmax({snapshot})::text::bigint")
    ).one()
    return int(xmin), int(xmax)


def token_at(session: Session, seq: int) -> str | None:
    """The random token of the change at `seq` (None when there is none): two stores never agree on it."""
    return session.execute(select(GraphChange.token).where(GraphChange.seq == seq)).scalar()


def oldest(session: Session) -> int | None:
    return session.execute(select(func.min(GraphChange.seq))).scalar_one()


def changes_between(session: Session, after: int, through: int, tables: Iterable[str]) -> Iterator[Change]:
    """The changes with after < seq <= through to `tables`, in seq order."""
    statement = (
        select(GraphChange.seq, GraphChange.tbl, GraphChange.key, GraphChange.link)
        .where(GraphChange.seq > after, GraphChange.seq <= through, GraphChange.tbl.in_(sorted(set(tables))))
        .order_by(GraphChange.seq)
    )
    for seq, table, key, link in session.execute(statement).tuples():
        yield Change(seq, table, key, link)


def changes_at(session: Session, seqs: Iterable[int], tables: Iterable[str]) -> list[Change]:
    """The changes with these seqs (a gap seen earlier, now committed) to `tables`."""
    wanted = sorted(set(seqs))
    out: list[Change] = []
    for start in range(0, len(wanted), 500):
        statement = select(GraphChange.seq, GraphChange.tbl, GraphChange.key, GraphChange.link).where(
            GraphChange.seq.in_(wanted[start : start + 500]), GraphChange.tbl.in_(sorted(set(tables)))
        )
        out += [Change(*row) for row in session.execute(statement).tuples()]
    return sorted(out, key=lambda c: c.seq)


def present(session: Session, seqs: Iterable[int]) -> set[int]:
    wanted = sorted(set(seqs))
    found: set[int] = set()
    for start in range(0, len(wanted), 500):
        found |= set(session.execute(select(GraphChange.seq).where(GraphChange.seq.in_(wanted[start : start + 500]))).scalars())
    return found


def prune(session: Session, through: int, limit: int = 100_000) -> int:
    """Delete up to `limit` of the oldest changes with seq <= `through` (every consumer's cursor is
    past them): bookkeeping, not a governed object, so no audit record. Bounded, so the store's write
    lock is held briefly; what is left goes on the next refresh. The change at `through` itself is
    kept: a list whose cursor it is checks its token there (`token_at`)."""
    doomed = select(GraphChange.seq).where(GraphChange.seq < through).order_by(GraphChange.seq).limit(limit)
    result = session.execute(delete(GraphChange).where(GraphChange.seq.in_(doomed.scalar_subquery())))
    return result.rowcount or 0


def schema_revision(session: Session) -> str | None:
    """The store's schema revision (Alembic's), which a state is only valid for."""
    try:
        return session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception:  # noqa: BLE001 - no alembic_version table: a schema not made by the migrations
        return None


def ensure_installed(engine: Engine) -> bool:
    """Reinstall the feed's triggers when some are missing or disabled (`dataops init`); True when it had to."""
    with engine.begin() as conn:
        if feed_installed(Session(bind=conn)):
            return False
        install(conn)
    return True
