"""Semantic cache subgraph: look up before routing, store after answering.

The key is the standalone question (its product words, normalised) and an entity signature that must match
exactly: the products those words name, numbers and sizes, colours, budget, intents. Entries are scoped to the
catalogue's listing key and checked against the current version of every product they quote, so a price or stock
change is never answered from the cache. Turns that lean on earlier answers ("el segundo"), touch the cart or an
order, or are small talk are never cached.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any, Literal

from langchain_core.messages import AIMessage
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agent.context import AgentContext, last_user_text
from agent.lexicon import asks_policy
from agent.planner import COLOURS, plan_text
from agent.recommendations import COMPLEMENT, SIMILAR
from agent.router import CUES, intents_in
from agent.turn import TurnState, context_of, name_said, turn_vector
from state import ProductFact, Route
from tools.catalog import CatalogService
from vectorstore.cache import CacheKey
from vectorstore.text import fold, stem

CACHEABLE: set[str] = {"products", "prices", "inventory", "recommendations"}


def worth_storing(state: Mapping[str, Any]) -> bool:
    """A fresh answer to one cacheable route, about products (small talk and multi-intent turns are not)."""
    routes = state.get("routes") or []
    return (
        not _personal(state)
        and state.get("cache") == "miss"
        and len(routes) == 1
        and routes[0] in CACHEABLE
        and bool(state.get("reply"))
        and bool(state.get("query"))
    )


# An e-mail address or a phone number: a message with one is never a cache key, a reply with one never stored.
PERSONAL = re.compile(r"[^\s@]+@[^\s@]+\.\w+|(?<!\d)(?:\+?\d[ .-]?){9,15}(?!\d)")


def _personal(state: Mapping[str, Any]) -> bool:
    """Whether the reply says personal data: the checkout's details, an e-mail or a phone number."""
    reply = str(state.get("reply") or "")
    details = state.get("order_details") or {}
    said = [str(v) for k, v in details.items() if k != "delivery_method" and isinstance(v, str) and len(v) >= 3]
    return bool(PERSONAL.search(reply)) or any(v in reply for v in said)


TTL_SECONDS: dict[str, float] = {"inventory": 60.0, "prices": 600.0, "products": 3600.0, "recommendations": 3600.0}


class CacheState(TurnState, total=False):
    cache: Literal["hit", "miss", "skip"]
    cache_key: tuple[str, str]
    reply: str
    shown: list[ProductFact]
    query: str
    facts: list[Any]


COLOUR_STEMS = frozenset({stem(c) for c in (*COLOURS, "plateado", "dorada", "morada", "amarilla")})
LETTER_SIZE = re.compile(r"\btalla (xxs|xs|s|m|l|xl|xxl)\b")
#: How sure a name match must be before the products it names stand for the words in the signature.
NAMED = 0.5


@lru_cache(maxsize=4096)
def signature(text: str) -> tuple[str, str] | None:
    """(normalised question, the signature's word-level part), or None when the turn must not be cached.

    The word-level part holds what changes an answer beyond which products are meant: intents, numbers and
    sizes, colours, budget, cheapest/dearest, in stock, details, similar/complement, category. "¿Tenéis X?" and
    "¿hay stock de X?" ask the same thing, so product and stock questions share one intent here.
    """
    p = plan_text(text)
    folded = p.folded
    if p.is_reference or CUES["orders"].search(folded) or asks_policy(folded) or PERSONAL.search(text):
        return None
    intents: list[str] = sorted({i for i in intents_in(folded) if i != "orders"})
    if not intents or not p.query:
        return None
    if len(intents) > 1 and "products" in intents:
        intents.remove("products")  # "¿a cuánto tenéis el X?" is a price question
    if intents in (["products"], ["inventory"]):
        intents = ["have"]
    numbers = sorted(set(re.findall(r"\d+(?:[.,]\d+)?", folded)) | set(LETTER_SIZE.findall(folded)))
    colours = sorted({stem(w) for w in re.findall(r"\w+", folded)} & COLOUR_STEMS)
    budget = f"{p.min_price}-{p.max_price}" if p.min_price or p.max_price else ""
    flags = "".join(
        flag
        for flag, on in (
            ("c", p.cheapest),
            ("d", p.dearest),
            ("s", p.in_stock),  # "¿qué móviles tenéis en stock?" is not "¿qué móviles tenéis?"
            ("i", p.details),
            ("+", COMPLEMENT.search(folded)),
            ("~", SIMILAR.search(folded)),
            ("%", p.on_sale),  # "¿qué quesos tenéis rebajados?" is not "¿qué quesos tenéis?"
        )
        if on
    )
    # "el lanzador Nerf, ¿cuántos dardos trae?" asks about a feature: never the answer to "¿qué lanzadores hay?"
    feature = "f:" + ",".join(sorted((p.feature or {}).get("keys", []))) if p.feature else ""
    sig = "|".join([",".join(intents), ",".join(numbers), ",".join(colours), budget, flags, p.category or "", feature])
    return " ".join(fold(p.query).split()), sig


def entity_signature(catalog: CatalogService, question: str, words: str, said: Sequence[int] = ()) -> str:
    """The full signature: the products the words name (a keyword search, no embedding) plus the word-level part.

    Naming products by id is what lets "precio samsumg galaxy s24 128gb" share an answer with "¿cuánto cuesta el
    Samsung Galaxy S24 de 128 GB?", while "de 256 GB" (another number, another product) never does. Words that
    name nothing clearly keep their stems instead. A product's name said word for word (`said`: its products)
    stands for itself: "Cerveza Shandy sabor limón Steinburg" shares its words with another product's name.
    """
    if said:  # the name's own products (in the same form), so no keyword search is needed
        return ",".join(str(i) for i in sorted(said)[:3]) + f"|{words}"
    hits = catalog.index.search(catalog.query(question), limit=10, mode="keyword")
    best = max((h.name_match for h in hits), default=0.0)
    if best >= NAMED:
        named = ",".join(str(i) for i in sorted(h.item.id for h in hits if h.name_match >= best - 1e-6)[:3])
    else:
        named = "?" + ",".join(sorted({stem(w) for w in question.split()}))
    return f"{named}|{words}"


def _fresh_check(snapshot: Any) -> Callable[[Mapping[str, str]], bool]:
    """An answer is served only if every product it quotes still has the price, stock and name it had."""

    def fresh(versions: Mapping[str, str]) -> bool:
        return all(snapshot.version(int(pid)) == version for pid, version in versions.items())

    return fresh


def _versions(snapshot: Any, facts: list[ProductFact]) -> dict[str, str]:
    return {str(f["id"]): snapshot.version(int(f["id"])) for f in facts if "id" in f}


async def lookup(state: CacheState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """The cache node: serve a stored answer whose products are unchanged, or mark a miss for `store`."""
    context = context_of(runtime)
    text = last_user_text(state.get("messages", []))
    found = signature(text)
    if found is None:
        return {"cache": "skip"}
    catalog = context.shop.catalog
    await catalog.ensure_fresh()
    snapshot = catalog.index.snapshot()
    said = name_said(text, snapshot)
    cache_key = (found[0], entity_signature(catalog, *found, [i.id for i in said[1]] if said else ()))
    key = CacheKey(*cache_key, snapshot.listing_key)
    hit = await context.cache.lookup(key, lambda: turn_vector(context, text), _fresh_check(snapshot))
    if hit is None:
        return {"cache": "miss", "cache_key": cache_key}
    payload = hit.payload
    return {
        "cache": "hit",
        "cache_key": cache_key,
        "messages": [AIMessage(content=payload["reply"])],
        "reply": payload["reply"],
        "shown": payload.get("shown") or [],
        "products": payload.get("products") or [],
        "focus": payload.get("focus"),
        "routes": payload.get("routes") or [],
        "facts": payload.get("products") or [],
    }


async def store(state: CacheState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """After a fresh answer of one cacheable route: keep it with the versions of the products it quotes."""
    if not worth_storing(state):
        return {}
    routes: list[Route] = list(state.get("routes") or [])
    context = context_of(runtime)
    question, sig = state["cache_key"]
    text = last_user_text(state.get("messages", []))
    products: list[ProductFact] = list(state.get("products") or [])
    shown: list[ProductFact] = list(state.get("shown") or [])
    # The scope and versions are read now, after answering: the answer reflects this snapshot of the catalogue.
    snapshot = context.shop.catalog.index.snapshot()
    await context.cache.store(
        CacheKey(question, sig, snapshot.listing_key, routes[0]),
        {
            "reply": state["reply"],
            "shown": shown,
            "products": products,
            "focus": state.get("focus"),
            "routes": routes,
            "versions": _versions(snapshot, [*products, *shown]),
        },
        turn_vector(context, text),
        ttl=TTL_SECONDS.get(routes[0]),
    )
    return {}


def build_lookup() -> Any:
    """The lookup node as the main graph uses it (its own input and output state)."""
    graph = StateGraph(CacheState, context_schema=AgentContext)
    graph.add_node("lookup", lookup)
    graph.add_edge(START, "lookup")
    graph.add_edge("lookup", END)
    return graph.compile(name="cache_lookup", checkpointer=False)


def build_store() -> Any:
    """The store node as the main graph uses it (its own input and output state)."""
    graph = StateGraph(CacheState, context_schema=AgentContext)
    graph.add_node("store", store)
    graph.add_edge(START, "store")
    graph.add_edge("store", END)
    return graph.compile(name="cache_store", checkpointer=False)


cache_lookup_graph = build_lookup()
cache_store_graph = build_store()
