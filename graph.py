"""The sales agent's graph, top to bottom.

START ─(cacheable question)→ cache lookup ─hit──────────────────────────────────────────→ END
  │                                      └miss→ router → <route subgraph> ─(cacheable)→ cache store → END
  └─(references, cart, small talk)─────────────→ router → <route subgraph> → END

With an LLM configured, the assistant (agent/assistant.py) comes first where the router would: the model reads
the turn and calls the shop's tools itself; its checked answer ends the turn, "place the order" goes to the orders
subgraph for the customer's confirmation, and when the model fails the router and the offline subgraphs answer:

START ─(cacheable)→ cache lookup ─miss→ assistant ─answered→ END
  │                                       ├─checkout→ orders (confirmation) → END
  └─(not cacheable)→ assistant            └─fallback→ router → <route subgraph> → END

The router picks one of the route subgraphs (products, prices, recommendations, inventory, conversation, orders,
or the orchestrator for multi-intent turns); each is its own compiled graph in `agent/`. Facts come only from
tools; each subgraph (or the cache, on a hit) appends its answer to the conversation.
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send

from agent import checkout, order_questions
from agent.assistant import assistant_graph
from agent.cache import cache_lookup_graph, cache_store_graph, signature, worth_storing
from agent.context import AgentContext, last_user_text
from agent.conversation import policy_follow_up
from agent.language import folded_words
from agent.lexicon import asks_policy
from agent.llm import resolve_provider
from agent.orchestrator import orchestrator_graph
from agent.orders import accepts, open_offer
from agent.planner import find_category, plan_text
from agent.products import asks_of_focus
from agent.subgraphs import SUBGRAPHS
from agent.turn import context_of
from settings import get_settings
from state import AgentState, InputState, Route

# --------------------------------------------------------------------------- nodes


async def route(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Tiered routing; the embedding of the message is only computed when the rules abstain."""
    context = context_of(runtime)
    text = last_user_text(state.get("messages", []))
    offer = open_offer(state)
    if offer and accepts(text, offer):  # "sí" to "¿te pongo las 3 que quedan?" or to "¿tramito el pedido?"
        return {"routes": ["orders"], "cache": "skip"}
    if to_orders_first(state, text):  # a checkout detail ("Calle Mayor 5"), or "¿dónde está mi pedido?"
        return {"routes": ["orders"], "cache": "skip"}
    if policy_follow_up(state.get("messages", []), text):  # "¿y si vivo en Mallorca?" after asking the shipping
        return {"routes": ["conversation"], "cache": "skip"}
    catalog = context.shop.catalog
    await catalog.ensure_fresh()
    snapshot = catalog.index.snapshot()
    sku_hit = bool(catalog.index.sku_rows_in(text))

    def catalogue_match() -> bool:
        # "Matches the catalogue" means most of the words name something sold (typos allowed through
        # trigrams), not one stray word in a description.
        words = plan_text(text).query
        query = catalog.query(words)
        named = bool(words) and (
            snapshot.best_name_coverage(query) >= 0.5 or snapshot.best_trigram_coverage(query) >= 0.6
        )  # or a kind of product the shop files ("tablets", "reloj inteligente")
        return named or find_category(folded_words(text), snapshot.categories, loose=True) is not None

    def message_vector() -> Any:
        return catalog.embedder.query_vector(" ".join(text.split())) if text.strip() else None

    # Both are only computed when the rules abstain (most turns never embed the whole message).
    decision = await context.router.decide(
        text,
        vector=message_vector,
        previous=state.get("routes"),
        sku_hit=sku_hit,
        catalogue_match=catalogue_match,
        attribute_keys=snapshot.attribute_keys,
    )
    route = decision.route
    about_focus = route in ("conversation", "inventory") and bool(state.get("focus"))
    if about_focus and not asks_policy(folded_words(text)) and asks_of_focus(plan_text(text), snapshot):
        route = "products"  # "¿de dónde es?", "¿y cuánto pesan?": about the product in focus
    # A turn that bypassed the cache says so (the previous turn's "hit"/"miss" must not linger).
    skipped = signature(text) is None
    return {"routes": [route], **({"cache": "skip"} if skipped else {})}


def to_orders_first(state: AgentState, text: str) -> bool:
    """Answers to the checkout's questions, and questions about placed orders, go to orders before any rule."""
    return checkout.answers(text, state) or order_questions.asks(folded_words(text)) is not None


# --------------------------------------------------------------------------- wiring


def entry(state: AgentState) -> Literal["cache_lookup", "router"]:
    """Only questions the cache could answer go through it (no references, no cart, no small talk)."""
    text = last_user_text(state.get("messages", []))
    return "cache_lookup" if signature(text) and not to_orders_first(state, text) else "router"


def after_cache(state: AgentState) -> Literal["__end__", "router"]:
    """A cache hit is the answer: routing, subgraphs and storing are skipped."""
    return "__end__" if state.get("cache") == "hit" else "router"


def entry_with_llm(state: AgentState) -> Literal["cache_lookup", "assistant", "router"]:
    """Like `entry`, but the assistant reads what the cache does not answer; "sí" to an open offer stays exact."""
    text = last_user_text(state.get("messages", []))
    offer = open_offer(state)
    if (offer and accepts(text, offer)) or to_orders_first(state, text):
        return "router"  # the exact paths: the model does not read checkout details
    return "cache_lookup" if signature(text) else "assistant"


def after_cache_with_llm(state: AgentState) -> Literal["__end__", "assistant"]:
    """A cache hit is the answer; a miss goes to the assistant."""
    return "__end__" if state.get("cache") == "hit" else "assistant"


TURN_KEYS = ("messages", "products", "focus", "seen", "routes", "cart", "topic", "offer", "order_details")


def after_assistant(state: AgentState) -> Literal["__end__", "router"] | Send:
    """The model's answer ends the turn; a checkout asks the customer through the orders subgraph; else the rules."""
    outcome = state.get("outcome")
    if outcome == "answered":
        return "__end__"
    if outcome == "checkout":
        return Send("orders", {**{k: state[k] for k in TURN_KEYS if k in state}, "checkout": True})  # type: ignore[literal-required]
    return "router"


def after_answer(state: AgentState) -> Literal["cache_store", "__end__"]:
    """Only a fresh answer to a cacheable single-route question is worth storing (it saves a step otherwise)."""
    return "cache_store" if worth_storing(state) else "__end__"


def pick_route(state: AgentState) -> Route:
    """The subgraph the router chose."""
    routes = state.get("routes") or ["conversation"]
    return routes[0]


def build(*, assistant: bool = False) -> StateGraph[AgentState, AgentContext, InputState, AgentState]:
    """Nodes and edges; `compile()` adds the checkpointer. `assistant`: an LLM reads the turns first."""
    graph = StateGraph(AgentState, context_schema=AgentContext, input_schema=InputState)
    graph.add_node("cache_lookup", cache_lookup_graph)
    graph.add_node("router", route)
    for name, subgraph in SUBGRAPHS.items():
        graph.add_node(name, subgraph)
    graph.add_node("orchestrator", orchestrator_graph)
    graph.add_node("cache_store", cache_store_graph)

    if assistant:
        graph.add_node("assistant", assistant_graph)
        graph.add_conditional_edges(START, entry_with_llm)
        graph.add_conditional_edges("cache_lookup", after_cache_with_llm)
        graph.add_conditional_edges("assistant", after_assistant, ["__end__", "router", "orders"])
    else:
        graph.add_conditional_edges(START, entry)
        graph.add_conditional_edges("cache_lookup", after_cache)
    graph.add_conditional_edges("router", pick_route, [*SUBGRAPHS, "orchestrator"])
    for name in [*SUBGRAPHS, "orchestrator"]:
        graph.add_conditional_edges(name, after_answer)
    graph.add_edge("cache_store", END)
    return graph


def compile(checkpointer: BaseCheckpointSaver[Any] | None = None, *, assistant: bool = False) -> Any:
    """The runnable agent; pass a checkpointer for memory across turns (the server does).

    `assistant=True` when the context has an LLM.
    """
    return build(assistant=assistant).compile(checkpointer=checkpointer, name="agente_vendedor")


# LangGraph Studio (`langgraph dev`, langgraph.json) loads this; the platform brings its own persistence.
graph = compile(assistant=resolve_provider(get_settings()) != "offline" and get_settings().llm_mode == "agent")
