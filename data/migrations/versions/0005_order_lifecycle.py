"""order lifecycle: customer details, delivery, shipping cost, Spanish statuses, order_event history

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08

Existing orders keep their lines and amounts: `subtotal` is set to their `total` (they had no shipping), their
status becomes the Spanish one ("confirmed" → "confirmado", "cancelled" → "cancelado"; anything else, which no
version of the app wrote, → "pendiente" for the owner to review), `channel` comes from their conversation, and
each gets one history event (from nothing to its status, at its creation time, by "sistema").
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import data.types

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = ("pendiente", "confirmado", "enviado", "entregado", "cancelado")
NEW_STATUS = {"confirmed": "confirmado", "cancelled": "cancelado"}


def _in(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _add_columns() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subtotal', data.types.Money(), nullable=False, server_default=sa.text('0')))
        batch_op.add_column(
            sa.Column('shipping_cost', data.types.Money(), nullable=False, server_default=sa.text('0'))
        )
        batch_op.add_column(sa.Column('customer_name', text(length=120), nullable=True))
        batch_op.add_column(sa.Column('customer_email', text(length=254), nullable=True))
        batch_op.add_column(sa.Column('customer_phone', text(length=32), nullable=True))
        batch_op.add_column(sa.Column('delivery_method', text(length=16), nullable=True))
        batch_op.add_column(sa.Column('address_line', text(length=200), nullable=True))
        batch_op.add_column(sa.Column('postal_code', text(length=10), nullable=True))
        batch_op.add_column(sa.Column('city', text(length=80), nullable=True))
        batch_op.add_column(sa.Column('province', text(length=80), nullable=True))
        batch_op.add_column(sa.Column('country', text(length=2), nullable=False, server_default='ES'))
        batch_op.add_column(sa.Column('pickup_point', text(length=120), nullable=True))
        batch_op.add_column(sa.Column('payment_method', text(length=32), nullable=True))
        batch_op.add_column(sa.Column('channel', text(length=32), nullable=False, server_default='http'))
        batch_op.add_column(sa.Column('telegram_chat_id', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('updated_at', data.types.UTCDateTime(timezone=True), nullable=True))


def _migrate_rows() -> None:
    for old, new in NEW_STATUS.items():
        op.execute(sa.text(f"UPDATE orders SET status = '{new}' WHERE status = '{old}'"))
    op.execute(sa.text(f"UPDATE orders SET status = 'pendiente' WHERE status NOT IN ({_in(STATUSES)})"))
    op.execute(sa.text("UPDATE orders SET subtotal = total, updated_at = created_at"))
    op.execute(sa.text(
        "UPDATE orders SET channel = COALESCE("
        "(SELECT conversation.channel FROM conversation WHERE conversation.id = orders.conversation_id), 'http')"
    ))


def _constrain() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.alter_column('updated_at', existing_type=data.types.UTCDateTime(timezone=True), nullable=False)
        batch_op.create_check_constraint('ck_orders_subtotal_nonneg', 'subtotal >= 0')
        batch_op.create_check_constraint('ck_orders_shipping_nonneg', 'shipping_cost >= 0')
        batch_op.create_check_constraint('ck_orders_status', f"status IN ({_in(STATUSES)})")
        batch_op.create_check_constraint(
            'ck_orders_delivery_method', "delivery_method IS NULL OR delivery_method IN ('envio', 'recogida')"
        )
        batch_op.create_index(batch_op.f('ix_orders_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_telegram_chat_id'), ['telegram_chat_id'], unique=False)


def _history() -> None:
    op.create_table('order_event',
    sa.Column('from_status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('to_status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('at', data.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.CheckConstraint("actor IN ('cliente', 'tienda', 'sistema')", name='ck_order_event_actor'),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('order_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_event_order_id'), ['order_id'], unique=False)
    op.execute(sa.text(
        "INSERT INTO order_event (order_id, from_status, to_status, at, actor, note) "
        "SELECT id, NULL, status, created_at, 'sistema', 'Pedido anterior al seguimiento de estados.' FROM orders"
    ))


def upgrade() -> None:
    _add_columns()
    _migrate_rows()
    _constrain()
    _history()


def downgrade() -> None:
    with op.batch_alter_table('order_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_event_order_id'))
    op.drop_table('order_event')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_telegram_chat_id'))
        batch_op.drop_index(batch_op.f('ix_orders_created_at'))
        batch_op.drop_index(batch_op.f('ix_orders_status'))
        batch_op.drop_constraint('ck_orders_delivery_method', type_='check')
        batch_op.drop_constraint('ck_orders_status', type_='check')
        batch_op.drop_constraint('ck_orders_shipping_nonneg', type_='check')
        batch_op.drop_constraint('ck_orders_subtotal_nonneg', type_='check')
    op.execute(sa.text("UPDATE orders SET status = 'cancelled' WHERE status = 'cancelado'"))
    op.execute(sa.text("UPDATE orders SET status = 'confirmed' WHERE status <> 'cancelled'"))
    with op.batch_alter_table('orders', schema=None) as batch_op:
        for column in ('updated_at', 'telegram_chat_id', 'channel', 'payment_method', 'pickup_point', 'country',
                       'province', 'city', 'postal_code', 'address_line', 'delivery_method', 'customer_phone',
                       'customer_email', 'customer_name', 'shipping_cost', 'subtotal'):
            batch_op.drop_column(column)
