"""Carts and orders on SQLite and PostgreSQL: totals to the cent, all-or-nothing, stock never below zero."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from data import crud, orders
from data.db import write_session
from data.models import Order, OrderLine, Product, ProductUpdate
from tests.conftest import new_product


async def test_cart_totals_and_order_snapshot(sessions: async_sessionmaker[AsyncSession]) -> None:
    a = await new_product(sessions, "A", "19.99", 10)
    b = await new_product(sessions, "B", "0.10", 5)
    async with write_session(sessions) as session:
        await orders.add_to_cart(session, thread_id="t1", product_id=a, quantity=2)
        await orders.add_to_cart(session, thread_id="t1", product_id=b, quantity=3)
        cart = await orders.add_to_cart(session, thread_id="t1", product_id=a, quantity=1)
    assert [(i.sku, i.quantity) for i in cart.items] == [("A", 3), ("B", 3)]
    assert cart.total == Decimal("60.27") and cart.units == 6

    async with write_session(sessions) as session:
        order, lines = await orders.place_order(session, thread_id="t1", expected_total=Decimal("60.27"))
    assert order.total == Decimal("60.27")
    assert {(line.sku, line.quantity, line.unit_price, line.line_total) for line in lines} == {
        ("A", 3, Decimal("19.99"), Decimal("59.97")),
        ("B", 3, Decimal("0.10"), Decimal("0.30")),
    }
    async with sessions() as session:
        assert (await orders.get_cart(session, thread_id="t1")).items == ()
        stock = {p.sku: p.stock for p in await crud.all_products(session)}
        assert stock == {"A": 7, "B": 2}
        # A later price change does not touch the order's snapshot.
        product = await crud.get_product(session, product_id=a)
        assert product is not None
    async with write_session(sessions) as session:
        product = await crud.get_product(session, product_id=a)
        assert product is not None
        await crud.update_product(session, product=product, product_in=ProductUpdate(price=Decimal("25.00")))
    async with sessions() as session:
        line = (await session.execute(select(OrderLine).where(OrderLine.sku == "A"))).scalar_one()
        assert line.unit_price == Decimal("19.99")


async def test_cart_refuses_more_than_stock_and_unknown_products(sessions: async_sessionmaker[AsyncSession]) -> None:
    a = await new_product(sessions, "A", "5.00", 2)
    with pytest.raises(orders.OutOfStockError, match="solo quedan 2"):
        async with write_session(sessions) as session:
            await orders.add_to_cart(session, thread_id="t", product_id=a, quantity=3)
    with pytest.raises(orders.CartError, match="no existe"):
        async with write_session(sessions) as session:
            await orders.add_to_cart(session, thread_id="t", product_id=999, quantity=1)
    with pytest.raises(orders.CartError, match="entre 1 y"):
        async with write_session(sessions) as session:
            await orders.add_to_cart(session, thread_id="t", product_id=a, quantity=0)
    with pytest.raises(orders.EmptyCartError):
        async with write_session(sessions) as session:
            await orders.place_order(session, thread_id="t")


async def test_remove_from_cart(sessions: async_sessionmaker[AsyncSession]) -> None:
    a = await new_product(sessions, "A", "5.00", 9)
    async with write_session(sessions) as session:
        await orders.add_to_cart(session, thread_id="t", product_id=a, quantity=4)
        cart = await orders.remove_from_cart(session, thread_id="t", product_id=a, quantity=1)
        assert cart.items[0].quantity == 3
        cart = await orders.remove_from_cart(session, thread_id="t", product_id=a)
        assert cart.items == ()
    with pytest.raises(orders.CartError, match="no está en el carrito"):
        async with write_session(sessions) as session:
            await orders.remove_from_cart(session, thread_id="t", product_id=a)


async def test_changed_price_refuses_the_confirmed_total(sessions: async_sessionmaker[AsyncSession]) -> None:
    a = await new_product(sessions, "A", "10.00", 5)
    async with write_session(sessions) as session:
        await orders.add_to_cart(session, thread_id="t", product_id=a, quantity=1)
    with pytest.raises(orders.CartError, match="precios han cambiado"):
        async with write_session(sessions) as session:
            await orders.place_order(session, thread_id="t", expected_total=Decimal("9.99"))
    async with sessions() as session:
        assert (await session.execute(select(func.count()).select_from(Order))).scalar_one() == 0


async def test_out_of_stock_line_rolls_back_the_whole_order(sessions: async_sessionmaker[AsyncSession]) -> None:
    a = await new_product(sessions, "A", "10.00", 5)
    b = await new_product(sessions, "B", "3.00", 2)
    async with write_session(sessions) as session:
        await orders.add_to_cart(session, thread_id="t", product_id=a, quantity=2)
        await orders.add_to_cart(session, thread_id="t", product_id=b, quantity=2)
    async with write_session(sessions) as session:  # someone else buys B meanwhile
        product = await crud.get_product(session, product_id=b)
        assert product is not None
        await crud.update_product(session, product=product, product_in=ProductUpdate(stock=1))
    with pytest.raises(orders.OutOfStockError, match="solo quedan 1"):
        async with write_session(sessions) as session:
            await orders.place_order(session, thread_id="t")
    async with sessions() as session:
        stock = {p.sku: p.stock for p in await crud.all_products(session)}
        assert stock == {"A": 5, "B": 1}  # A was not decremented either
        assert len((await orders.get_cart(session, thread_id="t")).items) == 2  # the cart is kept
        assert (await session.execute(select(func.count()).select_from(Order))).scalar_one() == 0


async def test_concurrent_confirmations_never_oversell(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Twelve customers confirm 2 units each of a product with 7 left: exactly three orders go through."""
    a = await new_product(sessions, "LAST", "99.99", 7)
    for i in range(12):
        async with write_session(sessions) as session:
            await orders.add_to_cart(session, thread_id=f"c{i}", product_id=a, quantity=2)

    async def confirm(i: int) -> bool:
        try:
            async with write_session(sessions) as session:
                await orders.place_order(session, thread_id=f"c{i}")
            return True
        except orders.OutOfStockError:
            return False

    results = await asyncio.gather(*(confirm(i) for i in range(12)))
    assert sum(results) == 3
    async with sessions() as session:
        product = await session.get(Product, a)
        assert product is not None and product.stock == 1
        sold = await orders.product_sales(session)
        assert sold == {a: 6}
        assert (await session.execute(select(func.count()).select_from(Order))).scalar_one() == 3


async def test_bought_together(sessions: async_sessionmaker[AsyncSession]) -> None:
    phone = await new_product(sessions, "PHONE", "500.00", 10)
    case = await new_product(sessions, "CASE", "20.00", 10)
    charger = await new_product(sessions, "CHARGER", "25.00", 10)
    for thread, extra in (("x", [case]), ("y", [case, charger]), ("z", [charger])):
        async with write_session(sessions) as session:
            await orders.add_to_cart(session, thread_id=thread, product_id=phone)
            for pid in extra:
                await orders.add_to_cart(session, thread_id=thread, product_id=pid)
            await orders.place_order(session, thread_id=thread)
    async with sessions() as session:
        assert await orders.bought_together(session, product_id=phone) == [(case, 2), (charger, 2)]
        assert await orders.bought_together(session, product_id=case) == [(phone, 2), (charger, 1)]
