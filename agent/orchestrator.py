"""Orchestrator subgraph: one message, several intents, one merged reply.

"¿Cuánto cuesta el iPhone 15 y tenéis el Galaxy S24 en stock?" is split into clauses; each clause goes to its own
subgraph in parallel (LangGraph `Send`), and the answers are merged in the customer's order.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any

from langgraph.config import get_config
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send
from typing_extensions import TypedDict

from agent.context import AgentContext
from agent.router import INTENT_ROUTE, clause_intents
from agent.turn import TurnOutput, TurnState, answer, context_of, turn_text
from state import ProductFact
from vectorstore.text import fold


class Part(TypedDict):
    index: int
    intent: str
    reply: str
    shown: list[ProductFact]
    products: list[ProductFact]
    focus: ProductFact | None
    facts: list[Any]


class OrchestratorState(TurnState, TurnOutput, total=False):
    clauses: list[tuple[str, str]]  # (clause, intent)
    parts: Annotated[list[Part], operator.add]


class WorkerInput(TurnState, total=False):
    index: int
    intent: str


async def split(state: OrchestratorState) -> dict[str, Any]:
    clauses = clause_intents(" ".join(fold(turn_text(state)).split()))
    return {"clauses": [(clause, intent) for clause, intent in clauses] or [(turn_text(state), "products")]}


def fan_out(state: OrchestratorState) -> list[Send]:
    base = {k: state[k] for k in ("messages", "products", "focus", "routes", "cart") if k in state}
    return [
        Send("worker", {**base, "clause": clause, "index": i, "intent": intent})
        for i, (clause, intent) in enumerate(state["clauses"])
    ]


async def worker(state: WorkerInput, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    config = get_config()
    from agent.subgraphs import SUBGRAPHS  # the registry imports this module too

    intent = state["intent"]
    subgraph = SUBGRAPHS[INTENT_ROUTE.get(intent, intent)]
    result = await subgraph.ainvoke(dict(state), config, context=context_of(runtime))
    part: Part = {
        "index": state["index"],
        "intent": intent,
        "reply": result.get("reply", ""),
        "shown": result.get("shown") or [],
        "products": result.get("products") or [],
        "focus": result.get("focus"),
        "facts": result.get("facts") or [],
    }
    return {"parts": [part]}


async def merge(state: OrchestratorState) -> dict[str, Any]:
    parts = sorted(state.get("parts", []), key=lambda p: p["index"])
    products: list[ProductFact] = []
    seen: set[int] = set()
    for part in parts:
        for product in part["products"]:
            if product.get("id") not in seen:
                seen.add(product.get("id", -1))
                products.append(product)
    focus = next((p["focus"] for p in reversed(parts) if p["focus"]), state.get("focus"))
    return answer(
        "\n\n".join(p["reply"] for p in parts if p["reply"]),
        shown=[s for p in parts for s in p["shown"]],
        products=products,
        focus=focus,
        facts=[f for p in parts for f in p["facts"]],
        query="",  # multi-intent turns are not cached
    )


def build() -> Any:
    graph = StateGraph(OrchestratorState, context_schema=AgentContext, input_schema=TurnState, output_schema=TurnOutput)
    graph.add_node("split", split)
    graph.add_node("worker", worker)
    graph.add_node("merge", merge)
    graph.add_edge(START, "split")
    graph.add_conditional_edges("split", fan_out, ["worker"])
    graph.add_edge("worker", "merge")
    graph.add_edge("merge", END)
    return graph.compile(name="orchestrator", checkpointer=False)


orchestrator_graph = build()
