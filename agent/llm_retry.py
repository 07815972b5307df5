"""One retry policy and one time budget for every LLM call of a turn, whatever the provider.

The SDK clients are built with their own retries off (see `agent.llm.build_llm`); `invoke_llm` retries 429 and
500/502/503 itself, waiting what the provider asks for (`Retry-After`, or a Gemini `RetryInfo.retryDelay`) or a
short exponential backoff with jitter, at most `max_retries` times and never past the turn's LLM budget: when the
wait would not fit, the error goes up at once and the caller answers without the LLM.

`LLMTurn` is the turn's LLM policy (budget, retries, history size) and its usage tally. `ChatService.turn` opens
one per turn (`llm_turn`); the router and `respond` find it through a context variable, so it reaches every node
without riding in the graph's state or config. Outside a ChatService turn (LangGraph Studio, scripts) each caller
opens its own with the defaults.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from langchain_core.callbacks import UsageMetadataCallbackHandler
from langchain_core.messages import AIMessage
from langchain_core.messages.ai import UsageMetadata, add_usage
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ensure_config, merge_configs

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_STATUSES = frozenset({429, 500, 502, 503})
DEFAULT_TIMEOUT = 15.0  # Settings.llm_timeout's default, for callers outside a ChatService turn
DEFAULT_MAX_RETRIES = 1  # Settings.llm_max_retries's default
DEFAULT_HISTORY_TOKENS = 2000  # Settings.llm_history_tokens's default
BACKOFF_BASE = 0.5
BACKOFF_MAX = 4.0
BACKOFF_JITTER = 0.25


class TurnUsage(UsageMetadataCallbackHandler):
    """langchain-core's usage handler (tokens per model), plus the number of requests sent.

    Attached to the LLM calls only (not to every graph node); a message without a model name still counts.
    """

    run_inline = True  # a few additions under a lock: no executor hop

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self._calls_lock = threading.Lock()

    def on_chat_model_start(self, serialized: dict[str, Any], messages: list[list[Any]], **kwargs: Any) -> None:
        with self._calls_lock:
            self.calls += 1

    def on_llm_start(self, serialized: dict[str, Any], prompts: list[str], **kwargs: Any) -> None:
        with self._calls_lock:
            self.calls += 1

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        generation = response.generations[0][0] if response.generations and response.generations[0] else None
        if not isinstance(generation, ChatGeneration) or not isinstance(generation.message, AIMessage):
            return
        usage = generation.message.usage_metadata
        if not usage:
            return
        model = str(generation.message.response_metadata.get("model_name") or "unknown")
        with self._lock:
            known = self.usage_metadata.get(model)
            self.usage_metadata[model] = add_usage(known, usage) if known else usage

    def summary(self) -> dict[str, int]:
        """{"llm_calls", "input_tokens", "output_tokens", "total_tokens"} over every model of the turn."""
        total: UsageMetadata | None = None
        with self._lock:
            for usage in self.usage_metadata.values():
                total = add_usage(total, usage) if total else usage
        return {
            "llm_calls": self.calls,
            "input_tokens": int(total["input_tokens"]) if total else 0,
            "output_tokens": int(total["output_tokens"]) if total else 0,
            "total_tokens": int(total["total_tokens"]) if total else 0,
        }


def empty_usage() -> dict[str, int]:
    """The usage of a turn without LLM work."""
    return {"llm_calls": 0, "input_tokens": 0, "output_tokens": 0, "total_tokens": 0}


@dataclass
class ReplySink:
    """Where a streaming caller gets the reply's text as it is checked (agent.streaming), in order."""

    queue: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    released: str = ""  # everything sent so far
    round_start: int = 0  # len(released) when the current model call began

    def release(self, text: str) -> None:
        self.released += text
        self.queue.put_nowait(text)


@dataclass
class LLMTurn:
    """One turn's LLM policy and tally; the budget clock starts with the turn's first LLM work."""

    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    history_tokens: int = DEFAULT_HISTORY_TOKENS
    usage: TurnUsage = field(default_factory=TurnUsage)
    deadline: float | None = None
    # Set when the assistant's model failed this turn: the offline answer then goes out as it is (asking the
    # same model again to route or polish it would spend the budget on a provider that just failed).
    gave_up: bool = False
    sink: ReplySink | None = None  # set when the caller streams the reply

    def remaining(self) -> float:
        """Seconds of LLM time left in this turn (starts the clock on first use)."""
        now = time.monotonic()
        if self.deadline is None:
            self.deadline = now + self.timeout
        return self.deadline - now


_current: ContextVar[LLMTurn | None] = ContextVar("llm_turn", default=None)


@contextmanager
def llm_turn(turn: LLMTurn | None = None, *, timeout: float = DEFAULT_TIMEOUT) -> Iterator[LLMTurn]:
    """Open `turn` for the code inside; without one, join the turn already open, or open a default one."""
    active = _current.get()
    if turn is None and active is not None:
        yield active
        return
    turn = turn or LLMTurn(timeout=timeout)
    token = _current.set(turn)
    try:
        yield turn
    finally:
        _current.reset(token)


def llm_declined() -> bool:
    """Whether this turn's LLM work was given up (see `LLMTurn.gave_up`)."""
    turn = _current.get()
    return turn is not None and turn.gave_up


class BudgetExhausted(TimeoutError):
    """The turn's LLM time budget is spent."""


async def invoke_llm(runnable: Runnable[Any, Any], value: Any, config: RunnableConfig | None = None) -> Any:
    """`runnable.ainvoke(value, config)` under the current turn's budget, retries and usage tally."""
    return await with_retries(lambda cfg: runnable.ainvoke(value, cfg), config)


async def with_retries(
    attempt: Callable[[RunnableConfig], Awaitable[T]],
    config: RunnableConfig | None = None,
    *,
    may_retry: Callable[[], bool] = lambda: True,
) -> T:
    """One LLM call (`attempt(config)`) under the current turn's budget, retry policy and usage tally.

    A 429/500/502/503 is retried after what the provider asks (or a backoff) while the budget allows and
    `may_retry()` says so (a stream that has already shown words to the customer may not start again).
    """
    with llm_turn() as turn:
        # ensure_config(None) inside a node is the node's own config: tracing stays intact.
        config = merge_configs(ensure_config(config), {"callbacks": [turn.usage]})
        retries = 0
        while True:
            remaining = turn.remaining()
            if remaining <= 0:
                raise BudgetExhausted("the turn's LLM time budget is spent")
            try:
                return await asyncio.wait_for(attempt(config), remaining)
            except Exception as exc:
                status = error_status(exc)
                if status not in RETRY_STATUSES or retries >= turn.max_retries or not may_retry():
                    raise
                asked = retry_after(exc)
                wait = asked if asked is not None else backoff(retries)
                if wait >= turn.remaining():
                    log.warning("LLM answered %s; waiting %.1fs would pass the turn's budget: giving up", status, wait)
                    raise
                log.info("LLM answered %s; retrying in %.2fs", status, wait)
                await asyncio.sleep(wait)
                retries += 1


def backoff(retries: int) -> float:
    """0.5 s, 1 s, 2 s... (at most 4 s) plus up to 0.25 s of jitter."""
    return min(BACKOFF_MAX, BACKOFF_BASE * 2**retries) + random.uniform(0, BACKOFF_JITTER)


# --------------------------------------------------------------------------- reading the SDKs' exceptions


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and its causes (langchain wraps the SDK's error, `raise ... from`)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _is_genai_error(exc: BaseException) -> bool:
    try:
        from google.genai.errors import APIError
    except ImportError:  # pragma: no cover - the Gemini extra is not installed
        return False
    return isinstance(exc, APIError)


def error_status(exc: BaseException) -> int | None:
    """The HTTP status behind an LLM error: openai's `status_code`, google-genai's `code`; None if none."""
    for error in _chain(exc):
        status = getattr(error, "status_code", None)
        if isinstance(status, int):
            return status
        if _is_genai_error(error) and isinstance(getattr(error, "code", None), int):
            return int(error.code)  # type: ignore[attr-defined]
    return None


def retry_after(exc: BaseException) -> float | None:
    """Seconds the provider asked us to wait: `Retry-After(-Ms)` headers, or Gemini's `RetryInfo.retryDelay`."""
    for error in _chain(exc):
        response = getattr(error, "response", None)
        headers = getattr(response, "headers", None) or getattr(getattr(response, "_response", None), "headers", None)
        if headers is not None:
            seconds = _header_delay(headers)
            if seconds is not None:
                return seconds
        if _is_genai_error(error):
            seconds = _retry_info_delay(getattr(error, "details", None))
            if seconds is not None:
                return seconds
    return None


def _header(headers: Any, name: str) -> str | None:
    try:
        value = headers.get(name)  # httpx and aiohttp headers are case-insensitive
    except Exception:
        return None
    return str(value) if value is not None else None


def _header_delay(headers: Any) -> float | None:
    millis = _header(headers, "retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = _header(headers, "retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def _retry_info_delay(details: Any) -> float | None:
    """`{"error": {"details": [{"@type": "...google.rpc.RetryInfo", "retryDelay": "12s"}]}}` → 12.0."""
    error = details.get("error", details) if isinstance(details, dict) else None
    items = error.get("details") if isinstance(error, dict) else None
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and str(item.get("@type", "")).endswith("RetryInfo"):
            match = _DURATION.match(str(item.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None
