"""Chat over HTTP: POST /chat answers one message, GET /chat/history reads a recorded conversation."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from api.deps import ChatDep, RoleDep, SessionDep
from chat import MAX_MESSAGE_CHARS, TurnResult
from data import conversations

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


class ChatUsage(BaseModel):
    """What the turn cost in LLM work: requests sent and tokens (all zero without an LLM or on a cache hit)."""

    llm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0


class ChatResponse(BaseModel):
    """What a chat client gets back: the reply and the facts behind it."""

    reply: str
    thread_id: str
    route: str | None
    products: list[ChatProduct]
    cached: bool
    awaiting_confirmation: bool
    # The checkout detail the reply asks for (name, contact, delivery, address, postal_code, city, pickup,
    # reuse), so a client can show the right field; null when none.
    asking: str | None = None
    latency_ms: float
    usage: ChatUsage | None = None

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
            asking=result.asking,
            latency_ms=result.latency_ms,
            usage=ChatUsage(**result.usage),
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


router = APIRouter(prefix="/chat", tags=["chat"])


@router.post("", response_model=ChatResponse)
async def chat(body: ChatRequest, service: ChatDep, role: RoleDep) -> Response:
    """One customer message, answered; the reply carries the products it quotes with their exact prices."""
    result = await service.turn(body.message, thread_id=body.thread_id, channel="http", role=role)
    # Serialised once here (response_model documents it): the hot path skips re-validating our own output.
    return Response(content=ChatResponse.of(result).model_dump_json(), media_type="application/json")


@router.get("/history", response_model=ChatHistory)
async def chat_history(
    session: SessionDep,
    service: ChatDep,
    thread_id: Annotated[str, Query(pattern=THREAD_ID_PATTERN)],
    limite: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> ChatHistory:
    """A conversation as recorded, oldest message first."""
    await service.recorder.flush()  # turns already answered are in the record before we read it
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
