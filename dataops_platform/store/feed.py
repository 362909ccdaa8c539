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

from sqlalchemy import Connection, delete, func, select, text
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


def _trigger_name(table: str, event: str) -> str:
    return f"graph_feed_{table}_{event}"


def _values(table: str, image: str) -> list[str]:
    key, links = WATCHED[table]
    rows = [f"('{table}', CAST({image}.{key} AS TEXT), CAST({image}.{link} AS TEXT))" for link in links]
    return rows or [f"('{table}', CAST({image}.{key} AS TEXT), NULL)"]


def install_statements(dialect: str) -> list[str]:
    """The DDL creating every trigger of the feed (idempotent: existing ones are replaced)."""
    statements: list[str] = []
    if dialect == "postgresql":
        for table in WATCHED:
            for event, (verb, images) in _EVENTS.items():
                values = ", ".join(v for image in images for v in _values(table, image))
                name = _trigger_name(table, event)
                statements.append(
                    f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    f"INSERT INTO graph_changes (tbl, key, link) VALUES {values}; RETURN NULL; END $$"
                )
                statements.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
                statements.append(f"CREATE TRIGGER {name} AFTER {verb} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()")
        return statements
    for table in WATCHED:
        for event, (verb, images) in _EVENTS.items():
            values = ", ".join(v for image in images for v in _values(table, image))
            name = _trigger_name(table, event)
            statements.append(f"DROP TRIGGER IF EXISTS {name}")
            statements.append(
                f"CREATE TRIGGER {name} AFTER {verb} ON {table} FOR EACH ROW BEGIN "
                f"INSERT INTO graph_changes (tbl, key, link) VALUES {values}; END"
            )
    return statements


def drop_statements(dialect: str) -> list[str]:
    out = []
    for table in WATCHED:
        for event in _EVENTS:
            name = _trigger_name(table, event)
            if dialect == "postgresql":
                out += [f"DROP TRIGGER IF EXISTS {name} ON {table}", f"DROP FUNCTION IF EXISTS {name}()"]
            else:
                out.append(f"DROP TRIGGER IF EXISTS {name}")
    return out


def install(conn: Connection) -> None:
    """(Re)create the feed's triggers: migration 0009, and any later migration that recreates a watched table."""
    for statement in install_statements(conn.dialect.name):
        conn.execute(text(statement))


def feed_installed(session: Session) -> bool:
    """Whether every trigger of the feed is in place (else a refresh cannot trust it and rebuilds in full)."""
    names = {_trigger_name(t, e) for t in WATCHED for e in _EVENTS}
    if session.get_bind().dialect.name == "postgresql":
        found = session.execute(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")).scalars()
    else:
        found = session.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).scalars()
    return names <= set(found)


@dataclass(frozen=True)
class Change:
    seq: int
    table: str
    key: str | None
    link: str | None


def head(session: Session) -> int:
    """The newest change's seq (0 for an empty feed)."""
    return session.execute(select(func.coalesce(func.max(GraphChange.seq), 0))).scalar_one()


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
    lock is held briefly; what is left goes on the next refresh. The newest change is always kept:
    `head` is the newest seq there is, and must not go back to 0 when every change was read."""
    through = min(through, head(session) - 1)
    doomed = select(GraphChange.seq).where(GraphChange.seq <= through).order_by(GraphChange.seq).limit(limit)
    result = session.execute(delete(GraphChange).where(GraphChange.seq.in_(doomed.scalar_subquery())))
    return result.rowcount or 0
