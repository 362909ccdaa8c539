"""alert source key: the idempotency key of alerts the platform raises itself

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source_key', sa.String(length=200), nullable=True))
        batch_op.create_index(batch_op.f('ix_alerts_source_key'), ['source_key'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alerts_source_key'))
        batch_op.drop_column('source_key')
