"""change feed: triggers record every write to the governance tables in graph_changes

The incremental refresh of the artifacts (issue 17) reads what changed since its cursor here.
Triggers rather than the services writing the rows, so a write that bypasses the services (an SQL
console, a corruption test) is seen too. A later migration that recreates a watched table must call
`dataops_platform.store.feed.install` again (SQLite drops a table's triggers with it); until it does,
the refresh sees the triggers missing and rebuilds in full.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa

from dataops_platform.store import feed


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'graph_changes',
        sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('tbl', sa.String(length=64), nullable=False),
        sa.Column('key', sa.Text(), nullable=True),
        sa.Column('link', sa.Text(), nullable=True),
        sa.Column('token', sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint('seq'),
        sqlite_autoincrement=True,  # seqs never reused: a cursor past a deleted row stays valid
    )
    feed.install(op.get_bind())


def downgrade() -> None:
    for statement in feed.drop_statements(op.get_bind().dialect.name):
        op.execute(statement)
    op.drop_table('graph_changes')
