"""Products subgraph: search the catalogue (hybrid), show details, filter by category, brand, price and stock."""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any

from langgraph.config import get_config
from langgraph.runtime import Runtime

from agent import composer
from agent.context import AgentContext, turn_seed
from agent.features import Feature, about_one, about_several
from agent.language import euros
from agent.lexicon import brand_kind, is_regional
from agent.offers import no_offers, sale_draft, sale_question
from agent.planner import Plan, kind_word, only_kind_words
from agent.references import measures_in
from agent.respond import respond
from agent.turn import (
    TurnOutput,
    TurnState,
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
from state import ProductFact, SearchHit
from tools.facts import display_name, fact
from tools.shop import ToolError
from tools.versions import unmatched_model_numbers, versions_of_top
from vectorstore.index_snapshot import Snapshot
from vectorstore.text import fold, normalise_units, stem, words


class ProductsState(TurnState, TurnOutput, total=False):
    plan: dict[str, Any]  # Plan.dump()
    found: list[ProductFact]
    detail: ProductFact | None
    draft: str
    missing: list[str]  # what was asked for and is not sold ("xbox"), said before any alternatives
    lead: ProductFact  # the product a list question named in full (becomes the focus)
    feature_draft: str  # the answer to a question about features
    others: list[ProductFact]  # the same product in its other sizes or packages
    feature_focus: ProductFact | None
    alternatives: bool
    label: str  # what the list is for, when it is not the query ("bebida isotonica" for "gatorade")
    offers: bool  # the list answers "¿qué tenéis de oferta?"


def reaching(hits: list[SearchHit], said: str) -> list[SearchHit]:
    """The hits whose name or attributes reach the measure said as a minimum ("55 pulgadas" -> 55", 65")."""
    wanted = measures_in(normalise_units(said))
    if not wanted:
        return []
    dimension, amount = wanted[0]

    def reaches(item: Any) -> bool:
        text = " ".join([display_name(item), *(str(v) for v in (item.attributes or {}).values())])
        return any(d == dimension and a >= amount for d, a in measures_in(normalise_units(fold(text))))

    return [h for h in hits if reaches(h.item)]


def asks_about_it(p: Plan, snapshot: Any) -> bool:
    """A question whose words name no product (a verb, "friega"), said of one product referred to."""
    content = [w for w in p.query.split() if len(w) > 2 and not kind_word(w)]
    return (
        bool(content)
        and "?" in p.text
        and not any(w in snapshot.name_words or stem(w) in snapshot.name_stems for w in content)
    )


_QUESTION_OF_IT = re.compile(
    r"\b(?:tiene|tienen|trae|traen|lleva|llevan|viene|vienen|es|son|pesa|pesan|mide|miden|dura|duran|da|dan|"
    r"sirve|sirven|puede|pueden|se puede|hace|hacen|cuant[oa]s?|de donde|incluye|incluyen)\b"
)


def _content(p: Plan) -> list[str]:
    """The words of the query that can name something (no short words, no bare numbers)."""
    return [w for w in p.query.split() if len(w) > 2 and not w.isdigit()]


def asks_of_focus(p: Plan, snapshot: Any) -> bool:
    """A question (a "?" and a verb of having or being) none of whose words is a kind of product the shop sells."""
    content = _content(p)
    return (
        bool(content)
        and "?" in p.text
        and bool(_QUESTION_OF_IT.search(p.folded))
        and not any(
            kind_word(w) or snapshot.names_a_kind(w, strict=True) or w in snapshot.brand_phrases for w in content
        )
    )


def _in_names(phrase: str, snapshot: Any) -> bool:
    """Whether some product's name says the phrase ("harina pan" is not "Harina de trigo", nor "Pan de molde")."""
    if " " not in phrase:
        return phrase in snapshot.name_words
    return any(f" {phrase} " in f" {' '.join(words(fold(i.name)))} " for i in snapshot.items)


def as_written(folded: str, names: list[str]) -> str:
    """Folded words as the product names write them: "bebida isotonica" -> "bebida isotónica"."""
    written = {fold(w): w.lower() for name in names for w in re.findall(r"\w+", name)}
    return " ".join(written.get(w, w) for w in folded.split())


def with_namesakes(hits: list[Any], context: AgentContext, limit: int = 8) -> list[Any]:
    """Products sold under one name in several sizes are listed together, all of them (up to `limit`)."""
    out: list[Any] = []
    ids: set[int] = set()
    for hit in hits:
        for item in [hit.item, *(n for n in context.shop.namesakes(hit.item) if n.id != hit.item.id)]:
            if item.id not in ids and len(out) < max(limit, len(hits)):
                ids.add(item.id)
                out.append(
                    hit if item is hit.item else SearchHit(item=item, score=hit.score, name_match=hit.name_match)
                )
    return out


def within_kinds(hits: list[Any], p: Plan) -> list[Any]:
    """The kinds that serve the purpose ("unos tenis para correr": running shoes), or the kind named."""
    if not p.purpose_kinds or p.category:
        return hits
    kinds = {fold(k) for k in ([p.kind] if p.kind else p.purpose_kinds)}
    inside = [h for h in hits if fold(h.item.subcategory) in kinds or fold(h.item.category) in kinds]
    return inside or hits


_HARD = re.compile(
    r"\btalla \w+|\b(?:hombre|mujer|nino|nina|bebe|unisex|infantil)\b|\b\d+(?:[.,]\d+)? ?(?:gb|tb|pulgadas|\")"
)


def fitting_constraints(hits: list[Any], query: str) -> list[Any]:
    """A size, a gender or a capacity the customer said ("talla 42 de hombre") leaves out what does not have it."""
    wanted = [" ".join(m.split()) for m in _HARD.findall(fold(query))]
    if not wanted or not hits:
        return hits
    fit = [h for h in hits if all(w in " ".join(fold(display_name(h.item)).split()) for w in wanted)]
    return fit or hits


def heads_first(hits: list[Any], query: str) -> list[Any]:
    """Products whose name starts with the first word asked go first ("Cacahuete frito", not "Calabaza cacahuete").

    Spanish names lead with what the product is: for "bombones", "Bombones Ferrero Rocher" before "Helado mini
    bombón". A brand asked first ("nike pegasus") changes nothing.
    """
    first = next(iter(query.split()), "")
    if len(first) < 3 or first.isdigit() or any(fold(h.item.brand or "") == first for h in hits):
        return hits
    head = stem(first)
    leading = [h for h in hits if stem(next(iter(fold(h.item.name).split()), "")) == head]
    return [*leading, *(h for h in hits if h not in leading)] if leading else hits


def relevant(hits: list[Any]) -> list[Any]:
    """A list keeps what shares enough of the words asked: not "Pelotas Head Padel Pro" for "AirPods Pro"."""
    if not hits or hits[0].name_match < 0.5:
        return hits
    return [h for h in hits if h.name_match >= 0.34 or "sku" in h.matched_by]


_WHOLE_KIND = re.compile(
    r"\bde (?:los|las|todos los|todas las) (\w+) que (?:teneis|tienen|tenes|tienes|hay|vendeis|venden)\b"
)
_BETWEEN = re.compile(r"\bentre (?:ese|esa|este|esta|el mio) y (?:el|la|los|las) ([\w ]+?)(?:,|$| cual)")


async def feature_answer(state: ProductsState, context: AgentContext, p: Plan) -> dict[str, Any]:
    """A question about features: of the product named, referred to or in focus, or across the list in play."""
    feature = Feature(**(p.feature or {}))
    items = context.shop.catalog.index.items
    targets = [items[int(r["id"])] for r in p.references or p.candidates if int(r.get("id", 0)) in items]
    comparing = feature.direction is not None or bool(re.search(r"\bcual(?:es)?\b", p.folded))
    whole_kind = _WHOLE_KIND.search(p.folded) if comparing else None
    between = _BETWEEN.search(p.folded) if not targets and state.get("focus") else None
    if whole_kind:  # "¿cuál de los taladros que tenéis tiene más par?": every drill, not the one talked about
        hits = await context.shop.search(search_query(context, turn_text(state), whole_kind.group(1)), limit=20)
        targets = [h.item for h in hits if h.name_match >= 0.5]
    elif between:  # "¿y entre ese y el Redmi Note 13, cuál tiene mejor pantalla?": those two
        other = await context.shop.best_match(search_query(context, turn_text(state), between.group(1)))
        focus_item = items.get(int((state.get("focus") or {}).get("id", 0)))
        targets = [t for t in (focus_item, other) if t is not None]
        targets = targets if len({t.id for t in targets}) == 2 else []
    if not targets and p.kind and comparing and (not p.query or only_kind_words(p.query) or p.category):
        # "¿cuál es la tele más grande que tenéis?": across the whole kind
        hits = await context.shop.search(p.kind, category=p.kind, limit=50)
        targets = [h.item for h in hits]
    elif not targets and p.query:
        match = await context.shop.best_match(search_query(context, turn_text(state), p.query))
        targets = [match] if match is not None else []
    in_play = [items[int(f["id"])] for f in state.get("products") or [] if int(f.get("id", 0)) in items]
    focus = state.get("focus")
    plural = bool(
        re.search(
            r"\b(?:tienen|traen|vienen|llevan|son|pesan|miden|duran|gastan|consumen|cada uno|cada una)\b", p.folded
        )
    )
    if not targets and (comparing or plural) and len(in_play) >= 2:
        targets = in_play
    if not targets and focus and int(focus.get("id", 0)) in items:
        targets = [items[int(focus["id"])]]
    if not targets and in_play and re.search(r"\b(?:ese|esa|este|esta|eso|esto)\b", p.folded):
        targets = in_play[:1]  # "¿ese es de batería?" right after a list: the one it leads with
    if not targets and in_play:
        targets = in_play
    if not targets:
        return {"feature_draft": "¿De qué producto me preguntas? Dime cuál y te lo miro.", "found": []}
    if len(targets) == 1:
        return {"feature_draft": about_one(targets[0], feature, p.folded), "found": [], "detail": None,
                "feature_focus": fact(targets[0])}  # fmt: skip
    text, best = about_several(targets, feature, p.folded)
    # the products compared are now the ones in play ("pues el más barato de esos")
    return {
        "feature_draft": text,
        "found": [fact(t) for t in targets[:10]],
        "feature_focus": fact(best) if best else None,
    }


def which_of_these(state: ProductsState, context: AgentContext, p: Plan) -> dict[str, Any] | None:
    """The product on the table whose description speaks of what is asked ("¿cuál anda sobre vidrio?")."""
    items = context.shop.catalog.index.items
    in_play = [items[int(f["id"])] for f in state.get("products") or [] if int(f.get("id", 0)) in items]
    wanted = {stem(w) for w in p.query.split() if len(w) > 2}
    if not re.match(r"^(?:y |pero |vale )?cual(?:es)?\b", p.folded) or len(in_play) < 2 or not wanted:
        return None
    scored = []
    for item in in_play:
        sentences = re.split(r"(?<=[.!?])\s+", item.description or "")
        hits = [s for s in sentences if wanted & {stem(w) for w in fold(s).split()}]
        scored.append((len(hits), item, hits))
    scored.sort(key=lambda s: -s[0])
    if not scored[0][0]:
        return {"feature_draft": "No tengo ese dato de ninguno de ellos en la ficha.", "found": []}
    _, item, hits = scored[0]
    text = f"De esos, {display_name(item)} ({euros(item.price)}): {' '.join(hits[:2])}"
    return {"feature_draft": text, "found": [], "feature_focus": fact(item)}


async def find(state: ProductsState, runtime: Runtime[AgentContext], p: Plan) -> dict[str, Any]:
    """The products look-up: a feature question, a product, a list of a kind, or what is not sold."""
    context = context_of(runtime)
    snapshot = context.shop.catalog.index.snapshot()
    found = await _from_plan(state, context, p, snapshot)
    if found is not None:
        return found
    hits = await _search(state, context, p)
    return await _not_sold(state, context, p, hits, snapshot) or _answer(context, p, hits)


def _other_kind(p: Plan, state: ProductsState) -> bool:
    """A feature asked of a kind other than the product in focus: "¿algún reloj que funcione con Android?" searches."""
    if not p.kind:
        return False
    focus = state.get("focus")
    if focus is None:  # "¿cuál es la tele más grande?" compares the whole kind; without a direction it searches
        return not (p.feature or {}).get("direction")
    return fold(p.kind) not in (fold(str(focus.get("subcategory", ""))), fold(str(focus.get("category", ""))))


async def _from_plan(state: ProductsState, context: AgentContext, p: Plan, snapshot: Snapshot) -> dict[str, Any] | None:
    """What needs no search: a feature question, a sale, "¿cuál de estos…?", a reference, the cheapest of a kind."""
    if p.feature and not _other_kind(p, state):
        return await feature_answer(state, context, p)
    if state.get("focus") and not p.references and not p.candidates and asks_of_focus(p, snapshot):
        # "¿cuántas calorías tiene?", "¿es apto para celíacos?": about the product in focus, in words no product is
        p.feature = asdict(Feature([], p.query.split(), None, p.query.split()))
        p.query = ""  # what is asked, not a product to look for
        return await feature_answer(state, context, p)
    if p.on_sale:  # "¿qué tenéis de oferta?", "¿está rebajado?"
        sale = await sale_question(context, state, p)
        mode, found = sale.pop("mode"), sale["found"]
        if mode == "offers":
            return sale
        draft = sale_draft(mode, found, "", seed=turn_seed(get_config(), p.text))
        return {"feature_draft": draft, "feature_focus": found[0] if mode == "sale_one" else None, "found": found}
    which = which_of_these(state, context, p)
    if which is not None:
        return which
    if len(p.references) == 1 and p.query and asks_about_it(p, snapshot):
        # "¿y el caro friega también?": a question about that one, in words no product name uses
        p.feature = asdict(Feature(["funciones"], p.query.split(), None, p.query.split()))
        return await feature_answer(state, context, p)
    if len(p.references) == 1 and (not p.query or p.names_only_a_version()):
        try:
            item = await context.shop.details(p.references[0]["id"])
        except ToolError:
            return {"found": [], "detail": None}
        return {"detail": fact(item, description=True), "found": []}
    if p.candidates and not p.references and not (p.cheapest or p.dearest):
        # "¿lo hay en blanco?" right after the versions were listed: those of them that fit
        return {"found": list(p.candidates), "detail": None}
    if (p.cheapest or p.dearest) and p.kind and not p.references:
        # "la computadora más barata que tengas": that kind, cheapest (or dearest) first, within the budget
        items = await context.shop.extreme(
            search_query(context, turn_text(state), p.query or p.kind), cheapest=p.cheapest, category=p.kind,
            max_price=p.max_price, in_stock=not p.include_sold_out,
        )  # fmt: skip
        items = qualified(items, p.folded)  # "el portátil más barato con 16 GB": those that have it
        # the cheapest and the two after it: an answer, not a catalogue page
        return {"found": [fact(i) for i in items[:3]], "detail": None, **({"lead": fact(items[0])} if items else {})}
    return None


async def _search(state: ProductsState, context: AgentContext, p: Plan) -> list[SearchHit]:
    """The words searched, then kept to the kind, the minimum, the brand and what is relevant."""
    words = p.query or (p.category or "") or p.purpose_words
    hits = await context.shop.search(
        search_query(context, turn_text(state), f"{words} {p.at_least}".strip()),  # the minimum ranks, then filters
        category=p.category,
        min_price=p.min_price,
        max_price=p.max_price,
        in_stock=p.in_stock,
        limit=40 if p.purpose_kinds and not p.category else 12,
    )
    if p.at_least:  # "de 55 pulgadas pa arriba": those that reach it
        hits = reaching(hits, p.at_least) or hits
    hits = heads_first(qualified(within_kinds(hits, p), p.folded, key=lambda h: h.item), p.query)[:5]
    hits = fitting_constraints(hits, p.query)
    branded = [h for h in hits if "brand" in h.matched_by]
    if branded and not unmatched_model_numbers(p.query, [h.item for h in branded]):
        hits = branded  # "zapatillas Nike": Nike's, not every shoe that ranks near them
    if not p.category:  # within a category every product is the kind asked for, whatever its name says
        hits = relevant(hits)
    hits = with_namesakes(hits, context)
    return hits


_DO_YOU_HAVE = re.compile(r"^(?:y )?(?:tienen|teneis|tenes|tienes|hay)\b")


def _kind_not_sold(p: Plan, hits: list[SearchHit], snapshot: Snapshot, unknown: list[str]) -> list[str]:
    """The kind asked, when no product is one: "¿tenéis paelleras?" where only "Arreglo para paella" says it.

    Only a short query about no product shown, not a question about one ("¿cómo se cargan?"), that starts with
    the kind ("bombillas led"); no word of it may be a brand, and the other words must not name a product well
    ("champán Moët"). The kind is the first word, and must not be a product's kind, a category or an everyday
    word for one.
    """
    content = _content(p)
    asked_of_it = _QUESTION_OF_IT.search(_DO_YOU_HAVE.sub("", p.folded))
    if not content or len(content) > 3 or content[0] in unknown or p.references or p.is_reference or asked_of_it:
        return []  # "y de esa cuántas os kedan", "¿cómo se cargan?": about the one shown, whatever the words
    if any(w in snapshot.brand_phrases for w in content) or (len(content) > 1 and hits and hits[0].name_match >= 0.5):
        return []  # "champán Moët": the other words name a product ("Champagne brut Moët & Chandon")
    first = content[0]
    if kind_word(first) or snapshot.names_a_kind(first):
        return []
    return [first]


async def _not_sold(
    state: ProductsState, context: AgentContext, p: Plan, hits: list[SearchHit], snapshot: Snapshot
) -> dict[str, Any] | None:
    """A brand, a word or a model the shop does not sell: said plainly, with the closest products when any."""
    # Words no product uses, not even misspelt ("xbox", "huawei"): say so rather than pass other things off.
    unknown = [w for w in snapshot.unknown_words(p.query) if not kind_word(w)] if p.query else []
    # "¿venden heladeras?": a customer's word for something no product is (not even close by its letters)
    unknown += [
        w
        for w in p.query.split()
        if w not in unknown and is_regional(w) and w not in snapshot.name_words and in_catalogue_words(w, snapshot) == w
    ]
    not_a_kind = _kind_not_sold(p, hits, snapshot, unknown)
    if not_a_kind:  # "¿tenéis bombillas?": none, and bombones are not what was asked
        return {"found": [], "detail": None, "missing": not_a_kind, "alternatives": False}
    brand = brand_kind(p.query.split()) if p.query else None
    if brand and not _in_names(brand[0], snapshot):
        # "¿tenéis Gatorade?": not that brand (no name says it), but the kind of product it is
        kind = await context.shop.search(search_query(context, turn_text(state), brand[1]), limit=12)
        kind = [h for h in kind if h.name_match >= 0.999][:5]  # every word of the kind in the name
        if not kind:
            return {"found": [], "detail": None, "missing": [brand[0]], "alternatives": False}
        label = as_written(brand[1], [h.item.name for h in kind])
        return {"found": [fact(h.item) for h in kind], "detail": None, "missing": [brand[0]], "alternatives": True,
                "label": label}  # fmt: skip
    if unknown and (not hits or hits[0].name_match < 0.999):
        content = [w for w in p.query.split() if not kind_word(w) and not w.isdigit()]
        if set(content) <= set(unknown):  # nothing but unknown words: no list at all
            return {"found": [], "detail": None, "missing": unknown, "alternatives": False}
        return {"found": [fact(h.item) for h in hits], "detail": None, "missing": unknown, "alternatives": True}
    if hits and unmatched_model_numbers(p.query, [hits[0].item]) and hits[0].name_match < 0.999:
        missing_models = [p.query]
        # "¿tenéis el iPhone 15 Pro Max?": not as such; the closest leads, and "ese" next means it
        return {"found": [fact(h.item) for h in hits], "detail": None, "missing": missing_models, "alternatives": True,
                "lead": fact(hits[0].item)}  # fmt: skip
    return None


def _answer(context: AgentContext, p: Plan, hits: list[SearchHit]) -> dict[str, Any]:
    """What was found: one product's details, one version of a model, or a list led by the product named."""
    # One clear match asked for by name ("características del Kindle Paperwhite") reads as its details.
    clear = hits and (len(hits) == 1 or hits[0].score - hits[1].score > 0.25 or hits[0].name_match >= 0.999)
    if hits and p.details and clear:
        return {"detail": fact(hits[0].item, description=True), "found": [fact(h.item) for h in hits[:1]]}
    if len(hits) > 1 and not p.category:
        # "¿tenéis el iPhone 15 de 128 GB negro?": one version of a model named in full is that product
        versions, fitting = versions_of_top(hits, p.query, context.shop.namesakes(hits[0].item))
        if len(versions) > 1 and len(fitting) == 1:
            others = [fact(v) for v in versions if v.id != fitting[0].id and context.shop.is_namesake(v, fitting[0])]
            return {"detail": fact(fitting[0], description=True), "found": [fact(fitting[0])], "others": others}
    # "¿Tenéis el Kindle Paperwhite?": the list leads with the product named in full, and the talk is about it
    lead = hits[0] if hits and hits[0].name_match >= 0.999 and (len(hits) == 1 or hits[1].name_match < 0.999) else None
    return {"found": [fact(h.item) for h in hits], "detail": None, **({"lead": fact(lead.item)} if lead else {})}


look_up = planned(find)


async def reply(state: ProductsState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Answer with the products the look-up found."""
    config = get_config()
    context = context_of(runtime)
    p = Plan.load(state["plan"])
    seed = turn_seed(config, p.text)
    detail = state.get("detail")
    if state.get("feature_draft"):
        target = state.get("feature_focus")
        compared = state.get("found") or []
        text = await respond(context, config, state.get("messages", []), draft=state["feature_draft"],
                             facts=[target] if target else [])  # fmt: skip
        return answer(
            text,
            shown=[target] if target else [],
            focus=target or state.get("focus"),
            query="",
            **({"products": compared} if len(compared) > 1 else {}),
        )
    if detail:
        draft = composer.details(detail, seed=seed)
        others = state.get("others") or []
        if others:  # "arvejas en lata": that one, and the same product in its other sizes
            draft += "\n" + composer.also_in(others)
        facts: list[Any] = [detail, *others]
        # Picked from the list by reference ("el segundo"): the list stays in play for "el último" next.
        shown = [] if p.references else [detail]
    elif state.get("missing") and not state.get("found"):
        draft = composer.not_sold(state["missing"], seed=seed)
        facts, shown = [], []
    else:
        found = state.get("found", [])
        label = state.get("label") or p.query or p.category or p.text
        label = f"{label} de {p.at_least} o más" if p.at_least else label
        draft = composer.product_list(label, found, seed=seed, filters=composer.describe_filters(p, p.category))
        if state.get("offers") and not found:
            draft = no_offers(label)
        if state.get("missing"):
            draft = f"{composer.not_sold(state['missing'], seed=seed, alternatives=True)}\n{draft}"
        facts, shown = list(found), list(found)
    text = await respond(context, config, state.get("messages", []), draft=draft, facts=facts)
    return answer(
        text,
        shown=[detail] if detail else shown,
        products=shown,
        # a new list takes the focus off the product talked about before (unless it leads with one named in full)
        focus=detail or (shown[0] if len(shown) == 1 else state.get("lead") or (None if shown else state.get("focus"))),
        facts=facts,
        query=f"buscar {state.get('label') or p.query or p.category or ''}{composer.describe_filters(p)}".strip(),
        **({"topic": topic} if (topic := topic_of(state.get("label") or p.query or p.category or "", shown)) else {}),
    )


def build() -> Any:
    """The products subgraph: look up, then reply."""
    return two_step_graph(ProductsState, "products", look_up, reply)


products_graph = build()
