"""Telegram's rules for a bot: each update once, flood limits, retries, and no reply lost without a trace.

- `SeenUpdates`: an `update_id` is processed once (Telegram resends a webhook update it thinks failed). A key with
  a TTL in the app's Redis when CACHE_BACKEND=redis, so several instances behind one webhook agree; this
  process's memory otherwise, and while Redis does not answer.
- `ShopRateLimiter`: python-telegram-bot's `AIORateLimiter` (30 requests/s overall, 20 messages/min per group,
  waits out a 429's `retry_after` and tries again) plus about one message per second per chat, which Telegram
  asks of private chats too.
- `RetryingRequest`: the library's HTTPX request that retries a 5xx or a connection that could not be made, a
  bounded number of times with exponential backoff. A timeout is not retried: Telegram may have delivered it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.error import NetworkError, TimedOut
from telegram.ext import AIORateLimiter
from telegram.request import BaseRequest, HTTPXRequest, RequestData

log = logging.getLogger(__name__)

UPDATE_TTL_SECONDS = 24 * 3600  # Telegram keeps an unanswered update for 24 h at most
MEMORY_UPDATES = 100_000

# Endpoints that put a message in a chat: these count towards Telegram's per-chat limit.
MESSAGE_ENDPOINTS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendMediaGroup",
        "editMessageText",
        "copyMessage",
        "forwardMessage",
    }
)


class SeenUpdates:
    """Which update ids this bot has already taken; `first_time` is atomic (Redis SET NX, or the event loop)."""

    def __init__(
        self,
        bot_key: str,
        redis_url: str | None = None,
        *,
        timeout: float = 0.25,
        ttl: int = UPDATE_TTL_SECONDS,
        retry_after: float = 2.0,
    ) -> None:
        self.prefix = f"agente:telegram:update:{bot_key}:"
        self.ttl = ttl
        self.timeout = timeout
        self.retry_after = retry_after
        self._memory: OrderedDict[int, float] = OrderedDict()
        self._redis: Any = None
        self._redis_down_until = 0.0
        if redis_url:
            from redis.asyncio import Redis

            self._redis = Redis.from_url(redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)

    @property
    def backend(self) -> str:
        return "redis" if self._redis is not None else "memory"

    async def first_time(self, update_id: int) -> bool:
        """True the first time an update id is seen (within the TTL), False for a repeat."""
        now = time.monotonic()
        fresh_here = self._remember(update_id, now)
        if self._redis is None or now < self._redis_down_until:
            return fresh_here
        if not fresh_here:
            return False  # this process took it already: no need to ask Redis
        try:
            stored = await asyncio.wait_for(
                self._redis.set(f"{self.prefix}{update_id}", "1", nx=True, ex=self.ttl), self.timeout
            )
        except Exception as exc:  # Redis away or slow: this process's memory decides meanwhile
            self._redis_down_until = now + self.retry_after
            log.warning("telegram: Redis did not answer for update de-duplication (%s); using memory", exc)
            return True
        return bool(stored)

    def _remember(self, update_id: int, now: float) -> bool:
        expires = self._memory.get(update_id)
        if expires is not None and expires > now:
            return False
        self._memory[update_id] = now + self.ttl
        self._memory.move_to_end(update_id)
        while len(self._memory) > MEMORY_UPDATES:
            self._memory.popitem(last=False)
        return True

    async def close(self) -> None:
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()


class ShopRateLimiter(AIORateLimiter):
    """The library's limiter plus a per-chat pace for messages (`per_chat_rate` per second; 0 turns it off)."""

    def __init__(self, *, per_chat_rate: float = 1.0, max_retries: int = 3, **limits: Any) -> None:
        super().__init__(max_retries=max_retries, **limits)
        self.per_chat_rate = per_chat_rate
        self._chat_limiters: dict[str, AsyncLimiter] = {}

    def _chat_limiter(self, chat_id: object) -> AsyncLimiter:
        key = str(chat_id)
        limiter = self._chat_limiters.get(key)
        if limiter is None:
            if len(self._chat_limiters) > 1024:  # forget chats whose bucket is full again (idle ones)
                for other, idle in list(self._chat_limiters.items()):
                    if idle.has_capacity(idle.max_rate):
                        del self._chat_limiters[other]
            limiter = self._chat_limiters[key] = AsyncLimiter(max_rate=1, time_period=1 / self.per_chat_rate)
        return limiter

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        chat_id = data.get("chat_id")
        if self.per_chat_rate and chat_id is not None and endpoint in MESSAGE_ENDPOINTS:
            async with self._chat_limiter(chat_id):
                return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
        return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)


class RetryingRequest(HTTPXRequest):
    """HTTPXRequest that retries 5xx answers and refused connections with bounded exponential backoff."""

    def __init__(self, *, retries: int = 3, backoff: float = 0.5, max_backoff: float = 8.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        endpoint = url.rsplit("/", 1)[-1]
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                code, payload = await super().do_request(
                    url,
                    method,
                    request_data=request_data,
                    read_timeout=read_timeout,
                    write_timeout=write_timeout,
                    connect_timeout=connect_timeout,
                    pool_timeout=pool_timeout,
                )
            except TimedOut:
                raise  # the request may have reached Telegram: sending it again could duplicate a message
            except NetworkError as exc:
                if last:
                    raise
                log.warning("telegram: %s failed (%s); retry %d of %d", endpoint, exc, attempt + 1, self.retries)
            else:
                if code < 500 or last:
                    return code, payload
                log.warning("telegram: %s answered %d; retry %d of %d", endpoint, code, attempt + 1, self.retries)
            delay = min(self.max_backoff, self.backoff * 2**attempt)
            await asyncio.sleep(delay * (0.8 + 0.4 * random.random()))  # jitter: chats retrying together spread out
        raise AssertionError("unreachable")  # pragma: no cover
