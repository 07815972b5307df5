"""An order's life after it is placed: pendiente → confirmado → enviado → entregado, or cancelado.

`transition()` moves an order one step and writes the step to its history (`order_event`) in the caller's
transaction. The move is a compare-and-set: the status is read, checked against `TRANSITIONS`, and the UPDATE only
matches while the order still has that status (`WHERE id = :id AND status = :seen`, `:seen` being one of the
allowed predecessors). Two moves racing on one order — a customer cancelling while the owner marks it "enviado" —
therefore have exactly one winner: the loser's UPDATE matches no row (PostgreSQL re-checks the WHERE after waiting
for the winner's row lock; SQLite's write lock queues whole transactions), it reads the new status and is refused
with a Spanish message. Cancelling returns every line's units to stock in the same transaction and bumps the
catalogue revision, as `data.orders.place_order` does when it takes them.

Reading: `list_orders` (the owner's list, filtered and paged), `get_order` (details, lines and history),
`orders_of_thread` / `orders_of_telegram_chat` (a customer's "¿dónde está mi pedido?"). `forget_customer` erases a
customer's personal data and keeps the orders' lines, amounts and statuses.

Errors are `OrderError`s whose message is for the customer or the owner, in Spanish. Call the writers inside
`data.db.write_session`. Personal data is never logged here: only ids and statuses.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from data import crud
from data.models import (
    ORDER_ACTORS,
    ORDER_STATUSES,
    Conversation,
    Customer,
    Message,
    Order,
    OrderEvent,
    OrderLine,
    Product,
)
from data.types import utcnow

log = logging.getLogger("agente.orders")

PENDING, CONFIRMED, SHIPPED, DELIVERED, CANCELLED = ORDER_STATUSES
CUSTOMER, SHOP, SYSTEM = ORDER_ACTORS

# The lifecycle: each status and the statuses an order may reach it from. "confirmado" → "entregado" is an order
# collected at a pickup point (never shipped). "enviado", "entregado" and "cancelado" cannot be cancelled.
TRANSITIONS: dict[str, frozenset[str]] = {
    CONFIRMED: frozenset({PENDING}),
    SHIPPED: frozenset({CONFIRMED}),
    DELIVERED: frozenset({CONFIRMED, SHIPPED}),
    CANCELLED: frozenset({PENDING, CONFIRMED}),
}
# What a customer may do themselves: confirm a pending order, cancel one that has not left the shop.
CUSTOMER_TRANSITIONS: dict[str, frozenset[str]] = {
    CONFIRMED: frozenset({PENDING}),
    CANCELLED: frozenset({PENDING, CONFIRMED}),
}
MAX_NOTE = 500
MAX_PAGE = 500
_ATTEMPTS = 5  # re-reads when another writer moved the order between our read and our UPDATE


class OrderError(ValueError):
    """An order operation that cannot be done; the message is for the customer or the owner (Spanish)."""


class OrderNotFoundError(OrderError):
    """No order with that id."""

    def __init__(self, order_id: int) -> None:
        super().__init__(f"No existe el pedido {order_id}.")
        self.order_id = order_id


class TransitionNotAllowedError(OrderError):
    """The order cannot move to that status from where it is (or not by this actor)."""

    def __init__(self, order_id: int, current: str, to_status: str, message: str) -> None:
        super().__init__(message)
        self.order_id, self.current, self.to_status = order_id, current, to_status


class UnknownCustomerError(OrderError):
    """No customer with that id."""

    def __init__(self, customer_id: int) -> None:
        super().__init__(f"No existe el cliente {customer_id}.")
        self.customer_id = customer_id


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """An order with its lines and its history (oldest event first)."""

    order: Order
    lines: list[OrderLine]
    events: list[OrderEvent]

    @property
    def units(self) -> int:
        return sum(line.quantity for line in self.lines)


@dataclass(frozen=True, slots=True)
class OrderSummary:
    """A row of the owner's order list: the order and how much it holds."""

    order: Order
    units: int
    line_count: int


@dataclass(frozen=True, slots=True)
class OrderPage:
    """One page of `list_orders`; `total` counts every order matching the filters."""

    items: list[OrderSummary]
    total: int
    limit: int
    offset: int


# --------------------------------------------------------------------------- the lifecycle


def next_statuses(status: str, actor: str = SHOP) -> list[str]:
    """Where an order in `status` may go next, by `actor` (lifecycle order)."""
    table = CUSTOMER_TRANSITIONS if actor == CUSTOMER else TRANSITIONS
    return [to for to in ORDER_STATUSES if status in table.get(to, frozenset())]


def allowed_from(to_status: str, actor: str = SHOP) -> frozenset[str]:
    """The statuses from which `actor` may move an order to `to_status` (empty: never)."""
    table = CUSTOMER_TRANSITIONS if actor == CUSTOMER else TRANSITIONS
    return table.get(to_status, frozenset())


def check_status(status: str) -> str:
    """`status` if it is a lifecycle status; otherwise an OrderError that lists them."""
    if status not in ORDER_STATUSES:
        raise OrderError(f"El estado «{status}» no existe; los estados son: {', '.join(ORDER_STATUSES)}.")
    return status


def _refusal(order_id: int, current: str, to_status: str, actor: str) -> str:
    """Why an order in `current` cannot go to `to_status`, said for whoever asked."""
    if current == to_status:
        return f"El pedido {order_id} ya está {current}."
    if actor == CUSTOMER and to_status == CANCELLED:
        return f"El pedido {order_id} ya está {current}, así que ya no se puede cancelar."
    if actor == CUSTOMER and to_status not in CUSTOMER_TRANSITIONS:
        return f"Solo la tienda puede marcar un pedido como {to_status}."
    following = next_statuses(current, actor)
    then = f"Desde «{current}» puede pasar a: {', '.join(following)}." if following else "Es un estado final."
    return f"El pedido {order_id} está {current} y no puede pasar a {to_status}. {then}"


async def _status_of(session: AsyncSession, order_id: int) -> str:
    """The order's status as committed now (a column read: never a stale object from the session)."""
    status = (await session.execute(select(col(Order.status)).where(col(Order.id) == order_id))).scalar_one_or_none()
    if status is None:
        raise OrderNotFoundError(order_id)
    return str(status)


async def transition(
    session: AsyncSession,
    order_id: int,
    to_status: str,
    actor: str,
    note: str = "",
    *,
    expected_from: str | None = None,
) -> OrderEvent:
    """Move an order to `to_status` and record the event; cancelling puts its units back in stock.

    `actor` is "cliente", "tienda" or "sistema" (a customer may only cancel while the order is pendiente or
    confirmado, or confirm a pending one). `expected_from` refuses the move unless the order is in that status
    (what the owner saw when they clicked). Raises OrderNotFoundError or TransitionNotAllowedError; nothing
    changes then. Call inside `write_session`: the status, the stock and the event commit together.
    """
    check_status(to_status)
    if actor not in ORDER_ACTORS:
        raise ValueError(f"unknown actor {actor!r}; one of {ORDER_ACTORS}")
    allowed = allowed_from(to_status, actor)
    if expected_from is not None:
        allowed = allowed & {check_status(expected_from)}
    for _attempt in range(_ATTEMPTS):
        current = await _status_of(session, order_id)
        if expected_from is not None and current != expected_from:
            message = f"El pedido {order_id} ya no está {expected_from}: ahora está {current}."
            raise TransitionNotAllowedError(order_id, current, to_status, message)
        if current not in allowed:
            raise TransitionNotAllowedError(order_id, current, to_status, _refusal(order_id, current, to_status, actor))
        now = utcnow()
        result = await session.execute(
            update(Order)
            .where(col(Order.id) == order_id, col(Order.status) == current)  # `current` is an allowed predecessor
            .values(status=to_status, updated_at=now)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            break
    else:
        raise OrderError(f"El pedido {order_id} está cambiando ahora mismo; inténtalo de nuevo en un momento.")
    if to_status == CANCELLED:
        await _return_stock(session, order_id)
    event = await record_event(session, order_id, current, to_status, actor, note, at=now)
    log.info("order %d: %s -> %s by %s", order_id, current, to_status, actor)
    return event


async def record_event(
    session: AsyncSession,
    order_id: int,
    from_status: str | None,
    to_status: str,
    actor: str,
    note: str = "",
    *,
    at: datetime | None = None,
) -> OrderEvent:
    """Append a step to the order's history (`from_status` None: the order was created in `to_status`)."""
    event = OrderEvent(
        order_id=order_id,
        from_status=from_status,
        to_status=to_status,
        actor=actor,
        note=" ".join(note.split())[:MAX_NOTE],
        at=at or utcnow(),
    )
    session.add(event)
    await session.flush()
    return event


async def _return_stock(session: AsyncSession, order_id: int) -> None:
    """Give a cancelled order's units back to their products, under one new catalogue revision."""
    per_product = (
        await session.execute(
            select(col(OrderLine.product_id), func.sum(OrderLine.quantity))
            .where(col(OrderLine.order_id) == order_id)
            .group_by(col(OrderLine.product_id))
            .order_by(col(OrderLine.product_id))  # a fixed lock order: concurrent cancels cannot deadlock
        )
    ).all()
    if not per_product:
        return
    revision = await crud.bump_revision(session)
    now = utcnow()
    for product_id, units in per_product:
        await session.execute(
            update(Product)
            .where(col(Product.id) == product_id)
            .values(stock=Product.stock + int(units), revision=revision, updated_at=now)
        )


# --------------------------------------------------------------------------- reading


async def _records(session: AsyncSession, found: list[Order]) -> list[OrderRecord]:
    """Orders with their lines and events, in two queries whatever the number of orders."""
    ids = [order.id for order in found if order.id is not None]
    lines: dict[int, list[OrderLine]] = {i: [] for i in ids}
    events: dict[int, list[OrderEvent]] = {i: [] for i in ids}
    if ids:
        for line in (
            await session.execute(select(OrderLine).where(col(OrderLine.order_id).in_(ids)).order_by(col(OrderLine.id)))
        ).scalars():
            lines[line.order_id].append(line)
        for event in (
            await session.execute(
                select(OrderEvent).where(col(OrderEvent.order_id).in_(ids)).order_by(col(OrderEvent.id))
            )
        ).scalars():
            events[event.order_id].append(event)
    return [OrderRecord(order, lines[order.id or 0], events[order.id or 0]) for order in found]


async def get_order(session: AsyncSession, order_id: int) -> OrderRecord | None:
    """One order with its lines and history, or None."""
    statement = select(Order).where(col(Order.id) == order_id).execution_options(populate_existing=True)
    order = (await session.execute(statement)).scalar_one_or_none()  # fresh even if loaded before a transition
    if order is None:
        return None
    return (await _records(session, [order]))[0]


async def list_orders(
    session: AsyncSession,
    *,
    estado: str | None = None,
    desde: datetime | None = None,
    hasta: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> OrderPage:
    """The owner's orders, newest first: by status (`estado`) and creation time (`desde` <= created_at < `hasta`).

    `limit` 1-500 per page from `offset`. Raises OrderError (Spanish) for an unknown status or a bad page.
    """
    if estado is not None:
        check_status(estado)
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise OrderError(f"limit debe estar entre 1 y {MAX_PAGE}, y offset no puede ser negativo.")
    if desde is not None and hasta is not None and desde >= hasta:
        raise OrderError("La fecha «desde» tiene que ser anterior a «hasta».")
    conditions = []
    if estado is not None:
        conditions.append(col(Order.status) == estado)
    if desde is not None:
        conditions.append(col(Order.created_at) >= desde)
    if hasta is not None:
        conditions.append(col(Order.created_at) < hasta)
    total = (await session.execute(select(func.count()).select_from(Order).where(*conditions))).scalar_one()
    found = list(
        (
            await session.execute(
                select(Order)
                .where(*conditions)
                .order_by(col(Order.created_at).desc(), col(Order.id).desc())
                .limit(limit)
                .offset(offset)
            )
        ).scalars()
    )
    counts = await _line_counts(session, [o.id for o in found if o.id is not None])
    items = [OrderSummary(o, *counts.get(o.id or 0, (0, 0))) for o in found]
    return OrderPage(items=items, total=int(total), limit=limit, offset=offset)


async def _line_counts(session: AsyncSession, ids: list[int]) -> dict[int, tuple[int, int]]:
    """Order id → (units, lines)."""
    if not ids:
        return {}
    rows = await session.execute(
        select(col(OrderLine.order_id), func.sum(OrderLine.quantity), func.count())
        .where(col(OrderLine.order_id).in_(ids))
        .group_by(col(OrderLine.order_id))
    )
    return {int(order_id): (int(units), int(n)) for order_id, units, n in rows.all()}


async def orders_of_thread(session: AsyncSession, thread_id: str, *, limit: int = 10) -> list[OrderRecord]:
    """The orders placed from a conversation, newest first (for "¿dónde está mi pedido?")."""
    found = (
        await session.execute(
            select(Order)
            .join(Conversation, col(Conversation.id) == col(Order.conversation_id))
            .where(col(Conversation.thread_id) == thread_id)
            .order_by(col(Order.id).desc())
            .limit(limit)
        )
    ).scalars()
    return await _records(session, list(found))


async def orders_of_telegram_chat(session: AsyncSession, chat_id: int, *, limit: int = 10) -> list[OrderRecord]:
    """The orders placed from a Telegram chat (its `telegram_chat_id`), newest first."""
    found = (
        await session.execute(
            select(Order).where(col(Order.telegram_chat_id) == chat_id).order_by(col(Order.id).desc()).limit(limit)
        )
    ).scalars()
    return await _records(session, list(found))


# --------------------------------------------------------------------------- the right to be forgotten


_ERASED = {
    "customer_name": None, "customer_email": None, "customer_phone": None, "address_line": None,
    "postal_code": None, "city": None, "pickup_point": None, "telegram_chat_id": None,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Forgotten:
    """What forgetting the customer of an order erased: orders cleaned, transcripts deleted, threads to drop."""

    orders: int
    messages: int
    thread_ids: tuple[str, ...]


async def forget_order_customer(session: AsyncSession, order_id: int) -> Forgotten:
    """Erase the personal data of whoever placed an order: web and Telegram customers have no customer row.

    Every order placed from the same conversation, or from the same Telegram chat, loses name, contact, address,
    pickup point and chat; the transcripts of those conversations (what the customer typed, addresses included)
    are deleted. Lines, amounts, status and history stay. The caller drops the conversations' checkpoints
    (`thread_ids`: the graph's memory of the details). Raises OrderNotFoundError. Call inside `write_session`.
    """
    order = await session.get(Order, order_id)
    if order is None:
        raise OrderNotFoundError(order_id)
    same = [col(Order.id) == order_id]
    if order.conversation_id is not None:
        same.append(col(Order.conversation_id) == order.conversation_id)
    if order.telegram_chat_id is not None:
        same.append(col(Order.telegram_chat_id) == order.telegram_chat_id)
    orders = (await session.execute(select(Order).where(or_(*same)))).scalars().all()
    conversation_ids = {o.conversation_id for o in orders if o.conversation_id is not None}
    threads = (
        (await session.execute(select(col(Conversation.thread_id)).where(col(Conversation.id).in_(conversation_ids))))
        .scalars()
        .all()
    )
    result = await session.execute(
        update(Order).where(col(Order.id).in_([o.id for o in orders])).values(**_ERASED, updated_at=utcnow())
    )
    deleted = await session.execute(delete(Message).where(col(Message.conversation_id).in_(conversation_ids)))
    await session.flush()
    log.info("customer of order %d forgotten: %d orders, %d messages", order_id, result.rowcount, deleted.rowcount)  # type: ignore[attr-defined]
    return Forgotten(int(result.rowcount), int(deleted.rowcount), tuple(threads))  # type: ignore[attr-defined]


async def forget_customer(session: AsyncSession, customer_id: int) -> int:
    """Erase a customer's personal data; returns how many of their orders were touched.

    The customer row loses name, e-mail, phone and external id (Telegram user); each order of theirs (by
    customer or by one of their conversations) loses name, e-mail, phone, address, postal code, city, pickup
    point and Telegram chat. Lines, amounts, status, province and history stay: the shop's accounts still add
    up. Raises UnknownCustomerError for an unknown id. Call inside `write_session`.
    """
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise UnknownCustomerError(customer_id)
    customer.name, customer.email, customer.phone, customer.external_id = "", None, None, None
    session.add(customer)
    conversations = select(col(Conversation.id)).where(col(Conversation.customer_id) == customer_id)
    result = await session.execute(
        update(Order)
        .where(or_(col(Order.customer_id) == customer_id, col(Order.conversation_id).in_(conversations)))
        .values(**_ERASED, updated_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    await session.flush()
    touched = int(result.rowcount)  # type: ignore[attr-defined]
    log.info("customer %d forgotten: %d orders cleaned", customer_id, touched)
    return touched
