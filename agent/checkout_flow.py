"""The orders subgraph's checkout steps: collect the details (agent.checkout), then what the confirmation says.

`collect` runs after the cart is read on a checkout turn, or on a turn that answers a detail question. It starts
the checkout (reusing the conversation's details, or offering a returning Telegram customer their last ones),
reads the customer's answer, and either asks for the next missing detail (`ask`) or prices delivery for the
confirmation (`order_details["shipping_cost"]` and `shipping_line`). `at_confirmation` reads an answer given at
the confirmation: a correction goes back to `collect` and the confirmation is asked again.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from agent import checkout
from agent.order_questions import chat_of
from data.shipping import rate_for_postal_code


def _channel(config: Any, thread_id: str) -> str:
    said = str(((config or {}).get("configurable") or {}).get("channel") or "")
    if said in ("http", "playground", "telegram", "langserve"):
        return said
    return "telegram" if chat_of(thread_id) is not None else "http"


async def collect(state: Any, shop: Any, thread_id: str, text: str) -> dict[str, Any]:
    """Start or go on with the checkout details; ask for what is missing, or price delivery for the confirmation."""
    points = shop.policies.pickup_points()
    rates = shop.policies.shipping()
    details = dict(state.get("order_details") or {})
    action = state.get("action")
    if action in ("checkout", "add") and not checkout.collecting(state):  # "add" here: "añádelo y tramítalo"
        chat_id = chat_of(thread_id)
        offered = checkout.offered_from(await shop.last_details(chat_id)) if chat_id is not None else None
        details = checkout.start(details, offered)
        if action == "checkout" and not details.get("offered"):
            details, _ = checkout.read(text, {**details, "asking": None}, points) if text else (details, None)
    elif action == "details":
        details, error = _answer(text, details, points)
        if error:
            return {"order_details": details, "ask": error}
        if details.get("stopped"):  # "no, gracias": no order now, the cart is kept
            return {"order_details": details}
    asking = checkout.missing(details, points)
    if asking is not None:
        details["asking"] = asking
        head = "Para preparar el pedido necesito unos datos. " if action == "checkout" and asking == "name" else ""
        return {"order_details": details, "ask": head + checkout.question(asking, details, rates, points)}
    details["asking"] = None
    if details.get("delivery_method") == "recogida" and not details.get("pickup_point") and points:
        details["pickup_point"] = points[0].name
    cost, line = checkout.shipping_cost(details, Decimal(state.get("total", "0")), rates, rate_for_postal_code)
    details["shipping_cost"] = str(cost)
    return {"order_details": details, "shipping_line": line}


def _answer(text: str, details: dict[str, Any], points: Any) -> tuple[dict[str, Any], str | None]:
    """One answer to a detail question (or to "¿uso los datos de tu último pedido?")."""
    kind = checkout.answer_kind(text)
    offered = details.get("offered")
    if offered:
        base = {k: v for k, v in details.items() if k != "offered"}
        if kind == "yes":
            return {**base, **offered}, None
        new, error = checkout.read(text, {**base, **offered, "asking": None}, points)
        if error or new != {**base, **offered, "asking": None}:
            return (new, error) if not error else (details, error)
        return ({**base, "asking": None}, None) if kind == "no" else (details, None)
    new, error = checkout.read(text, details, points)
    if error is None and new == details and kind == "no":
        return {**checkout.kept(details), "collecting": False, "stopped": True}, None
    return new, error


def confirmation(state: Any, shop: Any) -> str:
    """The confirmation question: lines, shipping, total, the details and how to pay."""
    details = state.get("order_details") or {}
    return checkout.confirm_text(
        state.get("lines", []),
        state.get("total", "0.00"),
        details,
        state.get("shipping_line", ""),
        shop.policies.payment(),
    )


def at_confirmation(answer: str, state: Any, points: Any = ()) -> dict[str, Any] | None:
    """A correction given instead of a yes ("no, el portal es el 3B"): the new details, or None when it is none."""
    details = dict(state.get("order_details") or {})
    new, error = checkout.read(answer, {**details, "asking": None}, points)
    if error is not None:
        return {"order_details": details, "detail_error": error}
    if {k: new.get(k) for k in checkout.KEPT} != {k: details.get(k) for k in checkout.KEPT}:
        return {"order_details": new}
    return None


def placed_details(state: Any, config: Any, thread_id: str) -> Any:
    """The OrderDetails to store with the order."""
    details = state.get("order_details") or {}
    return checkout.order_details(details, _channel(config, thread_id), chat_of(thread_id))
