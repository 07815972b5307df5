"""What shipping costs for this cart: "¿cuánto me falta para el envío gratis?", "¿con eso ya no pago envío?".

The rates come from the policies document (data.shipping), the cart from the database; the words that ask and the
places that name a destination from data/lexicon/policies.json. The answer is a figure, exact to the cent, put
before the document's own words.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache

from agent.language import euros
from agent.lexicon import lexicon, phrases
from data.shipping import ShippingRate
from vectorstore.text import fold


@lru_cache(maxsize=1)
def _cues() -> tuple[re.Pattern[str], re.Pattern[str]]:
    table = lexicon("policies").get("shipping_cost", {})
    return phrases(list(table.get("shipping", []))), phrases(list(table.get("cost", [])))


def asks_shipping_cost(folded: str) -> bool:
    """Whether the message names shipping and asks what it costs ("¿llego al envío gratis?")."""
    shipping, cost = _cues()
    return bool(shipping.search(folded) and cost.search(folded))


def destination(folded: str, rates: list[ShippingRate], topics: dict[str, list[str]]) -> ShippingRate | None:
    """The rate for the place said ("vivo en Burgos" -> Península, "a Mallorca" -> Baleares), if one is said."""
    said = set(folded.split())
    for phrase, means in topics.items():
        if (" " in phrase and f" {phrase} " in f" {folded} ") or phrase in said:
            said |= set(means)
    for rate in rates:
        name = fold(rate.name)
        if "urgente" in name and "urgente" not in said:
            continue
        if any(word in said for word in name.replace(",", " ").split() if len(word) > 3):
            return rate
    return None


def cost_line(rates: list[ShippingRate], subtotal: Decimal, folded: str, topics: dict[str, list[str]]) -> str:
    """The cart's total against the rate of the destination said (or the first listed), in one or two sentences."""
    if not rates:
        return ""
    said = destination(folded, rates, topics)
    rate = said or rates[0]
    where = f"a {rate.name}"
    other = "" if said or len(rates) == 1 else f" Si no es a {rate.name}, dime a dónde y te lo calculo."
    head = f"Tu carrito suma {euros(subtotal)}" if subtotal > 0 else "Tu carrito está vacío"
    missing = rate.missing_for_free(subtotal)
    if missing is None:
        return f"{head}; el envío {where} cuesta {euros(rate.cost)}, en total {euros(subtotal + rate.cost)}.{other}"
    free_from = euros(rate.free_from or Decimal(0))
    if missing == 0:
        return f"{head}: el envío {where} te sale gratis (es gratis desde {free_from}).{other}"
    return (
        f"{head}: para el envío gratis {where} (desde {free_from}) te faltan {euros(missing)}; "
        f"si no, el envío cuesta {euros(rate.cost)}.{other}"
    )
