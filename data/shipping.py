"""Shipping rates read from the policies document, so that "¿cuánto me falta para el envío gratis?" has a figure.

The shop owner writes the rates in the shipping section, one destination per list item or line, the way the
sample does: `- **Baleares**: entrega en 3-5 días laborables. 7,95 €; gratis en pedidos desde 99 €.` The item's
name comes before the colon; its cost is the first amount that is not the free-shipping threshold; the threshold
is the amount after "gratis ... desde/a partir de/más de". `python -m manage policies` lists what was understood.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from data.policies import Section
from data.types import parse_money, to_money

_SHIPPING_TITLE = re.compile(r"\benv[ií]os?\b", re.IGNORECASE)
_RATE = re.compile(r"^(?P<name>[^:]{2,60}):\s+(?P<body>.+)$")
_AMOUNT = r"(\d{1,6}(?:[.,]\d{1,2})?)\s?(?:€|euros?\b|eur\b)"
_FREE = re.compile(rf"\bgratis\b[^.;€]*?\b(?:desde|a partir de|por encima de|de más de|mas de|más de)\s+{_AMOUNT}")
_COST = re.compile(_AMOUNT)
_DAYS = re.compile(r"\bentrega\s+(?:en\s+)?(?P<days>[^.;]{3,60}?)(?:[.;]|$)")


@dataclass(frozen=True, slots=True)
class ShippingRate:
    """One destination (or option, such as "Envío urgente") and what shipping there costs."""

    name: str
    cost: Decimal
    free_from: Decimal | None
    delivery: str  # "24-48 horas laborables", as written

    def cost_for(self, subtotal: Decimal) -> Decimal:
        """What shipping costs for a cart of this amount."""
        return Decimal("0.00") if self.free_from is not None and subtotal >= self.free_from else self.cost

    def missing_for_free(self, subtotal: Decimal) -> Decimal | None:
        """How much more the cart needs to ship free (0 when it already does; None: never free here)."""
        if self.free_from is None:
            return None
        return max(Decimal("0.00"), self.free_from - subtotal)


def _rate(passage: str) -> ShippingRate | None:
    match = _RATE.match(passage)
    if match is None:
        return None
    body = match.group("body")
    free = _FREE.search(body)
    costs = [m for m in _COST.finditer(body) if free is None or not free.start() <= m.start() < free.end()]
    if not costs:
        return None
    days = _DAYS.search(body)
    return ShippingRate(
        name=match.group("name").strip(),
        cost=to_money(parse_money(costs[0].group(1))),
        free_from=to_money(parse_money(free.group(1))) if free else None,
        delivery=days.group("days").strip() if days else "",
    )


def shipping_rates(sections: list[Section]) -> list[ShippingRate]:
    """The rates listed in the document's shipping section(s), in the order written (the first is the default)."""
    rates: list[ShippingRate] = []
    for section in sections:
        if _SHIPPING_TITLE.search(section.title):
            rates += [rate for passage in section.passages if (rate := _rate(passage)) is not None]
    return rates
