"""Inventory subgraph: stock and availability, alternatives when sold out, and the owner's low-stock report."""

from __future__ import annotations

import re
from typing import Any, Literal

from langgraph.config import get_config
from langgraph.runtime import Runtime

from agent import composer
from agent.context import AgentContext, is_admin, turn_seed
from agent.planner import Plan
from agent.respond import respond
from agent.turn import TurnOutput, TurnState, answer, context_of, planned, search_query, turn_text, two_step_graph
from state import ProductFact
from tools.facts import fact
from tools.shop import ToolError
from tools.versions import unmatched_model_numbers, versions_of_top

ADMIN_QUESTION = re.compile(
    r"\b(?:poco|bajo|escaso) stock\b|\bstock bajo\b|\breponer\b|\breposicion\b|\binventario\b|\bque (?:productos|articulos) "
    r"(?:se )?(?:estan )?(?:agotando|acabando)\b|\bque (?:hay que|debo|tengo que) (?:reponer|pedir|comprar)\b"
)

Mode = Literal["single", "variants", "list", "report", "forbidden", "none"]


MOST_STOCK = re.compile(r"\bmas (?:unidades|stock|existencias)\b|\bquedan? mas\b|\bhay mas\b")


class InventoryState(TurnState, TurnOutput, total=False):
    plan: dict[str, Any]  # Plan.dump()
    mode: Mode
    found: list[ProductFact]
    alternatives: list[ProductFact]
    restock: dict[int, tuple[int, int]]
    missing: list[str]  # model numbers asked for that the products found do not have


async def find(state: InventoryState, runtime: Runtime[AgentContext], p: Plan) -> dict[str, Any]:
    """The inventory node's look-up: stock of the product(s) asked about, or the low-stock report."""
    config = get_config()
    context = context_of(runtime)
    shop = context.shop
    if ADMIN_QUESTION.search(p.folded) and not p.references:
        if not is_admin(config):
            return {"mode": "forbidden", "found": []}
        lines = await shop.restock()
        return {
            "mode": "report",
            "found": [fact(line.item) for line in lines],
            "restock": {line.item.id: (line.sold_last_30_days, line.suggested_units) for line in lines},
        }
    ref: Any = p.references[0]["id"] if p.references else None
    named_by_sku = False
    if ref is None and not p.query:
        in_play: list[ProductFact] = list(state.get("products") or [])
        focus = state.get("focus")
        if in_play and MOST_STOCK.search(p.folded):  # "¿y de cuál os quedan más unidades?"
            ref = max(in_play, key=lambda f: (f.get("stock", 0), -f.get("id", 0)))["id"]
        elif focus:  # "¿y hay stock?" right after a product
            ref = focus["id"]
        else:
            return {"mode": "none", "found": []}
    if ref is None:
        # Never filter by stock here: "¿tenéis X en stock?" must be able to answer "no, agotado".
        hits = await shop.search(
            search_query(context, turn_text(state), p.query), category=p.category, max_price=p.max_price, limit=5
        )
        if not hits:
            return {"mode": "list", "found": []}
        top = hits[0]
        versions, fitting = versions_of_top(hits, p.query, context.shop.namesakes(hits[0].item))
        if len(versions) > 1 and "sku" not in top.matched_by and len(fitting) > 1:
            fitting.sort(key=lambda i: (i.price, i.name))
            missing = unmatched_model_numbers(p.query, fitting)
            return {"mode": "variants", "found": [fact(i) for i in fitting], "missing": missing}
        if len(versions) > 1 and len(fitting) == 1:
            ref = fitting[0].id  # "¿hay stock del iPhone 15 de 256 GB en negro?": that version
        elif len(hits) > 1 and top.score - hits[1].score < 0.15 and "sku" not in top.matched_by:
            return {"mode": "list", "found": [fact(h.item) for h in hits]}
        else:
            ref = top.item.id
        named_by_sku = "sku" in top.matched_by
    try:
        report = await shop.stock(ref)
    except ToolError:
        return {"mode": "none", "found": []}
    missing = [] if p.references or named_by_sku else unmatched_model_numbers(p.query, [report.item])
    return {
        "mode": "single",
        "found": [fact(report.item)],
        "alternatives": [fact(i) for i in report.alternatives],
        "missing": missing,
    }


look_up = planned(find)


async def reply(state: InventoryState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    """Answer with the stock figures the look-up found."""
    config = get_config()
    context = context_of(runtime)
    p = Plan.load(state["plan"])
    seed = turn_seed(config, p.text)
    found = state.get("found", [])
    alternatives = state.get("alternatives", [])
    mode = state.get("mode", "none")
    if mode == "forbidden":
        draft = ("El informe de existencias es para el equipo de la tienda. Si buscas un producto concreto, dime cuál "
                 "y te digo si está disponible.")  # fmt: skip
    elif mode == "report":
        draft = composer.low_stock(found, state.get("restock", {}))
    elif mode == "none":
        draft = "¿De qué producto quieres saber si hay stock?"
    elif mode == "single":
        draft = composer.stock_single(found[0], alternatives, seed=seed)
    elif mode == "variants":
        draft = composer.stock_variants(found, seed=seed)
    else:
        draft = composer.stock_list(p.query or p.text, found, seed=seed)
    if state.get("missing") and mode in ("single", "variants"):
        draft = f"{composer.not_exactly(p.query, seed=seed)}\n{draft}"
    facts: list[Any] = [*found, *alternatives]
    text = await respond(context, config, state.get("messages", []), draft=draft, facts=facts)
    shown = found + alternatives if mode == "single" else found
    if mode == "single" and p.references and not alternatives:
        shown = []  # a product picked from the list by reference: the list stays in play
    return answer(
        text,
        shown=found + alternatives,
        products=shown if mode != "report" else [],
        focus=found[0] if mode == "single" and found else state.get("focus"),
        facts=facts,
        # Role-dependent answers (the owner's report, or its refusal) are never cached.
        query="" if mode in ("report", "forbidden") else f"stock {mode} {p.query}".strip(),
    )


def build() -> Any:
    """The inventory subgraph: look up, then reply."""
    return two_step_graph(InventoryState, "inventory", look_up, reply)


inventory_graph = build()
