"""The public facts of products and carts: what replies, the API and the LLM may quote (exact decimal strings)."""

from __future__ import annotations

from data import orders
from state import CartFact, CatalogueItem, ProductFact


def display_name(item: CatalogueItem) -> str:
    """The name, followed by what tells it apart from its namesakes: "Aceite de oliva 0,4º Hacendado — Garrafa, 5 L".

    The search index sets `variant` on products that share their name with others (see `label_namesakes`).
    """
    variant = str(getattr(item, "variant", "") or "")
    return f"{item.name} — {variant}" if variant else item.name


def fact(item: CatalogueItem, *, reason: str = "", description: bool = False) -> ProductFact:
    """The public facts of a product, with its price as an exact string."""
    out: ProductFact = {
        "id": item.id,
        "sku": item.sku,
        "name": display_name(item),
        "brand": item.brand,
        "category": item.category,
        "subcategory": item.subcategory,
        "price": str(item.price),
        "stock": item.stock,
    }
    regular = getattr(item, "regular_price", None)
    if regular is not None and regular > item.price:
        out["regular_price"] = str(regular)
    if description and item.description:
        out["description"] = item.description
    if reason:
        out["reason"] = reason
    return out


def cart_facts(cart: orders.Cart) -> list[CartFact]:
    """A cart as plain facts (exact decimal strings) for replies and the LLM."""
    return [
        {
            "product_id": i.product_id,
            "sku": i.sku,
            "name": i.name,
            "unit_price": str(i.unit_price),
            "quantity": i.quantity,
            "line_total": str(i.line_total),
        }
        for i in cart.items
    ]
