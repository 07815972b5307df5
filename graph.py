"""The sales agent's graph, top to bottom.

START → cache lookup ─hit─────────────────────────────┐
                    └miss/skip→ router → <route subgraph> → reply → cache store → END

The router picks one of the route subgraphs (products, prices, recommendations, inventory, conversation, orders,
or the orchestrator for multi-intent turns); each is its own compiled graph in `agent/`. Facts come only from
tools; the reply node appends the answer to the conversation.
"""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.messages import AIMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agent.cache import cache_lookup_graph, cache_store_graph
from agent.context import AgentContext, last_user_text
from agent.orchestrator import orchestrator_graph
from agent.planner import clean_query
from agent.subgraphs import SUBGRAPHS
from agent.turn import context_of
from state import AgentState, InputState, Route
from vectorstore.text import fold

# --------------------------------------------------------------------------- nodes


async def route(state: AgentState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Tiered routing; the message's embedding is computed once and shared with the cache and search."""
    context = context_of(runtime)
    text = last_user_text(state.get("messages", []))
    catalog = context.shop.catalog
    await catalog.ensure_fresh()
    snapshot = catalog.index.snapshot()
    tokens = [t.strip("¿?¡!.,;:()\"'").upper() for t in text.split()]
    sku_hit = any(t in snapshot.sku_rows for t in tokens)
    words = clean_query(" ".join(fold(text).split()))
    # "Matches the catalogue" means most of the words name something sold (typos allowed through trigrams),
    # not one stray word in a description.
    query = catalog.query(words)
    catalogue_match = bool(words) and (
        float(snapshot.name_index.coverage(query.stems).max()) >= 0.5
        or float(snapshot.trigram_index.coverage(query.trigrams).max()) >= 0.6
    )
    decision = await context.router.decide(
        text,
        vector=catalog.embedder.query_vector(" ".join(text.split())) if text.strip() else None,
        previous=state.get("routes"),
        sku_hit=sku_hit,
        catalogue_match=catalogue_match,
    )
    return {"routes": [decision.route]}


async def reply(state: AgentState) -> dict[str, Any]:
    """Append the turn's answer to the conversation."""
    text = state.get("reply") or "Perdona, no he podido responder. ¿Puedes repetirlo de otra forma?"
    return {"messages": [AIMessage(content=text)]}


# --------------------------------------------------------------------------- wiring


def after_cache(state: AgentState) -> Literal["reply", "router"]:
    """A cache hit skips routing and the subgraphs."""
    return "reply" if state.get("cache") == "hit" else "router"


def pick_route(state: AgentState) -> Route:
    """The subgraph the router chose."""
    routes = state.get("routes") or ["conversation"]
    return routes[0]


def build() -> StateGraph[AgentState, AgentContext, InputState, AgentState]:
    """Nodes and edges; `compile()` adds the checkpointer."""
    graph = StateGraph(AgentState, context_schema=AgentContext, input_schema=InputState)
    graph.add_node("cache_lookup", cache_lookup_graph)
    graph.add_node("router", route)
    for name, subgraph in SUBGRAPHS.items():
        graph.add_node(name, subgraph)
    graph.add_node("orchestrator", orchestrator_graph)
    graph.add_node("reply", reply)
    graph.add_node("cache_store", cache_store_graph)

    graph.add_edge(START, "cache_lookup")
    graph.add_conditional_edges("cache_lookup", after_cache)
    graph.add_conditional_edges("router", pick_route, [*SUBGRAPHS, "orchestrator"])
    for name in [*SUBGRAPHS, "orchestrator"]:
        graph.add_edge(name, "reply")
    graph.add_edge("reply", "cache_store")
    graph.add_edge("cache_store", END)
    return graph


def compile(checkpointer: BaseCheckpointSaver[Any] | None = None) -> Any:
    """The runnable agent; pass a checkpointer for memory across turns (the server does)."""
    return build().compile(checkpointer=checkpointer, name="agente_vendedor")


# LangGraph Studio (`langgraph dev`, langgraph.json) loads this; the platform brings its own persistence.
graph = compile()
