"""What every route subgraph shares: its input state, its output schema, and reading the turn's message."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from langgraph.runtime import Runtime

from agent.context import AgentContext, default_context, last_user_text
from agent.planner import Plan, plan
from state import CartFact, ProductFact, Route, _keep_last_list
from tools.shop import fact
from vectorstore.query import Query


class TurnState(TypedDict, total=False):
    """The slice of the conversation a route subgraph reads."""

    messages: Annotated[list[AnyMessage], add_messages]
    products: Annotated[list[ProductFact], _keep_last_list]
    focus: ProductFact | None
    routes: list[Route]
    cart: list[CartFact]
    clause: str  # set by the orchestrator: the part of the message this subgraph answers


class TurnOutput(TypedDict, total=False):
    """What a route subgraph hands back to the main graph."""

    reply: str
    shown: list[ProductFact]
    products: Annotated[list[ProductFact], _keep_last_list]
    focus: ProductFact | None
    facts: list[Any]
    query: str
    cart: list[CartFact]


def context_of(runtime: Runtime[AgentContext] | None) -> AgentContext:
    context = getattr(runtime, "context", None)
    return context if isinstance(context, AgentContext) else default_context()


def turn_text(state: TurnState) -> str:
    """The text this subgraph answers: the orchestrator's clause, or the customer's last message."""
    return state.get("clause") or last_user_text(state.get("messages", []))


async def read_turn(state: TurnState, context: AgentContext) -> Plan:
    """Plan the turn against the products in play; categories come from the live catalogue."""
    await context.shop.catalog.ensure_fresh()
    snapshot = context.shop.catalog.index.snapshot()
    result = plan(
        turn_text(state),
        products=list(state.get("products") or []),
        focus=state.get("focus"),
        categories=snapshot.categories,
    )
    if result.variant_words and len(result.references) == 1:
        anchor = context.shop.catalog.index.items.get(int(result.references[0].get("id", 0)))
        other = await context.shop.variant(anchor, result.variant_words) if anchor else None
        if other is not None:
            result.references = [fact(other)]
    return result


def prime_vectors(context: AgentContext, text: str) -> None:
    """Embed the message and its product words in one batch; routing, cache and search then find them memoised."""
    message = " ".join(text.split())
    if not message:
        return
    words = plan(text).query
    context.shop.catalog.embedder.query_vectors([message, words] if words and words != message else [message])


def search_query(context: AgentContext, text: str, words: str) -> Query:
    """What to search: the product words of the message, for both keywords and meaning.

    The message's own embedding (shared by the router and the cache) is reused when the words are the whole
    message; otherwise the product words get their own, because "añade ... al carrito" pulls the vector away
    from the product and measurably picks the wrong version of a model.
    """
    query = Query(words or text, context.shop.catalog.embedder)
    if not words or " ".join(words.split()) == " ".join(text.split()):
        query.__dict__["vector"] = context.shop.catalog.embedder.query_vector(" ".join(text.split()))
    return query
