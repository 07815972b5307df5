"""The grounded Spanish reply composer: replies built only from tool facts, worded with some variety.

With no LLM this is the voice of the shop; with an LLM it is the fallback whenever the model's text quotes a
price or a stock figure that the tools did not report. `figures_match` is that check.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from agent.language import euros, join, pick, stock_phrase, units
from agent.planner import Plan
from state import CartFact, ProductFact
from tools.policies import PolicyAnswer

MAX_LISTED = 8


def price_of(p: ProductFact) -> str:
    """The price a customer pays, and while on sale what it cost before: "19,90 € (antes 24,50 €, de oferta)"."""
    if p.get("regular_price"):
        return f"{euros(p['price'])} (antes {euros(p['regular_price'])}, de oferta)"
    return euros(p["price"])


def _line(i: int, p: ProductFact, *, reason: bool = False) -> str:
    brand = f" ({p['brand']})" if p.get("brand") and p["brand"].lower() not in p["name"].lower() else ""
    why = f" — {p['reason']}" if reason and p.get("reason") else ""
    return f"{i}. {p['name']}{brand}: {price_of(p)}, {stock_phrase(p['stock'])}{why}"


def describe_filters(p: Plan, category: str | None = None) -> str:
    """The budget and category of a search in words (" por menos de 40,00 €")."""
    parts = []
    if category:
        parts.append(f"en {category}")
    if p.min_price is not None and p.max_price is not None:
        parts.append(f"entre {euros(p.min_price)} y {euros(p.max_price)}")
    elif p.max_price is not None:
        parts.append(f"por menos de {euros(p.max_price)}")
    elif p.min_price is not None:
        parts.append(f"desde {euros(p.min_price)}")
    if p.in_stock:
        parts.append("con stock")
    return (" " + " ".join(parts)) if parts else ""


def product_list(query: str, found: Sequence[ProductFact], *, seed: str, filters: str = "") -> str:
    """A list of products found for a query, numbered so the customer can say "el segundo"."""
    if not found:
        return pick(
            [
                f"No he encontrado nada para «{query}»{filters}. ¿Lo busco de otra forma o te enseño algo parecido?",
                f"Ahora mismo no tengo nada que encaje con «{query}»{filters}. ¿Quieres probar con otras palabras?",
            ],
            seed,
        )
    intro = pick(
        [
            f"Esto es lo que tengo para «{query}»{filters}:",
            f"He encontrado {len(found)} opciones para «{query}»{filters}:"
            if len(found) > 1
            else f"He encontrado una opción para «{query}»{filters}:",
            f"Mira, para «{query}»{filters} tenemos:",
        ],
        seed,
    )
    lines = [_line(i, p) for i, p in enumerate(found[:MAX_LISTED], 1)]
    outro = pick(
        [
            "Dime el número del que te interese y te cuento más, o lo añado al carrito.",
            "¿Te cuento más de alguno? Puedes decirme «el segundo», por ejemplo.",
            "Si quieres detalles o añadir alguno al carrito, dime cuál.",
        ],
        seed + "o",
    )
    return "\n".join([intro, *lines, outro])


def details(p: ProductFact, *, seed: str) -> str:
    """One product's sheet: price, stock and description, and a next step."""
    text = f"{p['name']}" + (
        f" de {p['brand']}" if p.get("brand") and p["brand"].lower() not in p["name"].lower() else ""
    )
    body = f" {p['description']}" if p.get("description") else ""
    return (
        f"{text}: {price_of(p)}, {stock_phrase(p['stock'])}.{body} "
        + pick(["¿Te lo añado al carrito?", "¿Quieres que te recomiende algo que combine con él?"], seed)
    ).strip()


def price_single(p: ProductFact, *, seed: str) -> str:
    """The price and availability of one product."""
    return pick(
        [
            f"{p['name']} cuesta {price_of(p)} ({stock_phrase(p['stock'])}).",
            f"El precio de {p['name']} es {price_of(p)}; {stock_phrase(p['stock'])}.",
            f"{p['name']}: {price_of(p)}. Disponibilidad: {stock_phrase(p['stock'])}."
            if p["stock"] > 0
            else f"{p['name']}: {price_of(p)}, aunque está {stock_phrase(p['stock'])}.",
        ],
        seed,
    )


def price_variants(found: Sequence[ProductFact], *, seed: str) -> str:
    """The prices of a product's versions, cheapest first, each with what tells it apart."""
    intro = pick(["Hay varias versiones:", "Lo tenemos en varias versiones:", "Según la versión:"], seed)
    lines = [f"{i}. {p['name']}: {price_of(p)}, {stock_phrase(p['stock'])}" for i, p in enumerate(found, 1)]
    return "\n".join([intro, *lines, "¿Cuál te interesa? Puedes decirme «el segundo», por ejemplo."])


def price_compare(found: Sequence[ProductFact], *, seed: str) -> str:
    """Two or more products side by side by price, and which is cheaper and by how much."""
    ordered = sorted(found, key=lambda p: Decimal(p["price"]))
    lines = [f"{i}. {p['name']}: {price_of(p)}" for i, p in enumerate(ordered, 1)]
    cheapest, dearest = ordered[0], ordered[-1]
    diff = Decimal(dearest["price"]) - Decimal(cheapest["price"])
    close = f"La diferencia entre el más barato y el más caro es de {euros(diff)}." if len(ordered) > 1 else ""
    if len(ordered) == 2 and diff > 0:
        close = f"Hay {euros(diff)} de diferencia: el más caro es {dearest['name']}; el más barato, {cheapest['name']}."
    if len(ordered) > 1 and diff == 0:
        close = f"Cuestan lo mismo: {euros(cheapest['price'])} cada uno."
    intro = pick(["Comparando precios, de más barato a más caro:", "Te los ordeno por precio:"], seed)
    return "\n".join([intro, *lines, close]).strip()


def price_extreme(found: Sequence[ProductFact], *, cheapest: bool, query: str, budget: str, seed: str) -> str:
    """The cheapest (or dearest) of a kind, with the next ones for comparison."""
    if not found:
        return f"No encuentro nada de «{query}»{budget} que esté disponible. ¿Subimos un poco el presupuesto?"
    best = found[0]
    what, option = ("más barato", "más económica") if cheapest else ("más caro", "más cara")
    head = pick(
        [
            f"Lo {what} de «{query}»{budget} es {best['name']}: {euros(best['price'])} ({stock_phrase(best['stock'])}).",
            f"Para «{query}»{budget}, la opción {option} es {best['name']}, a {euros(best['price'])}.",
        ],
        seed,
    )
    others = [f"{p['name']} ({price_of(p)})" for p in found[1:3]]
    tail = f" Le siguen {join(others)}." if others else ""
    return head + tail


def stock_single(p: ProductFact, alternatives: Sequence[ProductFact], *, seed: str) -> str:
    """Whether one product is in stock and how many units are left."""
    if p["stock"] > 0:
        return pick(
            [
                f"Sí, {p['name']} está disponible: {stock_phrase(p['stock'])}. Cuesta {price_of(p)}.",
                f"¡Hay! De {p['name']} {('quedan ' + units(p['stock'])) if p['stock'] > 1 else 'queda 1 unidad'}"
                f" ({price_of(p)}).",
            ],
            seed,
        )
    text = f"Lo siento, {p['name']} está agotado ahora mismo."
    if alternatives:
        alts = [f"{a['name']} a {euros(a['price'])} ({stock_phrase(a['stock'])})" for a in alternatives]
        text += f" Como alternativa tengo {join(alts, 'o')}."
    return text


def stock_list(query: str, found: Sequence[ProductFact], *, seed: str) -> str:
    """Availability of several candidates when a stock question does not single one out."""
    if not found:
        return f"No encuentro «{query}» en el catálogo. ¿Me dices el nombre exacto o la marca?"
    intro = pick([f"Esto es lo que hay de «{query}»:", f"Disponibilidad de «{query}»:"], seed)
    lines = [f"{i}. {p['name']}: {stock_phrase(p['stock'])} ({price_of(p)})" for i, p in enumerate(found, 1)]
    return "\n".join([intro, *lines, "¿Te interesa alguno? Dime cuál."])


def stock_variants(found: Sequence[ProductFact], *, seed: str) -> str:
    """The stock of each version of a product."""
    available = [p for p in found if p["stock"] > 0]
    intro = (
        pick(["Según la versión:", "Así está cada versión:"], seed)
        if available
        else "Lo siento, ahora mismo no queda ninguna versión:"
    )
    lines = [f"{i}. {p['name']}: {stock_phrase(p['stock'])} ({price_of(p)})" for i, p in enumerate(found, 1)]
    return "\n".join([intro, *lines])


def recommendations(anchor: ProductFact | None, recs: Sequence[ProductFact], *, kind: str, seed: str) -> str:
    """Recommended products, each with why it fits."""
    if not recs:
        return "Ahora mismo no tengo una buena recomendación para eso. ¿Me das algún detalle más (uso, presupuesto)?"
    if anchor is None:
        intro = pick(["Te recomendaría:", "Estas son mis sugerencias:", "Yo miraría estos:"], seed)
    elif kind == "complement":
        intro = pick([f"Para acompañar {anchor['name']} te sugiero:", f"Con {anchor['name']} combina bien:"], seed)
    else:
        intro = pick([f"Parecidos a {anchor['name']}:", f"Si te gusta {anchor['name']}, mira estos:"], seed)
    lines = [_line(i, p, reason=True) for i, p in enumerate(recs[:MAX_LISTED], 1)]
    return "\n".join([intro, *lines])


def low_stock(found: Sequence[ProductFact], restock: dict[int, tuple[int, int]]) -> str:
    """The admin's low-stock report."""
    if not found:
        return "No hay productos con poco stock ahora mismo."
    lines = []
    for p in found:
        sold, suggest = restock.get(p["id"], (0, 0))
        lines.append(f"- {p['name']} ({p['sku']}): {units(p['stock'])}; vendidas {sold} en 30 días; "
                     f"reponer {units(suggest)}")  # fmt: skip
    return "\n".join([f"Productos con poco stock ({len(found)}):", *lines])


def cart(lines: Sequence[CartFact], total: Decimal | str) -> str:
    """The cart's lines and its total at today's prices."""
    if not lines:
        return "Tu carrito está vacío. ¿Te ayudo a encontrar algo?"
    rows = [f"- {c['quantity']} × {c['name']}: {euros(c['line_total'])}" for c in lines]
    return "\n".join(["Tu carrito:", *rows, f"Total: {euros(total)}"])


def added(p: ProductFact, quantity: int, total: Decimal | str, *, seed: str) -> str:
    """What was just added to the cart, and the new total."""
    return pick(
        [
            f"Hecho: {units(quantity) if quantity > 1 else '1 unidad'} de {p['name']} ({euros(p['price'])} cada una) en el "
            f"carrito. Total: {euros(total)}. ¿Algo más o tramito el pedido?",
            f"Añadido {p['name']} (×{quantity}, {euros(p['price'])} cada una). Tu carrito suma {euros(total)}. "
            "¿Tramito el pedido o sigues mirando?",
        ],
        seed,
    )


def removed(p: ProductFact, total: Decimal | str) -> str:
    """What was taken out of the cart, and what is left."""
    return f"He quitado {p['name']} del carrito. Ahora suma {euros(total)}."


def confirm_question(lines: Sequence[CartFact], total: Decimal | str) -> str:
    """The checkout question: the cart, its total and an explicit yes/no."""
    return cart(lines, total) + "\n¿Confirmo el pedido? Responde «sí» para confirmarlo o «no» para seguir comprando."


def order_placed(order_id: int, total: Decimal | str, n_units: int) -> str:
    """The confirmation of a placed order, with its number and total."""
    return (f"¡Pedido confirmado! Número de pedido {order_id}: {units(n_units)}, total {euros(total)}. "
            "Gracias por tu compra.")  # fmt: skip


# --------------------------------------------------------------------------- checking an LLM's figures

_MONEY = re.compile(r"(\d{1,3}(?:[.\s]\d{3})*(?:,\d{1,2})?|\d+(?:[.,]\d{1,2})?)\s*(?:€|euros?\b|eur\b)", re.I)
_MONEY_BEFORE = re.compile(r"(?:€|eur)\s*(\d{1,3}(?:[.,]\d{3})*(?:[.,]\d{1,2})?)", re.I)
_UNITS = re.compile(r"(\d+)\s*(?:unidades|unidad|uds\.?|existencias|en stock)", re.I)


def _decimal(raw: str) -> Decimal | None:
    raw = raw.replace(" ", "")
    if "," in raw:
        raw = raw.replace(".", "").replace(",", ".")
    elif re.fullmatch(r"\d{1,3}(\.\d{3})+", raw):
        raw = raw.replace(".", "")
    try:
        return Decimal(raw)
    except ArithmeticError:
        return None


def figures_match(text: str, allowed_money: set[Decimal], allowed_counts: set[int]) -> bool:
    """Every amount of money and every unit count in `text` must be one the tools reported."""
    for raw in [*_MONEY.findall(text), *_MONEY_BEFORE.findall(text)]:
        value = _decimal(raw)
        if value is None or value.quantize(Decimal("0.01")) not in allowed_money:
            return False
    return all(int(raw) in allowed_counts for raw in _UNITS.findall(text))


def which_one(options: Sequence[ProductFact]) -> str:
    """Several of those shown fit what the customer said: ask which, with what tells them apart."""
    listed = "; ".join(f"{i}. {p['name']} ({price_of(p)})" for i, p in enumerate(options, 1))
    return f"Hay más de uno que encaja: {listed}. ¿Cuál quieres?"


def which_unclear(words: str) -> str:
    """A version said by a bare number that none of those shown carries."""
    return f"No tengo claro cuál es «{words}». Dime el nombre o su número en la lista."


def not_exactly(query: str, *, seed: str) -> str:
    """Said before an answer about another model than the one asked for ("iphone 14" -> the iPhone 15)."""
    return pick(
        [
            f"No tenemos «{query}» tal cual; lo más parecido que tengo:",
            f"«{query}» exactamente no lo tenemos. Lo más cercano:",
        ],
        seed,
    )


def added_several(added: Sequence[dict[str, Any]], problems: Sequence[str], total: Decimal | str) -> str:
    """Several products added in one turn, and what could not be added."""
    lines = [
        f"- {a['quantity']} × {a['item']['name']}: {euros(Decimal(a['item']['price']) * a['quantity'])}"
        + (f" ({euros(a['item']['price'])} cada una)" if a["quantity"] > 1 else "")
        for a in added
    ]
    out = ["Añadido al carrito:", *lines, f"Total del carrito: {euros(total)}."]
    if problems:
        out.append("No he podido añadir: " + " ".join(problems))
    elif added:
        out.append("¿Algo más o tramito el pedido?")
    return "\n".join(out)


def not_sold(missing: Sequence[str], *, seed: str, alternatives: bool = False) -> str:
    """What the shop does not sell, said plainly (then, maybe, the closest things it does sell)."""
    what = join([f"«{m}»" for m in missing])
    if alternatives:
        return pick(
            [f"No tenemos {what}. Esto es lo más parecido que sí tenemos:", f"De {what} no tenemos nada; mira esto:"],
            seed,
        )
    return pick(
        [
            f"No vendemos {what}, lo siento. ¿Te ayudo a buscar otra cosa?",
            f"Ahora mismo no tenemos {what} en el catálogo. ¿Buscas algo más?",
        ],
        seed,
    )


def _contact_lines(contact: tuple[str, tuple[str, ...]] | None) -> list[str]:
    if contact is None:
        return []
    return [f"- {p}" for p in contact[1] if ":" in p] or [f"- {p}" for p in contact[1]]


def policy(found: PolicyAnswer | None, contact: tuple[str, tuple[str, ...]] | None) -> str:
    """A question about the shop answered from its policies document, quoting the section it comes from."""
    if found is None:
        return ("No tengo a mano las condiciones de la tienda. Para envíos, devoluciones o pagos, consulta con la "
                "tienda directamente.")  # fmt: skip
    passages = [f"- {p}" for p in found.passages]
    if found.covered:
        return "\n".join([f"Según nuestras condiciones («{found.section}»):", *passages])
    reach = _contact_lines(contact)
    ask = ["Para consultarlo, contacta con la tienda:", *reach] if reach else []
    if found.related:
        return "\n".join(
            ["Eso en concreto no lo recogen nuestras condiciones. Lo más relacionado, de «" + found.section + "»:",
             *passages, *ask]
        )  # fmt: skip
    return "\n".join(["No tengo información sobre eso en las condiciones de la tienda.", *ask]).strip()


def also_in(others: Sequence[ProductFact]) -> str:
    """The same product in its other sizes or packages, each with its price."""
    lines = [f"- {p['name']}: {price_of(p)}, {stock_phrase(p['stock'])}" for p in others[:MAX_LISTED]]
    return "\n".join(["También lo tenemos así:", *lines])
