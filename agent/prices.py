"""Prices subgraph: exact quotes, comparisons between products, cheapest or dearest within a category or budget."""

from __future__ import annotations

import re
from typing import Any, Literal

from langgraph.config import get_config
from langgraph.runtime import Runtime

from agent import composer
from agent.context import AgentContext, turn_seed
from agent.features import differences, pack_vs_loose, per_unit_of, per_unit_text
from agent.lexicon import variant_words
from agent.offers import sale_draft, sale_question
from agent.planner import Plan, clean_query, only_kind_words
from agent.references import PLAIN, Phrase, narrow, plainness
from agent.respond import respond
from agent.turn import (
    TurnOutput,
    TurnState,
    among,
    answer,
    context_of,
    in_catalogue_words,
    planned,
    qualified,
    search_query,
    topic_of,
    turn_text,
    two_step_graph,
)
from state import ProductFact
from tools.facts import fact
from tools.shop import ToolError
from tools.versions import model_words, unmatched_model_numbers, versions_of_top
from vectorstore.text import fold

Mode = Literal[
    "single", "variants", "compare", "extreme", "list", "per_unit", "none", "offers", "sale_one", "sale_among"
]


class PricesState(TurnState, TurnOutput, total=False):
    plan: dict[str, Any]  # Plan.dump()
    mode: Mode
    found: list[ProductFact]
    missing: list[str]  # model numbers asked for that the products found do not have
    per_unit: str  # the price-per-kilo (litre, unit) comparison
    best: ProductFact | None
    label: str  # what a list of offers is of ("quesos de oferta")


_COMPARE_WORDS = frozenset(
    ["diferencia", "diferencias", "tiene", "tienen", "hay", "comparado", "comparada", "comparar", "compara", "cual",
     "aparte", "ademas", "precio", "precios"]
)  # fmt: skip
_PER_UNIT_WORDS = frozenset(["kilo", "kilos", "kg", "litro", "litros", "l", "unidad", "unidades", "ud", "dos", "tres"])
_THIS_ONE = re.compile(r"\b(?:ese|esa|este|esta|eso|esto|el mio|la mia|el que tengo)\b")


def _compare_parts(p: Plan) -> list[str]:
    """Product names being compared: «compara el galaxy s24 con el iphone 15» -> both names ("ese": the focus)."""
    asked = [q for q in re.split(r"[?¿]+", fold(p.text)) if q.strip()]
    if len(asked) >= 2 and all(re.match(r"\s*y\b", q) for q in asked[1:]):
        # "¿Cuánto cuesta el zumo pura naranja? ¿Y el de naranja selección?": one price question each
        return [n for q in asked if (n := " ".join(w for w in clean_query(q).split() if w not in _COMPARE_WORDS))]
    if not re.search(r"\bcompar|\bdiferencia|\bvs\b|\bfrente a\b|\bo (?:el|la|los|las)\b", p.folded):
        return []
    parts = re.split(r"\bcon\b|\by\b|\bvs\.?\b|\bfrente a\b|\bo\b|,", p.folded)
    names = []
    for part in parts:
        words = " ".join(w for w in clean_query(part).split() if w not in _COMPARE_WORDS)
        names.append("ese" if _THIS_ONE.search(part) and not words else words)
    names = [n for n in names if n]
    if len(names) == 1 and re.search(r"\b(?:diferencia|diferencias|comparad[oa])\b.*\bcon\b", p.folded):
        names.insert(0, "ese")  # "¿qué diferencia tiene con el Pro?": the one talked about, and the Pro
    return names


async def find(state: PricesState, runtime: Runtime[AgentContext], p: Plan) -> dict[str, Any]:
    """The prices look-up: one product, its versions, a comparison, the cheapest of a kind, per-unit prices or sales."""
    context = context_of(runtime)
    if p.on_sale:  # "¿qué tenéis rebajado?", "¿el primero está de oferta?"
        return {k: v for k, v in (await sale_question(context, state, p)).items() if k in ("mode", "found", "label")}
    if len(p.references) >= 2:
        items = await context.shop.compare([r["id"] for r in p.references])
        return {"mode": "compare", "found": [fact(i) for i in items]}
    for step in (_compare_named, _per_unit, _from_plan):
        if (found := await step(context, state, p)) is not None:
            return found
    return await _searched(context, state, p)


async def _compare_named(context: AgentContext, state: PricesState, p: Plan) -> dict[str, Any] | None:
    """Each product named, compared: "¿qué es más barato, el iPhone 15 o el Pixel 8?"."""
    parts = _compare_parts(p)
    if len(parts) < 2:
        return None
    shop = context.shop
    items = []
    focus = state.get("focus") or next(iter(state.get("products") or []), None)
    for part in parts:
        if part == "ese" and focus:
            items.append(await shop.resolve(focus["id"]))
            continue
        words = " ".join(w for w in part.split() if w not in PLAIN)  # "el iPhone 15 normal": the plain one
        try:
            found = await shop.resolve(in_catalogue_words(words, shop.catalog.index.snapshot()) or part)
        except ToolError:
            continue
        if words != part:
            versions = [v for v in shop.catalog.index.items.values() if model_words(v)[:2] == model_words(found)[:2]]
            found = min(versions or [found], key=lambda v: (plainness(v.name), v.price, v.id))
        items.append(found)
    if len(items) >= 2 and len({i.id for i in items}) >= 2:
        return {"mode": "compare", "found": [fact(i) for i in await shop.compare([i.id for i in items])]}
    return None


async def _per_unit(context: AgentContext, state: PricesState, p: Plan) -> dict[str, Any] | None:
    """Price per kilo, litre or unit: of the products on the table, of a kind, or the pack against loose ones."""
    shop = context.shop
    dimension = per_unit_of(p.folded)
    in_play = [shop.catalog.index.items[int(f["id"])] for f in state.get("products") or []
               if int(f.get("id", 0)) in shop.catalog.index.items]  # fmt: skip
    if in_play and (packed := pack_vs_loose(in_play, p.folded)) is not None:
        # the list stays in play: "ponme dos packs" comes next
        return {"mode": "per_unit", "found": [fact(i) for i in in_play], "per_unit": packed[0], "best": fact(packed[1])}
    kind_words = [w for w in p.query.split() if w not in _PER_UNIT_WORDS and not w.isdigit()]
    if dimension and kind_words and not p.references and not among(p.folded):
        # "¿cuál isotónica sale más barata por litro?": that kind of product, not only the ones on the table
        hits = await shop.search(search_query(context, turn_text(state), " ".join(kind_words)), limit=20)
        # every size of each name: the 1,5 L bottle is often what sells cheapest by the litre
        sizes = list({n.id: n for h in hits if h.name_match >= 0.5 for n in shop.namesakes(h.item)}.values())
        if 2 <= len(sizes) <= 40:
            in_play = sizes
    if dimension and (len(p.references) >= 2 or len(in_play) >= 2):
        # "¿cuál sale más barato por kilo?": price per kilo, litre or unit of the products on the table
        items = [shop.catalog.index.items[int(r["id"])] for r in p.references] if len(p.references) >= 2 else in_play
        text, best = per_unit_text(items, dimension)
        return {"mode": "per_unit", "found": [fact(i) for i in items], "per_unit": text,
                "best": fact(best) if best else None}  # fmt: skip
    return None


async def _from_plan(context: AgentContext, state: PricesState, p: Plan) -> dict[str, Any] | None:
    """What the plan already points at: the versions said apart, the cheapest of a kind, a reference, the focus."""
    shop = context.shop
    if p.candidates and not p.references and not (p.cheapest or p.dearest):
        items = [
            shop.catalog.index.items[int(c["id"])] for c in p.candidates if int(c["id"]) in shop.catalog.index.items
        ]
        return {"mode": "variants", "found": [fact(i) for i in sorted(items, key=lambda i: (i.price, i.id))]}
    if (p.cheapest or p.dearest) and not p.references:
        words = p.query or (p.kind or "")
        items = await shop.extreme(
            search_query(context, turn_text(state), words) if words else p.text,
            cheapest=p.cheapest,
            category=p.kind,
            max_price=p.max_price,
            in_stock=not p.include_sold_out,
        )
        items = qualified(items, p.folded)  # "los auriculares con cancelación de ruido más baratos": those with it
        return {"mode": "extreme", "found": [fact(i) for i in items[:3]]}
    if p.references:
        try:
            item = await shop.resolve(p.references[0]["id"])
        except ToolError:
            return {"mode": "none", "found": []}
        return {"mode": "single", "found": [fact(item)]}
    if not p.query and not p.category:
        focus = state.get("focus")
        if focus:  # "¿y cuánto cuesta?" right after a product
            try:
                return {"mode": "single", "found": [fact(await shop.resolve(focus["id"]))]}
            except ToolError:
                pass
        return {"mode": "none", "found": []}
    return None


async def _searched(context: AgentContext, state: PricesState, p: Plan) -> dict[str, Any]:
    """The words searched: a kind within a budget is a list, a model its versions, a precise name one product."""
    hits = await context.shop.search(
        search_query(context, turn_text(state), p.query or p.category or ""),
        category=p.category,
        min_price=p.min_price,
        max_price=p.max_price,
        in_stock=p.in_stock,
        limit=5,
    )
    if not hits:
        return {"mode": "list", "found": []}
    if p.category and (not p.query or only_kind_words(p.query) or fold(p.query) == fold(p.category)):
        # "¿qué móviles tenéis por menos de 300 €?": the kind within the budget, cheapest first
        return {"mode": "list", "found": [fact(h.item) for h in sorted(hits, key=lambda h: (h.item.price, h.item.id))]}
    if p.max_price is not None and len({h.item.name.casefold() for h in hits}) > 1:
        # "cerveza sin alcohol en lata que no pase de 0,50 €": every product within the budget, not one's versions
        listed = [fact(h.item) for h in sorted(hits, key=lambda h: (h.item.price, h.item.id))]
        package = Phrase(words=[w for w in p.query.split() if w in variant_words()])
        return {"mode": "list", "found": narrow(package, listed) or listed}  # "en lata": the cans
    # A model with several versions ("iphone 15": 128/256 GB, colours) lists the versions; a model named
    # precisely is one product; a kind of product ("sartenes") is a list.
    top = hits[0]
    versions, fitting = versions_of_top(hits, p.query, context.shop.namesakes(hits[0].item))
    if len(versions) > 1 and "sku" not in top.matched_by:
        missing = unmatched_model_numbers(p.query, fitting)
        if len(fitting) == 1:  # "el iPhone 15 de 128 GB en negro": that version, not all four
            return {"mode": "single", "found": [fact(fitting[0])], "missing": missing}
        fitting.sort(key=lambda i: (i.price, i.name))
        return {"mode": "variants", "found": [fact(i) for i in fitting], "missing": missing}
    clear = len(hits) == 1 or top.score - hits[1].score > 0.15 or "sku" in top.matched_by
    named = set(p.query.split()) <= set(" ".join(top.matched_terms).split()) and len(p.query.split()) >= 2
    if clear or named:
        missing = [] if "sku" in top.matched_by else unmatched_model_numbers(p.query, [top.item])
        return {"mode": "single", "found": [fact(top.item)], "missing": missing}
    return {"mode": "list", "found": [fact(h.item) for h in hits]}


look_up = planned(find)


async def reply(state: PricesState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Answer with the prices the look-up found, exact to the cent."""
    config = get_config()
    context = context_of(runtime)
    p = Plan.load(state["plan"])
    seed = turn_seed(config, p.text)
    found = state.get("found", [])
    mode = state.get("mode", "none")
    if mode == "none":
        draft = "¿De qué producto quieres saber el precio? Dime el nombre o elige uno de la lista."
    elif mode == "single":
        draft = composer.price_single(found[0], seed=seed)
    elif mode == "variants":
        draft = composer.price_variants(found, seed=seed)
    elif mode == "compare":
        draft = composer.price_compare(found, seed=seed)
        items = [context.shop.catalog.index.items.get(int(f["id"])) for f in found[:2]]
        if len(found) == 2 and all(items):  # "¿qué diferencia hay entre los dos?": also what sets them apart
            draft += "\n" + differences(items[0], items[1])  # type: ignore[arg-type]
    elif mode in ("offers", "sale_one", "sale_among"):
        draft = sale_draft(mode, found, state.get("label", "productos de oferta"), seed=seed)
    elif mode == "per_unit":
        draft = state.get("per_unit", "")
    elif mode == "extreme":
        label = (p.kind or p.query or "lo que buscas").lower()
        draft = composer.price_extreme(
            found, cheapest=p.cheapest, query=label, budget=composer.describe_filters(p), seed=seed
        )
    else:
        draft = composer.product_list(
            p.query or p.text, found, seed=seed, filters=composer.describe_filters(p, p.category)
        )
    if state.get("missing") and mode in ("single", "variants"):
        draft = f"{composer.not_exactly(p.query, seed=seed)}\n{draft}"
    text = await respond(context, config, state.get("messages", []), draft=draft, facts=list(found))
    # "¿y el segundo?", "¿cuál es más cara y por cuánto?": answered about the list, which stays in play
    keep_list = mode in ("single", "compare") and bool(p.references)
    return answer(
        text,
        shown=found,
        products=[] if keep_list else found,
        focus=(
            found[0] if mode in ("single", "extreme", "sale_one") and found else state.get("best") or state.get("focus")
        ),
        facts=list(found),
        query=f"precio {mode} {p.query or p.category or ''}{composer.describe_filters(p)}".strip(),
        **_topic(mode, p, found),
    )


def _topic(mode: str, p: Plan, found: list[ProductFact]) -> dict[str, Any]:
    """What a list was about; the cheapest or dearest few are a sample of their kind ("¿y el más caro?" next)."""
    words = p.query or p.category or ("" if mode == "list" else p.kind or "")
    topic = topic_of(words, found) if mode in ("list", "extreme") else None
    if topic is None:
        return {}
    return {"topic": {**topic, "sample": mode == "extreme"}}


def build() -> Any:
    """The prices subgraph: look up, then reply."""
    return two_step_graph(PricesState, "prices", look_up, reply)


prices_graph = build()
