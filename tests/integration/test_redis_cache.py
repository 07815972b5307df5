"""The semantic cache on a real Redis Stack (started by scripts/redis-stack.sh), and its in-process fallback."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from redis.asyncio import Redis

from data import crud
from data.db import write_session
from data.models import ProductUpdate
from tests.conftest import make_settings, redis_stack, start_redis_stack
from vectorstore.cache import CacheKey, MemoryCache, TieredCache
from vectorstore.embeddings import Embedder
from vectorstore.redis_cache import RedisCache


def always_fresh(_versions: Any) -> bool:
    return True


def never_fresh(_versions: Any) -> bool:
    return False


@pytest.fixture
async def redis_cache(redis_url: str, embedder: Embedder) -> AsyncIterator[RedisCache]:
    cache = RedisCache(redis_url, embedder, name=f"t{uuid.uuid4().hex[:10]}")
    await cache.connect()
    yield cache
    await cache.cache.adelete()
    await cache.close()


def key(question: str, signature: str = "prices|iphon,15|15|", scope: str = "s1", route: str = "prices") -> CacheKey:
    return CacheKey(question, signature, scope, route)


# --------------------------------------------------------------------------- the Redis layer


async def test_exact_hit_needs_no_embedding_and_semantic_hit_needs_the_same_signature(
    redis_cache: RedisCache, embedder: Embedder
) -> None:
    stored = key("iphone 15")
    vector = embedder.query_vector("iPhone 15")
    await redis_cache.store(stored, {"reply": "959,00 €", "versions": {}}, vector, ttl=600)

    def no_embedding() -> np.ndarray:
        raise AssertionError("the exact path must not embed")

    exact = await redis_cache.lookup(stored, no_embedding, always_fresh)
    assert exact is not None and (exact.layer, exact.kind) == ("redis", "exact")
    assert exact.payload["reply"] == "959,00 €"

    # The agent embeds the product words of a question, so a paraphrase's vector is close to the original's.
    paraphrase = key("iphone 15 apple")
    hit = await redis_cache.lookup(paraphrase, lambda: embedder.query_vector("iphone 15 apple"), always_fresh)
    assert hit is not None and hit.kind == "semantic" and hit.similarity >= 0.8

    # Same words, another capacity: nearly the same vector, another signature. Never served.
    other = key("iphone 15 256", signature="prices|iphon,15|15,256|")
    assert await redis_cache.lookup(other, lambda: embedder.query_vector("iPhone 15 256"), always_fresh) is None
    assert redis_cache.counters.get("redis", "guard_rejection") == 1
    assert redis_cache.counters.get("redis", "miss") == 1


async def test_other_scope_and_changed_products_are_never_served(redis_cache: RedisCache, embedder: Embedder) -> None:
    stored = key("cuanto cuesta el iphone 15")
    vector = embedder.query_vector("¿Cuánto cuesta el iPhone 15?")
    await redis_cache.store(stored, {"reply": "959,00 €", "versions": {"1": "v1"}}, vector, ttl=600)

    assert await redis_cache.lookup(key("cuanto cuesta el iphone 15", scope="s2"), lambda: vector, always_fresh) is None
    assert await redis_cache.lookup(stored, lambda: vector, never_fresh) is None
    assert redis_cache.counters.get("redis", "stale") == 2  # the exact entry, then the same one as a neighbour

    def only_v1(versions: Any) -> bool:
        return dict(versions) == {"1": "v1"}

    assert await redis_cache.lookup(stored, lambda: vector, only_v1) is not None


async def test_a_hit_does_not_extend_the_life_of_an_answer(
    redis_cache: RedisCache, redis_url: str, embedder: Embedder
) -> None:
    stored = key("hay stock del iphone 15", route="inventory")
    vector = embedder.query_vector("¿hay stock del iPhone 15?")
    await redis_cache.store(stored, {"reply": "Quedan 3.", "versions": {}}, vector, ttl=60)
    client = Redis.from_url(redis_url)
    try:
        redis_key = redis_cache.redis_key(stored)
        await client.expire(redis_key, 30)  # as if 30 s had passed
        for _ in range(3):
            assert await redis_cache.lookup(stored, lambda: vector, always_fresh) is not None
            assert (
                await redis_cache.lookup(
                    key("hay existencias del iphone 15", route="inventory"), lambda: vector, always_fresh
                )
                is not None
            )
        assert 0 < await client.ttl(redis_key) <= 30
    finally:
        await client.aclose()


# --------------------------------------------------------------------------- L1 Redis, L2 memory


async def test_redis_down_then_back_without_a_failed_request(embedder: Embedder) -> None:
    port = int(os.environ.get("TEST_REDIS_DEGRADED_PORT", "6392"))
    url = start_redis_stack(port)
    remote = RedisCache(url, embedder, name=f"t{uuid.uuid4().hex[:10]}", timeout=0.2)
    cache = TieredCache(remote, MemoryCache(), timeout=0.2, retry_after=0.2)
    try:
        await cache.start()
        assert await cache.check() == "ok"
        first = key("cuanto cuesta el iphone 15")
        vector = embedder.query_vector("¿Cuánto cuesta el iPhone 15?")
        await cache.store(first, {"reply": "959,00 €", "versions": {}}, vector, ttl=600)
        hit = await cache.lookup(first, lambda: vector, always_fresh)
        assert hit is not None and hit.layer == "redis"

        assert redis_stack("stop", port).returncode == 0
        # Redis is gone: the memory layer answers and nothing raises.
        hit = await cache.lookup(first, lambda: vector, always_fresh)
        assert hit is not None and hit.layer == "memory"
        assert cache.status() == "degraded" and await cache.check() == "degraded"
        second = key("cuanto cuesta la nintendo switch", signature="prices|nintend,switch|||")
        await cache.store(second, {"reply": "349,99 €", "versions": {}}, vector, ttl=600)  # memory only, no error
        assert cache.counters.get("redis", "error") >= 1

        start_redis_stack(port)  # a fresh server: no data, no index
        await _wait_until_ok(cache)
        hit = await cache.lookup(first, lambda: vector, always_fresh)
        assert hit is None  # L1 is back (and empty): the lookup went to Redis, not to the memory layer
        await cache.store(first, {"reply": "959,00 €", "versions": {}}, vector, ttl=600)
        hit = await cache.lookup(first, lambda: vector, always_fresh)
        assert hit is not None and hit.layer == "redis"
    finally:
        await cache.close()
        redis_stack("stop", port)


async def _wait_until_ok(cache: TieredCache) -> None:
    import asyncio

    for _ in range(50):
        if await cache.check() == "ok":
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the Redis layer did not come back")


async def test_an_unreachable_redis_leaves_the_cache_degraded_not_broken(embedder: Embedder) -> None:
    from tests.conftest import free_port

    remote = RedisCache(f"redis://127.0.0.1:{free_port()}/0", embedder, name="nowhere", timeout=0.1)
    cache = TieredCache(remote, MemoryCache(), timeout=0.1, retry_after=60)
    await cache.start()
    stored = key("cuanto cuesta el iphone 15")
    vector = embedder.query_vector("¿Cuánto cuesta el iPhone 15?")
    await cache.store(stored, {"reply": "959,00 €", "versions": {}}, vector, ttl=600)
    hit = await cache.lookup(stored, lambda: vector, always_fresh)
    assert hit is not None and hit.layer == "memory"
    assert cache.describe()["status"] == "degraded"
    await cache.close()


# --------------------------------------------------------------------------- the agent on Redis


@pytest.fixture
async def redis_chat(sample_var: Path, embedder: Embedder, tmp_path: Path, redis_url: str) -> AsyncIterator[Any]:
    from chat import ChatService
    from data.migrate import upgrade
    from tools.catalog import CatalogService

    shutil.copytree(sample_var, tmp_path / "var")
    name = f"t{uuid.uuid4().hex[:10]}"
    settings = make_settings(
        tmp_path, checkpointer="memory", cache_backend="redis", redis_url=redis_url, cache_name=name
    )
    service = CatalogService(settings, embedder=embedder)
    await service.load()
    await upgrade(service.engine)
    chat = ChatService(settings, service)
    await chat.start()
    yield chat
    await chat.context.cache.clear()
    await chat.close()
    await service.close()


async def _set(chat: Any, sku: str, **changes: Any) -> None:
    async with write_session(chat.catalog.sessions) as session:
        found = await crud.get_product_by_sku(session, sku=sku)
        assert found is not None
        await crud.update_product(session, product=found, product_in=ProductUpdate(**changes))


async def test_agent_answers_repeats_from_redis_and_never_a_stale_price(redis_chat: Any) -> None:
    counters = redis_chat.context.cache.counters
    question = "¿cuánto cuesta la Nintendo Switch OLED?"
    first = await redis_chat.turn(question, thread_id="a")
    assert not first.cached and "349,99 €" in first.reply
    second = await redis_chat.turn(question, thread_id="b")
    assert second.cached and second.reply == first.reply
    assert counters.get("redis", "hit_exact") == 1
    paraphrase = await redis_chat.turn("cuanto cuesta la nintendo switch oled", thread_id="c")
    assert paraphrase.cached and "349,99 €" in paraphrase.reply

    await _set(redis_chat, "ELE-NIN-SWOLED-BLA", price=Decimal("329.90"))
    third = await redis_chat.turn(question, thread_id="d")
    assert not third.cached and "329,90 €" in third.reply and "349,99 €" not in third.reply
    again = await redis_chat.turn(question, thread_id="e")
    assert again.cached and "329,90 €" in again.reply


async def test_a_sale_retires_only_the_answers_that_quote_the_product(redis_chat: Any) -> None:
    switch = "¿cuánto cuesta la Nintendo Switch OLED?"
    kindle = "¿cuánto cuesta el Kindle Paperwhite?"
    for question in (switch, kindle):
        await redis_chat.turn(question, thread_id=uuid.uuid4().hex)
    # Stock moves (as after an order) without crossing zero: search answers stay, the Switch's quote goes.
    async with redis_chat.catalog.sessions() as session:
        found = await crud.get_product_by_sku(session, sku="ELE-NIN-SWOLED-BLA")
        assert found is not None and found.stock > 1
        stock = found.stock
    await _set(redis_chat, "ELE-NIN-SWOLED-BLA", stock=stock - 1)
    assert (await redis_chat.turn(kindle, thread_id=uuid.uuid4().hex)).cached
    assert not (await redis_chat.turn(switch, thread_id=uuid.uuid4().hex)).cached


# --------------------------------------------------------------------------- CHECKPOINTER=redis


async def test_two_app_instances_share_a_conversation_through_redis(
    sample_var: Path, embedder: Embedder, tmp_path: Path, redis_url: str
) -> None:
    from chat import ChatService
    from data.migrate import upgrade
    from tools.catalog import CatalogService

    shutil.copytree(sample_var, tmp_path / "var")
    services, chats = [], []
    for _ in range(2):
        settings = make_settings(tmp_path, checkpointer="redis", redis_url=redis_url)
        service = CatalogService(settings, embedder=embedder)
        await service.load()
        await upgrade(service.engine)
        chat = ChatService(settings, service)
        await chat.start()
        services.append(service)
        chats.append(chat)
    try:
        thread = f"shared-{uuid.uuid4().hex}"
        listed = await chats[0].turn("quiero ver portatiles lenovo", thread_id=thread)
        assert len(listed.products) >= 2
        # The other instance has never seen this thread, yet "el segundo" resolves: the state lives in Redis.
        second = await chats[1].turn("el segundo", thread_id=thread)
        assert [p["sku"] for p in second.products] == [listed.products[1]["sku"]]
    finally:
        for chat in chats:
            await chat.close()
        for service in services:
            await service.close()


# --------------------------------------------------------------------------- measured sets (evals/datasets)


async def test_near_misses_never_hit_and_paraphrases_mostly_do(redis_chat: Any) -> None:
    from evals.cache import judge_pairs, load_pairs

    near = await judge_pairs(redis_chat, "near-miss", load_pairs("near_miss"))
    assert near.pairs >= 200 and near.hits == 0, near.examples
    para = await judge_pairs(redis_chat, "paraphrase", load_pairs("paraphrase"))
    assert para.pairs >= 100 and para.rate >= 0.80, (para.rate, para.examples)
    assert redis_chat.context.cache.counters.get("redis", "guard_rejection") > 0


# --------------------------------------------------------------------------- the real server over HTTP


def test_server_on_redis_patch_then_redis_down_and_back(tmp_path: Path, sample_var: Path) -> None:
    import time

    import httpx

    from tests.conftest import start_server, stop_server

    port = int(os.environ.get("TEST_REDIS_DEGRADED_PORT", "6392"))
    url = start_redis_stack(port)
    shutil.copytree(sample_var, tmp_path / "var")  # the sample catalogue, seeded and indexed
    server = start_server(tmp_path, CACHE_BACKEND="redis", REDIS_URL=url, CACHE_NAME=f"t{uuid.uuid4().hex[:10]}")
    try:
        with httpx.Client(base_url=server.base_url, timeout=30) as client:

            def ask(message: str) -> dict[str, Any]:
                response = client.post("/chat", json={"message": message})
                assert response.status_code == 200, response.text
                return dict(response.json())

            def wait_until_ok(why: str) -> None:
                # One slow ping under CPU load marks Redis down for a couple of seconds: wait it out, boundedly.
                deadline = time.monotonic() + 15
                while client.get("/health").json()["status"] != "ok":
                    assert time.monotonic() < deadline, why
                    time.sleep(0.3)

            wait_until_ok("the server never reached Redis")
            assert client.get("/health").json()["cache"]["backend"] == "redis"
            question = "¿cuánto cuesta la Nintendo Switch OLED?"
            assert not ask(question)["cached"]
            assert ask(question)["cached"]
            switch = client.get("/productos/search", params={"q": "ELE-NIN-SWOLED-BLA", "limite": 1}).json()[0]
            patched = client.patch(
                f"/productos/{switch['id']}", json={"price": "359.99"}, headers={"X-API-Key": server.admin_key}
            )
            assert patched.status_code == 200
            after = ask(question)
            assert not after["cached"] and "359,99 €" in after["reply"] and "349,99 €" not in after["reply"]
            assert ask(question)["cached"]

            assert redis_stack("stop", port).returncode == 0
            down = ask(question)  # answered from the in-process layer, no error
            assert down["cached"] and "359,99 €" in down["reply"]
            other = ask("¿cuánto cuesta el Kindle Paperwhite?")
            assert not other["cached"] and "€" in other["reply"]
            health = client.get("/health")
            assert health.status_code == 200 and health.json()["status"] == "degraded"
            assert health.json()["cache"]["status"] == "degraded"

            start_redis_stack(port)
            wait_until_ok("the Redis layer did not come back")
            # L1 is back and empty (a fresh server): the question is answered, stored there again, then served.
            assert not ask(question)["cached"]
            assert ask(question)["cached"]
            counters = client.get("/health").json()["cache"]["counters"]
            assert counters["redis"]["hit_exact"] >= 2 and counters["memory"]["hit_exact"] >= 1
    finally:
        stop_server(server)
        redis_stack("stop", port)
