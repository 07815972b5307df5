"""POST /telegram/webhook: Telegram delivers updates here (mounted only when TELEGRAM_TOKEN is set).

The secret registered with `python -m telegram_bot set-webhook` comes back in X-Telegram-Bot-Api-Secret-Token and
is checked in constant time before the body is read: missing 401, wrong 403, and nothing is processed. A good
update is queued and answered 200 at once (Telegram waits for no reply and would resend a slow one); the channel
processes it in the background. The channel itself lives in `app.state.telegram` (telegram_bot, wired by server).
"""

from __future__ import annotations

import hmac
import json
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Header, HTTPException, Request, status
from fastapi.responses import JSONResponse

from settings import Settings

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class UpdateSink(Protocol):
    """What the route needs of the Telegram channel."""

    @property
    def running(self) -> bool: ...

    async def start(self) -> None: ...

    async def feed(self, data: dict[str, Any]) -> bool: ...


router = APIRouter(prefix="/telegram", tags=["telegram"])


def _check_secret(request: Request, given: str | None) -> None:
    settings: Settings = request.app.state.settings
    expected = settings.telegram_webhook_secret.get_secret_value() if settings.telegram_webhook_secret else ""
    if not expected:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "El webhook de Telegram necesita TELEGRAM_WEBHOOK_SECRET.")
    if given is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"Falta la cabecera {SECRET_HEADER}.")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"La cabecera {SECRET_HEADER} no es válida.")


@router.post("/webhook", include_in_schema=False)
async def webhook(
    request: Request,
    secret: Annotated[str | None, Header(alias=SECRET_HEADER)] = None,
) -> JSONResponse:
    """One update from Telegram: checked, queued, answered."""
    _check_secret(request, secret)
    try:
        data = json.loads(await request.body())
    except ValueError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "El cuerpo no es un JSON válido.") from None
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "El cuerpo no es una actualización de Telegram.")
    channel: UpdateSink | None = getattr(request.app.state, "telegram", None)
    if channel is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "El canal de Telegram no está en marcha.")
    if not channel.running:
        try:
            await channel.start()  # Telegram was unreachable at start-up: try again now
        except Exception:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, "El canal de Telegram no ha podido arrancar; reintenta."
            ) from None
    await channel.feed(data)
    return JSONResponse({"ok": True})
