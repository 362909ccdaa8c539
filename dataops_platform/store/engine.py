"""Engine and sessions, opened in one place.

Every write goes through `Store.write()`, which serialises writers for the whole transaction:
SQLite takes its write lock up front (BEGIN IMMEDIATE), PostgreSQL a transaction-scoped
advisory lock. That is what keeps the audit chain from forking under concurrent writers and
lets readable ids be allocated without races; reads never take it.
"""

from __future__ import annotations

import json
import json.scanner
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

WRITE_OPTION = "dataops_write"
_PG_WRITE_LOCK_KEY = 0x44617461_4F707321 & 0x7FFFFFFFFFFFFFFF  # "DataOps!"
SQLITE_BUSY_TIMEOUT_MS = 60_000


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # noqa: ANN001
        # Let SQLAlchemy's begin event decide between deferred and immediate transactions.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


_SCAN = json.scanner.make_scanner(json.JSONDecoder())  # the C scanner json.loads itself ends in


def loads_column(text: Any) -> Any:
    """`json.loads` of a JSON column's text, as SQLite hands it back. The scanner is called
    directly: for the small documents of a column, `json.loads`'s own wrapping (two Python calls
    and two whitespace matches) is most of the cost, and a million-object build reads millions of
    them. Whatever the direct scan does not take whole (space around the value, extra data, an
    error) goes to `json.loads`, which gives its own value or its own error."""
    if type(text) is str:
        try:
            value, end = _SCAN(text, 0)
        except (StopIteration, ValueError):
            return json.loads(text)
        if end == len(text):
            return value
    return json.loads(text)


def make_engine(url: str) -> Engine:
    """An engine for the governance store, SQLite or PostgreSQL, configured for safe concurrent use."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            from pathlib import Path

            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, json_deserializer=loads_column)
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _refuse_bad_text(session: Session, _context: object, _instances: object) -> None:
    """The store's own guard of the text rule (dataops_platform.text): whatever interface a value
    came through, no row is written holding text that would break every later listing."""
    from dataops_platform.text import check_text

    for obj in (*session.new, *session.dirty):
        state = inspect(obj)
        for attr in state.mapper.column_attrs:
            history = state.attrs[attr.key].history
            for value in history.added or ():
                if isinstance(value, (str, dict, list)):
                    check_text(value, f"{state.mapper.class_.__tablename__}.{attr.key}")


class Store:
    """The governance database: one engine, read sessions and serialised write transactions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        event.listen(self._sessions, "before_flush", _refuse_bad_text)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._sessions() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction holding the store-wide write lock; commits on success, rolls back on error."""
        with self._sessions() as session:
            session.connection(execution_options={WRITE_OPTION: True})
            if not self.is_sqlite:
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_WRITE_LOCK_KEY})
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def check_reachable(self) -> None:
        """Connect once; a server that does not answer is named with the setting that points at it."""
        from sqlalchemy.exc import OperationalError

        from dataops_platform.errors import DataOpsError

        try:
            with self.engine.connect():
                pass
        except OperationalError as exc:
            url = self.engine.url.render_as_string(hide_password=True)
            raise DataOpsError(
                f"cannot reach the governance store at {url} (DATAOPS_DATABASE_URL): {str(exc.orig).strip()[:300]}",
                field="database_url",
                value=url,
            ) from exc

    def dispose(self) -> None:
        self.engine.dispose()


def has_schema(url: str) -> bool:
    """Whether the store at `url` exists and has been initialised; never creates an SQLite file."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists():
        return False
    engine = make_engine(url)
    try:
        return schema_revision(engine) is not None
    finally:
        engine.dispose()


MIGRATION_VERSIONS = Path(__file__).parent / "migrations" / "versions"


def expected_revision() -> str:
    """The schema revision this code needs: migration files are named `<revision>_<slug>.py` with
    numbered revisions, so the newest is the highest number (a test holds this to Alembic's own
    head). Read from file names so the CLI need not import Alembic to check a store."""
    return max(path.name.split("_", 1)[0] for path in MIGRATION_VERSIONS.glob("[0-9]*_*.py"))


def schema_revision(engine: Engine) -> str | None:
    """The applied Alembic revision, read without importing Alembic (the CLI must start fast)."""
    from sqlalchemy.exc import DBAPIError

    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()
    except DBAPIError:
        return None
