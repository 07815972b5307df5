"""The reply token by token: the LLM's checked sentences as they arrive, never an unchecked figure.

In-process through `ChatService.stream` with the real SDKs against the fake providers (streamGenerateContent
SSE for Gemini, `"stream": true` for OpenAI), and over HTTP: the real server (`python -m server`) with the real
google-genai client pointed at the fake Gemini, read through LangServe's /agent/stream and /agent/stream_events.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chat import ChatService
from tests.conftest import LiveServer, start_server, stop_server
from tests.fake_llm import FAKE_KEY, Error, FakeLLMServer, Stream, Text, ToolCalls, fake_gemini, fake_openai
from tests.llm_support import SDK_WARNINGS, _collect_inside_the_test, agent, fake_provider

__all__ = ["_collect_inside_the_test", "agent", "fake_gemini", "fake_openai", "fake_provider"]  # fixtures

pytestmark = SDK_WARNINGS

PHONE = "Samsung Galaxy S24 128 GB Negro Onyx"  # 909.00 €, 19 in stock
QUESTION = "¿cuánto cuesta el Galaxy S24 de 128 GB?"
LOOKUP = ToolCalls((("product_details", {"product": "TEL-SAM-S24-128-NEG"}),))
DELAY = 0.4  # seconds between the fake's SSE chunks


async def _collect(streamed: Any) -> list[tuple[float, str]]:
    start = time.monotonic()
    return [(time.monotonic() - start, chunk) async for chunk in streamed]


async def test_checked_sentences_arrive_before_the_reply_is_done(fake_provider: FakeLLMServer, agent: Any) -> None:
    chat: ChatService = await agent(llm_timeout=5.0)
    fake_provider.script(
        LOOKUP,
        Stream((f"El {PHONE} ", "cuesta 909,00 €. ", "Quedan 19 unidades. ", "¿Te lo añado al carrito?"), DELAY),
    )
    streamed = chat.stream(QUESTION, thread_id="t")
    chunks = await _collect(streamed)
    assert streamed.result is not None
    reply = "".join(chunk for _, chunk in chunks)
    assert reply == streamed.result.reply == f"El {PHONE} cuesta 909,00 €. Quedan 19 unidades. ¿Te lo añado al carrito?"
    assert [c for _, c in chunks][:2] == [f"El {PHONE} cuesta 909,00 €.", " Quedan 19 unidades."]
    assert chunks[-1][0] - chunks[0][0] >= 1.5 * DELAY  # the first sentence came well before the last
    assert streamed.result.first_chunk_ms is not None and streamed.result.first_chunk_ms < chunks[-1][0] * 1000
    assert fake_provider.requests[-1].stream  # the second call was a streaming one, over SSE


async def test_an_invented_price_is_never_streamed(fake_provider: FakeLLMServer, agent: Any) -> None:
    chat: ChatService = await agent(llm_timeout=5.0)
    fake_provider.script(
        LOOKUP, Stream((f"El {PHONE} está disponible. ", "Hoy te lo dejo en 99,00 €. ", "¿Lo quieres?"), DELAY)
    )
    streamed = chat.stream(QUESTION, thread_id="t")
    chunks = [chunk for _, chunk in await _collect(streamed)]
    assert streamed.result is not None
    assert not any("99,00" in chunk for chunk in chunks)
    assert chunks[0] == f"El {PHONE} está disponible."  # checked, so it went out
    reply = "".join(chunks)
    assert reply == streamed.result.reply and "909,00 €" in reply  # then the offline answer, exact


async def test_without_a_model_the_reply_is_one_chunk(chat: ChatService) -> None:
    streamed = chat.stream(QUESTION, thread_id="t")
    chunks = [chunk async for chunk in streamed]
    assert streamed.result is not None
    assert len(chunks) == 1 and chunks[0] == streamed.result.reply and "909,00 €" in chunks[0]


async def test_a_text_answer_without_tools_streams_too(fake_provider: FakeLLMServer, agent: Any) -> None:
    chat: ChatService = await agent(llm_timeout=5.0)
    fake_provider.script(Text("¡Hola! ¿Qué buscas hoy?"))
    streamed = chat.stream("hola", thread_id="t")
    chunks = [chunk async for chunk in streamed]
    assert "".join(chunks) == "¡Hola! ¿Qué buscas hoy?"


# --------------------------------------------------------------------------- over HTTP, the real server


@pytest.fixture
def llm_server(fake_gemini: FakeLLMServer, sample_var: Path, tmp_path: Path) -> Iterator[LiveServer]:
    """The real server with Gemini configured, the SDK pointed at the fake by GOOGLE_GEMINI_BASE_URL."""
    shutil.copytree(sample_var, tmp_path / "var")
    server = start_server(
        tmp_path,
        GOOGLE_API_KEY=FAKE_KEY,
        GOOGLE_GEMINI_BASE_URL=fake_gemini.url,
        LLM_TIMEOUT="8",
        CHECKPOINTER="memory",
        NO_PROXY="127.0.0.1,localhost",
    )
    yield server
    stop_server(server)


def _events(server: LiveServer, path: str, body: dict[str, Any]) -> list[tuple[float, str, Any]]:
    """(seconds since the request, event name, data) of each SSE event of a LangServe streaming endpoint."""
    out: list[tuple[float, str, Any]] = []
    start = time.monotonic()
    with httpx.stream("POST", server.base_url + path, json=body, timeout=30) as response:
        assert response.status_code == 200
        name = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                out.append((time.monotonic() - start, name, json.loads(line.removeprefix("data: "))))
    return out


def test_agent_stream_over_http(fake_gemini: FakeLLMServer, llm_server: LiveServer) -> None:
    body = {"input": {"messages": [{"role": "user", "content": QUESTION}]}}
    fake_gemini.script(LOOKUP, Stream((f"El {PHONE} cuesta 909,00 €. ", "Quedan 19 unidades."), DELAY))
    data = [(at, payload) for at, name, payload in _events(llm_server, "/agent/stream", body) if name == "data"]
    assert [payload for _, payload in data] == [f"El {PHONE} cuesta 909,00 €.", " Quedan 19 unidades."]
    assert data[1][0] - data[0][0] >= 0.5 * DELAY

    fake_gemini.script(LOOKUP, Stream((f"El {PHONE} cuesta 909,00 €. ", "Quedan 19 unidades."), DELAY))
    events = _events(llm_server, "/agent/stream_events", {**body, "version": "v2"})
    kinds = {e.get("event") for _, _, e in events if isinstance(e, dict)}
    streamed = [e["data"]["chunk"] for _, _, e in events if isinstance(e, dict) and e.get("event") == "on_chain_stream"]
    assert streamed == [f"El {PHONE} cuesta 909,00 €.", " Quedan 19 unidades."]
    # A public endpoint: the model's raw tokens, its instructions and the tool traffic stay inside the server.
    assert kinds == {"on_chain_start", "on_chain_stream", "on_chain_end"}
    assert "Eres el asistente" not in json.dumps(events, ensure_ascii=False)
    assert all(r.api_key_ok for r in fake_gemini.requests)


async def test_a_429_before_any_word_is_retried_when_streaming(fake_provider: FakeLLMServer, agent: Any) -> None:
    chat: ChatService = await agent(llm_timeout=5.0)
    fake_provider.script(Error(429, retry_after="0.2"), LOOKUP, Stream((f"El {PHONE} cuesta 909,00 €.",), DELAY))
    streamed = chat.stream(QUESTION, thread_id="t")
    chunks = [chunk async for chunk in streamed]
    assert "".join(chunks) == f"El {PHONE} cuesta 909,00 €."
    first, second = fake_provider.requests[:2]
    assert first.step == "Error" and second.at - first.at >= 0.2


def test_agent_stream_log_feeds_the_playground_by_sentence(fake_gemini: FakeLLMServer, llm_server: LiveServer) -> None:
    """The chat playground reads /agent/stream_log: each checked sentence arrives as its own streamed_output op."""
    body = {"input": {"messages": [{"role": "user", "content": QUESTION}]}}
    fake_gemini.script(LOOKUP, Stream((f"El {PHONE} cuesta 909,00 €. ", "Quedan 19 unidades."), DELAY))
    events = _events(llm_server, "/agent/stream_log", body)
    outputs = [
        (at, op["value"])
        for at, name, payload in events
        if name == "data" and isinstance(payload, dict)
        for op in payload.get("ops", [])
        if op.get("path") == "/streamed_output/-"
    ]
    assert [value for _, value in outputs] == [f"El {PHONE} cuesta 909,00 €.", " Quedan 19 unidades."]
    assert outputs[1][0] - outputs[0][0] >= 0.5 * DELAY
