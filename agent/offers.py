"""Sales: what is on sale, and whether the product talked about is.

A product is on sale while the shop charges less than its regular price (the importer keeps both: WooCommerce's
"Sale price", Shopify's "Compare at price"). The words that ask come from data/lexicon/offers.json.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from agent import composer
from agent.context import AgentContext
from agent.language import euros
from agent.planner import Plan
from agent.turn import TurnState, search_query, turn_text
from state import CatalogueItem, ProductFact
from tools.facts import fact
from tools.shop import ToolError

MAX_OFFERS = 5


def on_sale(item: CatalogueItem) -> bool:
    """Whether the shop charges less than the product's regular price right now."""
    regular = getattr(item, "regular_price", None)
    return regular is not None and regular > item.price


def discount(item: CatalogueItem) -> Decimal:
    """The share taken off the regular price (0.2 = 20 % off), for showing the best offers first."""
    regular = getattr(item, "regular_price", None) or item.price
    return (regular - item.price) / regular if regular else Decimal(0)


async def sale_question(context: AgentContext, state: TurnState, p: Plan) -> dict[str, Any]:
    """Whether the product talked about is on sale (sale_one), which of a list are (sale_among), or what is (offers)."""
    focus = state.get("focus")
    plain = not (p.query or p.category)
    target = p.references[0] if p.references else focus if plain else None
    if target is not None:
        try:
            return {"mode": "sale_one", "found": [fact(await context.shop.resolve(target["id"]))]}
        except ToolError:
            pass
    shown = state.get("products") or []
    if plain and shown and not p.references:  # "¿alguno está de oferta?" after a list: those of the list
        items = [context.shop.catalog.index.items.get(int(f["id"])) for f in shown]
        return {"mode": "sale_among", "found": [fact(i) for i in items if i is not None and on_sale(i)]}
    return {"mode": "offers", **await offers(context, turn_text(state), p)}


def sale_draft(mode: str, found: list[ProductFact], label: str, *, seed: str) -> str:
    """The reply to a sale question, from the facts `sale_question` found."""
    if mode == "sale_one" and found:
        return about_this_one(found[0])
    if mode == "sale_among":
        if not found:
            return "Ninguno de estos está de oferta ahora mismo."
        lines = [f"- {p['name']}: {composer.price_of(p)}" for p in found]
        return "\n".join(["De estos, está de oferta:" if len(found) == 1 else "De estos, están de oferta:", *lines])
    return composer.product_list(label, found, seed=seed) if found else no_offers(label)


async def offers(context: AgentContext, text: str, p: Plan) -> dict[str, Any]:
    """The products on sale, of the kind asked for if one was ("¿qué champús tenéis rebajados?"), best first."""
    shop = context.shop
    if p.query or p.category:
        hits = await shop.search(search_query(context, text, p.query or p.category or ""), category=p.category,
                                 max_price=p.max_price, limit=40)  # fmt: skip
        items = [h.item for h in hits if h.name_match >= 0.5 or p.category]
    else:
        items = list(shop.catalog.index.snapshot().items)
    sale = sorted((i for i in items if on_sale(i) and i.stock > 0), key=lambda i: (-discount(i), i.price, i.id))
    label = f"{p.query or p.category or 'productos'} de oferta"
    return {"found": [fact(i) for i in sale[:MAX_OFFERS]], "detail": None, "label": label, "offers": True}


def about_this_one(product: ProductFact) -> str:
    """Whether the product talked about is on sale, with both prices when it is."""
    if product.get("regular_price"):
        return (
            f"Sí, {product['name']} está de oferta: {euros(product['price'])} "
            f"(antes {euros(product['regular_price'])})."
        )
    return f"{product['name']} no está de oferta ahora mismo: cuesta {euros(product['price'])}."


def no_offers(label: str) -> str:
    """Nothing on sale (of that kind): said plainly, with a way forward."""
    return (
        f"Ahora mismo no tengo {label}. Si me dices qué buscas, te digo el mejor precio que tenemos."
        if label != "productos de oferta"
        else "Ahora mismo no tenemos productos de oferta. Si me dices qué buscas, te digo el mejor precio que tenemos."
    )
