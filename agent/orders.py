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

from agent import buying, checkout, checkout_flow, composer, order_questions
from agent.checkout import answer_kind
from agent.context import AgentContext, turn_seed
from agent.language import number_from_words
from agent.planner import Plan, clean_query
from agent.purchase import to_add
from agent.respond import respond
from agent.turn import TurnOutput, TurnState, answer, context_of, read_turn
from data.orders import OutOfStockError
from state import CartFact, ProductFact
from tools.facts import cart_facts, fact
from tools.shop import ToolError, thread_id_of
from vectorstore.text import fold, stem

Action = Literal[
    "add", "accept", "set", "remove", "show", "checkout", "clear", "details", "status", "cancel", "recheck"
]
__all__ = ["answer_kind", "orders_graph"]

REMOVE = re.compile(r"\b(?:quit|elimin|sac|borr|retir)\w*\b")
REMOVE_COUNT = re.compile(r"\b(?:quit|elimin|sac|borr|retir)\w* (\d{1,2}|un|una|uno|dos|tres|cuatro|cinco)\b")
ADD = re.compile(r"\b(?:anad|agreg|met|pon|ech|inclu)\w*\b")
CLEAR = re.compile(r"\bvacia(?:r)? (?:el |mi )?carrito\b|\bborra(?:r)? (?:todo|el carrito)\b")
SHOW = re.compile(r"\b(?:que (?:tengo|hay|llevo) en|ver|ensename|muestrame|mi|el) (?:el |la |mi )?(?:carrito|cesta|carro)\b|"
                  r"(?<!\w)/carrito\b|^carrito$|\bcuanto (?:llevo|suma)\b|" + buying.CART_TOTAL)  # fmt: skip


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
    checkout_after: bool  # "añade eso y tramita el pedido"
    new_offer: dict[str, Any] | None  # made this turn: "¿te pongo las 3 que quedan?" {"id", "quantity"}
    removed: ProductFact | None  # taken out of the cart in a turn that also buys
    ask: str  # the checkout's next question for a missing detail (or a bad value's message and the question)
    shipping_line: str  # how delivery is said in the confirmation ("Envío a Península (…): 4,95 €")
    detail_error: str  # a bad correction given at the confirmation
    order_answer: str  # the reply to a question about a placed order


def open_offer(state: Any) -> dict[str, Any] | None:
    """The units offered in the assistant's last message ("¿te pongo las 3 que quedan?"), if that is where we are."""
    offer = state.get("offer")
    if offer and len(state.get("messages") or []) == int(offer.get("at", -9)) + 1:
        return dict(offer)
    return None


_ACCEPT = re.compile(
    r"(?:(?:si|sip|vale|ok|okay|okey|dale|venga|bueno|pues|claro|perfecto|genial|listo|de acuerdo|por supuesto|"
    r"adelante|porfa|por favor|hazlo|tramitalo|confirmo|confirmado|eso|esas|esos|todas|todos|"
    r"(?:ponme|dame|pon|pasame|mandame|anade|agrega)(?:las|los)?(?: esas| esos| las| los| todas| todos)?"
    r"(?: que quedan| que haya| que hay)?)\s*)+"
)


def accepts(text: str, offer: dict[str, Any] | None = None) -> bool:
    """The whole message says yes to the last reply's offer: "sí", "vale, adelante", "ponme esas", "dale".

    An offer of units is also taken by saying how many: "pues las 3" after "¿te pongo las 3 que quedan?".
    """
    folded = " ".join(re.sub(r"[¡!.,]", " ", fold(text)).split())
    if "?" in folded or "no" in folded.split():
        return False
    if offer and offer.get("kind") == "units":
        said = re.fullmatch(
            r"(?:\w+ ){0,3}?(?:las|los|esas|esos)? ?(\d+|dos|tres|cuatro|cinco|seis)(?: que quedan)?", folded
        )
        if said and number_from_words(said.group(1)) == int(offer.get("quantity", 0)):
            return True
    return bool(_ACCEPT.fullmatch(folded))


def buys_something(p: Plan) -> bool:
    """A purchase that names what it buys, beyond "el pedido" ("añade la funda y tramita el pedido", "añádelo")."""
    # "eso es todo, quiero pagar", "quiero hacer el pedido, pago con tarjeta": what comes from the words that check
    # out on names nothing bought
    folded = buying.CHECKOUT_IN_CART.split(p.folded, maxsplit=1)[0].strip(" ,")
    if buying.implicit_purchase(folded):
        return True
    bought = buying.HAS_BUY.search(folded) or buying.ENCLITIC.search(folded) or re.match(r"^(?:los|las) \w+$", folded)
    return bool(bought) and any(w.words or w.count for w in buying.wanted(folded))


def action_of(p: Plan, in_cart: bool = False) -> Action:
    """What an orders turn wants done: add, remove, set, show, clear or checkout."""
    if CLEAR.search(p.folded):
        return "clear"
    if SHOW.search(p.folded) and not clean_query(SHOW.sub(" ", p.folded)):
        return "show"  # "¿qué llevo en el carrito?": nothing but the cart, though "llevo" can buy
    if (
        in_cart
        and _SET_UNITS.search(p.folded)
        and re.search(r"\b(?:mejor|solo|solamente|nada mas|que sean?)\b", p.folded)
    ):
        return "set"
    if buys_something(p) and not REMOVE.search(p.folded):
        return "add"  # "me llevo la Switch y dos mandos, ¿cuánto sale todo?"
    if (buying.CHECKOUT_IN_CART.search(p.folded) or buying.then_checkout(p.folded)) and not buys_something(p):
        return "checkout"
    if REMOVE.search(p.folded):
        return "remove"
    if SHOW.search(p.folded) and not ADD.search(p.folded):
        return "show"  # "¿cuánto es en total?" (not a product called "total")
    if (p.query or p.references) and (ADD.search(p.folded) or buying.HAS_BUY.search(p.folded)):
        return "add"  # "méteme 5 ... en el carrito" adds, though it names the cart
    if SHOW.search(p.folded) or not (p.query or p.references):
        return "show"
    return "add"


async def understand(state: OrdersState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Read the orders turn: an accepted offer, or the action it asks for."""
    p = await read_turn(state, context_of(runtime))
    if state.get("checkout"):  # the LLM read the turn as "place the order": the customer still confirms it
        return {"plan": p.dump(), "action": "checkout", "checkout_after": False}
    if checkout.answers(p.text, state):  # "Ana García", "Calle Mayor 5, 28013 Madrid", "no, el portal es el 3B"
        return {"plan": p.dump(), "action": "details", "checkout_after": False}
    asked = order_questions.asks(p.folded)
    if asked and not (buying.CHECKOUT.search(p.folded) or CLEAR.search(p.folded)):
        return {"plan": p.dump(), "action": asked, "checkout_after": False}
    offer = open_offer(state)
    if offer and accepts(p.text, offer):
        return {"plan": p.dump(), "action": "accept" if offer.get("kind") == "units" else "checkout", "offer": offer}
    action = action_of(p, in_cart=bool(state.get("cart")))
    return {"plan": p.dump(), "action": action, "checkout_after": action == "add" and buying.then_checkout(p.folded)}


async def act(state: OrdersState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Do the cart action against the database (transactional; stock is checked at checkout)."""
    config = get_config()
    context = context_of(runtime)
    shop = context.shop
    p = Plan.load(state["plan"])
    thread_id = thread_id_of(config)
    action = state["action"]
    try:
        if action in ("status", "cancel"):  # "¿dónde está mi pedido?", "cancélalo": only this customer's orders
            number = order_questions.number_said(p.folded)
            return {"order_answer": await order_questions.answer(shop, thread_id, action, number)}
        if action == "accept":  # "sí" to "¿te pongo las 3 que quedan?"
            offer = state.get("offer") or {}
            return await _add_all(shop, thread_id, [(offer["id"], int(offer["quantity"]))], [])
        if action == "add":
            found, problems = await to_add(state, context, p)
            return await _add_all(shop, thread_id, found, problems)
        if action == "set":  # "mejor solo una botella": that line, with that many units
            return await _set_units(shop, thread_id, p)
        if action == "remove" and buying.HAS_BUY.search(_after_removal(p.folded)):
            # "quita la Hellmann's y pon dos de la Hacendado": take one out, then buy the rest
            removal, purchase = _split_removal(p.folded)
            gone = clean_query(removal) or (p.references[0]["id"] if p.references else "")
            removed = None
            with contextlib.suppress(ToolError):
                removed, _ = await shop.remove_from_cart(thread_id, gone, None)
            found, problems = await to_add(
                state, context, Plan.load({**p.dump(), "folded": purchase, "text": purchase}), instead_of=removed
            )
            out = await _add_all(shop, thread_id, found, problems)
            return {**out, "action": "add", "removed": fact(removed) if removed else None}
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
        return {"error": str(exc)}


_SET_UNITS = re.compile(
    r"\b(?:mejor|solo|solamente|nada mas|deja(?:me)?|pon(?:me)?|cambia(?:lo|la)? a|que sean?)\s+(?:solo\s+)?"
    r"(una|un|uno|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez|\d{1,2})\b(?:\s+(?:de\s+)?(.+))?$"
)


def _after_removal(folded: str) -> str:
    return _split_removal(folded)[1]


def _split_removal(folded: str) -> tuple[str, str]:
    """("quita la hellmann's", "pon dos de la hacendado en bote") from one message that does both."""
    parts = re.split(r"\s*(?:,|\by\b)\s*(?=(?:\w+ )?(?:" + "|".join(buying.BUY_VERBS) + r")\b)", folded, maxsplit=1)
    removal = re.sub(r"^.*?\b(?:quit|elimin|sac|borr|retir)\w*\s*", "", parts[0])
    return removal, parts[1] if len(parts) > 1 else ""


async def _set_units(shop: Any, thread_id: str, p: Plan) -> dict[str, Any]:
    """Leave a cart line with the units said ("mejor solo una botella", "que sean dos")."""
    cart = await shop.cart(thread_id)
    said = _SET_UNITS.search(p.folded)
    if said is None or not cart.items:
        raise ToolError("¿Cuántas unidades quieres dejar y de qué producto?")
    units = number_from_words(said.group(1)) or 1
    words = {stem(w) for w in clean_query(said.group(2) or "").split()}
    lines = [i for i in cart.items if words and words & {stem(w) for w in fold(i.name).split()}] or (
        list(cart.items) if len(cart.items) == 1 else []
    )
    if len(lines) != 1:
        raise ToolError("¿De qué producto del carrito quieres cambiar las unidades?")
    line = lines[0]
    if units < line.quantity:
        item, cart = await shop.remove_from_cart(thread_id, line.product_id, line.quantity - units)
    elif units > line.quantity:
        item, cart = await shop.add_to_cart(thread_id, line.product_id, units - line.quantity)
    else:
        item = await shop.resolve(line.product_id)
    return {"item": fact(item), "lines": cart_facts(cart), "total": str(cart.total), "set_units": units}


async def _add_all(shop: Any, thread_id: str, items: list[tuple[int, int]], problems: list[str]) -> dict[str, Any]:
    """Add every (product, units); what cannot be added is said, and a shortage becomes an offer of what is left."""
    added: list[tuple[ProductFact, int]] = []
    offer: dict[str, Any] | None = None
    focus: ProductFact | None = None
    cart = None
    for ref, count in items:
        try:
            item, cart = await shop.add_to_cart(thread_id, ref, count)
            added.append((fact(item), count))
        except ToolError as exc:
            item = await shop.resolve(ref)
            focus = fact(item)  # "solo quedan 2": the product stays in focus for "pon los 2 que quedan"
            cause = exc.__cause__
            left = getattr(cause, "available", 0) - _in_cart(cart or await shop.cart(thread_id), item.id)
            if isinstance(cause, OutOfStockError) and left > 0:
                offer = {"kind": "units", "id": item.id, "quantity": left}
                problems.append(f"{exc} ¿Te pongo {'la que queda' if left == 1 else f'las {left} que quedan'}?")
            else:
                problems.append(str(exc))
    if cart is None:
        cart = await shop.cart(thread_id)
    if added and offer is None:
        offer = {"kind": "checkout"}  # the reply ends asking whether to place the order
    out: dict[str, Any] = {
        "added": [{"item": item, "quantity": count} for item, count in added],
        "item": added[-1][0] if added else None,
        "problems": problems,
        "lines": cart_facts(cart),
        "total": str(cart.total),
        "new_offer": offer,
        **({"focus": focus} if focus and not added else {}),
    }
    if problems and not added:
        out["error"] = " ".join(problems)
    return out


def _in_cart(cart: Any, product_id: int) -> int:
    return next((i.quantity for i in cart.items if i.product_id == product_id), 0) if cart is not None else 0


async def collect(state: OrdersState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Checkout details: ask for the next missing one, or price delivery for the confirmation (agent.checkout_flow)."""
    config = get_config()
    text = "" if state.get("action") == "recheck" else Plan.load(state["plan"]).text
    return await checkout_flow.collect(state, context_of(runtime).shop, thread_id_of(config), text)


async def confirm(state: OrdersState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Checkout: ask for an explicit yes (a LangGraph interrupt) and place the order only then.

    The only place an order is placed. A correction instead of the yes ("no, el portal es el 3B") goes back to
    `collect` and the confirmation is asked again with the new details.
    """
    config = get_config()
    lines, total = state.get("lines", []), state.get("total", "0.00")
    if not lines:
        return {"error": "Tu carrito está vacío: añade algo antes de hacer el pedido."}
    shop = context_of(runtime).shop
    question = checkout_flow.confirmation(state, shop)
    if state.get("detail_error"):
        question = f"{state['detail_error']}\n\n{question}"
    details = state.get("order_details") or {}
    shown = Decimal(total) + Decimal(str(details.get("shipping_cost") or "0"))
    answer = interrupt({"question": question, "total": str(shown)})
    if answer_kind(str(answer)) != "yes":
        corrected = checkout_flow.at_confirmation(str(answer), state, shop.policies.pickup_points())
        if corrected is not None:
            return {**corrected, "action": "recheck"}
        return {"cancelled": True, "order_details": {**checkout.kept(details), "collecting": False}}
    try:
        order, placed = await shop.place_order(
            thread_id_of(config),
            Decimal(total),
            details=checkout_flow.placed_details(state, config, thread_id_of(config)),
        )
    except ToolError as exc:
        return {"error": str(exc)}
    return {"order_id": order.id, "lines": [], "total": str(order.total), "item": None, "cancelled": False,
            "placed_units": sum(line.quantity for line in placed),
            "order_details": {**checkout.kept(details), "collecting": False}}  # fmt: skip


def after_act(state: OrdersState) -> Literal["collect", "reply"]:
    """Go on to the checkout details when the turn checks out (or added and asked to), or answers one; else reply."""
    starting = state.get("action") == "checkout" or (state.get("checkout_after") and state.get("added"))
    if starting and not state.get("lines"):
        return "reply"  # an empty cart: say so, never ask for personal details first
    checkout_turn = starting or state.get("action") == "details"
    if checkout_turn and not state.get("error") and not state.get("clause"):
        return "collect"
    return "reply"


def after_collect(state: OrdersState) -> Literal["confirm", "reply"]:
    """Confirm once every detail is there (and the cart has lines); else ask (reply)."""
    stopped = (state.get("order_details") or {}).get("stopped")
    return "reply" if state.get("ask") or stopped or not state.get("lines") else "confirm"


def after_confirm(state: OrdersState) -> Literal["collect", "reply"]:
    """A correction at the confirmation prices delivery again and asks again."""
    return "collect" if state.get("action") == "recheck" and not state.get("detail_error") else "reply"


async def reply(state: OrdersState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Tell the customer what was done to the cart or the order."""
    config = get_config()
    context = context_of(runtime)
    p = Plan.load(state["plan"])
    action = state.get("action", "show")
    lines, total = state.get("lines", []), state.get("total", "0.00")
    item = state.get("item")
    facts: list[Any] = [{"cart": lines, "total": total}, *([item] if item else [])]
    if state.get("order_answer"):
        draft = state["order_answer"]
    elif state.get("error"):
        draft = state["error"]
    elif state.get("ask"):
        draft = state["ask"]
    elif (state.get("order_details") or {}).get("stopped"):
        draft = "De acuerdo, dejo el pedido sin hacer. Tu carrito sigue guardado por si cambias de idea."
    elif action == "checkout" and state.get("clause"):
        draft = composer.cart(lines, total) + "\nPara confirmar el pedido, escríbeme «confirmar pedido»."
    elif state.get("cancelled"):
        draft = "De acuerdo, no hago el pedido. Tu carrito sigue guardado por si cambias de idea."
    elif state.get("order_id"):
        draft = composer.order_placed(state.get("order_id", 0), total, state.get("placed_units", 0))
    elif state.get("removed") and action == "add":  # "quita la Hellmann's y pon dos de la Hacendado"
        gone = state.get("removed") or {}
        draft = f"He quitado {gone.get('name')} del carrito.\n" + composer.added_several(
            state.get("added") or [], state.get("problems", []), total
        )
    elif action in ("add", "accept") and len(state.get("added") or []) == 1 and not state.get("problems"):
        draft = composer.added(item or {}, state["added"][0]["quantity"], total, seed=turn_seed(config, p.text))
    elif action in ("add", "accept") and state.get("added"):
        draft = composer.added_several(state["added"], state.get("problems", []), total)
    elif action == "remove" and item:
        draft = composer.removed(item, total)
    elif action == "set" and item:
        draft = composer.cart(lines, total)
    else:
        draft = composer.cart(lines, total)
    text = (
        draft
        if action in ("checkout", "details", "status", "cancel") or state.get("order_id")
        else await respond(context, config, state.get("messages", []), draft=draft, facts=facts)
    )
    offer = state.get("new_offer")
    return answer(
        text,
        shown=[a["item"] for a in state.get("added") or []] or ([item] if item else []),
        cart=lines,
        facts=facts,
        focus=item or state.get("focus"),
        query="",
        offer={**offer, "at": len(state.get("messages") or []) + 1} if offer else None,
        order_details=checkout.settled(state.get("order_details")),
    )


def build() -> Any:
    """The orders subgraph: understand, act, collect the checkout details, confirm or reply (interrupt resumable)."""
    graph = StateGraph(OrdersState, context_schema=AgentContext, input_schema=TurnState, output_schema=TurnOutput)
    graph.add_node("understand", understand)
    graph.add_node("act", act)
    graph.add_node("collect", collect)
    graph.add_node("confirm", confirm)
    graph.add_node("reply", reply)
    graph.add_edge(START, "understand")
    graph.add_edge("understand", "act")
    graph.add_conditional_edges("act", after_act)
    graph.add_conditional_edges("collect", after_collect)
    graph.add_conditional_edges("confirm", after_confirm)
    graph.add_edge("reply", END)
    return graph.compile(name="orders")


orders_graph = build()
