"""The Telegram channel against a fake Bot API server over real HTTP (tests/fake_telegram.py).

The real python-telegram-bot library talks to the fake; the real agent (ChatService, sample catalogue, memory
checkpointer, no LLM) answers. Updates arrive the ways Telegram sends them: posted to the webhook route of the
real FastAPI app, fed to the channel's update queue (what the route does), or served to getUpdates (polling).
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from chat import ChatService, TurnResult
from data.models import Order, OrderLine, Product
from server import create_app
from settings import Settings
from telegram_bot import __main__ as cli
from telegram_bot import text as texts
from telegram_bot.channel import TelegramChannel, thread_of
from telegram_bot.delivery import RetryingRequest, SeenUpdates, ShopRateLimiter
from tests.conftest import make_settings
from tests.fake_telegram import BOT_ID, BOT_USERNAME, TOKEN, FakeTelegram
from tools.catalog import CatalogService

SECRET = "s3cret-webhook_token"
ADMIN_CHAT = 424242
_update_ids = itertools.count(100)
_message_ids = itertools.count(1)


# --------------------------------------------------------------------------- updates as Telegram sends them


def user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": f"Cliente{user_id}", "language_code": "es"}


def chat_of(chat_id: int) -> dict[str, Any]:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": f"Cliente{chat_id}"}
    return {"id": chat_id, "type": "supergroup", "title": "Grupo de compras"}


def message(chat_id: int, text: str | None = None, *, sender: int | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "message_id": next(_message_ids),
        "date": int(time.time()),
        "chat": chat_of(chat_id),
        "from": user(sender or abs(chat_id)),
        **extra,
    }
    if text is not None:
        body["text"] = text
        if text.startswith("/"):
            body["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return body


def update(**body: Any) -> dict[str, Any]:
    return {"update_id": next(_update_ids), **body}


def text_update(chat_id: int, text: str, **extra: Any) -> dict[str, Any]:
    return update(message=message(chat_id, text, **extra))


def button(chat_id: int, data: str, message_id: int, *, sender: int | None = None) -> dict[str, Any]:
    bot_message = {
        "message_id": message_id,
        "date": int(time.time()),
        "chat": chat_of(chat_id),
        "from": {"id": BOT_ID, "is_bot": True, "first_name": "Tienda", "username": BOT_USERNAME},
        "text": "…",
    }
    return update(
        callback_query={
            "id": f"cbq-{next(_message_ids)}",
            "from": user(sender or abs(chat_id)),
            "chat_instance": f"ci-{chat_id}",
            "data": data,
            "message": bot_message,
        }
    )


def keyboard(call_params: dict[str, Any]) -> list[list[dict[str, Any]]]:
    markup = call_params.get("reply_markup") or {}
    rows: list[list[dict[str, Any]]] = markup.get("inline_keyboard", [])
    return rows


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    server = FakeTelegram().start()
    yield server
    server.stop()


def telegram_settings(tmp_path: Path, fake: FakeTelegram, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "telegram_token": TOKEN,
        "telegram_webhook_secret": SECRET,
        "telegram_api_base_url": fake.base_url,
        "telegram_admin_chat_ids": [ADMIN_CHAT],
        "checkpointer": "memory",
        **overrides,
    }
    return make_settings(tmp_path, **values)


def fast_limits(per_chat_rate: float = 50.0) -> dict[str, Any]:
    """Telegram's limits, with a brisk per-chat pace so a conversation test does not wait a second per reply."""
    return {
        "rate_limiter": ShopRateLimiter(per_chat_rate=per_chat_rate),
        "request": RetryingRequest(retries=3, backoff=0.05),
    }


ChannelFactory = Callable[..., Any]


@pytest.fixture
async def channels(tmp_path: Path, fake: FakeTelegram) -> AsyncIterator[ChannelFactory]:
    """Build started webhook-mode channels on the fake; stopped afterwards."""
    started: list[TelegramChannel] = []

    async def build(chat: Any, **kwargs: Any) -> TelegramChannel:
        settings = kwargs.pop("settings", None) or telegram_settings(tmp_path, fake)
        channel = TelegramChannel(settings, chat, **{**fast_limits(), **kwargs})
        await channel.start()
        started.append(channel)
        return channel

    yield build
    for channel in started:
        await channel.stop()


class ScriptedChat:
    """A stand-in for ChatService where a test needs a reply the sample catalogue does not produce."""

    def __init__(self, reply: str, catalog: CatalogService | None = None) -> None:
        self.reply = reply
        self.catalog = catalog  # product buttons look the product up
        self.turns: list[tuple[str, str | None]] = []

    async def turn(self, message: str, *, thread_id: str | None = None, **_: Any) -> TurnResult:
        self.turns.append((message, thread_id))
        return TurnResult(reply=self.reply, thread_id=thread_id or "", route="conversation")


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
    await fake.wait_messages(customer, 4)
    confirm = fake.messages(customer)[3]
    assert "¿Confirmo el pedido?" in confirm.text and "Total: 329,00 €" in confirm.text
    buttons = keyboard(confirm.params)[0]
    assert [(b["text"], b["callback_data"]) for b in buttons] == [
        ("✅ Confirmar", texts.CONFIRM_YES),
        ("🛒 Seguir comprando", texts.CONFIRM_NO),
    ]

    stock_before = await _stock(chat.catalog, "ELE-SON-XM5-NEG")
    sent_message_id = confirm.message_id
    await channel.feed(button(customer, texts.CONFIRM_YES, sent_message_id))
    done = (await fake.wait_messages(customer, 5))[4]
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
    stale = (await fake.wait_messages(customer, 6))[5]
    assert stale == texts.STALE_CONFIRMATION
    assert (await _last_order(chat.catalog))[0] == order_id
    assert await _stock(chat.catalog, "ELE-SON-XM5-NEG") == stock_before - 1

    # The conversation is the agent's usual record, under the Telegram thread.
    await chat.recorder.flush()
    assert (await _recorded_channel(chat.catalog, thread_of(customer))) == "telegram"


async def _stock(catalog: CatalogService, sku: str) -> int:
    async with catalog.sessions() as session:
        product = (await session.execute(select(Product).where(Product.sku == sku))).scalar_one()
        return product.stock


async def _last_order(catalog: CatalogService) -> tuple[int, list[tuple[str, int]], Decimal]:
    async with catalog.sessions() as session:
        order = (await session.execute(select(Order).order_by(Order.id.desc()).limit(1))).scalar_one()  # type: ignore[union-attr]
        lines = (await session.execute(select(OrderLine).where(OrderLine.order_id == order.id))).scalars().all()
        return order.id or 0, [(line.sku, line.quantity) for line in lines], order.total


async def _recorded_channel(catalog: CatalogService, thread_id: str) -> str | None:
    from data.models import Conversation

    async with catalog.sessions() as session:
        found = (
            await session.execute(select(Conversation).where(Conversation.thread_id == thread_id))
        ).scalar_one_or_none()
        return found.channel if found else None


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


# --------------------------------------------------------------------------- the webhook in the real app


@pytest.fixture
async def app_client(service: CatalogService, tmp_path: Path, fake: FakeTelegram) -> AsyncIterator[httpx.AsyncClient]:
    """The real FastAPI app (create_app, its lifespan) with Telegram configured, over ASGI."""
    app = create_app(telegram_settings(tmp_path, fake), service=service)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tienda.test") as client:
            yield client


async def test_webhook_checks_the_secret_and_answers_at_once(
    app_client: httpx.AsyncClient, fake: FakeTelegram, service: CatalogService
) -> None:
    body = text_update(5557001, "¿cuánto cuesta el iPhone 15?")
    missing = await app_client.post("/telegram/webhook", json=body)
    wrong = await app_client.post(
        "/telegram/webhook", json=body, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET + "x"}
    )
    assert missing.status_code == 401 and "X-Telegram-Bot-Api-Secret-Token" in missing.json()["detail"]
    assert wrong.status_code == 403 and "no es válida" in wrong.json()["detail"]
    await asyncio.sleep(0.3)
    assert fake.of("sendChatAction", 5557001) == [] and fake.of("sendMessage", 5557001) == []
    assert await _recorded_channel(service, thread_of(5557001)) is None  # nothing changed

    good = await app_client.post("/telegram/webhook", json=body, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    answered_at = time.monotonic()
    assert good.status_code == 200 and good.json() == {"ok": True}
    (reply,) = await fake.wait_messages(5557001, 1)
    assert "959,00 €" in reply
    assert fake.messages(5557001)[0].at > answered_at  # Telegram had its 200 before the agent finished

    # The same update posted again (Telegram's retry): 200, and no second answer.
    again = await app_client.post("/telegram/webhook", json=body, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert again.status_code == 200
    await asyncio.sleep(1.2)  # longer than the per-chat pace a second reply would wait
    assert len(fake.of("sendChatAction", 5557001)) == 1  # no second turn even started
    assert len(fake.messages(5557001)) == 1

    not_json = await app_client.post(
        "/telegram/webhook", content=b"{no", headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
    )
    assert not_json.status_code == 400


async def test_webhook_route_only_exists_with_a_token(tmp_path: Path) -> None:
    async def status(settings: Settings) -> int:
        transport = httpx.ASGITransport(app=create_app(settings))  # no lifespan needed: refused before any work
        async with httpx.AsyncClient(transport=transport, base_url="http://tienda.test") as client:
            return (await client.post("/telegram/webhook", json={"update_id": 1})).status_code

    assert await status(make_settings(tmp_path)) == 404
    assert await status(make_settings(tmp_path, telegram_token=TOKEN, telegram_webhook_secret=SECRET)) == 401
    assert await status(make_settings(tmp_path, telegram_token=TOKEN)) == 403  # no secret configured: refused


def test_telegram_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_ADMIN_CHAT_IDS", "12345, -100987")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "")
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", "http://127.0.0.1:9/bot")
    settings = Settings.isolated()
    assert settings.telegram_token is not None and settings.telegram_token.get_secret_value() == TOKEN
    assert TOKEN not in repr(settings)
    assert settings.telegram_admin_chat_ids == [12345, -100987]
    assert settings.telegram_webhook_secret is None
    assert settings.telegram_base_file_url == "http://127.0.0.1:9/file/bot"
    assert Settings.isolated(telegram_api_base_url="https://api.telegram.org/bot").telegram_base_file_url == (
        "https://api.telegram.org/file/bot"
    )
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "no vale con espacios")
    with pytest.raises(ValueError, match="TELEGRAM_WEBHOOK_SECRET"):
        Settings.isolated()


# --------------------------------------------------------------------------- the command line


def test_set_and_delete_webhook_from_the_command_line(
    fake: FakeTelegram, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = telegram_settings(tmp_path, fake)
    assert cli.main(["set-webhook", "https://tienda.example.com"], settings=settings) == 0
    assert fake.webhook["url"] == "https://tienda.example.com/telegram/webhook"
    assert fake.webhook["secret_token"] == SECRET
    assert set(fake.webhook["allowed_updates"]) == {"message", "edited_message", "callback_query"}
    assert "Webhook registrado: https://tienda.example.com/telegram/webhook" in capsys.readouterr().out
    assert cli.main(["delete-webhook"], settings=settings) == 0
    assert fake.webhook == {} and len(fake.of("deleteWebhook")) == 1

    with pytest.raises(SystemExit, match="TELEGRAM_WEBHOOK_SECRET"):
        cli.main(
            ["set-webhook", "https://x.example"],
            settings=telegram_settings(tmp_path, fake, telegram_webhook_secret=None),
        )
    assert cli.main(["poll"], settings=make_settings(tmp_path)) == 2  # no token: says so, does nothing
    assert "TELEGRAM_TOKEN" in capsys.readouterr().err
    fake.fail("setWebhook", 400)
    assert cli.main(["set-webhook", "https://x.example/hook"], settings=settings) == 1


# --------------------------------------------------------------------------- groups, commands, buttons


async def test_in_groups_only_mentions_and_replies_to_the_bot(channels: ChannelFactory, fake: FakeTelegram) -> None:
    scripted = ScriptedChat("Respuesta para el grupo")
    channel = await channels(scripted)
    group = -100555

    await channel.feed(text_update(group, "hola a todos, ¿quedamos mañana?", sender=11))
    mention = "@" + BOT_USERNAME
    question = f"{mention} ¿cuánto cuesta el iPhone 15?"
    addressed = text_update(
        group, question, sender=12, entities=[{"type": "mention", "offset": 0, "length": len(mention)}]
    )
    await channel.feed(addressed)
    await fake.wait_messages(group, 1)
    bot_reply = {"message_id": 1, "date": 0, "chat": chat_of(group), "text": "Respuesta",
                 "from": {"id": BOT_ID, "is_bot": True, "first_name": "Tienda", "username": BOT_USERNAME}}  # fmt: skip
    other_reply = {**bot_reply, "from": user(13)}
    await channel.feed(text_update(group, "¿y en negro?", sender=12, reply_to_message=bot_reply))
    await channel.feed(text_update(group, "jaja sí", sender=14, reply_to_message=other_reply))
    await channel.feed(text_update(group, f"/carrito@{BOT_USERNAME}", sender=12))
    await channel.feed(text_update(group, "/carrito@otro_bot", sender=12))
    await channel.feed(update(message=message(group, sender=12, photo=[_photo()])))
    await fake.wait_messages(group, 3)
    await asyncio.sleep(0.3)

    assert scripted.turns == [
        ("¿cuánto cuesta el iPhone 15?", f"tg:{group}"),  # the mention is not part of the question
        ("¿y en negro?", f"tg:{group}"),
        ("¿qué llevo en el carrito?", f"tg:{group}"),
    ]
    sent = fake.messages(group)
    assert len(sent) == 3
    assert sent[0].params["reply_parameters"]["message_id"] == addressed["message"]["message_id"]  # quotes the asker


async def test_commands_map_to_what_the_agent_understands(
    chat: ChatService, channels: ChannelFactory, fake: FakeTelegram
) -> None:
    channel = await channels(chat)
    customer = 5558001
    for text in (
        "/ayuda",
        "/carrito",
        "¿tenéis auriculares Sony?",
        "añade el primero",
        "/carrito",
        "/vaciar",
        "/carrito",
    ):
        await channel.feed(text_update(customer, text))
    help_text, empty, _listing, _added, cart, cleared, empty_again = await fake.wait_messages(customer, 7)
    assert "/pedido" in help_text and "/vaciar" in help_text
    assert empty.startswith("Tu carrito está vacío")
    assert cart.startswith("Tu carrito:") and "1 × Auriculares Sony WH-1000XM5 inalámbricos Negro" in cart
    assert "vacío" in cleared and empty_again.startswith("Tu carrito está vacío")

    await channel.feed(text_update(customer, "/pedido"))
    (refused,) = (await fake.wait_messages(customer, 8))[7:]
    assert "vacío" in refused and "reply_markup" not in fake.messages(customer)[7].params


async def test_seguir_comprando_keeps_the_cart_and_product_buttons_add_and_explain(
    chat: ChatService, channels: ChannelFactory, fake: FakeTelegram
) -> None:
    channel = await channels(chat)
    customer = 5559001
    await channel.feed(text_update(customer, "busco un portátil"))
    await fake.wait_messages(customer, 1)
    rows = keyboard(fake.messages(customer)[0].params)
    assert len(rows) >= 2
    add_second, info_first = rows[1][0]["callback_data"], rows[0][1]["callback_data"]
    assert add_second.startswith(texts.ADD_PREFIX) and info_first.startswith(texts.INFO_PREFIX)
    second = await _product_by_id(chat.catalog, int(add_second.split(":")[1]))
    first = await _product_by_id(chat.catalog, int(info_first.split(":")[1]))

    listing_id = fake.messages(customer)[0].message_id
    await channel.feed(button(customer, info_first, listing_id))
    details = (await fake.wait_messages(customer, 2))[1]
    assert details.startswith(html.escape(first.name, quote=False)) and first.description[:40] in details
    await channel.feed(button(customer, add_second, listing_id))
    added = (await fake.wait_messages(customer, 3))[2]
    assert html.escape(second.name, quote=False) in added
    assert len(fake.of("answerCallbackQuery")) == 2

    await channel.feed(text_update(customer, "/pedido"))
    await fake.wait_messages(customer, 4)
    confirm = fake.messages(customer)[3]
    assert "¿Confirmo el pedido?" in confirm.text and keyboard(confirm.params)
    await channel.feed(button(customer, texts.CONFIRM_NO, confirm.message_id))
    kept = (await fake.wait_messages(customer, 5))[4]
    assert "no hago el pedido" in kept and "carrito sigue guardado" in kept
    assert [int(e.params["message_id"]) for e in fake.of("editMessageReplyMarkup", customer)] == [confirm.message_id]
    assert fake.messages(ADMIN_CHAT) == []  # no order, no notice

    # A confirmation answered by typing also loses its buttons.
    await channel.feed(text_update(customer, "/pedido"))
    await fake.wait_messages(customer, 6)
    again = fake.messages(customer)[5]
    await channel.feed(text_update(customer, "sí"))
    placed = (await fake.wait_messages(customer, 7))[6]
    assert placed.startswith("¡Pedido confirmado!")
    assert again.message_id in [int(e.params["message_id"]) for e in fake.of("editMessageReplyMarkup", customer)]
    notice = (await fake.wait_messages(ADMIN_CHAT, 1))[0]
    assert html.escape(second.name, quote=False) in notice


async def _product_by_id(catalog: CatalogService, product_id: int) -> Product:
    async with catalog.sessions() as session:
        product = await session.get(Product, product_id)
        assert product is not None
        return product


# --------------------------------------------------------------------------- bad input


def _photo() -> dict[str, Any]:
    return {"file_id": "AgAD-photo", "file_unique_id": "p1", "width": 90, "height": 90, "file_size": 1200}


async def test_bad_input_gets_a_short_spanish_answer_or_is_ignored(
    channels: ChannelFactory, fake: FakeTelegram, service: CatalogService, caplog: pytest.LogCaptureFixture
) -> None:
    scripted = ScriptedChat("texto del agente", catalog=service)
    channel = await channels(scripted)
    c = 5560001
    media = {
        "photo": [_photo()],
        "voice": {"file_id": "v", "file_unique_id": "v1", "duration": 3, "mime_type": "audio/ogg"},
        "sticker": {"file_id": "s", "file_unique_id": "s1", "type": "regular", "width": 512, "height": 512,
                    "is_animated": False, "is_video": False},
        "location": {"latitude": 40.4168, "longitude": -3.7038},
        "document": {"file_id": "d", "file_unique_id": "d1", "file_name": "lista.pdf", "mime_type": "application/pdf"},
    }  # fmt: skip
    with caplog.at_level(logging.WARNING):
        for kind, value in media.items():
            await channel.feed(update(message=message(c, **{kind: value})))
        await fake.wait_messages(c, len(media))
        answers = fake.texts(c)
        assert answers == [html.escape(texts.UNSUPPORTED[kind], quote=False) for kind in media]

        await channel.feed(update(edited_message=message(c, "hola, corrijo", edit_date=int(time.time()))))
        await channel.feed(text_update(c, "x" * 4096))  # Telegram's own maximum: longer than the agent takes
        await channel.feed(text_update(c, "/inventada"))
        await channel.feed(button(c, "zzz-desconocido", 1))
        await channel.feed(button(c, texts.ADD_PREFIX + "99999999", 1))
        inline = update(callback_query={"id": "q", "from": user(c), "chat_instance": "i", "data": texts.CONFIRM_YES})
        await channel.feed(inline)  # a button of an inline message: no chat to answer in
        assert await channel.feed({"update_id": next(_update_ids), "message": {"text": "sin chat ni fecha"}}) is False
        assert await channel.feed({"update_id": next(_update_ids)}) is True  # nothing in it: nothing to do
        await channel.feed({"update_id": next(_update_ids), "poll": {"id": "p"}})  # not something we asked for
        await channel.feed(update(message=message(c, "x", chat={"id": c, "type": "private"}, **{"from": None})))
        await channel.feed(text_update(c, "hola"))  # and a normal message still works afterwards
        await fake.wait_messages(c, len(media) + 5)
        await asyncio.sleep(0.3)
    answers = fake.texts(c)[len(media) :]
    assert (
        answers
        == [
            html.escape(texts.TOO_LONG.format(limit="4.000"), quote=False),
            html.escape(texts.UNKNOWN_COMMAND, quote=False),
            "Ese producto ya no está a la venta. ¿Te busco algo parecido?",
            "texto del agente",
            "texto del agente",
        ][: len(answers)]
    )
    assert len(answers) == 5
    # Only the message without a sender ("from" missing) and the normal one reached the agent.
    assert [m for m, _ in scripted.turns] == ["x", "hola"]
    assert len(fake.of("answerCallbackQuery")) == 3
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [r.getMessage() for r in caplog.records]


# --------------------------------------------------------------------------- long polling


async def test_long_polling_uses_the_same_handlers(chat: ChatService, fake: FakeTelegram, tmp_path: Path) -> None:
    channel = TelegramChannel(telegram_settings(tmp_path, fake), chat, polling=True, **fast_limits())
    stop = asyncio.Event()
    running = asyncio.create_task(channel.run_polling(stop))
    try:
        fake.push_update(text_update(5561001, "¿tenéis auriculares Sony?"))
        fake.push_update(text_update(5561002, "/start"))
        listing = (await fake.wait_messages(5561001, 1))[0]
        fake.push_update(text_update(5561001, "añade el primero"))
        added = (await fake.wait_messages(5561001, 2))[1]
        welcome = (await fake.wait_messages(5561002, 1))[0]
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)
    assert "Auriculares Sony WH-1000XM5 inalámbricos Negro" in listing and "Negro" in added and "329,00 €" in added
    assert welcome.startswith("¡Hola!")
    assert len(fake.of("deleteWebhook")) == 1  # polling and a webhook exclude each other: the library clears it
    polls = fake.of("getUpdates")
    assert polls and set(polls[0].params["allowed_updates"]) == {"message", "edited_message", "callback_query"}
    assert len(fake.messages(5561001)) == 2  # each update once, even though getUpdates was asked many times


@pytest.mark.slow
def test_poll_command_runs_the_bot_until_stopped(fake: FakeTelegram, tmp_path: Path, sample_var: Path) -> None:
    """`python -m telegram_bot poll` (what `make telegram` runs) as a process: answers, then stops on SIGTERM."""
    import os
    import shutil
    import signal
    import subprocess
    import sys

    from settings import ROOT

    shutil.copytree(sample_var, tmp_path / "var")
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DATABASE_", "GOOGLE_", "EMBEDDINGS_", "TELEGRAM_"))
        },
        "VAR_DIR": str(tmp_path / "var"),
        "DATABASE_URL": "",
        "INDEX_DIR": "",
        "EMBEDDINGS_PROVIDER": "use",
        "GOOGLE_API_KEY": "",
        "CACHE_BACKEND": "memory",
        "LOG_LEVEL": "WARNING",
        "TELEGRAM_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": fake.base_url,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "telegram_bot", "poll"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        fake.push_update(text_update(5562001, "¿cuánto cuesta el iPhone 15?"))
        deadline = time.monotonic() + 90
        while not fake.messages(5562001) and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.1)
        assert fake.messages(5562001), process.stdout.read().decode() if process.poll() is not None else "no reply"
        assert "959,00 €" in fake.texts(5562001)[0]
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode()
    assert process.returncode == 0, output
    assert "Bot de Telegram en marcha" in output and "Traceback" not in output
