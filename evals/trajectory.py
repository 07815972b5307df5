"""The agent's tool trajectory, observed in-process, and its comparison with a reference (agentevals).

The offline agent calls methods of `context.shop` (a `tools.shop.Shop`) instead of LangChain tools. For the eval
only, `record_shop` wraps that instance's public methods so every outermost call appends the equivalent
LangChain tool name (the names of `tools.shop.build_langchain_tools`). Mapping decisions:

- search, extreme -> search_products; details -> product_details; compare -> compare_prices;
  stock -> check_stock; similar, complements -> recommend_products; add_to_cart; cart -> show_cart;
  remove_from_cart.
- resolve, best_match and variant are *implicit lookups* (which product "el segundo" or "el iPhone" means). A
  model would pass the name straight to the tool that needs it, so they count as one product_details only when
  the turn made no other call (the prices route answers "¿cuánto cuesta X?" with just a resolve).
- place_order: the LangChain tool only *prepares* the order and the customer confirms it afterwards. So the turn
  that ends asking for confirmation counts as place_order (its cart read is part of it), and the turn where the
  customer says "sí" (Shop.place_order commits) records no tool call, exactly like the reference dialogues.
- Calls made inside another recorded call (details -> resolve -> best_match) are not recorded twice, and an
  identical call repeated back to back in one turn counts once.
"""

from __future__ import annotations

import contextvars
import functools
import json
import re
from collections.abc import Callable
from typing import Any

from agentevals.trajectory.match import create_trajectory_match_evaluator

EXPLICIT = {
    "search": "search_products",
    "extreme": "search_products",
    "details": "product_details",
    "compare": "compare_prices",
    "stock": "check_stock",
    "similar": "recommend_products",
    "complements": "recommend_products",
    "add_to_cart": "add_to_cart",
    "cart": "show_cart",
    "remove_from_cart": "remove_from_cart",
    "place_order": "",  # the committed order after the customer's "sí": not a tool call (see module docstring)
}
IMPLICIT = ("resolve", "best_match", "variant")
# Calls whose result is the one product they were about (what a tool's `product` argument names).
SINGLE_PRODUCT = {"details", "stock", "add_to_cart", "remove_from_cart", "resolve", "best_match", "variant"}
TOOL_NAMES = (
    "search_products", "product_details", "compare_prices", "check_stock", "recommend_products",
    "add_to_cart", "show_cart", "remove_from_cart", "place_order",
)  # fmt: skip

_depth: contextvars.ContextVar[int] = contextvars.ContextVar("shop_call_depth", default=0)


class ShopRecorder:
    """Collects the shop calls of the turn in progress (one recorder per ChatService)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []  # (tool name, explicit)
        self.products: list[str] = []  # SKUs the turn's single-product calls acted on (argument accuracy)
        self.quantities: list[int] = []  # quantities passed to add_to_cart

    def reset(self) -> None:
        """Start a new turn."""
        self.calls = []
        self.products = []
        self.quantities = []

    def note(self, method: str, args: tuple[Any, ...], result: Any) -> None:
        """Remember which product a call acted on (its result says, whatever reference it was given)."""
        if method in SINGLE_PRODUCT:
            item = result[0] if isinstance(result, tuple) else getattr(result, "item", result)
            sku = getattr(item, "sku", None)
            if sku:
                self.products.append(sku)
        elif method == "compare":
            self.products += [i.sku for i in result or []]

    def note_call(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Arguments known before the call (a refused add_to_cart still asked for its quantity)."""
        if method == "add_to_cart":
            quantity = args[2] if len(args) >= 3 else kwargs.get("quantity", 1)
            self.quantities.append(int(quantity))

    def tools(self, *, awaiting_confirmation: bool = False) -> list[str]:
        """The turn's tool names, by the rules in the module docstring."""
        explicit = [name for name, is_explicit in self.calls if is_explicit and name]
        if awaiting_confirmation:
            explicit = [n for n in explicit if n != "show_cart"]
            explicit.append("place_order")
        names = explicit or (["product_details"] if any(not e for _, e in self.calls) else [])
        out: list[str] = []
        for name in names:
            if not out or out[-1] != name or name in ("add_to_cart", "remove_from_cart"):
                out.append(name)
        return out


def record_shop(shop: Any) -> ShopRecorder:
    """Wrap the public coroutine methods of this Shop instance (only this one) with recorders."""
    recorder = ShopRecorder()
    for method, tool in [*EXPLICIT.items(), *((m, "product_details") for m in IMPLICIT)]:
        original = getattr(shop, method)
        setattr(shop, method, _wrap(original, method, tool, method in EXPLICIT, recorder))
    return recorder


def _wrap(
    original: Callable[..., Any], method: str, tool: str, explicit: bool, recorder: ShopRecorder
) -> Callable[..., Any]:
    @functools.wraps(original)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        depth = _depth.get()
        if depth == 0:
            recorder.calls.append((tool, explicit))
            recorder.note_call(method, args, kwargs)
        token = _depth.set(depth + 1)
        try:
            result = await original(*args, **kwargs)
        finally:
            _depth.reset(token)
        recorder.note(method, args, result)
        return result

    return wrapper


def as_messages(user: str, tools: list[str], reply: str = "") -> list[dict[str, Any]]:
    """An OpenAI-style trajectory: the user message, one assistant message per tool call, the final answer."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": user}]
    for i, name in enumerate(tools):
        call = {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps({})}}
        messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
    messages.append({"role": "assistant", "content": reply})
    return messages


@functools.lru_cache(maxsize=4)
def _evaluator(mode: str) -> Any:
    return create_trajectory_match_evaluator(trajectory_match_mode=mode, tool_args_match_mode="ignore")


def trajectory_match(mode: str, user: str, observed: list[str], expected: list[str]) -> bool:
    """Whether the observed tool names match the expected ones (strict / unordered / superset), names only."""
    result = _evaluator(mode)(outputs=as_messages(user, observed), reference_outputs=as_messages(user, expected))
    return bool(result["score"])


def argument_match(
    expected: list[dict[str, Any]], fact_skus: list[str], products: list[str], quantities: list[int]
) -> tuple[float | None, str]:
    """Share of the expected tool arguments the turn acted on.

    Each `product`/`products` (a SKU, or a name that stands for the turn's one expected SKU) and each add_to_cart
    `quantity`. None when nothing is checkable.
    """
    wanted: list[tuple[str, Any]] = []
    for call in expected:
        args = call.get("args") or {}
        refs = list(args.get("products") or []) + ([args["product"]] if args.get("product") else [])
        for ref in refs:
            sku = str(ref) if _SKU.fullmatch(str(ref)) else (fact_skus[0] if len(fact_skus) == 1 else None)
            if sku:
                wanted.append(("product", sku))
        if call.get("name") == "add_to_cart" and "quantity" in args:
            wanted.append(("quantity", int(args["quantity"])))
    if not wanted:
        return None, ""
    missed = [
        f"{kind} {value}"
        for kind, value in wanted
        if (kind == "product" and value not in products) or (kind == "quantity" and value not in quantities)
    ]
    score = 1 - len(missed) / len(wanted)
    return score, (
        "faltan: " + ", ".join(missed) + f" (tocados: {products}, cantidades: {quantities})"
    ) if missed else ""


_SKU = re.compile(r"[A-Z0-9]+(?:-[A-Z0-9]+){2,}")
