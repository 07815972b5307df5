"""The Telegram channel's ways in: the webhook route of the real FastAPI app, the command line, long polling;
and what a chat may send (groups, commands, buttons, bad input). The fake Bot API is tests/fake_telegram.py.
"""

from __future__ import annotations

import asyncio
import html
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chat import ChatService
from data.models import Product
from server import create_app
from settings import Settings
from telegram_bot import __main__ as cli
from telegram_bot import text as texts
from telegram_bot.channel import TelegramChannel, thread_of
from tests.conftest import make_settings
from tests.fake_telegram import BOT_ID, BOT_USERNAME, TOKEN, FakeTelegram
from tests.telegram_support import (
    ADMIN_CHAT,
    SECRET,
    ChannelFactory,
    ScriptedChat,
    button,
    channels,
    chat_of,
    fake,
    fast_limits,
    give_details_in_telegram,
    keyboard,
    message,
    recorded_channel,
    telegram_settings,
    text_update,
    update,
    update_ids,
    user,
)
from tools.catalog import CatalogService

__all__ = ["channels", "fake"]  # fixtures, imported for pytest


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
    assert await recorded_channel(service, thread_of(5557001)) is None  # nothing changed

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
    asked = (await fake.wait_messages(customer, 4))[3]
    assert "¿A nombre de quién hago el pedido?" in asked  # the checkout asks for the details first
    confirm = await give_details_in_telegram(channel, fake, customer)
    assert "¿Confirmo el pedido?" in confirm.text and keyboard(confirm.params)
    sent = len(fake.messages(customer))  # the confirmation is the last message so far
    await channel.feed(button(customer, texts.CONFIRM_NO, confirm.message_id))
    kept = (await fake.wait_messages(customer, sent + 1))[sent]
    assert "no hago el pedido" in kept and "carrito sigue guardado" in kept
    assert [int(e.params["message_id"]) for e in fake.of("editMessageReplyMarkup", customer)] == [confirm.message_id]
    assert fake.messages(ADMIN_CHAT) == []  # no order, no notice

    # A confirmation answered by typing also loses its buttons (the details given above are reused).
    await channel.feed(text_update(customer, "/pedido"))
    await fake.wait_messages(customer, sent + 2)
    again = fake.messages(customer)[sent + 1]
    assert "¿Confirmo el pedido?" in again.text
    await channel.feed(text_update(customer, "sí"))
    placed = (await fake.wait_messages(customer, sent + 3))[sent + 2]
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
        assert await channel.feed({"update_id": next(update_ids), "message": {"text": "sin chat ni fecha"}}) is False
        assert await channel.feed({"update_id": next(update_ids)}) is True  # nothing in it: nothing to do
        await channel.feed({"update_id": next(update_ids), "poll": {"id": "p"}})  # not something we asked for
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
