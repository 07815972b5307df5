"""The ASGI app: `create_app()` wires the lifespan, error handlers, the routers in api/ and LangServe (/agent).

Run: `uvicorn server:create_app --factory --host 127.0.0.1 --port 8001` (what `make run` does).
Health, product, order (admin) and chat routes live in api/routes/; the dependencies they share in api/deps.py.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, cast

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from langchain_core.messages import AnyMessage, convert_to_messages
from langchain_core.runnables import Runnable, RunnableConfig, RunnableGenerator
from langserve import add_routes
from pydantic import BaseModel, Field, field_validator

from api.deps import role_of
from api.routes import admin_orders, chat, health, products
from api.routes import telegram as telegram_routes
from api.routes.chat import THREAD_ID_PATTERN
from chat import MAX_MESSAGE_CHARS, ChatService
from data.errors import describe
from data.migrate import upgrade
from settings import Settings, configure_logging, get_settings
from tools.catalog import CatalogService

if TYPE_CHECKING:
    from telegram_bot.channel import TelegramChannel

log = logging.getLogger("agente.server")

# --------------------------------------------------------------------------- app


def create_app(settings: Settings | None = None, *, service: CatalogService | None = None) -> FastAPI:
    """Build the API; the catalogue service (engine, index) is created and loaded in the lifespan."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        catalog = service or CatalogService(settings)
        await upgrade(catalog.engine)
        report = await catalog.load()
        log.info(
            "catalogue ready: %d products, revision %d, %d embedded in %.1fs (%s)",
            report.applied,
            report.revision,
            report.embedded,
            report.seconds,
            catalog.embedder.id,
        )
        app.state.catalog = catalog
        chat = ChatService(settings, catalog)
        await chat.start()
        app.state.chat = chat
        app.state.telegram = await _start_telegram(settings, chat) if settings.telegram_token else None
        # Status changes made by the owner (PATCH /admin/pedidos/{id}) reach the customer's chat through these.
        app.state.order_notifiers = [app.state.telegram.notify_status_change] if app.state.telegram else []
        try:
            yield
        finally:
            if app.state.telegram is not None:
                await app.state.telegram.stop()
            await chat.close()
            await catalog.close()

    app = FastAPI(
        title="Agente Vendedor",
        description="Asistente de ventas: catálogo, búsqueda y (pronto) conversación.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    _install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(products.router)
    app.include_router(admin_orders.router)
    app.include_router(chat.router)
    if settings.telegram_token:
        app.include_router(telegram_routes.router)
    _agent_routes(app)
    return app


async def _start_telegram(settings: Settings, chat: ChatService) -> TelegramChannel:
    """The Telegram channel in webhook mode; if Telegram cannot be reached now, the webhook retries later."""
    from telegram_bot.channel import TelegramChannel

    channel = TelegramChannel(settings, chat)
    if settings.telegram_webhook_secret is None:
        log.warning("TELEGRAM_TOKEN is set but TELEGRAM_WEBHOOK_SECRET is not: /telegram/webhook refuses everything")
    try:
        await channel.start()
    except Exception as exc:
        log.error("telegram: could not start (%s); /telegram/webhook will try again", type(exc).__name__)
    return channel


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return JSONResponse(status_code=400, content={"detail": "El cuerpo de la petición no es un JSON válido."})
        details = describe(errors)
        summary = "; ".join(f"{d['campo']}: {d['motivo']}" for d in details)
        return JSONResponse(status_code=422, content={"detail": f"Datos no válidos — {summary}.", "errores": details})


# --------------------------------------------------------------------------- LangServe: /agent


class AgentInput(BaseModel):
    """The conversation so far; the last message is the customer's. OpenAI-style role dicts are accepted."""

    messages: list[AnyMessage] = Field(..., json_schema_extra={"widget": {"type": "chat", "input": "messages"}})

    @field_validator("messages", mode="before")
    @classmethod
    def _convert(cls, value: Any) -> Any:
        if not isinstance(value, list) or not value:
            raise ValueError("se necesita al menos un mensaje")
        return convert_to_messages(value)

    @field_validator("messages")
    @classmethod
    def _last_from_customer(cls, value: list[AnyMessage]) -> list[AnyMessage]:
        last = value[-1]
        text = last.content if isinstance(last.content, str) else ""
        if last.type != "human" or not text.strip():
            raise ValueError("el último mensaje debe ser del cliente y ser un texto no vacío")
        if len(text) > MAX_MESSAGE_CHARS:
            raise ValueError(f"el mensaje no puede superar {MAX_MESSAGE_CHARS} caracteres")
        return value


def _agent_runnable(app: FastAPI) -> Runnable[Any, str]:
    """The agent for LangServe: invoke gets the whole reply, the streaming endpoints get it as it is written.

    stream, stream_log and stream_events (the playground) receive the LLM's checked sentences as they come;
    offline, the reply is one chunk.
    """

    async def run(inputs: AsyncIterator[Any], config: RunnableConfig) -> AsyncIterator[str]:
        payload: Any = None
        async for value in inputs:  # the input does not stream: one value
            payload = value
        data = payload if isinstance(payload, AgentInput) else AgentInput.model_validate(payload)
        messages = list(data.messages)
        text = str(messages[-1].content)
        chat: ChatService = app.state.chat
        configurable = config.get("configurable") or {}
        thread_id = configurable.get("thread_id") or chat.thread_for_history(messages[:-1])
        streamed = chat.stream(
            text.strip(),
            thread_id=thread_id,
            channel="langserve",
            role=configurable.get("role", "customer"),
        )
        reply = ""
        async for chunk in streamed:
            reply += chunk
            yield chunk
        chat.remember_history(messages, reply, thread_id)

    # RunnableGenerator passes the run's config to a transform that accepts one; its type hints do not say so.
    agent: Runnable[Any, str] = RunnableGenerator(cast(Any, run), name="agente_vendedor")
    return agent.with_types(input_type=AgentInput, output_type=str)


async def _agent_config(config: dict[str, Any], request: Request) -> dict[str, Any]:
    """Thread id from the X-Thread-Id header or the body's config (LangServe drops unknown configurable keys)."""
    thread_id = request.headers.get("x-thread-id")
    if thread_id is None and request.method == "POST":
        try:
            body = await request.json()
            thread_id = (((body or {}).get("config") or {}).get("configurable") or {}).get("thread_id")
        except ValueError:
            thread_id = None
    configurable = dict(config.get("configurable") or {})
    if thread_id:
        if not re.fullmatch(THREAD_ID_PATTERN, str(thread_id)):
            raise HTTPException(422, "El identificador de conversación no es válido (letras, números, . _ : -).")
        configurable["thread_id"] = str(thread_id)
    configurable["role"] = role_of(request)
    return {**config, "configurable": configurable}


def _agent_routes(app: FastAPI) -> None:
    add_routes(
        app,
        _agent_runnable(app),
        path="/agent",
        playground_type="chat",
        per_req_config_modifier=_agent_config,
        # The chat playground fetches /agent/c/<config hash>/input_schema: config_hashes must stay enabled.
        enabled_endpoints=["invoke", "batch", "stream", "stream_log", "stream_events", "playground", "input_schema",
                           "output_schema", "config_schema", "config_hashes"],
    )  # fmt: skip


def main() -> None:
    """`python -m server`: serve on HOST:PORT from the settings (what `make run` starts)."""
    import uvicorn

    settings = get_settings()
    configure_logging(settings.log_level)
    print(
        f"Agente Vendedor en http://{settings.host}:{settings.port}  (API: http://{settings.host}:{settings.port}/docs)"
    )
    uvicorn.run(
        "server:create_app", factory=True, host=settings.host, port=settings.port, log_level="warning", access_log=False
    )


if __name__ == "__main__":
    main()
