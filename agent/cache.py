"""Semantic cache subgraph: look up before routing, store after answering.

The key is the standalone question: the message's product words, numbers, sizes and colours (the entity
signature, which must match exactly) plus its intents, scoped to the catalogue revision. Turns that lean on
earlier answers ("el segundo"), touch the cart or an order, or are small talk are never cached.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Literal

from langchain_core.messages import AIMessage
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agent.context import AgentContext, last_user_text
from agent.planner import COLOURS, plan_text
from agent.router import CUES, intents_in
from agent.turn import TurnState, context_of, turn_vector
from state import ProductFact, Route
from vectorstore.text import fold, stem

CACHEABLE: set[str] = {"products", "prices", "inventory", "recommendations"}
TTL_SECONDS: dict[str, float] = {"inventory": 60.0, "prices": 600.0, "products": 3600.0, "recommendations": 3600.0}


class CacheState(TurnState, total=False):
    cache: Literal["hit", "miss", "skip"]
    cache_key: tuple[str, str]
    reply: str
    shown: list[ProductFact]
    query: str
    facts: list[Any]


@lru_cache(maxsize=4096)
def signature(text: str) -> tuple[str, str] | None:
    """(normalised question, entity signature), or None when the turn must not be cached."""
    p = plan_text(text)
    folded = p.folded
    if p.is_reference or CUES["orders"].search(folded):
        return None
    intents = [i for i in intents_in(folded) if i != "orders"]
    if not intents or not p.query:
        return None
    words = sorted({stem(w) for w in p.query.split()})
    numbers = sorted(set(re.findall(r"\d+(?:[.,]\d+)?", folded)))
    colours = sorted({c for c in COLOURS if re.search(rf"\b{c}\b", folded)})
    budget = f"{p.min_price}-{p.max_price}" if p.min_price or p.max_price else ""
    flags = "".join(
        flag for flag, on in (("c", p.cheapest), ("d", p.dearest), ("s", p.in_stock), ("i", p.details)) if on
    )
    sig = "|".join(
        [",".join(sorted(set(intents))), ",".join(words), ",".join(numbers), ",".join(colours), budget, flags]
    )
    return " ".join(fold(p.query).split()), sig


async def lookup(state: CacheState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    context = context_of(runtime)
    text = last_user_text(state.get("messages", []))
    key = signature(text)
    if key is None:
        return {"cache": "skip"}
    revision = await context.shop.catalog.ensure_fresh()
    vector = turn_vector(context, text)
    payload = context.cache.lookup(key[0], key[1], revision, vector)
    if payload is None:
        return {"cache": "miss", "cache_key": key}
    return {
        "cache": "hit",
        "cache_key": key,
        "messages": [AIMessage(content=payload["reply"])],
        "reply": payload["reply"],
        "shown": payload.get("shown") or [],
        "products": payload.get("products") or [],
        "focus": payload.get("focus"),
        "routes": payload.get("routes") or [],
        "facts": payload.get("products") or [],
    }


async def store(state: CacheState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    routes: list[Route] = list(state.get("routes") or [])
    if state.get("cache") != "miss" or len(routes) != 1 or routes[0] not in CACHEABLE or not state.get("reply"):
        return {}
    if not state.get("query"):
        return {}
    context = context_of(runtime)
    key = state["cache_key"]
    text = last_user_text(state.get("messages", []))
    products: list[ProductFact] = list(state.get("products") or [])
    context.cache.store(
        key[0],
        key[1],
        context.shop.catalog.index.revision,
        {
            "reply": state["reply"],
            "shown": list(state.get("shown") or []),
            "products": products,
            "focus": state.get("focus"),
            "routes": routes,
        },
        turn_vector(context, text),
        ttl=TTL_SECONDS.get(routes[0]),
    )
    return {}


def build_lookup() -> Any:
    graph = StateGraph(CacheState, context_schema=AgentContext)
    graph.add_node("lookup", lookup)
    graph.add_edge(START, "lookup")
    graph.add_edge("lookup", END)
    return graph.compile(name="cache_lookup", checkpointer=False)


def build_store() -> Any:
    graph = StateGraph(CacheState, context_schema=AgentContext)
    graph.add_node("store", store)
    graph.add_edge(START, "store")
    graph.add_edge("store", END)
    return graph.compile(name="cache_store", checkpointer=False)


cache_lookup_graph = build_lookup()
cache_store_graph = build_store()
