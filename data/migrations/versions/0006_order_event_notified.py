"""order_event.notified_at: when the customer was told of a status change (shown once on the web)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-09

Events written before this revision are history the customer never needs to be told of: they are marked as
notified at their own time.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import data.types

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('order_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notified_at', data.types.UTCDateTime(timezone=True), nullable=True))
    op.execute(sa.text("UPDATE order_event SET notified_at = at"))


def downgrade() -> None:
    with op.batch_alter_table('order_event', schema=None) as batch_op:
        batch_op.drop_column('notified_at')
