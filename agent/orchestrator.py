"""Orchestrator subgraph: one message, several intents, one merged reply.

"¿Cuánto cuesta el iPhone 15 y tenéis el Galaxy S24 en stock?" is split into clauses; each clause goes to its own
subgraph in parallel (LangGraph `Send`), and the answers are merged in the customer's order. A clause that leans on
the one before it ("¿Y el normal cuánto cuesta? ¿Lo hay en blanco?", "… ¿Trae cargador?") is answered after it, in
the same worker, about what that one showed.
"""

from __future__ import annotations

import operator
import re
from typing import Annotated, Any

from langgraph.config import get_config
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Send
from typing_extensions import TypedDict

from agent.context import AgentContext
from agent.features import feature_of, leftover_words
from agent.router import INTENT_ROUTE, clause_intents
from agent.subgraphs import SUBGRAPHS
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
    refines: bool  # about what the part before it showed: its products replace that part's
    topic: dict[str, Any] | None


class OrchestratorState(TurnState, TurnOutput, total=False):
    clauses: list[tuple[str, str]]  # (clause, intent)
    parts: Annotated[list[Part], operator.add]


class WorkerInput(TurnState, total=False):
    chain: list[tuple[int, str, str]]  # (index, clause, intent) answered in order, each about what the last showed


# "¿lo hay en blanco?", "¿cuál de esos…?", "y ese…": the clause is about what the clause before it showed
_LEANS = re.compile(
    r"^(?:y\s+)?(?:lo|la|los|las|le|les)\s|\b(?:ese|esa|esos|esas|este|esta|estos|estas|eso|esto|aquel|aquella)\b"
)


def leans_on_previous(clause: str) -> bool:
    """Whether a clause has no product of its own: a pronoun, or a feature question with nothing else."""
    clause = clause.strip(" ¿?¡!.,")
    if _LEANS.search(clause):
        return True
    feature = feature_of(clause)
    return feature is not None and not leftover_words(" ".join(re.findall(r"\w+", clause)), feature)


def chains(clauses: list[tuple[str, str]]) -> list[list[tuple[int, str, str]]]:
    """Clauses grouped so that one leaning on the previous runs after it; groups run in parallel."""
    out: list[list[tuple[int, str, str]]] = []
    for i, (clause, intent) in enumerate(clauses):
        if out and leans_on_previous(clause):
            out[-1].append((i, clause, intent))
        else:
            out.append([(i, clause, intent)])
    return out


async def split(state: OrchestratorState) -> dict[str, Any]:
    """The orchestrator's first node: cut a multi-intent message into one clause per route."""
    clauses = clause_intents(" ".join(fold(turn_text(state)).split()))
    return {"clauses": [(clause, intent) for clause, intent in clauses] or [(turn_text(state), "products")]}


def fan_out(state: OrchestratorState) -> list[Send]:
    """One worker per clause, run in parallel (LangGraph Send)."""
    base = {k: state[k] for k in ("messages", "products", "focus", "routes", "cart", "topic", "seen") if k in state}
    return [Send("worker", {**base, "chain": chain}) for chain in chains(state["clauses"])]


async def worker(state: WorkerInput, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Answer one clause with its route's subgraph."""
    config = get_config()
    current: dict[str, Any] = {k: v for k, v in state.items() if k != "chain"}
    parts: list[Part] = []
    for position, (index, clause, intent) in enumerate(state["chain"]):
        subgraph = SUBGRAPHS[INTENT_ROUTE.get(intent, intent)]
        result = await subgraph.ainvoke({**current, "clause": clause}, config, context=context_of(runtime))
        part: Part = {
            "index": index,
            "intent": intent,
            "reply": result.get("reply", ""),
            "shown": result.get("shown") or [],
            "products": result.get("products") or [],
            "focus": result.get("focus"),
            "facts": result.get("facts") or [],
            "refines": position > 0,
            "topic": result.get("topic"),
        }
        parts.append(part)
        if part["products"]:
            current["products"] = part["products"]
        if part["focus"]:
            current["focus"] = part["focus"]
        if part["topic"]:
            current["topic"] = part["topic"]
    return {"parts": parts}


async def merge(state: OrchestratorState) -> dict[str, Any]:
    """Join the clauses' answers into one reply, in the order the customer asked."""
    parts = sorted(state.get("parts", []), key=lambda p: p["index"])
    lists = [p["products"] for p in parts]
    for i, part in enumerate(parts):
        if part["refines"] and part["products"] and i:
            lists[i - 1] = []  # "¿lo hay en blanco?" narrowed the versions listed before it
    products: list[ProductFact] = []
    seen: set[int] = set()
    for listed in lists:
        for product in listed:
            if product.get("id") not in seen:
                seen.add(product.get("id", -1))
                products.append(product)
    focus = state.get("focus")
    for part in reversed(parts):  # the last part that showed something decides; a new list has no focus
        if part["focus"] or part["products"]:
            focus = part["focus"]
            break
    return answer(
        "\n\n".join(p["reply"] for p in parts if p["reply"]),
        shown=[s for p in parts for s in p["shown"]],
        products=products,
        focus=focus,
        facts=[f for p in parts for f in p["facts"]],
        query="",  # multi-intent turns are not cached
        **({"topic": topic} if (topic := next((p["topic"] for p in reversed(parts) if p["topic"]), None)) else {}),
    )


def build() -> Any:
    """The orchestrator subgraph: split, answer each clause, merge."""
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
