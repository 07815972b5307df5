"""The Telegram channel: python-telegram-bot's `Application`, its handlers calling the same `ChatService.turn`.

Each customer message goes to the same agent as POST /chat, one conversation per chat (`tg:<chat_id>`).

Both modes share everything here: webhook (`feed()` puts the update JSON on the application's update queue, as
python-telegram-bot's custom-webhook example does; the FastAPI route answers Telegram at once) and long polling
(`python -m telegram_bot poll`, the library's Updater).

Updates of different chats are processed at the same time; those of one chat one after another, in order, so a
conversation's turns never interleave. A repeated `update_id` is dropped before any handler runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable
from typing import Any

from sqlalchemy import select
from sqlmodel import col
from telegram import Bot, CallbackQuery, InlineKeyboardMarkup, Message, MessageEntity, ReplyParameters, Update
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import Forbidden, TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import HTTPXRequest

from agent.language import euros
from chat import MAX_MESSAGE_CHARS, ChatService, TurnResult
from data import crud, order_notices
from data.db import write_session
from data.models import Conversation, Order, OrderLine
from settings import Settings
from telegram_bot import text as texts
from telegram_bot.delivery import RetryingRequest, SeenUpdates, ShopRateLimiter

log = logging.getLogger(__name__)

CHANNEL = "telegram"
ALLOWED_UPDATES = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY]
TYPING_EVERY = 4.0  # seconds; Telegram shows "escribiendo…" for 5 s after each sendChatAction


def thread_of(chat_id: int) -> str:
    """The conversation of a Telegram chat (private or group)."""
    return f"tg:{chat_id}"


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Updates of different chats run concurrently; those of one chat strictly one after another, in order."""

    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._users: dict[int, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        lock = self._locks.setdefault(chat.id, asyncio.Lock())
        self._users[chat.id] = self._users.get(chat.id, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._users[chat.id] -= 1
            if not self._users[chat.id]:
                del self._users[chat.id]
                del self._locks[chat.id]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to free."""


class TelegramChannel:
    """The bot for one process. `start()`/`stop()` in webhook mode; `run_polling()` for long polling."""

    def __init__(
        self,
        settings: Settings,
        chat: ChatService,
        *,
        polling: bool = False,
        seen: SeenUpdates | None = None,
        rate_limiter: ShopRateLimiter | None = None,
        request: HTTPXRequest | None = None,
    ) -> None:
        if settings.telegram_token is None:
            raise ValueError("TELEGRAM_TOKEN no está configurado")
        token = settings.telegram_token.get_secret_value()
        self.settings = settings
        self.chat = chat
        self.admin_chat_ids = frozenset(settings.telegram_admin_chat_ids)
        redis_url = settings.resolved_redis_url if settings.cache_backend == "redis" else None
        self.seen = seen or SeenUpdates(token.split(":", 1)[0], redis_url, timeout=settings.redis_timeout)
        builder = (
            Application.builder()
            .token(token)
            .base_url(settings.telegram_api_base_url)
            .base_file_url(settings.telegram_base_file_url)
            .request(request or RetryingRequest())
            .rate_limiter(rate_limiter or ShopRateLimiter())
            .concurrent_updates(PerChatUpdateProcessor())
        )
        # Webhook mode has no Updater (the route feeds the queue); polling waits up to 30 s per getUpdates.
        builder = builder.get_updates_request(HTTPXRequest(read_timeout=40.0)) if polling else builder.updater(None)
        self.application = builder.build()
        self.undelivered = 0  # replies that could not be sent after the retries (each one logged with its chat)
        self._pending_confirmation: dict[int, int] = {}  # chat id -> message id carrying Confirmar/Seguir
        self._start_lock = asyncio.Lock()
        self._register()

    @property
    def bot(self) -> Bot:
        return self.application.bot

    @property
    def running(self) -> bool:
        return self.application.running

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Webhook mode: initialise (getMe) and start taking updates from the queue. Safe to call again."""
        async with self._start_lock:
            if self.application.running:
                return
            await self.application.initialize()
            await self.application.start()
            log.info("telegram: @%s ready (webhook mode)", self.bot.username)

    async def stop(self) -> None:
        async with self._start_lock:
            if self.application.running:
                await self.application.stop()
            with contextlib.suppress(Exception):
                await self.application.shutdown()
            await self.seen.close()

    async def feed(self, data: dict[str, Any]) -> bool:
        """One update as Telegram posted it: queued for processing (in the background). False if unreadable."""
        try:
            update = Update.de_json(data, self.bot)
        except Exception as exc:  # a shape python-telegram-bot cannot read: ignore it, as Telegram would want
            log.warning("telegram: unreadable update %s ignored (%s)", data.get("update_id"), type(exc).__name__)
            return False
        await self.application.update_queue.put(update)
        return True

    async def run_polling(self, stop: asyncio.Event) -> None:
        """Long polling until `stop` is set (same handlers as the webhook)."""
        updater = self.application.updater
        if updater is None:
            raise RuntimeError("este canal se creó sin Updater (modo webhook)")
        async with self.application:
            await updater.start_polling(allowed_updates=ALLOWED_UPDATES, timeout=30)
            await self.application.start()
            log.info("telegram: @%s polling", self.bot.username)
            try:
                await stop.wait()
            finally:
                await updater.stop()
                await self.application.stop()
        await self.seen.close()

    # ------------------------------------------------------------------ handlers

    def _register(self) -> None:
        app = self.application
        message = filters.UpdateType.MESSAGE  # edited messages match nothing below: they are ignored
        private = filters.ChatType.PRIVATE
        app.add_handler(TypeHandler(Update, self._drop_repeats), group=-1)
        app.add_handler(CommandHandler("start", self._on_start, filters=message))
        app.add_handler(CommandHandler(["ayuda", "help"], self._on_help, filters=message))
        app.add_handler(CommandHandler(list(texts.COMMAND_MESSAGES), self._on_command, filters=message))
        app.add_handler(MessageHandler(message & private & filters.COMMAND, self._on_unknown_command))
        app.add_handler(MessageHandler(message & filters.TEXT & ~filters.COMMAND, self._on_text))
        app.add_handler(MessageHandler(message & private & filters.ATTACHMENT, self._on_unsupported))
        app.add_handler(CallbackQueryHandler(self._on_button))
        app.add_error_handler(self._on_error)

    async def _drop_repeats(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        if not await self.seen.first_time(update.update_id):
            log.info("telegram: update %s already processed; ignored", update.update_id)
            raise ApplicationHandlerStop

    async def _on_start(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        if (message := update.effective_message) is not None:
            log.info("telegram: /start from chat %s", message.chat_id)  # how the owner finds an admin chat id
            await self.send(message.chat_id, texts.WELCOME, reply_to=_reply_to(message))

    async def _on_help(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        if (message := update.effective_message) is not None:
            await self.send(message.chat_id, texts.HELP, reply_to=_reply_to(message))

    async def _on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or not message.text:
            return
        name = message.text.split()[0].lstrip("/").split("@")[0].lower()
        await self.converse(message.chat_id, texts.COMMAND_MESSAGES[name], message=message)

    async def _on_unknown_command(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        if (message := update.effective_message) is not None:
            await self.send(message.chat_id, texts.UNKNOWN_COMMAND)

    async def _on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or message.text is None:
            return
        text = message.text if message.chat.type == ChatType.PRIVATE else addressed_text(message, context.bot)
        if text is None:
            return  # group chatter not meant for the bot
        await self.converse(message.chat_id, text, message=message)

    async def _on_unsupported(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None:
            return
        kind = next(
            (k for k in ("photo", "voice", "sticker", "location", "document") if getattr(message, k, None)), "other"
        )
        if message.audio or message.video_note:
            kind = "voice"
        await self.send(message.chat_id, texts.UNSUPPORTED[kind])

    async def _on_button(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        data = query.data or ""
        message = query.message if isinstance(query.message, Message) else None
        await self._answer(query)
        if message is None:
            return  # the message is too old to be known: nothing to act on
        chat_id = message.chat_id
        if data in (texts.CONFIRM_YES, texts.CONFIRM_NO):
            await self._drop_markup(chat_id, message.message_id)
            if not await self.awaiting_confirmation(chat_id):
                await self.send(chat_id, texts.STALE_CONFIRMATION)
                return
            await self.converse(chat_id, "sí" if data == texts.CONFIRM_YES else "no", message=None)
        elif data.startswith((texts.ADD_PREFIX, texts.INFO_PREFIX)):
            name = await self._product_name(data.split(":", 1)[1])
            if name is None:
                await self.send(chat_id, "Ese producto ya no está a la venta. ¿Te busco algo parecido?")
                return
            ask = f"añade «{name}» al carrito" if data.startswith(texts.ADD_PREFIX) else f"más detalles de «{name}»"
            await self.converse(chat_id, ask, message=None)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        log.error(
            "telegram: error handling update %s of chat %s: %s",
            update.update_id if isinstance(update, Update) else "?",
            chat.id if chat else "?",
            type(context.error).__name__,
            exc_info=context.error,
        )

    # ------------------------------------------------------------------ the conversation

    async def converse(self, chat_id: int, text: str, *, message: Message | None) -> TurnResult | None:
        """One customer turn: the agent answers (with "escribiendo…" meanwhile) and the reply is delivered."""
        text = text.strip()
        reply_to = _reply_to(message) if message is not None else None
        if len(text) > MAX_MESSAGE_CHARS:
            await self.send(chat_id, texts.TOO_LONG.format(limit=f"{MAX_MESSAGE_CHARS:,}".replace(",", ".")))
            return None
        if not text:
            text = "hola"  # a bare mention in a group: greet
        await self._retire_confirmation(chat_id)
        thread_id = thread_of(chat_id)
        watch_orders = bool(self.admin_chat_ids) and await self.awaiting_confirmation(chat_id)
        before = await self._latest_order(thread_id) if watch_orders else None
        role = "admin" if chat_id in self.admin_chat_ids and chat_id > 0 else "customer"
        async with self._typing(chat_id):
            try:
                result = await self.chat.turn(text, thread_id=thread_id, channel=CHANNEL, role=role)
            except Exception:
                log.exception("telegram: the agent failed on a turn of chat %s", chat_id)
                await self.send(chat_id, texts.FAILED, reply_to=reply_to)
                return None
        markup: InlineKeyboardMarkup | None = None
        if result.awaiting_confirmation:
            markup = texts.confirmation_keyboard()
        elif result.products and result.route != "orders":
            markup = texts.products_keyboard(result.products)
        sent = await self.send(chat_id, result.reply, markup=markup, reply_to=reply_to)
        if result.awaiting_confirmation and sent is not None:
            self._pending_confirmation[chat_id] = sent.message_id
        if watch_orders:
            await self._notify_new_order(chat_id, thread_id, before)
        return result

    async def awaiting_confirmation(self, chat_id: int) -> bool:
        """Whether this chat's conversation is waiting for a yes/no to an order (the agent's interrupt)."""
        graph = getattr(self.chat, "graph", None)
        if graph is None:
            return False
        snapshot = await graph.aget_state(self.chat.config(thread_of(chat_id)))
        return bool(snapshot.interrupts)

    @contextlib.asynccontextmanager
    async def _typing(self, chat_id: int) -> AsyncIterator[None]:
        async def keep_typing() -> None:
            while True:
                try:
                    await self.bot.send_chat_action(chat_id, ChatAction.TYPING)
                except TelegramError as exc:  # cosmetic: never in the way of the answer
                    log.debug("telegram: typing for chat %s failed: %s", chat_id, type(exc).__name__)
                await asyncio.sleep(TYPING_EVERY)

        task = asyncio.create_task(keep_typing(), name=f"telegram-typing-{chat_id}")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ------------------------------------------------------------------ sending

    async def send(
        self,
        chat_id: int,
        text: str,
        *,
        markup: InlineKeyboardMarkup | None = None,
        reply_to: ReplyParameters | None = None,
    ) -> Message | None:
        """Send a reply (HTML-escaped, split at line boundaries); the markup goes on the last part.

        Retries happen below (rate limiter, request). What still fails is logged with the chat id — never the
        text — and counted; the last message sent is returned, None if the reply did not get through.
        """
        chunks = texts.split_for_telegram(text)
        sent: Message | None = None
        for position, chunk in enumerate(chunks, start=1):
            last = position == len(chunks)
            try:
                sent = await self.bot.send_message(
                    chat_id,
                    chunk,
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup if last else None,
                    reply_parameters=reply_to if position == 1 else None,
                )
            except Forbidden:
                self.undelivered += 1
                log.warning("telegram: chat %s blocked the bot or left; reply not delivered", chat_id)
                return None
            except TelegramError as exc:
                self.undelivered += 1
                log.error(
                    "telegram: reply to chat %s not delivered after retries (part %d of %d): %s",
                    chat_id,
                    position,
                    len(chunks),
                    type(exc).__name__,
                )
                return None
        return sent

    async def _answer(self, query: CallbackQuery) -> None:
        try:
            await query.answer()
        except TelegramError as exc:  # the spinner stops by itself after a while
            log.warning("telegram: answerCallbackQuery failed: %s", type(exc).__name__)

    async def _drop_markup(self, chat_id: int, message_id: int) -> None:
        try:
            await self.bot.edit_message_reply_markup(chat_id, message_id, reply_markup=None)
        except TelegramError as exc:  # already edited, or too old
            log.info("telegram: could not remove buttons in chat %s: %s", chat_id, type(exc).__name__)
        if self._pending_confirmation.get(chat_id) == message_id:
            del self._pending_confirmation[chat_id]

    async def _retire_confirmation(self, chat_id: int) -> None:
        """A new turn answers (or abandons) the pending confirmation: its buttons go away."""
        message_id = self._pending_confirmation.get(chat_id)
        if message_id is not None:
            await self._drop_markup(chat_id, message_id)

    # ------------------------------------------------------------------ shop data

    async def _product_name(self, raw_id: str) -> str | None:
        if not raw_id.isdigit():
            return None
        async with self.chat.catalog.sessions() as session:
            product = await crud.get_product(session, product_id=int(raw_id))
        return product.name if product is not None else None

    async def _latest_order(self, thread_id: str) -> int | None:
        await self.chat.recorder.flush()  # the conversation row exists before the order that points at it
        async with self.chat.catalog.sessions() as session:
            statement = (
                select(col(Order.id))
                .join(Conversation, col(Conversation.id) == col(Order.conversation_id))
                .where(col(Conversation.thread_id) == thread_id)
                .order_by(col(Order.id).desc())
                .limit(1)
            )
            found: int | None = (await session.execute(statement)).scalar_one_or_none()
            return found

    async def _notify_new_order(self, chat_id: int, thread_id: str, before: int | None) -> None:
        """Tell the admin chats about an order this turn placed: number, lines and total."""
        try:
            order_id = await self._latest_order(thread_id)
            if order_id is None or order_id == before:
                return
            async with self.chat.catalog.sessions() as session:
                order = await session.get(Order, order_id)
                statement = select(OrderLine).where(col(OrderLine.order_id) == order_id).order_by(col(OrderLine.id))
                lines = (await session.execute(statement)).scalars().all()
            if order is None:
                return
            notice = texts.order_notice(
                order_id,
                [(line.quantity, line.name, euros(line.line_total)) for line in lines],
                euros(order.total),
                f"chat {chat_id}",
            )
            delivery = texts.delivery_notice(order)
            notice = f"{notice}\n{delivery}" if delivery else notice
        except Exception:
            log.exception("telegram: could not read order details for the admin notice (chat %s)", chat_id)
            return
        for admin in self.admin_chat_ids:
            await self.send(admin, notice)

    async def notify_status_change(self, event_id: int) -> bool:
        """Tell the order's Telegram chat of a status change the shop made (once); False when not sent."""
        try:
            async with write_session(self.chat.catalog.sessions) as session:
                notice = await order_notices.claim_event(session, event_id)
        except Exception:
            log.exception("telegram: could not read the status change %s", event_id)
            return False
        if notice is None or notice.telegram_chat_id is None:
            return False
        text = texts.status_notice(notice.order_id, notice.status, notice.note)
        return await self.send(notice.telegram_chat_id, text) is not None


def addressed_text(message: Message, bot: Bot) -> str | None:
    """In a group, the text meant for the bot (mention removed), or None when the message is not for it."""
    text = message.text or ""
    username = (bot.username or "").lower()
    mentioned = False
    for entity, value in message.parse_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION]).items():
        if entity.type == MessageEntity.MENTION and username and value.lower() == f"@{username}":
            mentioned = True
            text = text.replace(value, " ")
        elif entity.type == MessageEntity.TEXT_MENTION and entity.user is not None and entity.user.id == bot.id:
            mentioned = True
    replied = message.reply_to_message
    if not mentioned and not (replied is not None and replied.from_user is not None and replied.from_user.id == bot.id):
        return None
    return " ".join(text.split())


def _reply_to(message: Message) -> ReplyParameters | None:
    """In groups the answer quotes the question, so everyone sees whom it answers."""
    if message.chat.type == ChatType.PRIVATE:
        return None
    return ReplyParameters(message.message_id, allow_sending_without_reply=True)
