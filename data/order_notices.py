"""Telling customers what the shop did with their orders: status changes not yet shown to them.

A status change made by the shop (actor "tienda") is an `order_event` with `notified_at` empty until the customer
has been told: by a Telegram message to the order's chat, or at the customer's next turn on the web. Marking is a
compare-and-set (`notified_at IS NULL`), so a notice is claimed, and shown, once even when two turns race.
Nothing personal is read or logged here: order ids, statuses and the owner's note.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from data.models import Conversation, Order, OrderEvent
from data.order_status import SHOP
from data.types import utcnow


@dataclass(frozen=True, slots=True)
class Notice:
    """One status change to tell a customer of."""

    event_id: int
    order_id: int
    status: str
    note: str
    telegram_chat_id: int | None = None


def text_of(notice: Notice) -> str:
    """The notice as the customer reads it: «Novedades de tu pedido 12: enviado (Seur 123).»."""
    note = f" ({notice.note})" if notice.note else ""
    return f"Novedades de tu pedido {notice.order_id}: {notice.status}{note}."


def _unnotified(thread_id: str) -> Any:
    return (
        select(OrderEvent)
        .join(Order, col(Order.id) == col(OrderEvent.order_id))
        .join(Conversation, col(Conversation.id) == col(Order.conversation_id))
        .where(
            col(Conversation.thread_id) == thread_id,
            col(OrderEvent.actor) == SHOP,
            col(OrderEvent.notified_at).is_(None),
        )
        .order_by(col(OrderEvent.id))
    )


async def any_for_thread(session: AsyncSession, thread_id: str) -> bool:
    """Whether this conversation has status changes not told yet (a read, before claiming them in a write)."""
    return (await session.execute(_unnotified(thread_id).limit(1))).first() is not None


async def claim_for_thread(session: AsyncSession, thread_id: str) -> list[Notice]:
    """The shop's status changes on this conversation's orders not yet shown, now marked as shown (oldest first)."""
    rows = (await session.execute(_unnotified(thread_id))).scalars()
    return [n for event in list(rows) if (n := await claim(session, event)) is not None]


async def claim(session: AsyncSession, event: OrderEvent, chat_id: int | None = None) -> Notice | None:
    """Mark one event as told; None when someone else told it first."""
    result = await session.execute(
        update(OrderEvent)
        .where(col(OrderEvent.id) == event.id, col(OrderEvent.notified_at).is_(None))
        .values(notified_at=utcnow())
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return Notice(event.id or 0, event.order_id, event.to_status, event.note, chat_id)


async def claim_event(session: AsyncSession, event_id: int) -> Notice | None:
    """A status change about to be sent to the order's Telegram chat (None: no chat, or already told)."""
    event = await session.get(OrderEvent, event_id)
    if event is None or event.actor != SHOP:
        return None
    order = await session.get(Order, event.order_id)
    if order is None or order.telegram_chat_id is None:
        return None
    return await claim(session, event, order.telegram_chat_id)
