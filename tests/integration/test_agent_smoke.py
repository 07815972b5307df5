"""A first end-to-end check of the agent in-process: a priced list, a reference to it, and an order."""

from __future__ import annotations

from decimal import Decimal

from data import crud
from tests.conftest import give_details


async def test_price_reference_and_order(chat) -> None:  # type: ignore[no-untyped-def]
    first = await chat.turn("¿cuánto cuesta el iPhone 15?", thread_id="t1")
    assert first.route == "prices"
    assert "959,00 €" in first.reply and "1.089,00 €" in first.reply
    second = await chat.turn("¿y el segundo?", thread_id="t1")
    assert second.products[0]["sku"] == first.products[1]["sku"]
    added = await chat.turn("añádelo al carrito", thread_id="t1")
    assert added.route == "orders" and first.products[1]["name"] in added.reply
    ask = await chat.turn("quiero hacer el pedido", thread_id="t1")
    assert ask.route == "orders" and "¿A nombre de quién hago el pedido?" in ask.reply  # the checkout starts
    ask = await give_details(chat, "t1")
    assert ask.awaiting_confirmation and "¿Confirmo el pedido?" in ask.reply
    async with chat.catalog.sessions() as session:
        before = (await crud.get_product_by_sku(session, sku=first.products[1]["sku"])).stock
    done = await chat.turn("sí", thread_id="t1")
    assert "Pedido confirmado" in done.reply and not done.awaiting_confirmation
    async with chat.catalog.sessions() as session:
        after = await crud.get_product_by_sku(session, sku=first.products[1]["sku"])
    assert after is not None and after.stock == before - 1
    assert Decimal(first.products[1]["price"]) == after.price
