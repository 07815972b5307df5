"""The semantic cache the settings ask for: Redis first with memory as its fallback, or memory only."""

from __future__ import annotations

from settings import Settings
from vectorstore.cache import MemoryCache, TieredCache
from vectorstore.embeddings import Embedder
from vectorstore.redis_cache import RedisCache


def build_cache(settings: Settings, embedder: Embedder) -> TieredCache:
    """The cache the settings ask for: `redis` (Redis first, memory as fallback) or `memory` only."""
    memory = MemoryCache(threshold=settings.cache_threshold)
    match settings.cache_backend:
        case "memory":
            return TieredCache(None, memory)
        case "redis":
            remote = RedisCache(
                settings.resolved_redis_url,
                embedder,
                name=settings.cache_name,
                threshold=settings.cache_threshold,
                counters=memory.counters,
                timeout=settings.redis_timeout,
            )
            return TieredCache(remote, memory, timeout=settings.redis_timeout)
        case other:
            raise ValueError(f"unknown CACHE_BACKEND {other!r}; valid choices: redis, memory")
