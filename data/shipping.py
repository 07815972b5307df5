"""Shipping rates read from the policies document, so that "¿cuánto me falta para el envío gratis?" has a figure.

The shop owner writes the rates in the shipping section, one destination per list item or line, the way the
sample does: `- **Baleares**: entrega en 3-5 días laborables. 7,95 €; gratis en pedidos desde 99 €.` The item's
name comes before the colon; its cost is the first amount that is not the free-shipping threshold; the threshold
is the amount after "gratis ... desde/a partir de/más de". `python -m manage policies` lists what was understood.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from data.customer_details import PROVINCES_FILE
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


# --------------------------------------------------------------------------- checkout: zones, pickup, payment

_PICKUP_TITLE = re.compile(r"\brecogida\b", re.IGNORECASE)
_PAYMENT_TITLE = re.compile(r"\bpago\b", re.IGNORECASE)
_POSTAL = re.compile(r"\b\d{5}\b")


@dataclass(frozen=True, slots=True)
class PickupPoint:
    """A place where orders are collected for free: `- **Tienda de Madrid**: calle de Alcalá 120, 28009 Madrid`."""

    name: str
    address: str


def pickup_points(sections: list[Section]) -> list[PickupPoint]:
    """The pickup points listed in the pickup section(s), one per list item.

    Each is a name, a colon and an address with a postal code; prose without a postal code is not a point.
    """
    points: list[PickupPoint] = []
    for section in sections:
        if _PICKUP_TITLE.search(section.title):
            for passage in section.passages:
                match = _RATE.match(passage)
                if match and _POSTAL.search(match.group("body")):
                    points.append(PickupPoint(match.group("name").strip(), match.group("body").strip().rstrip(".")))
    return points


def payment_text(sections: list[Section]) -> str:
    """What the shop accepts as payment: the first passage of the payment section ("Aceptamos: tarjeta…")."""
    for section in sections:
        if _PAYMENT_TITLE.search(section.title) and section.passages:
            return section.passages[0]
    return ""


def _folded(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in plain if not unicodedata.combining(c))


@cache
def _zones() -> dict[str, str]:
    """Postal code prefix -> zone name, for the provinces outside the default zone (data/lexicon/provinces.json)."""
    data = json.loads(PROVINCES_FILE.read_text(encoding="utf-8"))
    return {prefix: zone for zone, prefixes in data.get("zones", {}).items() for prefix in prefixes}


def rate_for_postal_code(rates: list[ShippingRate], postal_code: str) -> ShippingRate | None:
    """The rate that ships to a Spanish postal code: its zone's (Baleares, Canarias…) or the first (Península)."""
    usable = [r for r in rates if "urgente" not in _folded(r.name)]
    zone = _zones().get(postal_code[:2])
    if zone is not None:
        wanted = _folded(zone)
        return next((r for r in usable if wanted in _folded(r.name).replace(",", " ").split()), None)
    return usable[0] if usable else None
