"""The governance store: SQLAlchemy models, engine and sessions, Alembic migrations."""
