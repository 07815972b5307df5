"""Recommendations subgraph: similar products, complements and advice for a need, each with a one-line reason.

Similar products come from the vectors; complements from past orders first, then category rules; a need ("algo
para correr", "un regalo para un niño") is searched for. In-stock products come first.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from langgraph.config import get_config
from langgraph.runtime import Runtime

from agent import composer
from agent.context import AgentContext, turn_seed
from agent.planner import Plan, kind_word, names_new_product
from agent.respond import respond
from agent.turn import TurnOutput, TurnState, answer, context_of, planned, search_query, turn_text, two_step_graph
from state import ProductFact
from tools.facts import fact
from tools.shop import ToolError
from vectorstore.text import fold, stem

COMPLEMENT = re.compile(
    r"\bcombina|\bva(?:n)? bien con\b|\bcomplement|\baccesorio|\bfunda|\bcargador|\bpara acompanar\b|\bque mas\b|"
    r"\bnecesito (?:ademas|tambien)\b|\bjunto (?:a|con)\b"
)
SIMILAR = re.compile(
    r"\bparecid|\bsimilar|\balternativ|\ben vez de\b|\ben lugar de\b|\bcomo (?:el|la|ese|esa)\b|\botr[oa]s? opci|"
    r"\b(?:que|algun|alguna) otr[oa]\b"
)
FOR_IT = re.compile(
    r"\bpara (?:es[ea]|est[ea]|el|ella|la misma|el mismo)\b(?! \w+ (?:de|del) )|\bque le (?:vaya|vayan|va|van) bien\b|"
    r"\bacompan\w*|\bpara (?:esa|ese|la|el) (?:tele|televisor|movil|portatil|consola|camara|cafetera|bici)\b"
)
_ASKING = re.compile(r"\b(?:recomiend\w*|recomend\w*|acompan\w*|sugier\w*|aconsej\w*|necesit\w*)\b")
# Words that ask for "another one like it" without naming a product of their own.
_GENERIC = re.compile(r"\b(?:algun[oa]?|otr[oa]s?|parecid\w*|similar\w*|recomiend\w*|recomendais|recomiendan)\b")

Kind = Literal["similar", "complement", "need"]


class RecommendationsState(TurnState, TurnOutput, total=False):
    plan: dict[str, Any]  # Plan.dump()
    kind: Kind
    anchor: ProductFact | None
    found: list[ProductFact]


async def find(state: RecommendationsState, runtime: Runtime[AgentContext], p: Plan) -> dict[str, Any]:
    """The recommendations look-up: similar products, complements, or picks for a purpose and budget."""
    context = context_of(runtime)
    shop = context.shop
    wants_complement = bool(COMPLEMENT.search(p.folded))
    wants_similar = bool(SIMILAR.search(p.folded))
    anchor_item = None
    focus = state.get("focus")
    if focus and not p.references and FOR_IT.search(p.folded):
        # "una barra de sonido para esa tele", "¿qué me recomiendas para acompañarla?": for the product in focus
        return await _for_the_focus(shop, await shop.resolve(focus["id"]), p)
    if p.references:
        anchor_item = await shop.resolve(p.references[0]["id"])
    elif (
        (wants_complement or wants_similar)
        and state.get("focus")
        and not names_new_product(
            _GENERIC.sub(" ", re.sub(r"\b(?:funda|fundas|cargador|cargadores|accesorios?)\b", " ", p.query))
        )
    ):
        # "¿qué otra consola me recomendáis?", "¿algún libro parecido?" right after a product: about that product
        anchor_item = await shop.resolve(state["focus"]["id"])  # type: ignore[index]
    elif (wants_complement or wants_similar) and p.query:
        anchor_query = re.sub(r"\b(?:funda|fundas|cargador|cargadores|accesorios?)\b", " ", p.query).strip()
        try:
            anchor_item = await shop.resolve(anchor_query or p.query)
        except ToolError:
            anchor_item = None
    elif (wants_complement or wants_similar) and state.get("focus"):
        anchor_item = await shop.resolve(state["focus"]["id"])  # type: ignore[index]
    if anchor_item is not None and (wants_complement or wants_similar or p.references):
        kind: Kind = "complement" if wants_complement else "similar"
        recs = await (shop.complements(anchor_item) if kind == "complement" else shop.similar(anchor_item))
        return {"kind": kind, "anchor": fact(anchor_item), "found": [fact(r.item, reason=r.reason) for r in recs]}
    in_play = [shop.catalog.index.items[int(f["id"])] for f in state.get("products") or []
               if int(f.get("id", 0)) in shop.catalog.index.items]  # fmt: skip
    if p.purpose and len(in_play) >= 2 and re.search(r"\bcual(?:es)?\b", p.folded):
        # "lo quiero para correr, ¿cuál me va mejor?": the one on the table that serves the purpose best
        ranked = sorted(in_play, key=lambda i: -_serves(i, p))
        why = f"el que mejor encaja para {p.purpose}"
        return {"kind": "need", "anchor": None, "found": [fact(ranked[0], reason=why)]}
    # A need, not a product: search for it, in stock, with the reason being the need itself.
    need = p.query or p.category or p.purpose_words or p.text
    kinds = [p.kind] if p.kind else p.purpose_kinds
    hits = await shop.search(
        search_query(context, turn_text(state), need), category=p.category, max_price=p.max_price,
        min_price=p.min_price, in_stock=True, limit=40 if kinds else 3,
    )  # fmt: skip
    if kinds:
        folded_kinds = {fold(k) for k in kinds}
        inside = [h for h in hits if fold(h.item.subcategory) in folded_kinds or fold(h.item.category) in folded_kinds]
        hits = (inside or hits)[:3]
    said = (p.purpose and f"para {p.purpose}") or need
    reason = f"encaja con «{said}»" + (" y tu presupuesto" if p.max_price is not None else "")
    return {"kind": "need", "anchor": None, "found": [fact(h.item, reason=reason) for h in hits]}


def _serves(item: Any, p: Plan) -> int:
    """How well a product serves a purpose: its kind, then the purpose's words in its name and description."""
    text = {stem(w) for w in fold(f"{item.name} {item.description} {item.subcategory}").split()}
    kind = any(fold(k) == fold(item.subcategory) for k in p.purpose_kinds)
    return 10 * kind + sum(stem(w) in text for w in p.purpose_words.split())


async def _for_the_focus(shop: Any, anchor: Any, p: Plan) -> dict[str, Any]:
    """Complements of the product in focus; when the customer names what they want (a soundbar), that first."""
    anchor_words = {stem(w) for w in fold(anchor.name).split()}
    words = _ASKING.sub(" ", _GENERIC.sub(" ", FOR_IT.sub(" ", p.query))).split()
    need = " ".join(w for w in words if stem(w) not in anchor_words and not kind_word(w)).strip()
    recs = await shop.complements(anchor)
    if need:
        wanted = {stem(w) for w in need.split()}
        named = [r for r in recs if wanted & {stem(w) for w in fold(r.item.name).split()}]
        if named:
            recs = named
        else:
            hits = await shop.search(need, in_stock=True, limit=3)
            found = [fact(h.item, reason=f"para {anchor.name}") for h in hits if h.item.id != anchor.id]
            return {"kind": "complement", "anchor": fact(anchor), "found": found}
    return {"kind": "complement", "anchor": fact(anchor), "found": [fact(r.item, reason=r.reason) for r in recs]}


look_up = planned(find)


async def reply(state: RecommendationsState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Answer with the recommendations and why each fits."""
    config = get_config()
    context = context_of(runtime)
    p = Plan.load(state["plan"])
    found = state.get("found", [])
    anchor = state.get("anchor")
    kind = state.get("kind", "need")
    draft = composer.recommendations(anchor, found, kind=kind, seed=turn_seed(config, p.text))
    facts: list[Any] = [*([anchor] if anchor else []), *found]
    text = await respond(context, config, state.get("messages", []), draft=draft, facts=facts)
    return answer(
        text,
        shown=found,
        products=found,
        focus=anchor or state.get("focus"),
        facts=facts,
        query=f"recomendar {kind} {anchor['sku'] if anchor else p.query}".strip(),
    )


def build() -> Any:
    """The recommendations subgraph: look up, then reply."""
    return two_step_graph(RecommendationsState, "recommendations", look_up, reply)


recommendations_graph = build()
