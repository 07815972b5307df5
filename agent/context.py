"""The run-time context every node gets: the shop, the router, the optional LLM and the semantic cache.

Passed as LangGraph's runtime `context`, so nothing heavy lives in the checkpointed state or in the config.
`default_context()` builds one from the settings for callers that bring none (LangGraph Studio, scripts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AnyMessage, HumanMessage
from langchain_core.runnables import RunnableConfig

from agent.llm import build_llm
from agent.router import Router
from settings import Settings, get_settings
from tools.catalog import CatalogService
from tools.langchain_tools import build_langchain_tools
from tools.shop import Shop
from vectorstore.cache import TieredCache
from vectorstore.cache_setup import build_cache


@dataclass
class AgentContext:
    """Dependencies of one process, shared by all conversations."""

    shop: Shop
    router: Router
    cache: TieredCache
    llm: BaseChatModel | None = None
    llm_timeout: float = 15.0
    tools: list[Any] = field(default_factory=list)

    @cached_property
    def llm_with_tools(self) -> Any:
        """The LLM with the shop's tools bound, built once (called every LLM round of every turn); None offline."""
        if self.llm is None:
            return None
        return self.llm.bind_tools(list(self.tools)) if self.tools else self.llm

    @classmethod
    def build(cls, catalog: CatalogService, settings: Settings, llm: BaseChatModel | None = None) -> AgentContext:
        shop = Shop(catalog)
        return cls(
            shop=shop,
            router=Router(catalog.embedder, llm),
            cache=build_cache(settings, catalog.embedder),
            llm=llm,
            llm_timeout=settings.llm_timeout,
            tools=build_langchain_tools(shop),
        )


@lru_cache(maxsize=1)
def default_context() -> AgentContext:
    """A context from the environment's settings (for LangGraph Studio and one-off scripts)."""
    settings = get_settings()
    return AgentContext.build(CatalogService(settings), settings, build_llm(settings))


def last_user_text(messages: list[AnyMessage]) -> str:
    """The text of the customer's latest message (empty when there is none)."""
    for message in reversed(messages):
        if isinstance(message, HumanMessage) or getattr(message, "type", "") == "human":
            content = message.content
            if isinstance(content, str):
                return content
            return " ".join(str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in content)
    return ""


def is_admin(config: RunnableConfig | None) -> bool:
    """Admin-only answers (low-stock report, restock) need the role set by the server from X-API-Key."""
    return ((config or {}).get("configurable") or {}).get("role") == "admin"


def turn_seed(config: RunnableConfig | None, text: str) -> str:
    """Seed for varied wording: stable for one thread and message, different across them."""
    thread = ((config or {}).get("configurable") or {}).get("thread_id", "")
    return f"{thread}|{text}"
