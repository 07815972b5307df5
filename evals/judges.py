"""Judging one observed turn against its reference, and the LangSmith evaluators built on it.

- routing: every item of `routing.jsonl` has exactly one label today (multi-intent utterances are labelled
  `orchestrator`). A prediction is correct when it is in `routes`, which for one label is plain equality.
- conversations, per turn: the route; the tool trajectory (names only, strict / unordered / superset through
  agentevals, see `evals/trajectory.py` for how shop calls map to tool names); the facts: each expected price
  must equal the database and appear in the reply written the Spanish way ("1.299,00 €"); each expected stock
  must equal the database and its number appear in the reply (0: "agotado"); each expected SKU must be among the
  products shown or named in the reply (SKU or product name); `total` must appear formatted in the reply;
  `no_products` means no product shown; `anchor` (what a recommendation is for) must be named in the reply;
  `order_placed` is checked by counting rows in the orders table before and after the turn.
- What a target cannot observe (tools and orders over HTTP) scores None ("n/d"), not zero.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from evals.common import TRAJECTORY_MODES, eur, fold_text
from evals.trajectory import argument_match, trajectory_match

EVAL_KEYS = ("route", *(f"trajectory_{m}" for m in TRAJECTORY_MODES), "tool_args", "facts", "order")
NOT_OBSERVABLE = {"score": None, "comment": "no observable por HTTP"}


def route_evaluator(
    inputs: dict[str, Any], outputs: dict[str, Any], reference_outputs: dict[str, Any]
) -> dict[str, Any]:
    """Correct when the predicted route is one of the labels (one label: equality)."""
    predicted = (outputs or {}).get("route")
    ok = predicted in reference_outputs["routes"]
    return {"key": "route", "score": float(ok), "comment": f"{predicted} vs {'/'.join(reference_outputs['routes'])}"}


def fact_skus(facts: dict[str, Any]) -> list[str]:
    """Every SKU a turn's facts mention (to read their price and stock from the database)."""
    skus = [*facts.get("skus", []), *facts.get("prices", {}), *facts.get("stock", {})]
    if facts.get("anchor"):
        skus.append(facts["anchor"])
    return sorted(set(skus))


def named(reply: str, sku: str, db: dict[str, dict[str, Any]]) -> bool:
    """The product is named in the reply (by SKU or by its name in the catalogue)."""
    name = db.get(sku, {}).get("name")
    return sku.lower() in reply.lower() or bool(name and fold_text(name) in fold_text(reply))


def stock_in_reply(reply: str, stock: int) -> bool:
    """A stock figure in the reply: the number itself, or "agotado" for zero."""
    if stock <= 0:
        return "agotad" in fold_text(reply) or bool(re.search(r"(?<![\d.,])0 unidades", reply))
    return bool(re.search(rf"(?<![\d.,]){stock}(?![\d]|,\d)", reply))


def judge_facts(expected: dict[str, Any], observed: dict[str, Any]) -> tuple[int, int, list[str]]:
    """Fact checks of one turn: (passed, total, failure notes). `order_placed` is judged apart."""
    reply = observed.get("reply") or ""
    db = observed.get("db") or {}
    shown = {p.get("sku") for p in observed.get("products") or []}
    passed = total = 0
    notes: list[str] = []

    def check(ok: bool, note: str) -> None:
        nonlocal passed, total
        total += 1
        passed += ok
        if not ok:
            notes.append(note)

    for sku, price in expected.get("prices", {}).items():
        actual = db.get(sku, {}).get("price")
        if actual != f"{Decimal(price):.2f}":
            check(False, f"precio de {sku}: dataset {price}, base de datos {actual}")
        else:
            check(eur(actual) in reply, f"precio {eur(actual)} ({sku}) no aparece")
    for sku, stock in expected.get("stock", {}).items():
        actual_stock = db.get(sku, {}).get("stock")
        if actual_stock != stock:
            check(False, f"stock de {sku}: dataset {stock}, base de datos {actual_stock}")
        else:
            check(stock_in_reply(reply, int(stock)), f"stock {stock} ({sku}) no aparece")
    for sku in expected.get("skus", []):
        check(sku in shown or named(reply, sku, db), f"{sku} ni mostrado ni nombrado")
    if "total" in expected:
        check(eur(expected["total"]) in reply, f"total {eur(expected['total'])} no aparece")
    if expected.get("no_products"):
        check(not shown, f"debía no mostrar productos y mostró {sorted(s for s in shown if s)}")
    if expected.get("anchor"):
        anchor = expected["anchor"]
        check(named(reply, anchor, db) or anchor in shown, f"no nombra el producto de referencia {anchor}")
    return passed, total, notes


def judge_tools(expected: dict[str, Any], observed: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The trajectory in each mode and the tool arguments (not observable over HTTP)."""
    got = observed.get("tools")
    if got is None:
        return {key: dict(NOT_OBSERVABLE) for key in (*(f"trajectory_{m}" for m in TRAJECTORY_MODES), "tool_args")}
    want = [t["name"] for t in expected.get("tools", [])]
    out: dict[str, dict[str, Any]] = {}
    for mode in TRAJECTORY_MODES:
        ok = trajectory_match(mode, expected["user"], list(got), want)
        out[f"trajectory_{mode}"] = {"score": float(ok), "comment": f"{got} vs {want}"}
    score, note = argument_match(
        expected.get("tools", []),
        fact_skus(expected.get("facts", {})),
        # what the turn acted on: the products of its single-product calls and those its reply presents
        [*(observed.get("tool_products") or []), *(p.get("sku") for p in observed.get("products") or [])],
        list(observed.get("tool_quantities") or []),
    )
    out["tool_args"] = {"score": score, "comment": note}
    return out


def judge_order(want_order: bool, delta: int | None) -> dict[str, Any]:
    """Whether exactly one order was placed when one was expected (and none otherwise)."""
    if delta is None:
        return {"score": None, "comment": "pedidos no observables por HTTP"}
    return {"score": float((delta == 1) == want_order and delta in (0, 1)), "comment": f"pedidos +{delta}"}


def judge_turn(expected: dict[str, Any], observed: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """All per-turn evaluations, each `{score, comment}` (score None when not applicable or not observable)."""
    route = observed.get("route")
    out: dict[str, dict[str, Any]] = {
        "route": {"score": float(route == expected["route"]), "comment": f"{route} vs {expected['route']}"},
        **judge_tools(expected, observed),
    }
    passed, total, notes = judge_facts(expected.get("facts", {}), observed)
    out["facts"] = {
        "score": passed / total if total else None,
        "comment": "; ".join(notes),
        "passed": passed,
        "total": total,
    }
    if "order_placed" in expected.get("facts", {}):
        out["order"] = judge_order(bool(expected["facts"]["order_placed"]), observed.get("orders_delta"))
    return out


def dialogue_evaluator(key: str) -> Callable[..., dict[str, Any]]:
    """A LangSmith evaluator for one key, aggregated over the dialogue's turns (mean of the applicable ones)."""

    def evaluate(inputs: dict[str, Any], outputs: dict[str, Any], reference_outputs: dict[str, Any]) -> dict[str, Any]:
        turns = (outputs or {}).get("turns") or []
        if (outputs or {}).get("error"):
            return {"key": key, "score": 0.0, "comment": f"error: {outputs['error']}"}
        scores: list[float] = []
        notes: list[str] = []
        for i, (want, got) in enumerate(zip(reference_outputs["turns"], turns, strict=False), 1):
            result = judge_turn(want, got).get(key)
            if result is None or result["score"] is None:
                continue
            scores.append(result["score"])
            if result["score"] < 1:
                notes.append(f"t{i}: {result['comment']}")
        score = round(sum(scores) / len(scores), 4) if scores else None
        return {"key": key, "score": score, "comment": " | ".join(notes)[:1000]}

    evaluate.__name__ = f"eval_{key}"
    return evaluate
