"""Checkout over Telegram (issue 14) through the fake Bot API: the admin chat gets the delivery details, a returning
customer is offered their last details, and a status change PATCHed by the owner reaches the customer's chat."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from chat import ChatService
from data.models import Order
from tests.fake_telegram import FakeTelegram
from tests.telegram_support import ADMIN_CHAT, ChannelFactory, channels, fake, text_update

__all__ = ["channels", "fake"]  # fixtures, imported for pytest

CUSTOMER = 5559001


async def say(channel: Any, fake: FakeTelegram, text: str) -> str:
    count = len(fake.messages(CUSTOMER)) + 1
    await channel.feed(text_update(CUSTOMER, text))
    return (await fake.wait_messages(CUSTOMER, count))[-1]


async def place(channel: Any, fake: FakeTelegram, details: list[str]) -> str:
    await say(channel, fake, "añade el Kindle Paperwhite al carrito")
    reply = await say(channel, fake, "/pedido")
    for message in details:
        reply = await say(channel, fake, message)
    return reply


async def test_order_notice_returning_customer_and_status_change(
    chat: ChatService, channels: ChannelFactory, fake: FakeTelegram
) -> None:
    channel = await channels(chat)
    details = ["Ana García", "612 345 678", "envío a casa", "Calle Mayor 5, 3ºB, 28013 Madrid"]
    confirm = await place(channel, fake, details)
    assert "¿Confirmo el pedido?" in confirm and "Ana García · 612345678" in confirm
    done = await say(channel, fake, "sí")
    assert "¡Pedido confirmado!" in done
    notice = (await fake.wait_messages(ADMIN_CHAT, 1))[0]
    assert "Cliente: Ana García · 612345678" in notice
    assert "Envío a Calle Mayor 5, 3ºB, 28013 Madrid (Madrid)" in notice and "Envío: 0,00 €" in notice
    async with chat.catalog.sessions() as session:
        order = await session.get(Order, 1)
    assert order is not None and order.telegram_chat_id == CUSTOMER and order.channel == "telegram"

    # A new conversation of the same chat (its memory gone): the last order's details are offered.
    await chat.graph.checkpointer.adelete_thread(f"tg:{CUSTOMER}")
    offered = await place(channel, fake, [])
    assert "¿Uso los datos de tu último pedido? Ana García · 612345678 · envío a Calle Mayor 5, 3ºB" in offered
    confirm = await say(channel, fake, "sí")
    assert "¿Confirmo el pedido?" in confirm and "Calle Mayor 5, 3ºB, 28013 Madrid" in confirm

    # The owner marks the first order as sent: the customer's chat is told.
    app = FastAPI()
    app.state.order_notifiers = [channel.notify_status_change]
    from api.routes import admin_orders

    app.include_router(admin_orders.router)
    app.state.catalog = chat.catalog
    app.state.settings = chat.settings.model_copy(update={"admin_api_key": SecretStr("clave")})
    before = len(fake.messages(CUSTOMER))
    with TestClient(app) as client:
        response = client.patch(
            "/admin/pedidos/1", json={"estado": "enviado", "nota": "Seur 123"}, headers={"X-API-Key": "clave"}
        )
    assert response.status_code == 200, response.text
    told = (await fake.wait_messages(CUSTOMER, before + 1))[-1]
    assert told == "📦 Novedades de tu pedido 1: ya va de camino (Seur 123)."
