"""The app with a real LLM client pointed at a local fake provider: shared by the wire and the assistant tests."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.context import AgentContext
from agent.llm import build_llm, close_llm
from chat import ChatService
from data.migrate import upgrade
from settings import Settings
from tests.conftest import make_settings
from tests.fake_llm import FAKE_KEY, FakeLLMServer
from tools.catalog import CatalogService

CLIENT_CLASS = {"gemini": "ChatGoogleGenerativeAI", "openai": "ChatOpenAI"}

# Third-party warnings raised by the real SDKs, harmless, for the modules that use these fixtures.
SDK_WARNINGS = [
    # google-genai defines `class AiohttpClientSession(aiohttp.ClientSession)` on each new session; aiohttp 3.14
    # warns about subclassing. Raised on every first async Gemini call.
    pytest.mark.filterwarnings(
        "ignore:Inheritance class AiohttpClientSession from ClientSession is discouraged:DeprecationWarning"
    ),
    # On a Gemini 5xx, langchain-core's _generate_response_from_error calls `error.response.json()` for metadata;
    # with google-genai's aiohttp transport that is a coroutine nobody awaits.
    pytest.mark.filterwarnings("ignore:coroutine 'ClientResponse.json' was never awaited:RuntimeWarning"),
]


@pytest.fixture(autouse=True)
def _collect_inside_the_test() -> Iterator[None]:
    """Free failed requests (exception cycles) while the module's warning filters still apply."""
    yield
    gc.collect()


@pytest.fixture(params=["gemini", "openai"])
def fake_provider(request: pytest.FixtureRequest) -> FakeLLMServer:
    """Each test once against the fake Gemini and once against the fake OpenAI-compatible server."""
    server: FakeLLMServer = request.getfixturevalue(f"fake_{request.param}")
    return server


ChatFactory = Callable[..., Awaitable[ChatService]]


def llm_settings(fake: FakeLLMServer, tmp_path: Path, **values: Any) -> Settings:
    """Settings for the app with the fake provider's key (its base URL comes from the fake's fixture)."""
    keys = {"google_api_key": FAKE_KEY} if fake.provider == "gemini" else {"openai_api_key": FAKE_KEY}
    return make_settings(tmp_path, checkpointer="memory", **keys, **values)


@pytest.fixture
async def agent(fake_provider: FakeLLMServer, service: CatalogService, tmp_path: Path) -> AsyncIterator[ChatFactory]:
    """A ChatService whose LLM is the real client from build_llm, pointed at the fake provider."""
    made: list[ChatService] = []

    async def make(llm_timeout: float = 2.0, **values: Any) -> ChatService:
        await upgrade(service.engine)
        settings = llm_settings(fake_provider, tmp_path, llm_timeout=llm_timeout, **values)
        llm = build_llm(settings)
        assert type(llm).__name__ == CLIENT_CLASS[fake_provider.provider]
        chat = ChatService(settings, service, AgentContext.build(service, settings, llm=llm))
        await chat.start()
        made.append(chat)
        return chat

    yield make
    for chat in made:
        await chat.close()
        assert chat.context.llm is not None
        await close_llm(chat.context.llm)
