"""Alembic environment: the URL comes from the caller (`dataops init`) or DATAOPS_DATABASE_URL."""

from __future__ import annotations

import os

from alembic import context

from dataops_platform.store.engine import make_engine
from dataops_platform.store.models import Base

config = context.config
url = config.attributes.get("url") or os.environ.get("DATAOPS_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
if not url:
    raise SystemExit("no database URL: set DATAOPS_DATABASE_URL or pass it to dataops_platform.store.migrate")


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            _migrate(conn)
            conn.commit()
    finally:
        engine.dispose()


def _migrate(conn) -> None:  # noqa: ANN001
    context.configure(
        connection=conn,
        target_metadata=Base.metadata,
        render_as_batch=conn.dialect.name == "sqlite",  # SQLite alters tables by copy
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
