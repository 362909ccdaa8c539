"""regression kind: a regressed experiment is a data regression or a model-candidate regression

Experiments judged `regressed` before this revision are marked `data`: until now every regression
blocked its version, and a data regression is the kind that still does.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('experiments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('regression_kind', sa.String(length=16), nullable=True))
    op.execute("UPDATE experiments SET regression_kind = 'data' WHERE status = 'regressed'")


def downgrade() -> None:
    with op.batch_alter_table('experiments', schema=None) as batch_op:
        batch_op.drop_column('regression_kind')
