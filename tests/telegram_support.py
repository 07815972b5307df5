"""Telegram updates as the Bot API sends them, and the fixtures the Telegram tests share (fake server, channels)."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from chat import TurnResult
from data.models import Conversation
from settings import Settings
from telegram_bot.channel import TelegramChannel
from telegram_bot.delivery import RetryingRequest, ShopRateLimiter
from tests.conftest import CONFIRMATION, detail_answer, detail_asked, make_settings
from tests.fake_telegram import BOT_ID, BOT_USERNAME, TOKEN, Call, FakeTelegram
from tools.catalog import CatalogService

SECRET = "s3cret-webhook_token"
ADMIN_CHAT = 424242
_update_ids = itertools.count(100)
_message_ids = itertools.count(1)
update_ids = _update_ids  # for updates a test writes by hand


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


async def recorded_channel(catalog: CatalogService, thread_id: str) -> str | None:
    """The channel the conversation's record names ("telegram"), or None when nothing was recorded."""
    async with catalog.sessions() as session:
        found = (
            await session.execute(select(Conversation).where(Conversation.thread_id == thread_id))
        ).scalar_one_or_none()
        return found.channel if found else None


async def give_details_in_telegram(channel: Any, fake: FakeTelegram, chat_id: int, *, pickup: bool = True) -> Call:
    """Type the answers to the checkout's detail questions in the chat (tests.conftest.give_details, over Telegram).

    What is asked is read from the bot's last message in the chat; each answer is a text update. Returns the sent
    confirmation message ("¿Confirmo el pedido?", with its buttons). Fails if no detail is being asked, if a question
    repeats (the answer was refused), or if it never gets to the confirmation.
    """
    asked: list[str] = []
    for _ in range(9):
        last = fake.messages(chat_id)[-1]
        asking = detail_asked(last.text)
        if asking is None:
            pytest.fail(f"no checkout detail is being asked in chat {chat_id}: {last.text!r} (asked: {asked})")
        if asking in asked:
            pytest.fail(f"the checkout asked for {asking!r} again after {detail_answer(asking, pickup=pickup)!r}")
        asked.append(asking)
        count = len(fake.messages(chat_id)) + 1
        await channel.feed(text_update(chat_id, detail_answer(asking, pickup=pickup)))
        await fake.wait_messages(chat_id, count)
        reply = fake.messages(chat_id)[count - 1]
        if CONFIRMATION in reply.text:
            return reply
    pytest.fail(f"the checkout never reached the confirmation in chat {chat_id} (asked: {asked})")
