"""Bounded LLM cost with the real clients against the local fakes: retries, the turn's budget, usage, history.

The SDK clients never retry (build_llm); agent.llm_retry retries 429/5xx the same way for Gemini and OpenAI,
honouring Retry-After within the turn's LLM budget (LLM_TIMEOUT), and tallies calls and tokens per turn.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
from google.genai.errors import ClientError
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage

from agent.context import AgentContext
from agent.llm import build_llm, close_llm
from agent.llm_retry import LLMTurn, error_status, llm_turn, retry_after
from agent.respond import respond
from chat import ChatService
from data.migrate import upgrade
from server import create_app
from tests.conftest import make_settings
from tests.fake_llm import FakeLLMServer, Text, ToolCalls, fake_gemini, fake_openai
from tests.llm_support import SDK_WARNINGS, _collect_inside_the_test, agent, fake_provider, llm_settings
from tools.catalog import CatalogService

__all__ = ["_collect_inside_the_test", "agent", "fake_gemini", "fake_openai", "fake_provider"]  # fixtures

pytestmark = SDK_WARNINGS

PRICE_QUESTION = "¿cuánto cuesta el Galaxy S24 de 128 GB?"  # the rules route it: no router LLM call
STOCK_QUESTION = "¿tenéis el Galaxy S24 de 128 GB en stock?"
PHONE = "Samsung Galaxy S24 128 GB Negro Onyx"  # 909.00 €, 19 in stock in the sample catalogue
LLM_REPLY = "¡Claro! Es uno de nuestros móviles más vendidos. ¿Quieres que te cuente más?"  # no figures: goes out


def _gap(fake: FakeLLMServer) -> float:
    first, second = fake.requests[:2]
    return second.at - first.at


# --------------------------------------------------------------------------- retries


async def test_429_waits_retry_after_then_the_llm_answers(fake_provider: FakeLLMServer, agent: Any) -> None:
    chat = await agent(llm_mode="polish", llm_timeout=5.0)
    fake_provider.error(429, retry_after="1").text(LLM_REPLY, prompt_tokens=40, output_tokens=12)
    result = await chat.turn(PRICE_QUESTION, thread_id="t")
    assert result.reply == LLM_REPLY
    assert [r.step for r in fake_provider.requests] == ["Error", "Text"]
    assert _gap(fake_provider) >= 0.95  # Retry-After honoured by both providers (google-genai alone: 1-2 s)
    assert result.usage == {"llm_calls": 2, "input_tokens": 40, "output_tokens": 12, "total_tokens": 52}


async def test_retry_after_past_the_budget_gives_up_at_once(fake_provider: FakeLLMServer, agent: Any) -> None:
    budget = 2.0
    chat = await agent(llm_mode="polish", llm_timeout=budget)
    fake_provider.error(429, retry_after="30").text(LLM_REPLY)
    start = time.monotonic()
    result = await chat.turn(PRICE_QUESTION, thread_id="t")
    elapsed = time.monotonic() - start
    assert "909,00 €" in result.reply and result.reply != LLM_REPLY  # the composer's exact answer
    assert len(fake_provider.requests) == 1 and len(fake_provider.pending) == 1  # no second request
    assert elapsed < budget + 0.5


async def test_503_twice_with_one_retry_falls_back(fake_provider: FakeLLMServer, agent: Any) -> None:
    chat = await agent(llm_mode="polish", llm_timeout=5.0, llm_max_retries=1)
    fake_provider.error(503).error(503).text(LLM_REPLY)
    start = time.monotonic()
    result = await chat.turn(PRICE_QUESTION, thread_id="t")
    assert "909,00 €" in result.reply and result.reply != LLM_REPLY
    assert [r.step for r in fake_provider.requests] == ["Error", "Error"]
    assert 0.45 < _gap(fake_provider) < 1.0  # a short backoff with jitter: 0.5-0.75 s before the first retry
    assert time.monotonic() - start < 3
    assert result.usage["llm_calls"] == 2 and result.usage["total_tokens"] == 0


def test_retry_after_is_read_from_gemini_retry_info_and_http_dates() -> None:
    body = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure"},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"},
            ],
        }
    }
    error = ClientError(429, body, None)
    assert (error_status(error), retry_after(error)) == (429, 7.0)
    try:
        raise RuntimeError("wrapped") from error  # as langchain-google-genai re-raises it
    except RuntimeError as wrapped:
        assert (error_status(wrapped), retry_after(wrapped)) == (429, 7.0)

    response = httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    dated = type("Dated", (Exception,), {"status_code": 503, "response": response})()
    assert (error_status(dated), retry_after(dated)) == (503, 0.0)  # a date in the past: no wait
    assert (error_status(ValueError("x")), retry_after(ValueError("x"))) == (None, None)


# --------------------------------------------------------------------------- usage


def _tool_round(fake: FakeLLMServer) -> None:
    fake.script(
        ToolCalls((("check_stock", {"product": "Galaxy S24 128 GB"}),), prompt_tokens=100, output_tokens=10),
        Text(f"¡Sí! El {PHONE} está disponible: quedan 19 unidades a 909,00 €.", prompt_tokens=200, output_tokens=20),
    )


USAGE = {"llm_calls": 2, "input_tokens": 300, "output_tokens": 30, "total_tokens": 330}


async def test_usage_of_a_turn_with_a_tool_round(fake_provider: FakeLLMServer, agent: Any) -> None:
    chat = await agent(llm_mode="polish", llm_timeout=5.0)
    _tool_round(fake_provider)
    result = await chat.turn(STOCK_QUESTION, thread_id="t")
    assert result.reply.startswith("¡Sí! El Samsung Galaxy S24")
    assert len(fake_provider.requests) == 2
    assert result.usage == USAGE


async def test_usage_counts_the_routers_llm_call(fake_provider: FakeLLMServer, agent: Any) -> None:
    chat = await agent(llm_mode="polish", llm_timeout=5.0)
    route = Text('{"route": "conversation", "intents": []}', prompt_tokens=5, output_tokens=1)
    fake_provider.script(route, Text(LLM_REPLY, 7, 2), Text(LLM_REPLY, 7, 2))
    result = await chat.turn("pues no sé, algo bonito para el salón", thread_id="t")  # the rules are unsure
    sent = len(fake_provider.requests)
    assert sent >= 1 and "Clasifica el mensaje" in json.dumps(fake_provider.requests[0].body, ensure_ascii=False)
    assert result.usage == {
        "llm_calls": sent,
        "input_tokens": 5 + 7 * (sent - 1),
        "output_tokens": 1 + 2 * (sent - 1),
        "total_tokens": 6 + 9 * (sent - 1),
    }


async def test_usage_on_post_chat(fake_provider: FakeLLMServer, service: CatalogService, tmp_path: Path) -> None:
    app = create_app(llm_settings(fake_provider, tmp_path, llm_mode="polish", llm_timeout=5.0), service=service)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://tienda.test") as client:
                _tool_round(fake_provider)
                answered = await client.post("/chat", json={"message": STOCK_QUESTION, "thread_id": "u"})
                assert answered.status_code == 200
                assert answered.json()["usage"] == USAGE
                fake_provider.text(LLM_REPLY)
                hello = (await client.post("/chat", json={"message": "hola", "thread_id": "v"})).json()
                assert hello["usage"]["llm_calls"] == len(fake_provider.requests) - 2
    finally:
        if hasattr(app.state, "chat"):
            await close_llm(app.state.chat.context.llm)


async def test_offline_turns_report_zero_usage(service: CatalogService, tmp_path: Path) -> None:
    await upgrade(service.engine)
    settings = make_settings(tmp_path, checkpointer="memory")
    chat = ChatService(settings, service)
    await chat.start()
    try:
        assert chat.context.llm is None
        result = await chat.turn(PRICE_QUESTION, thread_id="t")
        assert "909,00 €" in result.reply
        assert result.usage == {"llm_calls": 0, "input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    finally:
        await chat.close()


# --------------------------------------------------------------------------- history


def _wire_texts(fake: FakeLLMServer) -> list[str]:
    """The non-system texts of the last request, in order."""
    body = fake.last().body
    if fake.provider == "gemini":
        return [p["text"] for c in body["contents"] for p in c["parts"] if "text" in p]
    return [str(m["content"]) for m in body["messages"] if m["role"] != "system"]


async def test_history_is_trimmed_to_the_token_budget(
    fake_provider: FakeLLMServer, service: CatalogService, tmp_path: Path
) -> None:
    settings = llm_settings(fake_provider, tmp_path, llm_mode="polish", llm_timeout=5.0)
    llm = build_llm(settings)
    context = AgentContext.build(service, settings, llm=llm)
    conversation: list[AnyMessage] = []
    for i in range(20):  # ~60 tokens a message: 40 messages are ~2.400 tokens
        conversation.append(HumanMessage(f"Mensaje {i} del cliente: " + "busco algo para regalar, " * 8))
        conversation.append(AIMessage(f"Respuesta {i} del asistente: " + "te enseño lo que tenemos, " * 8))
    current = "¿Y cuál de todos me recomiendas para un regalo de cumpleaños? " * 30  # ~470 tokens, kept whole
    conversation.append(HumanMessage(current))

    async def reply(history_tokens: int) -> str:
        fake_provider.reset().text(LLM_REPLY)
        with llm_turn(LLMTurn(timeout=5.0, history_tokens=history_tokens)):
            config: Any = {"configurable": {"thread_id": "h"}}
            return await respond(context, config, conversation, draft="Borrador.", facts=[])

    try:
        assert await reply(800) == LLM_REPLY
        texts = _wire_texts(fake_provider)
        history = texts[:-1]  # the last one is the grounding (tool results and the composer's draft)
        assert texts[-1].startswith("Resultados de las herramientas")
        assert history[-1] == current  # the current message, whole
        assert 2 <= len(history) < len(conversation) // 2
        assert history[0].startswith("Mensaje ")  # trimmed oldest first, starting on a customer message
        assert "Mensaje 19 del cliente" in history[-3] and "Mensaje 0 " not in " ".join(history)

        assert await reply(100) == LLM_REPLY  # a current message over the whole budget still goes, alone
        assert _wire_texts(fake_provider)[:-1] == [current]
    finally:
        await close_llm(llm)
