"""The Telegram channel against a fake Bot API server over real HTTP (tests/fake_telegram.py): conversations,
many chats at once and Telegram's rules (repeated updates, long replies, 429/500, pacing).

The real python-telegram-bot library talks to the fake; the real agent (ChatService, sample catalogue, memory
checkpointer, no LLM) answers. Updates are fed to the channel's update queue, as the webhook route does.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import logging
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from chat import ChatService
from data.models import Order, OrderLine, Product
from telegram_bot import text as texts
from telegram_bot.channel import TelegramChannel, thread_of
from telegram_bot.delivery import RetryingRequest, SeenUpdates
from tests.fake_telegram import FakeTelegram
from tests.telegram_support import (
    ADMIN_CHAT,
    ChannelFactory,
    ScriptedChat,
    button,
    channels,
    fake,
    give_details_in_telegram,
    keyboard,
    recorded_channel,
    telegram_settings,
    text_update,
)
from tools.catalog import CatalogService

__all__ = ["channels", "fake"]  # fixtures, imported for pytest


# --------------------------------------------------------------------------- a conversation and an order


async def test_conversation_with_reference_and_order_confirmed_by_button(
    chat: ChatService, channels: ChannelFactory, fake: FakeTelegram
) -> None:
    channel = await channels(chat)
    customer = 5551001

    await channel.feed(text_update(customer, "/start"))
    welcome = (await fake.wait_messages(customer, 1))[0]
    assert welcome.startswith("¡Hola!") and "/carrito" in welcome and "«¿tenéis auriculares Sony?»" in welcome

    await channel.feed(text_update(customer, "¿tenéis auriculares Sony?"))
    listing = (await fake.wait_messages(customer, 2))[1]
    assert "Auriculares Sony WH-1000XM5 inalámbricos Negro: 329,00 €" in listing
    listed = fake.messages(customer)[1]
    assert listed.params["parse_mode"] == "HTML"
    rows = keyboard(listed.params)  # one row per product: «Añadir al carrito», «Más detalles»
    assert [b["text"] for b in rows[0]] == ["🛒 1. Añadir al carrito", "ℹ️ 1. Más detalles"]
    assert fake.of("sendChatAction", customer)[0].params["action"] == "typing"

    await channel.feed(text_update(customer, "añade el primero"))
    added = (await fake.wait_messages(customer, 3))[2]
    assert "Auriculares Sony WH-1000XM5 inalámbricos Negro" in added and "329,00 €" in added

    await channel.feed(text_update(customer, "/pedido"))
    asked = (await fake.wait_messages(customer, 4))[3]
    assert "¿A nombre de quién hago el pedido?" in asked  # the checkout asks for the details first
    confirm = await give_details_in_telegram(channel, fake, customer)  # pickup at the Madrid shop: free
    assert "¿Confirmo el pedido?" in confirm.text and "Total: 329,00 €" in confirm.text
    sent = len(fake.messages(customer))  # the confirmation is the last message so far
    buttons = keyboard(confirm.params)[0]
    assert [(b["text"], b["callback_data"]) for b in buttons] == [
        ("✅ Confirmar", texts.CONFIRM_YES),
        ("🛒 Seguir comprando", texts.CONFIRM_NO),
    ]

    stock_before = await _stock(chat.catalog, "ELE-SON-XM5-NEG")
    sent_message_id = confirm.message_id
    await channel.feed(button(customer, texts.CONFIRM_YES, sent_message_id))
    done = (await fake.wait_messages(customer, sent + 1))[sent]
    assert done.startswith("¡Pedido confirmado! Número de pedido")
    assert len(fake.of("answerCallbackQuery")) == 1
    edits = fake.of("editMessageReplyMarkup", customer)
    assert [int(e.params["message_id"]) for e in edits] == [sent_message_id]
    assert "reply_markup" not in edits[0].params  # the buttons are gone
    assert await _stock(chat.catalog, "ELE-SON-XM5-NEG") == stock_before - 1

    # The shop's admin chat hears about it: number, lines, total.
    notice = (await fake.wait_messages(ADMIN_CHAT, 1))[0]
    order_id, lines, total = await _last_order(chat.catalog)
    assert f"Nuevo pedido nº {order_id} por Telegram" in notice
    assert "1 × Auriculares Sony WH-1000XM5 inalámbricos Negro: 329,00 €" in notice and "Total: 329,00 €" in notice
    assert f"Número de pedido {order_id}" in done and lines == [("ELE-SON-XM5-NEG", 1)] and total == Decimal("329.00")

    # A second click on the old button places nothing.
    await channel.feed(button(customer, texts.CONFIRM_YES, sent_message_id))
    stale = (await fake.wait_messages(customer, sent + 2))[sent + 1]
    assert stale == texts.STALE_CONFIRMATION
    assert (await _last_order(chat.catalog))[0] == order_id
    assert await _stock(chat.catalog, "ELE-SON-XM5-NEG") == stock_before - 1

    # The conversation is the agent's usual record, under the Telegram thread.
    await chat.recorder.flush()
    assert (await recorded_channel(chat.catalog, thread_of(customer))) == "telegram"


async def _stock(catalog: CatalogService, sku: str) -> int:
    async with catalog.sessions() as session:
        product = (await session.execute(select(Product).where(Product.sku == sku))).scalar_one()
        return product.stock


async def _last_order(catalog: CatalogService) -> tuple[int, list[tuple[str, int]], Decimal]:
    async with catalog.sessions() as session:
        order = (await session.execute(select(Order).order_by(Order.id.desc()).limit(1))).scalar_one()  # type: ignore[union-attr]
        lines = (await session.execute(select(OrderLine).where(OrderLine.order_id == order.id))).scalars().all()
        return order.id or 0, [(line.sku, line.quantity) for line in lines], order.total


# --------------------------------------------------------------------------- many chats at once

SAMPLE = json.loads(
    (Path(__file__).resolve().parents[1].parent / "data" / "catalogue" / "sample_products.json").read_text()
)


def _distinct_products(count: int) -> list[dict[str, Any]]:
    """In-stock sample products from different subcategories, so each chat asks about something else."""
    chosen: dict[str, dict[str, Any]] = {}
    for product in SAMPLE:
        if product["stock"] >= 3 and product["subcategory"] not in chosen:
            chosen[product["subcategory"]] = product
    return list(chosen.values())[:count]


async def test_twenty_chats_at_once_never_cross(
    chat: ChatService, channels: ChannelFactory, fake: FakeTelegram
) -> None:
    channel = await channels(chat)
    products = _distinct_products(20)
    assert len(products) == 20
    chats = {7000 + i: product for i, product in enumerate(products)}
    started = time.monotonic()
    for chat_id, product in chats.items():  # every chat's first message, then every chat's follow-up
        await channel.feed(text_update(chat_id, f"¿cuánto cuesta el {product['name']}?"))
    for chat_id in chats:
        await channel.feed(text_update(chat_id, "añádelo al carrito"))
    for chat_id in chats:
        await fake.wait_messages(chat_id, 2, within=60)
    elapsed = time.monotonic() - started
    for chat_id, product in chats.items():
        price, added = fake.texts(chat_id)
        assert product["name"] in price, (chat_id, price)
        assert product["name"] in added, (chat_id, added)
        others = [p["name"] for c, p in chats.items() if c != chat_id and p["name"] not in product["name"]]
        assert not any(name in price or name in added for name in others), (chat_id, price, added)
        async with chat.catalog.sessions() as session:
            from data import orders

            cart = await orders.get_cart(session, thread_id=thread_of(chat_id))
        assert [item.sku for item in cart.items] == [product["sku"]]
    print(f"20 chats x 2 turns in {elapsed:.1f}s")


# --------------------------------------------------------------------------- Telegram's rules


async def test_duplicated_update_is_answered_once(channels: ChannelFactory, fake: FakeTelegram) -> None:
    scripted = ScriptedChat("Hola, ¿en qué te ayudo?")
    channel = await channels(scripted)
    first = text_update(5552001, "hola")
    for _ in range(3):  # Telegram resends a webhook update it believes failed
        await channel.feed(first)
    await channel.feed(text_update(5552001, "¿seguís ahí?"))
    await fake.wait_messages(5552001, 2)
    await asyncio.sleep(0.3)  # room for a wrongly repeated answer to show up
    assert [m for m, _ in scripted.turns] == ["hola", "¿seguís ahí?"]
    assert len(fake.messages(5552001)) == 2


@pytest.fixture(scope="module")
def own_redis() -> Iterator[str]:
    """The project's Redis Stack (scripts/redis-stack.sh) on a free port of its own, stopped afterwards."""
    from tests.conftest import free_port, redis_stack, start_redis_stack

    port = free_port()
    url = start_redis_stack(port)
    yield url
    redis_stack("stop", port)


async def test_repeated_update_ids_are_shared_through_redis(own_redis: str) -> None:
    """Two instances behind one webhook: the second one to see an update id leaves it alone."""
    bot_key = f"test{time.monotonic_ns()}"
    first, second = SeenUpdates(bot_key, own_redis), SeenUpdates(bot_key, own_redis)
    try:
        assert first.backend == "redis"
        assert await first.first_time(1) is True
        assert await second.first_time(1) is False
        assert await second.first_time(2) is True and await first.first_time(2) is False
    finally:
        await first.close()
        await second.close()


async def test_redis_away_falls_back_to_memory() -> None:
    from tests.conftest import free_port

    seen = SeenUpdates("down", f"redis://127.0.0.1:{free_port()}/0", timeout=0.2)
    try:
        assert await seen.first_time(9) is True
        assert await seen.first_time(9) is False  # memory still de-duplicates
    finally:
        await seen.close()


async def test_long_reply_is_split_on_line_boundaries(channels: ChannelFactory, fake: FakeTelegram) -> None:
    lines = [f"{n}. Producto <{n}> & compañía — {'x' * 60}" for n in range(1, 160)]
    reply = "\n".join(lines)
    assert len(reply) > 2 * texts.MAX_TEXT
    channel = await channels(ScriptedChat(reply))
    await channel.feed(text_update(5553001, "enséñamelo todo"))
    await fake.wait_for(lambda: len(fake.messages(5553001)) >= 3, what="three parts")
    await asyncio.sleep(0.2)
    parts = fake.texts(5553001)
    assert len(parts) == 5  # ~15,000 characters once escaped
    assert all(texts.units(part) <= texts.MAX_TEXT for part in parts)
    for part, following in itertools.pairwise(parts):  # each part is as full as whole lines allow
        assert texts.units(part) + 1 + texts.units(following.split("\n")[0]) > texts.MAX_TEXT
    assert all(p.params["parse_mode"] == "HTML" for p in fake.messages(5553001))
    # Cut between lines only, escaped, nothing lost or repeated.
    assert "\n".join(html.unescape(part) for part in parts) == reply
    assert all(html.unescape(part).split("\n")[0] in lines for part in parts)
    assert "&lt;1&gt; &amp; compañía" in parts[0]


def test_splitting_rules() -> None:
    assert texts.split_for_telegram("a < b\nc & d") == ["a &lt; b\nc &amp; d"]
    one_line = " ".join(["palabra"] * 1500)  # a single line longer than a message: cut at spaces
    parts = texts.split_for_telegram(one_line)
    assert len(parts) == 3 and all(texts.units(p) <= texts.MAX_TEXT for p in parts)
    assert " ".join(parts) == one_line
    emoji = "😀" * 3000  # 2 UTF-16 units each: Telegram counts 6,000
    parts = texts.split_for_telegram(emoji)
    assert "".join(parts) == emoji and all(texts.units(p) <= texts.MAX_TEXT for p in parts)
    ampersands = "&" * 2000  # 10,000 once escaped: never cut inside "&amp;"
    parts = texts.split_for_telegram(ampersands)
    assert all(p.replace("&amp;", "") == "" for p in parts) and sum(p.count("&amp;") for p in parts) == 2000


async def test_bot_api_429_and_500_then_recovery_lose_no_reply(
    chat: ChatService, channels: ChannelFactory, fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    channel = await channels(chat)
    fake.fail("sendMessage", 429, retry_after=1, chat_id=5554001)
    fake.fail("sendMessage", 500, times=2, chat_id=5554002)
    fake.fail("sendMessage", 502, times=1, chat_id=5554003)
    started = time.monotonic()
    for chat_id in (5554001, 5554002, 5554003):
        await channel.feed(text_update(chat_id, "¿cuánto cuesta el iPhone 15?"))
    for chat_id in (5554001, 5554002, 5554003):
        (reply,) = await fake.wait_messages(chat_id, 1)
        assert "959,00 €" in reply
    assert time.monotonic() - started >= 1.0  # the 429's retry_after was honoured
    assert len(fake.of("sendMessage", 5554001)) == 2  # 429, then the same message again
    assert len(fake.of("sendMessage", 5554002)) == 3  # 500, 500, delivered
    assert len(fake.of("sendMessage", 5554003)) == 2
    assert channel.undelivered == 0
    # Exactly one reply per chat: a retry never duplicates a delivered message.
    assert all(len(fake.messages(c)) == 1 for c in (5554001, 5554002, 5554003))


async def test_reply_that_cannot_be_sent_is_logged_with_the_chat_not_the_text(
    channels: ChannelFactory, fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    secret_reply = "Tu pedido de 3 auriculares va a la calle Mayor 5"
    channel = await channels(ScriptedChat(secret_reply))
    fake.fail("sendMessage", 500, times=10, chat_id=5555001)
    with caplog.at_level(logging.WARNING, logger="telegram_bot"):
        await channel.feed(text_update(5555001, "hola"))
        await fake.wait_for(lambda: channel.undelivered == 1, what="the failure to be counted")
    assert len(fake.of("sendMessage", 5555001)) == 4  # the first try and 3 retries, then it gives up
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failures) == 1 and "5555001" in failures[0].getMessage()
    assert all("Mayor" not in r.getMessage() for r in caplog.records)
    # Another chat is not affected.
    await channel.feed(text_update(5555002, "hola"))
    assert await fake.wait_messages(5555002, 1) == [html.escape(secret_reply, quote=False)]


async def test_replies_in_one_chat_are_paced_at_about_one_per_second(fake: FakeTelegram, tmp_path: Path) -> None:
    """The default limiter (what production uses): ~1 message/s per chat, other chats unaffected."""
    channel = TelegramChannel(
        telegram_settings(tmp_path, fake), ScriptedChat("ok"), request=RetryingRequest(backoff=0.05)
    )
    await channel.start()
    try:
        await asyncio.gather(
            channel.send(5556001, "uno"), channel.send(5556001, "dos"), channel.send(5556002, "otro chat")
        )
    finally:
        await channel.stop()
    same = [c.at for c in fake.messages(5556001)]
    other = fake.messages(5556002)[0].at
    assert len(same) == 2 and same[1] - same[0] >= 0.8
    assert other - min(same) < 0.5
