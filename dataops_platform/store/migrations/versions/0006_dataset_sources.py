"""dataset sources: where a version's data lives, its immutable pin, the digest algorithm, typed schema

Versions registered before keep their canonical JSONL copy (data_location) and are marked with the
algorithm their digest was computed with, so it stays verifiable.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('dataset_versions', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('digest_algorithm', sa.String(length=40), nullable=False, server_default='sorted-lines-sha256/v0')
        )
        batch_op.add_column(sa.Column('source_uri', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('source_kind', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('source_pin', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('copy_location', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('schema_types', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('parent_diff', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('verify_status', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('dataset_versions', schema=None) as batch_op:
        for column in (
            'verify_status', 'verified_at', 'parent_diff', 'schema_types', 'copy_location',
            'source_pin', 'source_kind', 'source_uri', 'digest_algorithm',
        ):
            batch_op.drop_column(column)
