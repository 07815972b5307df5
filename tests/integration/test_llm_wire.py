"""The real Gemini and OpenAI client libraries, built as the app builds them, over HTTP against local fakes.

What the SDKs do on the wire (google-genai 3.6 under langchain-google-genai 4.4, openai 3.63 under
langchain-openai 1.7) is pinned down here: URLs, headers, the JSON of function calling, streaming, and how they
time out, and that they never retry on their own (agent.llm_retry owns that, from the errors they raise). Then
one agent turn per provider shows the app's guard rails hold with a real client.
"""

from __future__ import annotations

import json
import operator
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import reduce
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool

from agent.llm import build_llm, close_llm
from agent.llm_retry import error_status, retry_after
from agent.respond import SYSTEM_PROMPT
from settings import Settings
from tests.fake_llm import FAKE_KEY, Error, FakeLLMServer, Hang, fake_gemini, fake_openai
from tests.llm_support import SDK_WARNINGS, _collect_inside_the_test, agent, fake_provider

__all__ = ["_collect_inside_the_test", "agent", "fake_gemini", "fake_openai", "fake_provider"]  # fixtures

pytestmark = SDK_WARNINGS

TIMEOUT = 2.0
PHONE = "Samsung Galaxy S24 128 GB Negro Onyx"  # 909.00 €, 19 in stock in the sample catalogue
GEMINI_PATH = "/v1/models/gemini-2.0-flash"  # google-genai 3.x defaults to API v1, not v1beta


@tool
def check_stock(product: str, quantity: int = 1) -> str:
    """Units in stock of a product of the shop's catalogue."""
    return json.dumps({"product": product, "stock": 19, "asked": quantity})


Build = Callable[..., Awaitable[BaseChatModel]]


@pytest.fixture
async def build() -> AsyncIterator[Build]:
    """`build_llm(Settings.isolated(...))` exactly as the app does; closes the clients' HTTP pools afterwards."""
    built: list[BaseChatModel] = []

    async def make(provider: str, **values: Any) -> BaseChatModel:
        values.setdefault("llm_timeout", TIMEOUT)
        if provider == "gemini":
            settings = Settings.isolated(google_api_key=FAKE_KEY, **values)
        else:  # the base URL comes from OPENAI_BASE_URL, set by the fake_openai fixture
            settings = Settings.isolated(llm_provider="openai", openai_api_key=FAKE_KEY, **values)
        llm = build_llm(settings)
        assert llm is not None
        built.append(llm)
        return llm

    yield make
    for llm in built:
        await close_llm(llm)


async def _fails(call: Awaitable[Any]) -> tuple[BaseException, float]:
    start = time.monotonic()
    try:
        await call
    except Exception as exc:
        return exc, time.monotonic() - start
    raise AssertionError("the call should have failed")


def _convo() -> list[AnyMessage]:
    return [SystemMessage("Eres el asistente de la tienda."), HumanMessage("¿Tenéis el Galaxy S24?")]


# --------------------------------------------------------------------------- Gemini


async def test_gemini_text_usage_and_what_the_client_sends(fake_gemini: FakeLLMServer, build: Build) -> None:
    llm = await build("gemini")
    fake_gemini.text("Sí, lo tenemos. ¿Te ayudo con algo más?", prompt_tokens=21, output_tokens=8)
    answer = await llm.ainvoke(_convo())
    assert answer.content == "Sí, lo tenemos. ¿Te ayudo con algo más?"
    assert isinstance(answer, AIMessage) and answer.usage_metadata is not None
    usage = answer.usage_metadata
    assert (usage["input_tokens"], usage["output_tokens"], usage["total_tokens"]) == (21, 8, 29)
    (sent,) = fake_gemini.requests
    assert sent.path == f"{GEMINI_PATH}:generateContent" and sent.query == {}
    assert sent.api_key_ok and sent.headers["x-goog-api-key"] == "<redacted>"
    assert sent.headers["x-server-timeout"] == "2"  # llm_timeout travels to the server too
    assert sent.body["systemInstruction"] == {"parts": [{"text": "Eres el asistente de la tienda."}]}
    assert sent.body["contents"] == [{"role": "user", "parts": [{"text": "¿Tenéis el Galaxy S24?"}]}]
    assert sent.body["generationConfig"]["temperature"] == 0.2
    assert FAKE_KEY not in json.dumps(sent.body) + json.dumps(sent.headers)


async def test_gemini_stream_arrives_in_chunks(fake_gemini: FakeLLMServer, build: Build) -> None:
    llm = await build("gemini")
    fake_gemini.stream("Tenemos ", "tres ", "modelos ", "en stock.", delay=0.15)
    start = time.monotonic()
    chunks, arrivals = [], []
    async for chunk in llm.astream(_convo()):
        chunks.append(chunk)
        if chunk.content:
            arrivals.append(time.monotonic() - start)
    assert "".join(str(c.content) for c in chunks) == "Tenemos tres modelos en stock."
    assert len(arrivals) == 4 and arrivals[0] < arrivals[-1] - 0.3  # really streamed, not buffered
    total = reduce(operator.add, chunks)
    assert total.usage_metadata is not None and total.usage_metadata["total_tokens"] == 15
    (sent,) = fake_gemini.requests
    assert sent.path == f"{GEMINI_PATH}:streamGenerateContent" and sent.query == {"alt": ["sse"]}


async def test_gemini_function_call_round_trip(fake_gemini: FakeLLMServer, build: Build) -> None:
    llm = await build("gemini")
    model = llm.bind_tools([check_stock])
    fake_gemini.tool_calls(("check_stock", {"product": "Galaxy S24", "quantity": 2})).text("Quedan 19 unidades.")
    convo = _convo()
    first = await model.ainvoke(convo)
    assert isinstance(first, AIMessage)
    (call,) = first.tool_calls
    assert call["name"] == "check_stock" and call["args"] == {"product": "Galaxy S24", "quantity": 2}
    result = await check_stock.ainvoke(call["args"])
    convo += [first, ToolMessage(content=result, tool_call_id=call["id"] or "call")]
    second = await model.ainvoke(convo)
    assert second.content == "Quedan 19 unidades." and not second.tool_calls

    declared, replied = (r.body for r in fake_gemini.requests)
    (declaration,) = declared["tools"][0]["functionDeclarations"]
    assert declaration["name"] == "check_stock" and declaration["parameters"]["required"] == ["product"]
    assert declaration["parameters"]["properties"]["quantity"]["type"] == "INTEGER"
    parts = [part for content in replied["contents"] for part in content["parts"]]
    assert {"functionCall": {"name": "check_stock", "args": {"product": "Galaxy S24", "quantity": 2}}} in parts
    (response,) = [p["functionResponse"] for p in parts if "functionResponse" in p]
    assert response == {"name": "check_stock", "response": {"product": "Galaxy S24", "stock": 19, "asked": 2}}
    assert replied["systemInstruction"] == declared["systemInstruction"]


async def test_gemini_client_never_retries_and_its_errors_say_why(fake_gemini: FakeLLMServer, build: Build) -> None:
    # build_llm passes max_retries=1, which langchain-google-genai reads as HttpRetryOptions(attempts=1): google-genai
    # (whose own backoff ignores Retry-After) never retries; agent.llm_retry does, from what the error carries.
    llm = await build("gemini", llm_max_retries=2)
    fake_gemini.error(429, retry_after="3").text("no llega")
    error, elapsed = await _fails(llm.ainvoke(_convo()))
    assert type(error).__name__ == "GoogleRateLimitError" and "429" in str(error) and elapsed < 1
    assert (error_status(error), retry_after(error)) == (429, 3.0)  # from the google-genai ClientError behind it
    assert len(fake_gemini.requests) == 1 and len(fake_gemini.pending) == 1

    for status in (500, 503):
        fake_gemini.reset()
        fake_gemini.error(status).text("no llega")
        error, elapsed = await _fails(llm.ainvoke(_convo()))
        assert (error_status(error), retry_after(error)) == (status, None) and elapsed < 1
        assert len(fake_gemini.requests) == 1


async def test_gemini_hang_raises_within_the_timeout(fake_gemini: FakeLLMServer, build: Build) -> None:
    retries, timeout = 2, 1.0
    llm = await build("gemini", llm_timeout=timeout, llm_max_retries=retries)
    fake_gemini.hang(30).text("never")
    error, elapsed = await _fails(llm.ainvoke(_convo()))
    assert isinstance(error, TimeoutError)  # aiohttp's total timeout; google-genai does not retry it
    assert timeout * 0.9 < elapsed < timeout * (retries + 1) + 1.0
    assert len(fake_gemini.requests) == 1


async def test_gemini_malformed_json_raises_at_once(fake_gemini: FakeLLMServer, build: Build) -> None:
    llm = await build("gemini")
    fake_gemini.malformed().malformed()
    error, elapsed = await _fails(llm.ainvoke(_convo()))
    assert isinstance(error, ValueError) and elapsed < 1
    error, elapsed = await _fails(_drain(llm.astream(_convo())))
    assert isinstance(error, ValueError) and elapsed < 1  # google.genai.errors.UnknownApiResponseError
    assert len(fake_gemini.requests) == 2


async def _drain(stream: AsyncIterator[Any]) -> None:
    async for _ in stream:
        pass


# --------------------------------------------------------------------------- OpenAI-compatible


async def test_openai_text_usage_and_what_the_client_sends(fake_openai: FakeLLMServer, build: Build) -> None:
    assert Settings.isolated().openai_base_url == fake_openai.url  # OPENAI_BASE_URL → Settings → build_llm
    llm = await build("openai")
    fake_openai.text("Sí, lo tenemos.", prompt_tokens=30, output_tokens=4)
    answer = await llm.ainvoke(_convo())
    assert answer.content == "Sí, lo tenemos."
    assert isinstance(answer, AIMessage) and answer.usage_metadata is not None
    assert answer.usage_metadata["total_tokens"] == 34
    (sent,) = fake_openai.requests
    assert sent.path == "/v1/chat/completions" and sent.api_key_ok
    assert sent.headers["authorization"] == "<redacted>" and sent.headers["x-stainless-read-timeout"] == "2.0"
    assert sent.body["model"] == "gpt-4o-mini" and sent.body["stream"] is False
    assert sent.body["messages"][0] == {"role": "system", "content": "Eres el asistente de la tienda."}


async def test_openai_stream_arrives_in_chunks(fake_openai: FakeLLMServer, build: Build) -> None:
    llm = await build("openai")
    fake_openai.stream("Tenemos ", "tres ", "modelos.", delay=0.15)
    start = time.monotonic()
    chunks, arrivals = [], []
    async for chunk in llm.astream(_convo(), stream_usage=True):
        chunks.append(chunk)
        if chunk.content:
            arrivals.append(time.monotonic() - start)
    assert "".join(str(c.content) for c in chunks) == "Tenemos tres modelos."
    assert len(arrivals) == 3 and arrivals[0] < arrivals[-1] - 0.2
    total = reduce(operator.add, chunks)
    assert total.usage_metadata is not None and total.usage_metadata["total_tokens"] == 15
    (sent,) = fake_openai.requests
    assert sent.body["stream"] is True and sent.body["stream_options"] == {"include_usage": True}


async def test_openai_tool_call_round_trip(fake_openai: FakeLLMServer, build: Build) -> None:
    llm = await build("openai")
    model = llm.bind_tools([check_stock])
    fake_openai.tool_calls(("check_stock", {"product": "Galaxy S24"})).text("Quedan 19 unidades.")
    convo = _convo()
    first = await model.ainvoke(convo)
    assert isinstance(first, AIMessage)
    (call,) = first.tool_calls
    assert (call["name"], call["args"], call["id"]) == ("check_stock", {"product": "Galaxy S24"}, "call_1")
    convo += [first, ToolMessage(content=await check_stock.ainvoke(call["args"]), tool_call_id="call_1")]
    assert (await model.ainvoke(convo)).content == "Quedan 19 unidades."

    declared, replied = (r.body for r in fake_openai.requests)
    (function,) = [t["function"] for t in declared["tools"]]
    assert function["name"] == "check_stock" and function["parameters"]["required"] == ["product"]
    assistant, tool_message = replied["messages"][-2:]
    assert assistant["tool_calls"][0]["function"]["name"] == "check_stock"
    assert tool_message["role"] == "tool" and tool_message["tool_call_id"] == "call_1"
    assert json.loads(tool_message["content"]) == {"product": "Galaxy S24", "stock": 19, "asked": 1}


async def test_openai_client_never_retries_and_its_errors_say_why(fake_openai: FakeLLMServer, build: Build) -> None:
    llm = await build("openai", llm_max_retries=2)  # build_llm passes max_retries=0: agent.llm_retry retries
    fake_openai.error(429, retry_after="1.5").text("no llega")
    error, elapsed = await _fails(llm.ainvoke(_convo()))
    assert type(error).__name__ == "OpenAIRateLimitError" and elapsed < 1
    assert (error_status(error), retry_after(error)) == (429, 1.5)
    assert len(fake_openai.requests) == 1 and fake_openai.requests[0].headers["x-stainless-retry-count"] == "0"

    fake_openai.reset()
    fake_openai.error(503).text("no llega")
    error, elapsed = await _fails(llm.ainvoke(_convo()))
    assert (error_status(error), retry_after(error)) == (503, None) and elapsed < 1
    assert len(fake_openai.requests) == 1


async def test_openai_hang_raises_within_the_timeout(fake_openai: FakeLLMServer, build: Build) -> None:
    timeout = 1.0
    llm = await build("openai", llm_timeout=timeout, llm_max_retries=1)
    fake_openai.hang(30).text("never")
    error, elapsed = await _fails(llm.ainvoke(_convo()))
    assert "timed out" in str(error).lower()  # openai.APITimeoutError, not retried by the client
    assert len(fake_openai.requests) == 1
    assert timeout * 0.9 < elapsed < timeout + 1.0


async def test_openai_malformed_json_raises_at_once(fake_openai: FakeLLMServer, build: Build) -> None:
    llm = await build("openai")
    fake_openai.malformed().malformed()
    error, elapsed = await _fails(llm.ainvoke(_convo()))
    assert isinstance(error, ValueError) and elapsed < 1
    error, elapsed = await _fails(_drain(llm.astream(_convo())))
    assert isinstance(error, ValueError) and elapsed < 1


# --------------------------------------------------------------------------- the agent with a real client


async def test_agent_turn_drops_an_invented_price(fake_provider: FakeLLMServer, agent: Any) -> None:
    chat = await agent(llm_mode="polish")
    fake_provider.text(f"¡Claro! El {PHONE} cuesta 1,00 € y quedan 19 unidades.")
    result = await chat.turn("¿cuánto cuesta el Galaxy S24 de 128 GB?", thread_id="t")
    assert "1,00 €" not in result.reply
    assert "909,00 €" in result.reply  # the composer's exact answer went out instead
    (sent,) = fake_provider.requests  # the LLM was asked once, over HTTP, with the app's prompt and tools
    wire = json.dumps(sent.body, ensure_ascii=False)
    assert SYSTEM_PROMPT.splitlines()[0] in wire and "909.00" in wire and "check_stock" in wire


@pytest.mark.parametrize("fault", ["500", "hang"])
async def test_agent_turn_survives_a_failing_provider(fake_provider: FakeLLMServer, agent: Any, fault: str) -> None:
    chat = await agent(llm_timeout=1.0, llm_mode="polish")
    step = Error(500) if fault == "500" else Hang(30)
    fake_provider.script(step, step, step)  # enough for every retry either SDK makes at LLM_MAX_RETRIES=1
    start = time.monotonic()
    result = await chat.turn("¿cuánto cuesta el Galaxy S24 de 128 GB?", thread_id="t")
    assert "909,00 €" in result.reply and result.reply.strip()
    assert time.monotonic() - start < 4
    assert fake_provider.requests and fake_provider.requests[0].step in ("Error", "Hang")
