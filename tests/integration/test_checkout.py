"""Checkout in conversation (issue 14): details collected before the confirmation, bad input, corrections, reuse,
one order per confirmation, the customer's own orders only, cancellation, and web notices of status changes."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from data import order_status
from data.db import write_session
from data.models import Order, Product
from tests.conftest import LiveServer

KINDLE = "ELE-AMZ-KPW-16-NEG"
DETAILS = ["Ana García", "ana@correo.es", "envío a casa", "Calle Mayor 5, portal 2, 3ºB, 28013 Madrid"]


async def orders_placed(chat: Any) -> list[Order]:
    async with chat.catalog.sessions() as session:
        return list((await session.execute(select(Order).order_by(col(Order.id)))).scalars().all())


async def stock(chat: Any, sku: str) -> int:
    async with chat.catalog.sessions() as session:
        found = (await session.execute(select(Product).where(col(Product.sku) == sku))).scalar_one()
        return found.stock


async def to_confirmation(chat: Any, thread: str, details: list[str] = DETAILS) -> Any:
    await chat.turn("añade el Kindle Paperwhite al carrito", thread_id=thread)
    result = await chat.turn("confirmar pedido", thread_id=thread)
    assert "¿A nombre de quién hago el pedido?" in result.reply and not result.awaiting_confirmation
    for message in details:
        result = await chat.turn(message, thread_id=thread)
    return result


async def test_details_are_asked_then_confirmed_with_shipping_and_payment(chat: Any) -> None:
    asked = await to_confirmation(chat, "c1")
    assert asked.awaiting_confirmation and asked.route == "orders"
    assert "- 1 × Amazon Kindle Paperwhite 16 GB Negro: 169,99 €" in asked.reply
    assert "Envío a Península (24-48 horas laborables): gratis" in asked.reply and "Total: 169,99 €" in asked.reply
    assert "Ana García · ana@correo.es · envío a Calle Mayor 5, portal 2, 3ºB, 28013 Madrid" in asked.reply
    assert "Pago: Aceptamos: tarjeta" in asked.reply and "Bizum" in asked.reply
    assert await orders_placed(chat) == []
    done = await chat.turn("sí", thread_id="c1")
    assert "¡Pedido confirmado!" in done.reply
    [order] = await orders_placed(chat)
    assert (order.customer_name, order.customer_email, order.delivery_method) == (
        "Ana García",
        "ana@correo.es",
        "envio",
    )
    assert (order.postal_code, order.city, order.province, order.channel) == ("28013", "Madrid", "Madrid", "http")


async def test_shipping_is_charged_below_the_free_threshold_and_pickup_is_free(chat: Any) -> None:
    await chat.turn("añade 2 cables ugreen usb-c al carrito", thread_id="c2")
    await chat.turn("confirmar pedido", thread_id="c2")
    for message in ["Luis Pérez", "612 345 678", "a domicilio"]:
        await chat.turn(message, thread_id="c2")
    asked = await chat.turn("Calle Sol 3, 07001 Palma", thread_id="c2")
    assert "Envío a Baleares (3-5 días laborables): 7,95 €" in asked.reply and "Total: 21,93 €" in asked.reply
    changed = await chat.turn("mejor recogida en la tienda de Madrid", thread_id="c2")
    assert changed.awaiting_confirmation and "Recogida en Tienda de Madrid: gratis" in changed.reply
    assert "Total: 13,98 €" in changed.reply
    await chat.turn("sí", thread_id="c2")
    [order] = await orders_placed(chat)
    assert order.delivery_method == "recogida" and order.pickup_point == "Tienda de Madrid"
    assert order.shipping_cost == 0 and order.customer_phone == "612345678"


@pytest.mark.parametrize(
    ("details", "bad", "said"),
    [
        (["Ana"], "ana@correo", "le falta el dominio"),
        (["Ana"], "612abc345", "solo puede llevar números"),
        (["..."], None, "¿A nombre de quién hago el pedido?"),
        (["Ana", "ana@correo.es", "envío"], "Calle Mayor 5, 99999 Madrid", "no es de España"),
        (["Ana", "ana@correo.es", "envío"], "Calle Mayor 5, 08001 Madrid", "es de Barcelona, no de Madrid"),
    ],
)
async def test_bad_input_is_asked_again_and_nothing_is_saved(
    chat: Any, details: list[str], bad: str | None, said: str
) -> None:
    thread = f"bad-{uuid.uuid4().hex}"
    result = await to_confirmation(chat, thread, details + ([bad] if bad else []))
    assert said in result.reply and not result.awaiting_confirmation
    assert await orders_placed(chat) == []


async def test_correction_at_the_confirmation(chat: Any) -> None:
    await to_confirmation(chat, "c3")
    fixed = await chat.turn("no, el portal es el 3B", thread_id="c3")
    assert fixed.awaiting_confirmation and "Calle Mayor 5, portal 3B, 3ºB, 28013 Madrid" in fixed.reply
    email = await chat.turn("el correo es otro@correo.es", thread_id="c3")
    assert email.awaiting_confirmation and "otro@correo.es" in email.reply
    await chat.turn("sí", thread_id="c3")
    [order] = await orders_placed(chat)
    assert order.address_line == "Calle Mayor 5, portal 3B, 3ºB" and order.customer_email == "otro@correo.es"


async def test_a_product_question_mid_checkout_is_answered_and_the_checkout_waits(chat: Any) -> None:
    await to_confirmation(chat, "c4", ["Ana García"])
    other = await chat.turn("¿tenéis fundas para el Kindle?", thread_id="c4")
    assert other.route == "products"
    asked = await chat.turn("ana@correo.es", thread_id="c4")
    assert asked.route == "orders" and "¿Te lo enviamos a casa" in asked.reply


async def test_details_are_reused_for_a_second_order(chat: Any) -> None:
    await to_confirmation(chat, "c5")
    await chat.turn("sí", thread_id="c5")
    await chat.turn("añade 2 cables ugreen usb-c al carrito", thread_id="c5")
    again = await chat.turn("confirmar pedido", thread_id="c5")
    assert again.awaiting_confirmation and "Ana García · ana@correo.es" in again.reply


async def test_a_double_confirmation_makes_one_order(chat: Any) -> None:
    await to_confirmation(chat, "c6")
    first, second = await asyncio.gather(chat.turn("sí", thread_id="c6"), chat.turn("sí", thread_id="c6"))
    assert "¡Pedido confirmado!" in first.reply + second.reply
    late = await chat.turn("sí", thread_id="c6")
    assert "¡Pedido confirmado!" not in late.reply
    assert len(await orders_placed(chat)) == 1


async def test_order_questions_only_for_the_customers_own_orders_and_cancel_returns_stock(chat: Any) -> None:
    before = await stock(chat, KINDLE)
    await to_confirmation(chat, "c7")
    await chat.turn("sí", thread_id="c7")
    [order] = await orders_placed(chat)
    assert await stock(chat, KINDLE) == before - 1
    where = await chat.turn("¿dónde está mi pedido?", thread_id="c7")
    assert where.route == "orders" and f"Tu pedido {order.id}" in where.reply and "confirmado" in where.reply
    stranger = await chat.turn(f"¿cuándo llega el {order.id}?", thread_id="extraño")
    assert f"No encuentro el pedido {order.id}" in stranger.reply
    assert "169,99" not in stranger.reply and "Ana" not in stranger.reply and "confirmado" not in stranger.reply
    cancelled = await chat.turn("cancélalo", thread_id="c7")
    assert f"he cancelado tu pedido {order.id}" in cancelled.reply
    assert await stock(chat, KINDLE) == before
    [order] = await orders_placed(chat)
    assert order.status == "cancelado"


async def test_a_status_change_is_shown_once_at_the_next_web_turn(chat: Any) -> None:
    await to_confirmation(chat, "c8")
    await chat.turn("sí", thread_id="c8")
    [order] = await orders_placed(chat)
    async with write_session(chat.catalog.sessions) as session:
        await order_status.transition(session, order.id or 0, "enviado", order_status.SHOP, "Seur 123")
    shown = await chat.turn("hola", thread_id="c8")
    assert shown.reply.startswith(f"Novedades de tu pedido {order.id}: enviado (Seur 123).")
    again = await chat.turn("gracias", thread_id="c8")
    assert "Novedades" not in again.reply


async def test_personal_data_is_never_cached(chat: Any) -> None:
    from agent.cache import signature, worth_storing

    assert signature("mi correo es ana@correo.es") is None and signature("llámame al 612 345 678") is None
    state = {"cache": "miss", "routes": ["products"], "query": "x", "reply": "Ana García: tu funda"}
    assert not worth_storing({**state, "order_details": {"name": "Ana García"}})
    assert worth_storing({**state, "reply": "Tu funda"})


def test_checkout_over_http(live_server: LiveServer) -> None:
    thread = f"http-{uuid.uuid4().hex}"
    with httpx.Client(base_url=live_server.base_url, timeout=60) as client:

        def say(message: str) -> dict[str, Any]:
            response = client.post("/chat", json={"message": message, "thread_id": thread})
            assert response.status_code == 200
            return dict(response.json())

        say("añade dos pelotas de tenis Head al carrito")
        assert "¿A nombre de quién" in say("confirma el pedido")["reply"]
        for message in ["Eva Ruiz", "eva@correo.es", "recogida", "la de Sants"]:
            last = say(message)
        assert last["awaiting_confirmation"] is True and "Recogida en Punto Barcelona Sants: gratis" in last["reply"]
        done = say("sí, confirmo")
        assert "Pedido confirmado" in done["reply"] and done["awaiting_confirmation"] is False


async def test_no_at_the_name_question_stops_the_checkout_and_keeps_the_cart(chat: Any) -> None:
    thread = uuid.uuid4().hex
    await chat.turn("añade el Kindle Paperwhite al carrito", thread_id=thread)
    asked = await chat.turn("confirmar pedido", thread_id=thread)
    assert "¿A nombre de quién hago el pedido?" in asked.reply
    stopped = await chat.turn("no, gracias", thread_id=thread)
    assert stopped.asking is None and "dejo el pedido sin hacer" in stopped.reply
    assert await orders_placed(chat) == []
    cart = await chat.turn("¿qué llevo en el carrito?", thread_id=thread)
    assert "Kindle Paperwhite" in cart.reply  # the cart is kept for later


async def test_an_empty_cart_is_said_before_any_personal_question(chat: Any) -> None:
    result = await chat.turn("confirmar pedido", thread_id=uuid.uuid4().hex)
    assert "vacío" in result.reply and result.asking is None and "nombre" not in result.reply
