"""The LLM as the agent's mind: with a model configured, it reads the turn and calls the shop's tools itself.

    START → think ⇄ act → settle → END

- think: the model gets the rules, the dialogue state (products in play with their ids, the product in focus, the
  cart, all read from the shop now) and the recent conversation, and answers or calls tools through native function
  calling (Gemini `functionCall` parts, OpenAI `tool_calls`), at most `MAX_ROUNDS` rounds.
- act: runs the calls (`agent.tool_calls`); invented arguments come back as {"error": ...} for the model to read.
- settle: the reply goes out only if every price and count in it came from the shop this turn (the tools' results
  or the dialogue state) and it passes `agent.respond.reply_problem`. Otherwise — or when the model fails, times
  out, answers garbage or keeps calling tools — `outcome` is "fallback" and the offline path answers the turn
  (router → subgraph), as if no model were configured. A turn in which the model already changed the cart never
  goes back to the rules (they would change it twice): it gets the cart's own offline reply instead.
- place_order is not run here: `outcome` "checkout" sends the turn to the orders subgraph, whose interrupt asks
  the customer to confirm. The model never confirms an order.
"""

from __future__ import annotations

import json
import logging
import operator
from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from langgraph.config import get_config
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from agent import composer
from agent.context import AgentContext
from agent.language import amounts_in, euros
from agent.llm import message_text
from agent.llm_retry import invoke_llm, llm_turn
from agent.prompts import SYSTEM_PROMPT, TOOL_RULES
from agent.respond import allowed_figures, recent_history, reply_problem
from agent.streaming import FigureGate, stream_llm
from agent.tool_calls import run_tool_calls
from agent.turn import TurnOutput, TurnState, context_of
from state import ProductFact, Route
from tools.facts import cart_facts, fact
from tools.shop import thread_id_of

log = logging.getLogger(__name__)

MAX_ROUNDS = 4  # model calls that may ask for tools; the next must answer
STATE_PRODUCTS = 10  # products in play described to the model
CHECKOUT_TOOL = "place_order"
CART_TOOLS = frozenset({"add_to_cart", "remove_from_cart"})
TOOL_ROUTE: dict[str, Route] = {
    "search_products": "products",
    "product_details": "products",
    "compare_prices": "prices",
    "check_stock": "inventory",
    "recommend_products": "recommendations",
    "add_to_cart": "orders",
    "remove_from_cart": "orders",
    "show_cart": "orders",
    "store_policies": "conversation",
}

Outcome = Literal["answered", "checkout", "fallback"]


class AssistantState(TurnState, total=False):
    """The turn's own exchange with the model, apart from the conversation's messages."""

    scratch: Annotated[list[BaseMessage], operator.add]  # the model's answers and the tools' messages
    results: Annotated[list[Any], operator.add]  # what the tools returned (parsed JSON)
    used: Annotated[list[str], operator.add]  # tools that answered without an error, in order
    changed_cart: bool
    rounds: int
    outcome: Outcome
    brief: str  # the system message: rules and dialogue state


class AssistantOutput(TurnOutput, total=False):
    """What the main graph gets: the answer (when there is one) and which way the turn goes on."""

    outcome: Outcome
    routes: list[Route]
    cache: Literal["skip"]


# --------------------------------------------------------------------------- nodes


async def think(state: AssistantState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """One model call: an answer, or tool calls. Any failure gives the turn back to the offline path."""
    config = get_config()
    context = context_of(runtime)
    assert context.llm is not None
    update: dict[str, Any] = {"rounds": state.get("rounds", 0) + 1}
    brief = state.get("brief") or await _brief(state, context, config)
    update["brief"] = brief
    with llm_turn(timeout=context.llm_timeout) as turn:
        history = recent_history(list(state.get("messages") or []), turn.history_tokens)
        convo = [SystemMessage(brief), *history, *(state.get("scratch") or [])]
        try:
            if turn.sink is None:
                answer = await invoke_llm(context.llm_with_tools, convo, config)
            else:  # streamed to the customer sentence by sentence, each checked (agent.streaming)
                turn.sink.round_start = len(turn.sink.released)
                money, counts = _allowed(state, brief)
                answer = await stream_llm(context.llm_with_tools, convo, config, FigureGate(turn.sink, money, counts))
        except Exception as exc:  # timeout, 4xx/5xx after retries, malformed body: the rules answer
            log.warning("assistant: the model failed (%s); answering offline", type(exc).__name__)
            turn.gave_up = True
            return {**update, "outcome": "fallback"}
        if not isinstance(answer, AIMessage):
            turn.gave_up = True
            return {**update, "outcome": "fallback"}
    return {**update, "scratch": [answer]}


async def act(state: AssistantState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Run the tools the model asked for; place_order ends the loop for the customer's confirmation."""
    config = get_config()
    context = context_of(runtime)
    last = state["scratch"][-1]
    assert isinstance(last, AIMessage)
    if any(call["name"] == CHECKOUT_TOOL for call in last.tool_calls):
        return {"outcome": "checkout"}
    runs = await run_tool_calls(_tools(context), last.tool_calls, config)
    good = [run for run in runs if not run.failed]
    return {
        "scratch": [run.message for run in runs],
        "results": [run.result for run in good],
        "used": [run.name for run in good],
        "changed_cart": state.get("changed_cart", False) or any(run.name in CART_TOOLS for run in good),
    }


async def settle(state: AssistantState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """The checked reply and the dialogue state it leaves; or the way on (checkout, fallback)."""
    config = get_config()
    outcome = state.get("outcome")
    if outcome == "checkout":
        return {"outcome": "checkout", "routes": ["orders"], "cache": "skip"}
    context = context_of(runtime)
    last = _last(state)
    kept_calling = isinstance(last, AIMessage) and bool(last.tool_calls)  # out of rounds
    text = "" if outcome == "fallback" or kept_calling or last is None else message_text(last)
    if text:
        problem = reply_problem(text, *_allowed(state, state.get("brief") or ""))
        if problem:
            log.info("assistant: reply refused (%s)", problem)
            text = ""
        else:
            text = _stream_rest(text)
    if not text and not state.get("changed_cart"):
        with llm_turn(timeout=context.llm_timeout) as turn:
            turn.gave_up = True
        return {"outcome": "fallback", "cache": "skip"}
    if not text:  # the cart changed: say what it holds now, never run the rules on the same words again
        cart = await context.shop.cart(thread_id_of(config))
        text = composer.cart(cart_facts(cart), cart.total)
    return _answered(state, text)


def _stream_rest(text: str) -> str:
    """For a streaming caller, send what the gate held back of a reply that passed; the reply as the customer saw it."""
    with llm_turn() as turn:
        sink = turn.sink
        if sink is None:
            return text
        this_round = sink.released[sink.round_start :]
        if not text.startswith(this_round):  # cannot happen: the gate releases the text's own beginning
            return sink.released
        sink.release(text[len(this_round) :])
        return sink.released


def _answered(state: AssistantState, text: str) -> dict[str, Any]:
    """The main graph's update for an answered turn: reply, route, products in play, focus and cart."""
    results = list(state.get("results") or [])
    lists = [r for r in results if isinstance(r, list) and r]
    singles = [_single(r) for r in results if isinstance(r, dict)]
    singles = [s for s in singles if s]
    carts = [r for r in results if isinstance(r, dict) and "cart" in r]
    update: dict[str, Any] = {
        "outcome": "answered",
        "reply": text,
        "messages": [AIMessage(content=text)],
        "routes": [_route(state.get("used") or [])],
        "facts": results,
        "query": "",
        "offer": None,
        "cache": "skip",
    }
    shown = lists[-1] if lists else singles[-1:]
    if shown:
        update["shown"] = shown
        update["seen"] = shown
    if lists and len(lists[-1]) > 1:
        update["products"] = lists[-1]
    if singles:
        update["focus"] = singles[-1]
    elif lists and len(lists[-1]) == 1:
        update["focus"] = lists[-1][0]
    if carts:
        update["cart"] = carts[-1]["cart"]
    return update


def _last(state: AssistantState) -> BaseMessage | None:
    scratch = state.get("scratch") or []
    return scratch[-1] if scratch else None


def _single(result: dict[str, Any]) -> ProductFact | None:
    """The one product a tool result is about: a product sheet, a stock report, a cart change."""
    if "price" in result and "name" in result:
        return result  # type: ignore[return-value]
    for key in ("product", "added", "removed"):
        inner = result.get(key)
        if isinstance(inner, dict) and "price" in inner:
            return inner  # type: ignore[return-value]
    return None


def _route(used: list[str]) -> Route:
    """The route the turn amounts to, for the record and /chat: the last tool's, or conversation."""
    return TOOL_ROUTE.get(used[-1], "conversation") if used else "conversation"


# --------------------------------------------------------------------------- what the model is told


async def _brief(state: AssistantState, context: AgentContext, config: RunnableConfig) -> str:
    """The rules and the dialogue state, with prices and stock read from the shop now."""
    lines = [SYSTEM_PROMPT, TOOL_RULES, "", "Estado de la conversación (datos de la tienda ahora mismo):"]
    products = _fresh(context, list(state.get("products") or [])[:STATE_PRODUCTS])
    if products:
        lines.append("Productos de la última lista, en su orden:")
        lines += [f"{i}. {_product_line(p)}" for i, p in enumerate(products, 1)]
    focus = _fresh(context, [state["focus"]]) if state.get("focus") else []
    if focus:
        lines.append(f"Producto del que se habla: {_product_line(focus[0])}")
    cart = await context.shop.cart(thread_id_of(config))
    if cart.items:
        lines.append("Carrito:")
        lines += [f"- {line['quantity']} × {line['name']} (id {line['product_id']}) = {euros(Decimal(line['line_total']))}"
                  for line in cart_facts(cart)]  # fmt: skip
        lines.append(f"Total del carrito: {euros(cart.total)}")
    else:
        lines.append("Carrito: vacío.")
    if not products and not focus:
        lines.append("Todavía no se ha mostrado ningún producto.")
    return "\n".join(lines)


def _fresh(context: AgentContext, products: Sequence[ProductFact | None]) -> list[ProductFact]:
    """The products as the catalogue has them now (a price may have changed since they were shown)."""
    items = context.shop.catalog.index.items
    return [fact(items[p["id"]]) for p in products if p and p.get("id") in items]


def _product_line(p: ProductFact) -> str:
    stock = f"{p.get('stock', 0)} en stock" if p.get("stock") else "agotado"
    sale = f" (antes {euros(Decimal(p['regular_price']))})" if p.get("regular_price") else ""
    return f"id {p.get('id')} · {p.get('name')} · {euros(Decimal(p.get('price') or '0'))}{sale} · {stock}"


def _in_play(state: AssistantState) -> list[Any]:
    """Facts the reply may quote besides this turn's tool results: the dialogue state the model was shown."""
    return [state.get("products") or [], state.get("focus") or {}, {"cart": state.get("cart") or []}]


def _allowed(state: AssistantState, brief: str) -> tuple[set[Decimal], set[int]]:
    """The money and unit counts a reply may quote this turn."""
    return allowed_figures([_in_play(state), *(state.get("results") or [])], _quoted_money(state, brief))


def _quoted_money(state: AssistantState, brief: str) -> set[Decimal]:
    """Amounts written in the texts the tools returned (the policies' shipping rates) and in the brief."""
    money: set[Decimal] = set()
    for result in state.get("results") or []:
        if isinstance(result, dict) and "passages" in result:
            money |= {a.quantize(Decimal("0.01")) for a in amounts_in(json.dumps(result, ensure_ascii=False))}
    money |= {a.quantize(Decimal("0.01")) for a in amounts_in(brief)}
    return money


# --------------------------------------------------------------------------- the model and its tools


def _tools(context: AgentContext) -> dict[str, BaseTool]:
    return {t.name: t for t in context.tools}


# --------------------------------------------------------------------------- wiring


def after_think(state: AssistantState) -> Literal["act", "settle"]:
    """Tools while the model asks for them and rounds are left; otherwise settle what there is."""
    if state.get("outcome") == "fallback":
        return "settle"
    last = _last(state)
    if isinstance(last, AIMessage) and last.tool_calls:
        return "act" if state.get("rounds", 0) <= MAX_ROUNDS else "settle"
    return "settle"


def after_act(state: AssistantState) -> Literal["think", "settle"]:
    """Back to the model with the results, unless it asked to place the order."""
    return "settle" if state.get("outcome") == "checkout" else "think"


def build() -> Any:
    """The assistant subgraph (no checkpointer of its own: a turn's exchange with the model is not kept)."""
    graph = StateGraph(
        AssistantState, context_schema=AgentContext, input_schema=TurnState, output_schema=AssistantOutput
    )
    graph.add_node("think", think)
    graph.add_node("act", act)
    graph.add_node("settle", settle)
    graph.add_edge(START, "think")
    graph.add_conditional_edges("think", after_think)
    graph.add_conditional_edges("act", after_act)
    graph.add_edge("settle", END)
    return graph.compile(name="assistant", checkpointer=False)


assistant_graph = build()
