"""`python -m telegram_bot poll | set-webhook URL | delete-webhook`.

- poll: the bot by long polling, in this process (no public URL needed; `make telegram`). Stops with Ctrl+C.
- set-webhook URL: tells Telegram to post updates to URL (https; a bare host gets /telegram/webhook appended)
  with TELEGRAM_WEBHOOK_SECRET, which the server's /telegram/webhook checks.
- delete-webhook: back to no webhook (needed before polling elsewhere; `poll` does it by itself).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from urllib.parse import urlsplit

from telegram import Bot
from telegram.error import TelegramError

from settings import Settings, configure_logging, get_settings
from telegram_bot.channel import ALLOWED_UPDATES, TelegramChannel

log = logging.getLogger("agente.telegram")

WEBHOOK_PATH = "/telegram/webhook"


def webhook_url(url: str) -> str:
    """The URL Telegram will post to: a bare https://host gets the route's path."""
    parts = urlsplit(url)
    return url.rstrip("/") + WEBHOOK_PATH if parts.path in ("", "/") else url


def _bot(settings: Settings) -> Bot:
    assert settings.telegram_token is not None
    return Bot(
        settings.telegram_token.get_secret_value(),
        base_url=settings.telegram_api_base_url,
        base_file_url=settings.telegram_base_file_url,
    )


async def set_webhook(settings: Settings, url: str) -> str:
    """Register the webhook with the secret; returns the URL registered."""
    if settings.telegram_webhook_secret is None:
        raise SystemExit("Configura TELEGRAM_WEBHOOK_SECRET antes de registrar el webhook (ver .env.example).")
    target = webhook_url(url)
    if not target.startswith("https://"):
        print("Aviso: Telegram solo envía a direcciones https:// (puertos 443, 80, 88 u 8443).", file=sys.stderr)
    async with _bot(settings) as bot:
        await bot.set_webhook(
            target, secret_token=settings.telegram_webhook_secret.get_secret_value(), allowed_updates=ALLOWED_UPDATES
        )
    return target


async def delete_webhook(settings: Settings) -> None:
    """Remove the webhook (Telegram keeps pending updates for getUpdates)."""
    async with _bot(settings) as bot:
        await bot.delete_webhook()


async def poll(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """The catalogue and the agent as the server builds them, and the bot by long polling until stopped."""
    from chat import ChatService
    from data.migrate import upgrade
    from tools.catalog import CatalogService

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)
    catalog = CatalogService(settings)
    await upgrade(catalog.engine)
    report = await catalog.load()
    log.info("catalogue ready: %d products", report.applied)
    chat = ChatService(settings, catalog)
    await chat.start()
    try:
        channel = TelegramChannel(settings, chat, polling=True)
        await channel.run_polling(stop)
    finally:
        await chat.close()
        await catalog.close()


def main(argv: list[str] | None = None, settings: Settings | None = None) -> int:
    """The command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m telegram_bot", description="El bot de Telegram de la tienda.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("poll", help="atiende el bot por long polling (sin URL pública)")
    setter = commands.add_parser("set-webhook", help="registra la URL del webhook con TELEGRAM_WEBHOOK_SECRET")
    setter.add_argument("url", help="https://tu-dominio (se añade /telegram/webhook) o la URL completa")
    commands.add_parser("delete-webhook", help="quita el webhook registrado")
    args = parser.parse_args(argv)

    settings = settings or get_settings()
    configure_logging(settings.log_level)
    if settings.telegram_token is None:
        print("Falta TELEGRAM_TOKEN (el token que da @BotFather): ponlo en .env.", file=sys.stderr)
        return 2
    try:
        if args.command == "poll":
            print("Bot de Telegram en marcha (long polling). Ctrl+C para parar.")
            asyncio.run(poll(settings))
        elif args.command == "set-webhook":
            target = asyncio.run(set_webhook(settings, args.url))
            print(f"Webhook registrado: {target}")
        else:
            asyncio.run(delete_webhook(settings))
            print("Webhook eliminado.")
    except TelegramError as exc:
        print(f"Telegram respondió con un error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
