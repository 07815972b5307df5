"""Semantic answer cache: exact fast path, then a signature-guarded nearest neighbour, checked against the catalogue.

A similarity threshold alone cannot tell "aceite de 1 L" from "aceite de 5 L" (measured: no threshold separates
near-misses from paraphrases), so an entry is only a candidate when its entity signature — the product words,
numbers, sizes, colours and the question's intents — is exactly the lookup's. Among candidates the nearest
embedding above the threshold wins.

Two checks keep answers true to the catalogue. The `scope` (a digest of what listings depend on: names, prices,
categories, in/out of stock) must equal the current one, so a price change or a new product retires every
search-shaped answer. And every product an answer mentions carries its version (price, stock, name): a stock
change after an order retires only the answers that quote that product. Lookups take a `fresh` callback for the
second check, so this module knows nothing about products.

Layers: `MemoryCache` (this process) and, in `vectorstore.redis_cache`, Redis; `TieredCache` serves from Redis
and falls back to memory while Redis is down or slow.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

Layer = Literal["redis", "memory"]
HitKind = Literal["exact", "semantic"]
VectorSource = Callable[[], np.ndarray]
FreshCheck = Callable[[Mapping[str, str]], bool]

#: Cosine similarity (of the questions' product words) a same-signature entry needs to be served. The signature
#: does the real guarding; measured on evals/datasets/cache_paraphrase.jsonl, 106 of 108 same-signature
#: paraphrases are at or above 0.6 (77 at 0.8), and no near-miss pair shares a signature at all.
DEFAULT_THRESHOLD = 0.60


def _digest(*parts: str, size: int = 16) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=size).hexdigest()


@dataclass(frozen=True, slots=True)
class CacheKey:
    """What an answer is cached under: the standalone question, its entity signature and the catalogue scope."""

    question: str
    signature: str
    scope: str
    route: str = ""

    @property
    def exact_id(self) -> str:
        """The exact fast path: normalised question + signature + scope, no embedding needed."""
        return _digest(self.question, self.signature, self.scope)

    @property
    def signature_tag(self) -> str:
        """The signature as a Redis tag value (tags cannot hold its separators)."""
        return _digest(self.signature, size=12)


@dataclass(frozen=True, slots=True)
class CacheHit:
    """A served answer and where it came from."""

    payload: dict[str, Any]
    layer: Layer
    kind: HitKind
    similarity: float = 1.0


@dataclass
class CacheCounters:
    """Hits and misses by layer and kind, guard rejections, staleness and backend errors (for /metrics)."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, layer: str, event: str, n: int = 1) -> None:
        with self._lock:
            self.counts[(layer, event)] += n

    def get(self, layer: str, event: str) -> int:
        return self.counts[(layer, event)]

    def total(self, event: str) -> int:
        return sum(n for (_, e), n in self.counts.items() if e == event)

    def as_dict(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (layer, event), n in sorted(self.counts.items()):
            out.setdefault(layer, {})[event] = n
        return out


def payload_versions(payload: Mapping[str, Any]) -> Mapping[str, str]:
    """Product id -> version of every product a cached answer quotes."""
    versions = payload.get("versions")
    return versions if isinstance(versions, Mapping) else {}


@dataclass(frozen=True, slots=True)
class _Entry:
    key: CacheKey
    payload: dict[str, Any]
    vector: np.ndarray = field(repr=False)
    expires_at: float = 0.0


class MemoryCache:
    """LRU of answers in this process: exact key first, then same-signature nearest neighbour.

    Expiry is fixed when an entry is stored: hits never extend the life of a price or stock answer.
    """

    layer: Layer = "memory"

    def __init__(
        self, *, threshold: float = DEFAULT_THRESHOLD, max_entries: int = 5000, counters: CacheCounters | None = None
    ) -> None:
        self.threshold = threshold
        self.max_entries = max_entries
        self.counters = counters or CacheCounters()
        self._exact: OrderedDict[str, _Entry] = OrderedDict()
        self._by_signature: dict[tuple[str, str], list[_Entry]] = {}
        self._lock = threading.Lock()

    def lookup(self, key: CacheKey, vector: VectorSource | None, fresh: FreshCheck) -> CacheHit | None:
        now = time.monotonic()
        with self._lock:
            entry = self._exact.get(key.exact_id)
            if entry is not None and self._alive(entry, now):
                if fresh(payload_versions(entry.payload)):
                    self._exact.move_to_end(key.exact_id)
                    self.counters.add(self.layer, "hit_exact")
                    return CacheHit(entry.payload, self.layer, "exact")
                self.counters.add(self.layer, "stale")
            candidates = [e for e in self._by_signature.get((key.signature, key.scope), []) if self._alive(e, now)]
        if candidates and vector is not None:
            query = vector()
            scored = sorted(((float(e.vector @ query), e) for e in candidates), key=lambda s: -s[0])
            for similarity, entry in scored:
                if similarity < self.threshold:
                    break
                if fresh(payload_versions(entry.payload)):
                    self.counters.add(self.layer, "hit_semantic")
                    return CacheHit(entry.payload, self.layer, "semantic", similarity)
                self.counters.add(self.layer, "stale")
        self.counters.add(self.layer, "miss")
        return None

    @staticmethod
    def _alive(entry: _Entry, now: float) -> bool:
        return not entry.expires_at or entry.expires_at > now

    def store(self, key: CacheKey, payload: dict[str, Any], vector: np.ndarray, ttl: float | None = None) -> None:
        entry = _Entry(key, payload, vector, time.monotonic() + ttl if ttl else 0.0)
        bucket_key = (key.signature, key.scope)
        with self._lock:
            self._exact[key.exact_id] = entry
            self._exact.move_to_end(key.exact_id)
            bucket = [e for e in self._by_signature.get(bucket_key, []) if e.key.question != key.question]
            bucket.append(entry)
            self._by_signature[bucket_key] = bucket[-20:]
            while len(self._exact) > self.max_entries:
                _, old = self._exact.popitem(last=False)
                old_key = (old.key.signature, old.key.scope)
                remaining = [e for e in self._by_signature.get(old_key, []) if e is not old]
                if remaining:
                    self._by_signature[old_key] = remaining
                else:
                    self._by_signature.pop(old_key, None)

    def clear(self) -> None:
        with self._lock:
            self._exact.clear()
            self._by_signature.clear()

    def __len__(self) -> int:
        return len(self._exact)


class RemoteLayer(Protocol):
    """What `TieredCache` needs from a shared backend (Redis); every call may raise when the backend is away."""

    layer: Layer

    async def connect(self) -> None: ...

    async def ping(self) -> None: ...

    async def lookup(self, key: CacheKey, vector: VectorSource | None, fresh: FreshCheck) -> CacheHit | None: ...

    async def store(self, key: CacheKey, payload: dict[str, Any], vector: np.ndarray, ttl: float | None) -> None: ...

    async def clear(self) -> None: ...

    async def close(self) -> None: ...


class TieredCache:
    """Redis first (shared by every app instance), this process's memory while Redis is down or slow.

    Every Redis call is bounded by `timeout`; a failure marks Redis down for `retry_after` seconds, during which
    the memory layer answers and nothing waits on the network. The next call after that tries Redis again (and
    recreates its index, which a restarted server has lost), so L1 comes back by itself. Answers are written to
    both layers, so the memory layer is warm when it has to take over.
    """

    def __init__(
        self,
        remote: RemoteLayer | None,
        memory: MemoryCache,
        *,
        timeout: float = 0.25,
        retry_after: float = 2.0,
    ) -> None:
        self.remote = remote
        self.memory = memory
        self.counters = memory.counters
        self.timeout = timeout
        self.retry_after = retry_after
        self._remote_up = False
        self._retry_at = 0.0
        self._connecting: asyncio.Lock | None = None

    # ------------------------------------------------------------------ state

    @property
    def backend(self) -> str:
        return "redis" if self.remote is not None else "memory"

    def status(self) -> Literal["ok", "degraded"]:
        """`degraded` while a configured Redis is not serving (the memory layer is answering)."""
        if self.remote is None:
            return "ok"
        return "ok" if self._remote_up else "degraded"

    async def check(self) -> Literal["ok", "degraded"]:
        """For /health: ping Redis when it is up, try to reconnect when it is not (without waiting for traffic)."""
        remote = await self._usable_remote()
        if remote is not None:
            try:
                await asyncio.wait_for(remote.ping(), self.timeout)
            except Exception as exc:
                self._remote_down(exc, "ping")
        return self.status()

    def describe(self) -> dict[str, Any]:
        return {"backend": self.backend, "status": self.status(), "counters": self.counters.as_dict()}

    async def start(self) -> None:
        """Connect at start-up; a Redis that is not there yet leaves the cache degraded, never the app down."""
        await self._usable_remote()

    async def close(self) -> None:
        if self.remote is not None:
            try:
                await asyncio.wait_for(self.remote.close(), self.timeout)
            except Exception:
                log.debug("closing the Redis cache failed", exc_info=True)

    async def _usable_remote(self) -> RemoteLayer | None:
        remote = self.remote
        if remote is None:
            return None
        if self._remote_up:
            return remote
        if time.monotonic() < self._retry_at:
            return None
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._remote_up:
                return remote
            try:
                await asyncio.wait_for(remote.connect(), max(self.timeout, 2.0))
            except Exception as exc:
                self._remote_down(exc, "connect")
                return None
            self._remote_up = True
            if self._retry_at:
                log.warning("semantic cache: Redis is serving again")
            return remote

    def _remote_down(self, exc: BaseException, during: str) -> None:
        if self._remote_up or not self._retry_at:
            log.warning("semantic cache: Redis unavailable during %s (%s); serving from memory", during, exc)
        self.counters.add("redis", "error")
        self._remote_up = False
        self._retry_at = time.monotonic() + self.retry_after

    # ------------------------------------------------------------------ cache

    async def lookup(self, key: CacheKey, vector: VectorSource | None, fresh: FreshCheck) -> CacheHit | None:
        remote = await self._usable_remote()
        if remote is not None:
            try:
                return await asyncio.wait_for(remote.lookup(key, vector, fresh), self.timeout)
            except Exception as exc:
                self._remote_down(exc, "lookup")
        return self.memory.lookup(key, vector, fresh)

    async def store(self, key: CacheKey, payload: dict[str, Any], vector: np.ndarray, ttl: float | None) -> None:
        self.memory.store(key, payload, vector, ttl)
        remote = await self._usable_remote()
        if remote is not None:
            try:
                await asyncio.wait_for(remote.store(key, payload, vector, ttl), self.timeout)
            except Exception as exc:
                self._remote_down(exc, "store")

    async def clear(self) -> None:
        self.memory.clear()
        remote = await self._usable_remote()
        if remote is not None:
            try:
                await asyncio.wait_for(remote.clear(), max(self.timeout, 2.0))
            except Exception as exc:
                self._remote_down(exc, "clear")
