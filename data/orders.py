"""Carts and orders. A cart belongs to a conversation (thread); placing an order is one transaction.

Stock is decremented with a conditional UPDATE (`... WHERE stock >= :qty`), so two customers confirming the last
units at the same moment can never take the stock below zero: one of them gets `OutOfStockError` and nothing of
their order is written.

A placed order starts its life as "confirmado" (the customer has just said yes to it), with a first history event
from nothing to "confirmado" by "cliente"; data/order_status.py moves it on (enviado, entregado, cancelado). Its
amounts: `subtotal` is the lines, `shipping_cost` comes with the customer's details, `total` = subtotal + shipping.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import delete, func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from data import crud
from data.customer_details import OrderDetails
from data.models import CartLine, Conversation, Order, OrderLine, Product
from data.order_status import CANCELLED, CONFIRMED, CUSTOMER, record_event
from data.types import to_money, utcnow

MAX_QUANTITY = 99


class CartError(ValueError):
    """A cart operation that cannot be done; the message is for the customer (Spanish)."""


class EmptyCartError(CartError):
    """Nothing to order."""

    def __init__(self) -> None:
        super().__init__("El carrito está vacío.")


class OutOfStockError(CartError):
    """Not enough units left for a line of the order."""

    def __init__(self, name: str, wanted: int, available: int, in_cart: int = 0, *, checkout: bool = False) -> None:
        self.name, self.wanted, self.available = name, wanted, available
        left = "no queda ninguna unidad" if available <= 0 else f"solo quedan {available}"
        if checkout:
            detail = f"y en tu carrito hay {wanted}"
        elif in_cart:
            detail = f"y ya tienes {in_cart} en el carrito"
        else:
            detail = f"y has pedido {wanted}"
        super().__init__(f"De «{name}» {left} {detail}.")


@dataclass(frozen=True, slots=True)
class CartItem:
    """A cart line joined with the product's current price and stock (prices are always today's)."""

    product_id: int
    sku: str
    name: str
    unit_price: Decimal
    quantity: int
    stock: int

    @property
    def line_total(self) -> Decimal:
        return to_money(self.unit_price * self.quantity)


@dataclass(frozen=True, slots=True)
class Cart:
    """A conversation's cart at current prices."""

    thread_id: str
    items: tuple[CartItem, ...]

    @property
    def total(self) -> Decimal:
        return to_money(sum((i.line_total for i in self.items), Decimal("0")))

    @property
    def units(self) -> int:
        return sum(i.quantity for i in self.items)


async def get_cart(session: AsyncSession, *, thread_id: str) -> Cart:
    """The cart with today's prices and stock."""
    rows = await session.execute(
        select(CartLine, Product)
        .join(Product, col(Product.id) == col(CartLine.product_id))
        .where(col(CartLine.thread_id) == thread_id)
        .order_by(col(CartLine.id))
    )
    items = tuple(
        CartItem(
            product_id=product.id or 0,
            sku=product.sku,
            name=product.name,
            unit_price=product.price,
            quantity=line.quantity,
            stock=product.stock,
        )
        for line, product in rows.all()
    )
    return Cart(thread_id=thread_id, items=items)


async def add_to_cart(session: AsyncSession, *, thread_id: str, product_id: int, quantity: int = 1) -> Cart:
    """Add units of an active product; the cart never holds more than the stock available right now."""
    if not 1 <= quantity <= MAX_QUANTITY:
        raise CartError(f"La cantidad debe estar entre 1 y {MAX_QUANTITY}.")
    product = await crud.get_product(session, product_id=product_id)
    if product is None:
        raise CartError("Ese producto no existe o ya no está a la venta.")
    line = (
        await session.execute(
            select(CartLine).where(col(CartLine.thread_id) == thread_id, col(CartLine.product_id) == product_id)
        )
    ).scalar_one_or_none()
    in_cart = line.quantity if line else 0
    wanted = quantity + in_cart
    if wanted > product.stock:
        raise OutOfStockError(product.name, quantity, product.stock, in_cart)
    if line is None:
        session.add(CartLine(thread_id=thread_id, product_id=product_id, quantity=wanted))
    else:
        line.quantity = wanted
        session.add(line)
    await session.flush()
    return await get_cart(session, thread_id=thread_id)


async def remove_from_cart(
    session: AsyncSession, *, thread_id: str, product_id: int, quantity: int | None = None
) -> Cart:
    """Remove some units (or the whole line when `quantity` is None or covers it)."""
    line = (
        await session.execute(
            select(CartLine).where(col(CartLine.thread_id) == thread_id, col(CartLine.product_id) == product_id)
        )
    ).scalar_one_or_none()
    if line is None:
        raise CartError("Ese producto no está en el carrito.")
    if quantity is None or quantity >= line.quantity:
        await session.delete(line)
    else:
        if quantity < 1:
            raise CartError("La cantidad a quitar debe ser al menos 1.")
        line.quantity -= quantity
        session.add(line)
    await session.flush()
    return await get_cart(session, thread_id=thread_id)


async def clear_cart(session: AsyncSession, *, thread_id: str) -> None:
    """Empty the cart (after an order, or on request)."""
    await session.execute(delete(CartLine).where(col(CartLine.thread_id) == thread_id))


async def place_order(
    session: AsyncSession,
    *,
    thread_id: str,
    expected_total: Decimal | None = None,
    details: OrderDetails | None = None,
) -> tuple[Order, list[OrderLine]]:
    """Turn the cart into an order: price snapshot, stock decremented, cart emptied — all or nothing.

    `expected_total` is the cart total (the lines, without shipping) the customer confirmed; if prices moved
    since, the order is refused rather than charged at a total they did not see. `details` (who, delivery,
    shipping cost, payment, channel, Telegram chat) are stored on the order, and its total is the lines plus
    `details.shipping_cost`; without them the order has the lines' total and the conversation's channel. The
    order is created "confirmado" with its first history event. Call inside `write_session`.
    """
    cart = await get_cart(session, thread_id=thread_id)
    if not cart.items:
        raise EmptyCartError
    if expected_total is not None and cart.total != expected_total:
        raise CartError(
            "Los precios han cambiado desde que confirmaste; revisa el carrito y vuelve a confirmar el pedido."
        )
    await _take_stock(session, cart)
    conversation = (
        await session.execute(select(Conversation).where(col(Conversation.thread_id) == thread_id))
    ).scalar_one_or_none()
    shipping = details.shipping_cost if details else Decimal("0.00")
    fields = details.as_order_fields() if details else {"channel": conversation.channel if conversation else "http"}
    order = Order(
        **fields,
        conversation_id=conversation.id if conversation else None,
        customer_id=conversation.customer_id if conversation else None,
        subtotal=cart.total,
        total=to_money(cart.total + shipping),
        status=CONFIRMED,
    )
    session.add(order)
    await session.flush()
    lines = [
        OrderLine(
            order_id=order.id or 0,
            product_id=item.product_id,
            sku=item.sku,
            name=item.name,
            unit_price=item.unit_price,
            quantity=item.quantity,
            line_total=item.line_total,
        )
        for item in cart.items
    ]
    session.add_all(lines)
    await record_event(session, order.id or 0, None, CONFIRMED, CUSTOMER, at=order.created_at)
    await clear_cart(session, thread_id=thread_id)
    await session.flush()
    return order, lines


async def _take_stock(session: AsyncSession, cart: Cart) -> None:
    """Decrement each line's stock under one new revision; OutOfStockError if any line no longer fits."""
    revision = await crud.bump_revision(session)
    now = utcnow()
    for item in cart.items:
        result = await session.execute(
            update(Product)
            .where(
                col(Product.id) == item.product_id,
                col(Product.active).is_(True),
                col(Product.stock) >= item.quantity,
            )
            .values(stock=Product.stock - item.quantity, revision=revision, updated_at=now)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            current = await session.get(Product, item.product_id, populate_existing=True)
            available = current.stock if current and current.active else 0
            raise OutOfStockError(item.name, item.quantity, available, checkout=True)


async def product_sales(
    session: AsyncSession, *, since: datetime | None = None, product_ids: list[int] | None = None
) -> dict[int, int]:
    """Units sold per product in orders not cancelled (since a date): sales velocity for restock suggestions."""
    query = (
        select(col(OrderLine.product_id), func.sum(OrderLine.quantity))
        .join(Order, col(Order.id) == col(OrderLine.order_id))
        .where(col(Order.status) != CANCELLED)
        .group_by(col(OrderLine.product_id))
    )
    if since is not None:
        query = query.where(col(Order.created_at) >= since)
    if product_ids is not None:
        query = query.where(col(OrderLine.product_id).in_(product_ids))
    return {int(pid): int(units) for pid, units in (await session.execute(query)).all()}


async def bought_together(session: AsyncSession, *, product_id: int, limit: int = 5) -> list[tuple[int, int]]:
    """(product id, orders in common) for products bought in the same orders as `product_id`, most first."""
    mine = select(col(OrderLine.order_id)).where(col(OrderLine.product_id) == product_id)
    query = (
        select(col(OrderLine.product_id), func.count(func.distinct(OrderLine.order_id)).label("n"))
        .where(col(OrderLine.order_id).in_(mine), col(OrderLine.product_id) != product_id)
        .group_by(col(OrderLine.product_id))
        .order_by(func.count(func.distinct(OrderLine.order_id)).desc(), col(OrderLine.product_id))
        .limit(limit)
    )
    return [(int(pid), int(n)) for pid, n in (await session.execute(query)).all()]
