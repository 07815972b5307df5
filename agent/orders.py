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
from agent.language import number_from_words
from agent.planner import Plan, clean_query, named_in_play
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
REMOVE_COUNT = re.compile(r"\b(?:quit|elimin|sac|borr|retir)\w* (\d{1,2}|un|una|uno|dos|tres|cuatro|cinco)\b")
ADD = re.compile(r"\b(?:anad|agreg|met|pon|ech|inclu)\w*\b")
CLEAR = re.compile(r"\bvacia(?:r)? (?:el |mi )?carrito\b|\bborra(?:r)? (?:todo|el carrito)\b")
SHOW = re.compile(r"\b(?:que (?:tengo|hay|llevo) en|ver|ensename|muestrame|mi|el) (?:el |mi )?(?:carrito|cesta)\b|"
                  r"\b/carrito\b|^carrito$|\bcuanto (?:llevo|suma)\b|"
                  r"\bcuanto (?:es|seria|sale|me sale|suma|sumaria)(?: en| el)? total\b|\b(?:el|en) total$")  # fmt: skip
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
    added: list[dict[str, Any]]  # several products added in one turn: {"item": ProductFact, "quantity": int}
    problems: list[str]  # why some of them could not be added


def action_of(p: Plan) -> Action:
    if CLEAR.search(p.folded):
        return "clear"
    if CHECKOUT.search(p.folded):
        return "checkout"
    if REMOVE.search(p.folded):
        return "remove"
    if SHOW.search(p.folded) and not ADD.search(p.folded):
        return "show"  # "¿cuánto es en total?" (not a product called "total")
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
            many = await _several_to_add(state, context, p)
            if many:
                return await _add_several(shop, thread_id, many)
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
            # "quita una bolsa de briquetas" takes one off; "quita las briquetas" takes the line away
            said = REMOVE_COUNT.search(p.folded)
            count = (number_from_words(said.group(1)) or 1) if said else 0
            units = count or (None if p.quantity == 1 else p.quantity)
            item, cart = await shop.remove_from_cart(thread_id, target, units)
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


_CONTAINER_FIRST = re.compile(r"^(?:bolsas?|paquetes?|packs?|botes?|sobres?|cajas?|sacos?|latas?|botellas?) de\s+")
_COUNT_AT_START = re.compile(r"^(\d{1,2}|un|una|uno|unos|unas|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez)\b")


def cart_parts(folded: str) -> list[tuple[str, int]]:
    """The products of "añade la barbacoa y 2 bolsas de briquetas": [("barbacoa", 1), ("bolsas briquetas", 2)]."""
    body = ADD.split(folded, maxsplit=1)[-1] if ADD.search(folded) else folded
    body = re.sub(r"\b(?:al|a mi|en el|en mi) (?:carrito|cesta|carro)\b", " ", body)
    parts = [part.strip() for part in re.split(r",|\by\b|\btambien\b|\bjunto con\b|\bmas\b", body) if part.strip()]
    out: list[tuple[str, int]] = []
    for part in parts:
        part = re.sub(r"^(?:el|la|los|las)\s+", "", part)
        count = 1
        match = _COUNT_AT_START.match(part)
        if match:
            count = number_from_words(match.group(1)) or 1
            part = re.sub(_CONTAINER_FIRST, "", part[match.end() :].strip())
        words = clean_query(part)
        if words:
            out.append((words, max(1, min(count, 99))))
    return out


async def _several_to_add(state: OrdersState, context: AgentContext, p: Plan) -> list[tuple[Any, int]]:
    """(product id, quantity) for a turn that adds two or more products; [] for the usual one-product turn."""
    if len(p.references) >= 2:  # "añade los dos", "2 packs de cada"
        each = p.quantity if p.quantity > 1 else _count_of_each(p.folded)
        return [(r["id"], each) for r in p.references]
    parts = cart_parts(p.folded)
    if len(parts) < 2:
        return []
    in_play = list(state.get("products") or [])
    seen = list(state.get("seen") or [])
    found: list[tuple[Any, int]] = []
    for words, count in parts:
        named = named_in_play(words, in_play) or named_in_play(words, seen, latest=True)
        if named:
            found.append((named[0]["id"], count))
            continue
        match = await context.shop.best_match(search_query(context, words, words))
        if match is None:
            return []  # one part is not a product: read the turn as a single add (it says why it fails)
        found.append((match.id, count))
    return found


def _count_of_each(folded: str) -> int:
    match = re.search(r"\b(\d{1,2}|dos|tres|cuatro|cinco)\b(?: \w+)? de cada\b", folded)
    if not match:
        return 1
    return number_from_words(match.group(1)) or 1


async def _add_several(shop: Any, thread_id: str, items: list[tuple[Any, int]]) -> dict[str, Any]:
    added: list[tuple[ProductFact, int]] = []
    problems: list[str] = []
    cart = None
    for ref, count in items:
        try:
            item, cart = await shop.add_to_cart(thread_id, ref, count)
            added.append((fact(item), count))
        except ToolError as exc:
            problems.append(str(exc))
    if cart is None:
        cart = await shop.cart(thread_id)
    return {
        "added": [{"item": item, "quantity": count} for item, count in added],
        "item": added[-1][0] if added else None,
        "problems": problems,
        "lines": cart_facts(cart),
        "total": str(cart.total),
        **({"error": " ".join(problems)} if problems and not added else {}),
    }


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
    elif action == "add" and state.get("added"):
        draft = composer.added_several(state["added"], state.get("problems", []), total)
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
        shown=[a["item"] for a in state.get("added") or []] or ([item] if item else []),
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
