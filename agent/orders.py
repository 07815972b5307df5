"""Orders subgraph: the cart of this conversation, and checkout with an explicit confirmation.

Checkout shows the cart and its total and stops the graph with a LangGraph `interrupt`; it resumes only with the
customer's answer, and places the order only on a clear yes. The order is written, and stock decremented, in one
transaction (data.orders.place_order), at the total the customer saw.
"""

from __future__ import annotations

import contextlib
import re
from decimal import Decimal
from typing import Any, Literal

from langgraph.config import get_config
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agent import composer
from agent.context import AgentContext, turn_seed
from agent.planner import Plan
from agent.respond import respond
from agent.turn import TurnOutput, TurnState, answer, context_of, read_turn, search_query, turn_text
from state import CartFact, ProductFact
from tools.shop import ToolError, cart_facts, fact, thread_id_of
from vectorstore.text import fold

Action = Literal["add", "remove", "show", "checkout", "clear"]

CHECKOUT = re.compile(
    r"\b(?:hacer|realizar|confirmar|tramitar|finalizar|cerrar|terminar) (?:el |mi |la )?(?:pedido|compra)\b|"
    r"\bconfirm(?:a|o) (?:el |mi )?pedido\b|\bpagar\b|\bcheckout\b|\bquiero pedir(?:lo)?$|\b/pedido\b|\bcompra(?:r)? ya\b"
)
REMOVE = re.compile(r"\b(?:quit|elimin|sac|borr|retir)\w*\b")
ADD = re.compile(r"\b(?:anad|agreg|met|pon|ech|inclu)\w*\b")
CLEAR = re.compile(r"\bvacia(?:r)? (?:el |mi )?carrito\b|\bborra(?:r)? (?:todo|el carrito)\b")
SHOW = re.compile(r"\b(?:que (?:tengo|hay|llevo) en|ver|ensename|muestrame|mi|el) (?:el |mi )?(?:carrito|cesta)\b|"
                  r"\b/carrito\b|^carrito$|\bcuanto (?:llevo|es el total|suma)\b")  # fmt: skip
YES = re.compile(r"^(?:si|sip|vale|ok|okay|okey|confirmo|confirmado|de acuerdo|adelante|claro|venga|dale|perfecto|"
                 r"correcto|hazlo|si,? (?:confirmo|por favor|adelante|claro|hazlo)|por supuesto|afirmativo)\b")  # fmt: skip
NO = re.compile(r"^(?:no|nop|cancela|cancelar|espera|todavia no|aun no|mejor no|dejalo|ahora no|para)\b")


def answer_kind(text: str) -> Literal["yes", "no", "other"]:
    """Whether the answer is a clear yes, a no, or something else (a new question)."""
    folded = " ".join(re.sub(r"[¿?¡!.,]", " ", fold(text)).split())
    if YES.search(folded) and not re.search(r"\bno\b", folded):
        return "yes"
    if NO.search(folded):
        return "no"
    return "other"


class OrdersState(TurnState, TurnOutput, total=False):
    plan: dict[str, Any]  # Plan.dump()
    action: Action
    item: ProductFact | None
    error: str
    lines: list[CartFact]
    total: str
    order_id: int
    placed_units: int
    cancelled: bool


def action_of(p: Plan) -> Action:
    if CLEAR.search(p.folded):
        return "clear"
    if CHECKOUT.search(p.folded):
        return "checkout"
    if REMOVE.search(p.folded):
        return "remove"
    if (p.query or p.references) and ADD.search(p.folded):
        return "add"  # "méteme 5 ... en el carrito" adds, though it names the cart
    if SHOW.search(p.folded) or not (p.query or p.references):
        return "show"
    return "add"


async def understand(state: OrdersState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    p = await read_turn(state, context_of(runtime))
    return {"plan": p.dump(), "action": action_of(p)}


async def act(state: OrdersState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    config = get_config()
    context = context_of(runtime)
    shop = context.shop
    p = Plan.load(state["plan"])
    thread_id = thread_id_of(config)
    action = state["action"]
    ref: Any = None
    try:
        if action == "add":
            ref = p.references[0]["id"] if p.references else None
            if ref is None:
                match = await shop.best_match(search_query(context, turn_text(state), p.query)) if p.query else None
                if match is None:
                    raise ToolError(
                        f"No encuentro «{p.query}» en el catálogo. Dime el nombre del producto o elige uno de la lista."
                        if p.query
                        else "¿Qué producto quieres añadir? Dime su nombre o elige uno de la lista."
                    )
                ref = match.id
            item, cart = await shop.add_to_cart(thread_id, ref, p.quantity)
            return {"item": fact(item), "lines": cart_facts(cart), "total": str(cart.total)}
        if action == "remove":
            target: Any = p.references[0]["id"] if p.references else (p.query or "")
            item, cart = await shop.remove_from_cart(thread_id, target, None if p.quantity == 1 else p.quantity)
            return {"item": fact(item), "lines": cart_facts(cart), "total": str(cart.total)}
        if action == "clear":
            cart = await shop.cart(thread_id)
            for line in cart.items:
                _, cart = await shop.remove_from_cart(thread_id, line.product_id)
            return {"lines": [], "total": "0.00"}
        cart = await shop.cart(thread_id)
        return {"lines": cart_facts(cart), "total": str(cart.total)}
    except ToolError as exc:
        out: dict[str, Any] = {"error": str(exc)}
        if action == "add" and ref is not None:
            # "solo quedan 2 y has pedido 5": the product stays in focus, so "pon los 2 que quedan" finds it
            with contextlib.suppress(ToolError):
                out["focus"] = fact(await shop.resolve(ref))
        return out


async def confirm(state: OrdersState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    config = get_config()
    """Ask, stop, and go on only with the customer's answer (LangGraph interrupt)."""
    lines, total = state.get("lines", []), state.get("total", "0.00")
    if not lines:
        return {"error": "Tu carrito está vacío: añade algo antes de hacer el pedido."}
    answer = interrupt({"question": composer.confirm_question(lines, total), "total": total})
    if answer_kind(str(answer)) != "yes":
        return {"cancelled": True}
    try:
        order, placed = await context_of(runtime).shop.place_order(thread_id_of(config), Decimal(total))
    except ToolError as exc:
        return {"error": str(exc)}
    return {"order_id": order.id, "lines": [], "total": str(order.total),
            "item": None, "cancelled": False, "placed_units": sum(line.quantity for line in placed)}  # fmt: skip


def after_act(state: OrdersState) -> Literal["confirm", "reply"]:
    if state.get("action") == "checkout" and not state.get("error") and not state.get("clause"):
        return "confirm"
    return "reply"


async def reply(state: OrdersState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    config = get_config()
    context = context_of(runtime)
    p = Plan.load(state["plan"])
    action = state.get("action", "show")
    lines, total = state.get("lines", []), state.get("total", "0.00")
    item = state.get("item")
    facts: list[Any] = [{"cart": lines, "total": total}, *([item] if item else [])]
    if state.get("error"):
        draft = state["error"]
    elif action == "checkout" and state.get("clause"):
        draft = composer.cart(lines, total) + "\nPara confirmar el pedido, escríbeme «confirmar pedido»."
    elif action == "checkout" and state.get("cancelled"):
        draft = "De acuerdo, no hago el pedido. Tu carrito sigue guardado por si cambias de idea."
    elif action == "checkout":
        draft = composer.order_placed(state.get("order_id", 0), total, state.get("placed_units", 0))
    elif action == "add" and item:
        draft = composer.added(item, p.quantity, total, seed=turn_seed(config, p.text))
    elif action == "remove" and item:
        draft = composer.removed(item, total)
    else:
        draft = composer.cart(lines, total)
    text = (
        draft
        if action == "checkout"
        else await respond(context, config, state.get("messages", []), draft=draft, facts=facts)
    )
    return answer(
        text,
        shown=[item] if item else [],
        cart=lines,
        facts=facts,
        focus=item or state.get("focus"),
        query="",
    )


def build() -> Any:
    graph = StateGraph(OrdersState, context_schema=AgentContext, input_schema=TurnState, output_schema=TurnOutput)
    graph.add_node("understand", understand)
    graph.add_node("act", act)
    graph.add_node("confirm", confirm)
    graph.add_node("reply", reply)
    graph.add_edge(START, "understand")
    graph.add_edge("understand", "act")
    graph.add_conditional_edges("act", after_act)
    graph.add_edge("confirm", "reply")
    graph.add_edge("reply", END)
    return graph.compile(name="orders")


orders_graph = build()
