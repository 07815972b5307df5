"""LLM factory: Gemini, OpenAI (or any OpenAI-compatible server), or `offline` (no model at all).

Gemini with GOOGLE_API_KEY, OpenAI with OPENAI_API_KEY; otherwise the planner and the composer answer on their
own. Every request has a timeout, and the clients never retry on their own: `agent.llm_retry.invoke_llm` owns
the retry policy for both providers (it honours Retry-After and the turn's LLM budget, LLM_MAX_RETRIES times).
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from settings import Settings

PROVIDERS = ("gemini", "openai", "offline")


class LLMConfigError(ValueError):
    """The LLM settings name a provider that cannot be built here."""


def resolve_provider(settings: Settings) -> str:
    """Which LLM to use: the one configured, or with "auto" Gemini, then OpenAI, by the key set; else offline."""
    provider = settings.llm_provider
    if provider == "auto":
        if settings.google_api_key:
            return "gemini"
        if settings.openai_api_key:
            return "openai"
        return "offline"
    return provider


def build_llm(settings: Settings) -> BaseChatModel | None:
    """The chat model for the configured provider, or None for `offline`."""
    provider = resolve_provider(settings)
    match provider:
        case "offline":
            return None
        case "gemini":
            if settings.google_api_key is None:
                raise LLMConfigError("LLM_PROVIDER=gemini needs GOOGLE_API_KEY")
            from langchain_google_genai import ChatGoogleGenerativeAI

            kwargs: dict[str, Any] = {
                "model": settings.default_model,
                "google_api_key": settings.google_api_key,
                "temperature": settings.temperature,
                "timeout": settings.llm_timeout,
                # langchain-google-genai reads max_retries as the total number of attempts (google-genai's
                # HttpRetryOptions.attempts): one, so google-genai neither retries nor ignores Retry-After.
                "max_retries": 1,
            }
            return ChatGoogleGenerativeAI(**kwargs)
        case "openai":
            if settings.openai_api_key is None and not settings.openai_base_url:
                raise LLMConfigError("LLM_PROVIDER=openai needs OPENAI_API_KEY (or OPENAI_BASE_URL for a local server)")
            from langchain_openai import ChatOpenAI

            kwargs = {
                "model": settings.openai_model,
                "api_key": settings.openai_api_key or "not-needed-for-local-servers",
                "temperature": settings.temperature,
                "timeout": settings.llm_timeout,
                "max_retries": 0,  # retried by agent.llm_retry, within the turn's budget
            }
            if settings.openai_base_url:
                kwargs["base_url"] = settings.openai_base_url
            return ChatOpenAI(**kwargs)
        case _:
            raise LLMConfigError(f"Unknown LLM_PROVIDER {provider!r}; valid choices: auto, {', '.join(PROVIDERS)}")


async def close_llm(llm: BaseChatModel | None) -> None:
    """Close a chat model's HTTP connections (Gemini's aiohttp session, the OpenAI client's pool), if it has any."""
    if llm is None:
        return
    if hasattr(llm, "aclose"):  # ChatGoogleGenerativeAI
        await llm.aclose()
    elif (client := getattr(llm, "root_async_client", None)) is not None:  # ChatOpenAI
        await client.close()


def message_text(message: BaseMessage) -> str:
    """The text of a model's message or streamed chunk (its content may be a list of parts, as Gemini's is)."""
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
