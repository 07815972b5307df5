"""A customer's questions about orders already placed: "¿dónde está mi pedido?", "¿cuándo llega el 1042?", "cancélalo".

Only the orders of the customer's own conversation (or Telegram chat) are looked at: another order number gets no
details at all, not even whether it exists. A customer may cancel their own order while it has not been sent
(data.order_status.transition with actor "cliente"; its units go back to stock). Cue words come from
data/lexicon/order_talk.json.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Literal

from agent.language import euros
from agent.lexicon import lexicon, phrases
from tools.shop import ToolError

Kind = Literal["status", "cancel"]
_NUMBER = re.compile(r"\b(?:pedido|n[uú]mero|n[ºo°]\.?|el|del)\s*#?(\d{1,9})\b|#(\d{1,9})\b")
_TELEGRAM_THREAD = re.compile(r"^tg:(-?\d+)$")


@lru_cache(maxsize=1)
def _cues() -> tuple[re.Pattern[str], re.Pattern[str]]:
    table = lexicon("order_talk")
    return phrases(list(table.get("order_status", []))), phrases(list(table.get("order_cancel", [])))


def asks(folded: str) -> Kind | None:
    """Whether a message asks about a placed order (its status) or cancels one."""
    status, cancel = _cues()
    if cancel.search(folded):
        return "cancel"
    if status.search(folded) or re.search(r"\bpedido (?:n[uo]mero |n )?#?\d{1,9}\b", folded):
        return "status"
    return None


def number_said(folded: str) -> int | None:
    """The order number a message names ("el 1042", "pedido 7", "#12")."""
    found = _NUMBER.search(folded)
    return int(found.group(1) or found.group(2)) if found else None


def chat_of(thread_id: str) -> int | None:
    """The Telegram chat of a conversation (threads "tg:<chat id>"), None for the web."""
    found = _TELEGRAM_THREAD.match(thread_id)
    return int(found.group(1)) if found else None


_NEXT = {
    "confirmado": "lo estamos preparando; te avisamos en cuanto salga",
    "pendiente": "está pendiente de confirmar",
    "enviado": "ya va de camino",
    "entregado": "esperamos que lo disfrutes",
    "cancelado": "no se enviará",
}


def _status_line(record: Any) -> str:
    order = record.order
    # the note of the step that brought it to its status ("Seur 0123" on "enviado"), not an older one
    last = record.events[-1] if record.events else None
    note = last.note if last is not None and last.to_status == record.order.status else ""
    how = "para recoger" if order.delivery_method == "recogida" else ""
    extra = f" ({note})" if note else ""
    what = f"{record.units} {'unidad' if record.units == 1 else 'unidades'}, {euros(order.total)}"
    return f"Tu pedido {order.id} ({what}) está {order.status}{extra}: {_NEXT.get(order.status, '')}{' ' + how if how else ''}."


async def answer(shop: Any, thread_id: str, kind: Kind, number: int | None) -> str:
    """The reply to an order question, from the customer's own orders only."""
    mine = await shop.orders_of(thread_id, chat_of(thread_id))
    if number is not None:
        record = next((r for r in mine if r.order.id == number), None)
        if record is None:
            return (
                f"No encuentro el pedido {number} entre los hechos desde esta conversación, así que no puedo darte "
                "datos de él. Si es tuyo, pregúntame desde el chat en el que lo hiciste."
            )
    elif not mine:
        return "No veo ningún pedido hecho desde esta conversación. Si lo hiciste en otro chat, pregúntame desde allí."
    else:
        record = mine[0]
    if kind == "status":
        return _status_line(record)
    try:
        await shop.cancel_order(record.order.id)
    except ToolError as exc:
        return f"{exc} Si quieres devolverlo, te cuento cómo."
    return f"Hecho: he cancelado tu pedido {record.order.id}. No se te cobrará nada."
