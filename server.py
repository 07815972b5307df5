"""HTTP API: the product catalogue (`/productos...`) and health; `create_app()` builds it for uvicorn or tests.

Run: `uvicorn server:create_app --factory --host 127.0.0.1 --port 8001` (what `make run` does).
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Path, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from langchain_core.messages import AnyMessage, convert_to_messages
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langserve import add_routes
from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator
from sqlalchemy import text as sql_text
from sqlalchemy.ext.asyncio import AsyncSession

from chat import MAX_MESSAGE_CHARS, ChatService, TurnResult
from data import conversations, crud
from data.db import write_session
from data.errors import describe
from data.migrate import upgrade
from data.models import Product, ProductCreate, ProductPublic, ProductUpdate
from settings import Settings, configure_logging, get_settings
from state import SearchFilters, SearchHit
from tools.catalog import CatalogService, UnknownCategoryError
from tools.shop import fact

log = logging.getLogger("agente.server")

MAX_QUERY_CHARS = 200
SEARCH_MODES = {"hibrido": "hybrid", "palabras": "keyword", "semantico": "semantic"}
MAX_PAGE_SIZE = 100

# --------------------------------------------------------------------------- response shapes


class ProductHit(BaseModel):
    """A search result: the product's sale facts plus why it ranked where it did."""

    id: int
    sku: str
    name: str
    brand: str
    category: str
    subcategory: str
    price: Decimal
    currency: str
    stock: int
    score: float
    keyword_score: float
    semantic_score: float
    matched_by: list[str]
    matched_terms: list[str]

    @staticmethod
    def dump(hit: SearchHit) -> dict[str, Any]:
        """The JSON shape of a hit (prices as exact strings, as pydantic writes Decimals)."""
        return {
            **fact(hit.item),
            "currency": getattr(hit.item, "currency", "EUR"),
            "score": hit.score,
            "keyword_score": hit.keyword_score,
            "semantic_score": hit.semantic_score,
            "matched_by": list(hit.matched_by),
            "matched_terms": list(hit.matched_terms),
        }


def hits_response(hits: list[SearchHit]) -> Response:
    """Search results serialised directly: the hot path skips re-validating what we just built (~1 ms)."""
    body = json.dumps([ProductHit.dump(h) for h in hits], ensure_ascii=False, separators=(",", ":"))
    return Response(content=body.encode("utf-8"), media_type="application/json")


class ProductPage(BaseModel):
    """One page of the product listing."""

    items: list[ProductPublic]
    total: int
    pagina: int
    por_pagina: int
    paginas: int


class Health(BaseModel):
    """What /health reports: overall status (ok, degraded, error), database, index and semantic cache."""

    status: str
    database: str
    index: dict[str, Any]
    cache: dict[str, Any] | None = None


# --------------------------------------------------------------------------- dependencies


def get_service(request: Request) -> CatalogService:
    """The catalogue service built in the lifespan."""
    service: CatalogService = request.app.state.catalog
    return service


CatalogDep = Annotated[CatalogService, Depends(get_service)]


async def get_session(service: CatalogDep) -> AsyncIterator[AsyncSession]:
    """A read session per request."""
    async with service.sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def require_admin(request: Request, x_api_key: Annotated[str | None, Header(alias="X-API-Key")] = None) -> None:
    """Writes need X-API-Key equal to ADMIN_API_KEY, compared in constant time."""
    settings: Settings = request.app.state.settings
    expected = settings.admin_api_key.get_secret_value() if settings.admin_api_key else ""
    if not expected:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "Las escrituras están desactivadas: el administrador debe configurar ADMIN_API_KEY.",
        )
    if x_api_key is None or not hmac.compare_digest(x_api_key.encode(), expected.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Falta la cabecera X-API-Key o no es válida.",
            headers={"WWW-Authenticate": "X-API-Key"},
        )


AdminDep = Annotated[None, Depends(require_admin)]

ProductId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Identificador del producto")]

QueryText = Annotated[
    str,
    Query(
        min_length=1,
        max_length=MAX_QUERY_CHARS,
        description="Lo que busca el cliente, en lenguaje natural",
    ),
]


def search_filters(
    categoria: Annotated[str | None, Query(max_length=80)] = None,
    marca: Annotated[str | None, Query(max_length=80)] = None,
    precio_min: Annotated[Decimal | None, Query(ge=0, le=Decimal("99999999.99"))] = None,
    precio_max: Annotated[Decimal | None, Query(ge=0, le=Decimal("99999999.99"))] = None,
    en_stock: bool = False,
) -> SearchFilters:
    """Query-string filters shared by the listing and the search endpoints."""
    for name, bound in (("precio_min", precio_min), ("precio_max", precio_max)):
        if bound is not None and bound != bound.quantize(Decimal("0.01")):
            raise HTTPException(422, f"{name} admite como máximo dos decimales.")
    if precio_min is not None and precio_max is not None and precio_min > precio_max:
        raise HTTPException(422, "precio_min no puede ser mayor que precio_max.")
    return SearchFilters(
        category=categoria.strip() or None if categoria else None,
        brand=marca.strip() or None if marca else None,
        price_min=precio_min,
        price_max=precio_max,
        in_stock=en_stock,
    )


FiltersDep = Annotated[SearchFilters, Depends(search_filters)]


def _unknown_category(exc: UnknownCategoryError) -> HTTPException:
    return HTTPException(422, f"La categoría «{exc.category}» no existe. Categorías: {', '.join(exc.known)}.")


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
        try:
            yield
        finally:
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
    _product_routes(app)
    _chat_routes(app)
    _agent_routes(app)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return JSONResponse(status_code=400, content={"detail": "El cuerpo de la petición no es un JSON válido."})
        details = describe(errors)
        summary = "; ".join(f"{d['campo']}: {d['motivo']}" for d in details)
        return JSONResponse(status_code=422, content={"detail": f"Datos no válidos — {summary}.", "errores": details})


def _product_routes(app: FastAPI) -> None:
    @app.get("/health", response_model=Health, tags=["salud"])
    async def health(service: CatalogDep, request: Request, response: Response) -> Health:
        database = "ok"
        try:
            async with service.sessions() as session:
                await session.execute(sql_text("SELECT 1"))
        except Exception:  # the point of a health check is to report, not to raise
            log.exception("health: database unreachable")
            database = "error"
        index = {
            "products": len(service.index.items),
            "vectors": len(service.store),
            "revision": service.index.revision,
            "embedder": service.embedder.id,
        }
        cache: dict[str, Any] | None = None
        chat = getattr(request.app.state, "chat", None)
        if chat is not None:
            await chat.context.cache.check()
            cache = chat.context.cache.describe()
        healthy = database == "ok"
        if not healthy:
            response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        # Redis away is not an outage: the in-process cache answers, so the service is degraded, not down.
        overall = "error" if not healthy else "degraded" if cache and cache["status"] != "ok" else "ok"
        return Health(status=overall, database=database, index=index, cache=cache)

    @app.get("/productos", response_model=ProductPage, tags=["productos"])
    async def list_products(
        session: SessionDep,
        service: CatalogDep,
        filters: FiltersDep,
        pagina: Annotated[int, Query(ge=1, le=100_000)] = 1,
        por_pagina: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
    ) -> ProductPage:
        await service.ensure_fresh()
        try:
            filters = service.resolve_filters(filters)
        except UnknownCategoryError as exc:
            raise _unknown_category(exc) from exc
        items, total = await crud.list_products(
            session,
            offset=(pagina - 1) * por_pagina,
            limit=por_pagina,
            filters=filters,
        )
        return ProductPage(
            items=[ProductPublic.model_validate(p) for p in items],
            total=total,
            pagina=pagina,
            por_pagina=por_pagina,
            paginas=math.ceil(total / por_pagina) if total else 0,
        )

    @app.get("/productos/search", response_model=list[ProductHit], tags=["productos"])
    async def search_products(
        service: CatalogDep,
        q: QueryText,
        filters: FiltersDep,
        limite: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 10,
        modo: Annotated[
            Literal["hibrido", "palabras", "semantico"],
            Query(description="hibrido (por defecto), solo palabras clave o solo semántica"),
        ] = "hibrido",
    ) -> Response:
        if not q.strip():
            raise HTTPException(422, "La búsqueda está vacía.")
        try:
            hits = await service.search(q, filters=filters, limit=limite, mode=SEARCH_MODES[modo])
        except UnknownCategoryError as exc:
            raise _unknown_category(exc) from exc
        return hits_response(hits)

    @app.get("/productos/semantic-search", response_model=list[ProductHit], tags=["productos"])
    async def semantic_search(
        service: CatalogDep,
        q: QueryText,
        k: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 10,
    ) -> Response:
        if not q.strip():
            raise HTTPException(422, "La búsqueda está vacía.")
        hits = await service.semantic_search(q, k=k)
        return hits_response(hits)

    @app.get("/productos/{product_id}", response_model=ProductPublic, tags=["productos"])
    async def get_product(product_id: ProductId, session: SessionDep) -> Product:
        product = await crud.get_product(session, product_id=product_id)
        if product is None:
            raise HTTPException(404, f"No existe el producto {product_id}.")
        return product

    @app.post("/productos", response_model=ProductPublic, status_code=201, tags=["productos"])
    async def create_product(product_in: ProductCreate, service: CatalogDep, _admin: AdminDep) -> Product:
        try:
            async with write_session(service.sessions) as session:
                product = await crud.create_product(session, product_in=product_in)
        except crud.DuplicateSKUError as exc:
            raise HTTPException(409, f"Ya existe un producto con el SKU {exc.sku}.") from exc
        await service.ensure_fresh()
        return product

    @app.patch("/productos/{product_id}", response_model=ProductPublic, tags=["productos"])
    async def update_product(
        product_id: ProductId, product_in: ProductUpdate, service: CatalogDep, _admin: AdminDep
    ) -> Product:
        try:
            async with write_session(service.sessions) as session:
                product = await crud.get_product(session, product_id=product_id, include_inactive=True)
                if product is None:
                    raise HTTPException(404, f"No existe el producto {product_id}.")
                product = await crud.update_product(session, product=product, product_in=product_in)
        except crud.DuplicateSKUError as exc:
            raise HTTPException(409, f"Ya existe otro producto con el SKU {exc.sku}.") from exc
        await service.ensure_fresh()
        return product

    @app.delete("/productos/{product_id}", status_code=204, tags=["productos"])
    async def delete_product(product_id: ProductId, service: CatalogDep, _admin: AdminDep) -> Response:
        async with write_session(service.sessions) as session:
            product = await crud.get_product(session, product_id=product_id)
            if product is None:
                raise HTTPException(404, f"No existe el producto {product_id}.")
            await crud.deactivate_product(session, product=product)
        await service.ensure_fresh()
        return Response(status_code=204)


# --------------------------------------------------------------------------- chat

THREAD_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"


class ChatRequest(BaseModel):
    """POST /chat body."""

    model_config = ConfigDict(extra="forbid")

    message: StrictStr = Field(max_length=MAX_MESSAGE_CHARS)
    thread_id: str | None = Field(default=None, pattern=THREAD_ID_PATTERN)

    @field_validator("message")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("el mensaje está vacío")
        return value.strip()


class ChatProduct(BaseModel):
    """A product mentioned in the reply, with its exact price and stock."""

    id: int
    sku: str
    name: str
    price: Decimal
    stock: int


class ChatResponse(BaseModel):
    """What a chat client gets back: the reply and the facts behind it."""

    reply: str
    thread_id: str
    route: str | None
    products: list[ChatProduct]
    cached: bool
    awaiting_confirmation: bool
    latency_ms: float

    @classmethod
    def of(cls, result: TurnResult) -> ChatResponse:
        products = [
            ChatProduct(id=p["id"], sku=p["sku"], name=p["name"], price=Decimal(p["price"]), stock=p["stock"])
            for p in result.products
            if "id" in p and "price" in p
        ]
        return cls(
            reply=result.reply,
            thread_id=result.thread_id,
            route=result.route,
            products=products,
            cached=result.cached,
            awaiting_confirmation=result.awaiting_confirmation,
            latency_ms=result.latency_ms,
        )


class HistoryMessage(BaseModel):
    """One stored message."""

    role: str
    content: str
    route: str | None
    created_at: datetime


class ChatHistory(BaseModel):
    """A conversation as recorded in the database."""

    thread_id: str
    channel: str
    messages: list[HistoryMessage]


def get_chat(request: Request) -> ChatService:
    """The chat service built in the lifespan."""
    chat: ChatService = request.app.state.chat
    return chat


ChatDep = Annotated[ChatService, Depends(get_chat)]


def role_of(request: Request) -> str:
    """Admin when the request carries the valid X-API-Key (unlocks the low-stock report); customer otherwise."""
    settings: Settings = request.app.state.settings
    expected = settings.admin_api_key.get_secret_value() if settings.admin_api_key else ""
    given = request.headers.get("x-api-key", "")
    return "admin" if expected and given and hmac.compare_digest(given.encode(), expected.encode()) else "customer"


def _chat_routes(app: FastAPI) -> None:
    @app.post("/chat", response_model=ChatResponse, tags=["chat"])
    async def chat(body: ChatRequest, chat: ChatDep, request: Request) -> Response:
        result = await chat.turn(body.message, thread_id=body.thread_id, channel="http", role=role_of(request))
        # Serialised once here (response_model documents it): the hot path skips re-validating our own output.
        return Response(content=ChatResponse.of(result).model_dump_json(), media_type="application/json")

    @app.get("/chat/history", response_model=ChatHistory, tags=["chat"])
    async def chat_history(
        session: SessionDep,
        chat: ChatDep,
        thread_id: Annotated[str, Query(pattern=THREAD_ID_PATTERN)],
        limite: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> ChatHistory:
        await chat.recorder.flush()  # turns already answered are in the record before we read it
        found = await conversations.history(session, thread_id=thread_id, limit=limite)
        if found is None:
            raise HTTPException(404, f"No existe la conversación {thread_id}.")
        conversation, messages = found
        return ChatHistory(
            thread_id=conversation.thread_id,
            channel=conversation.channel,
            messages=[
                HistoryMessage(role=m.role, content=m.content, route=m.route, created_at=m.created_at) for m in messages
            ],
        )


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
    async def run(payload: AgentInput | dict[str, Any], config: RunnableConfig) -> str:
        data = payload if isinstance(payload, AgentInput) else AgentInput.model_validate(payload)
        messages = list(data.messages)
        text = str(messages[-1].content)
        chat: ChatService = app.state.chat
        configurable = config.get("configurable") or {}
        thread_id = configurable.get("thread_id") or chat.thread_for_history(messages[:-1])
        result = await chat.turn(
            text.strip(),
            thread_id=thread_id,
            channel="langserve",
            role=configurable.get("role", "customer"),
            trace=_streams_events(config),
        )
        chat.remember_history(messages, result.reply, thread_id)
        return result.reply

    return RunnableLambda(run, name="agente_vendedor").with_types(input_type=AgentInput, output_type=str)


STREAMING_HANDLERS = {"LogStreamCallbackHandler", "_AstreamEventsCallbackHandler"}


def _streams_events(config: RunnableConfig) -> bool:
    """Whether the caller streams run events (stream_log, stream_events, the playground).

    Then the graph's node events are passed through; plain invoke and batch skip the callback machinery.
    """
    callbacks: Any = config.get("callbacks")
    handlers = callbacks.handlers if hasattr(callbacks, "handlers") else (callbacks or [])
    return any(type(h).__name__ in STREAMING_HANDLERS for h in handlers)


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
