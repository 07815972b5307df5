"""The Redis layer of the semantic cache: redisvl's `SemanticCache` (what langchain-redis builds on) with tag filters.

Why not `langchain_redis.RedisSemanticCache` as the LLM cache: it keys on the whole prompt and compares the model
string against the single nearest entry only, so a shared system prompt makes different questions collide, and a
hit refreshes the entry's TTL. Here the cache is keyed on the standalone question, filtered by two tags — the
entity signature (exact) and the catalogue scope — and stored with a per-route TTL that hits never extend (the
index has no default TTL, so redisvl's refresh-on-hit does nothing).

The exact fast path reads the entry's hash directly (one round trip, no embedding): redisvl derives the key from
the question and the filter tags, and so do we.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import numpy as np
from redis.asyncio import Redis
from redisvl.extensions.cache.llm import CacheEntry, SemanticCache
from redisvl.query.filter import Tag
from redisvl.utils.vectorize import CustomVectorizer

from vectorstore.cache import (
    DEFAULT_THRESHOLD,
    CacheCounters,
    CacheHit,
    CacheKey,
    FreshCheck,
    Layer,
    VectorSource,
    payload_versions,
)

if TYPE_CHECKING:
    from vectorstore.embeddings import Embedder

#: How many same-signature neighbours a semantic lookup considers (a stale nearest one must not hide a fresh one).
NEIGHBOURS = 3


class RedisCache:
    """One Redis Stack (RediSearch) index of answers, shared by every instance of the app."""

    layer: Layer = "redis"

    def __init__(
        self,
        url: str,
        embedder: Embedder,
        *,
        name: str = "agente_cache",
        threshold: float = DEFAULT_THRESHOLD,
        counters: CacheCounters | None = None,
        timeout: float = 0.25,
    ) -> None:
        self.url = url
        self.embedder = embedder
        self.name = name
        self.threshold = threshold
        self.counters = counters or CacheCounters()
        self.timeout = timeout
        self._cache: SemanticCache | None = None
        self._client: Redis | None = None

    def _connection_kwargs(self) -> dict[str, Any]:
        return {"socket_timeout": self.timeout, "socket_connect_timeout": self.timeout}

    async def connect(self) -> None:
        """(Re)open the connection and create the index if it is missing (a restarted server has none)."""
        if self._client is None:
            self._client = Redis.from_url(self.url, **self._connection_kwargs())
        await self._client.ping()
        old, self._cache = self._cache, None
        if old is not None:
            await _quietly(old.adisconnect())
        self._cache = await asyncio.to_thread(self._build)

    async def ping(self) -> None:
        if self._client is None:
            raise ConnectionError("the Redis cache is not connected")
        await self._client.ping()

    def _build(self) -> SemanticCache:
        embedder = self.embedder
        return SemanticCache(
            name=self.name,
            distance_threshold=1.0 - self.threshold,
            ttl=None,  # per-entry TTLs only: a hit must not extend an answer's life
            vectorizer=CustomVectorizer(embed=lambda text: embedder.query_vector(text).tolist()),
            filterable_fields=[
                {"name": "signature", "type": "tag"},
                {"name": "scope", "type": "tag"},
            ],
            redis_url=self.url,
            connection_kwargs=self._connection_kwargs(),
        )

    @property
    def cache(self) -> SemanticCache:
        if self._cache is None:
            raise ConnectionError("the Redis cache is not connected")
        return self._cache

    @staticmethod
    def _filters(key: CacheKey) -> dict[str, str]:
        return {"signature": key.signature_tag, "scope": key.scope}

    def redis_key(self, key: CacheKey) -> str:
        """Where redisvl stores the entry for this question and these tags."""
        cache = self.cache
        return cache.index.key(entry_id(key.question, self._filters(key)))

    async def lookup(self, key: CacheKey, vector: VectorSource | None, fresh: FreshCheck) -> CacheHit | None:
        cache, client = self.cache, self._client
        assert client is not None
        response = await client.hget(self.redis_key(key), "response")
        if response is not None:
            payload = json.loads(response)
            if fresh(payload_versions(payload)):
                self.counters.add(self.layer, "hit_exact")
                return CacheHit(payload, self.layer, "exact")
            self.counters.add(self.layer, "stale")
        if vector is None:
            self.counters.add(self.layer, "miss")
            return None
        query = vector().astype(np.float32).tolist()
        same = (Tag("signature") == key.signature_tag) & (Tag("scope") == key.scope)
        for hit in await cache.acheck(vector=query, filter_expression=same, num_results=NEIGHBOURS):
            payload = json.loads(hit["response"])
            if fresh(payload_versions(payload)):
                self.counters.add(self.layer, "hit_semantic")
                return CacheHit(payload, self.layer, "semantic", 1.0 - float(hit.get("vector_distance", 0.0)))
            self.counters.add(self.layer, "stale")
        # A miss: would a similarity-only cache have answered? Then the entity guard just refused a wrong answer.
        nearest = await cache.acheck(vector=query, filter_expression=Tag("scope") == key.scope, num_results=1)
        if nearest and nearest[0].get("signature") != key.signature_tag:
            self.counters.add(self.layer, "guard_rejection")
        self.counters.add(self.layer, "miss")
        return None

    async def store(self, key: CacheKey, payload: dict[str, Any], vector: np.ndarray, ttl: float | None) -> None:
        await self.cache.astore(
            prompt=key.question,
            response=json.dumps(payload, ensure_ascii=False, default=str),
            vector=vector.astype(np.float32).tolist(),
            metadata={"route": key.route},
            filters=self._filters(key),
            ttl=max(1, round(ttl)) if ttl else None,
        )

    async def clear(self) -> None:
        await self.cache.aclear()

    async def close(self) -> None:
        if self._cache is not None:
            await _quietly(self._cache.adisconnect())
        if self._client is not None:
            await _quietly(self._client.aclose())


def entry_id(question: str, filters: dict[str, str]) -> str:
    """The id redisvl gives the entry it stores for this question and these filter tags.

    redisvl's public `CacheEntry` derives it (from the prompt and the filters) when none is given, exactly as
    `SemanticCache.store` does, so the private `SemanticCache._make_entry_id` is not needed.
    """
    entry = CacheEntry(prompt=question, response="", prompt_vector=[], filters=filters)
    assert entry.entry_id is not None  # always set by CacheEntry's validator
    return entry.entry_id


async def _quietly(awaitable: Any) -> None:
    try:
        await awaitable
    except Exception:  # closing a connection to a server that is gone
        return
