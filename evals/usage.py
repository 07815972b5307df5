"""What an experiment spent on the LLM: calls and tokens over its turns, the provider and model, and a cost estimate.

In-process and HTTP sessions `record` each turn's usage (chat.TurnResult.usage, POST /chat's `usage`); the report
writes the totals next to the metrics. Prices per million tokens live in evals/pricing.json (list prices, editable).
"""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from settings import Settings

PRICING = Path(__file__).with_name("pricing.json")
KEYS = ("llm_calls", "input_tokens", "output_tokens", "total_tokens")

_spent: Counter[str] = Counter()


def reset() -> None:
    """Start counting for a new experiment."""
    _spent.clear()


def record(usage: dict[str, Any] | None) -> None:
    """Add one turn's usage (missing or malformed values count as nothing)."""
    for key in KEYS:
        value = (usage or {}).get(key)
        if isinstance(value, int) and value > 0:
            _spent[key] += value


def provider_and_model(target: str) -> tuple[str, str]:
    """Which LLM a target used: ("offline", ""), ("gemini", DEFAULT_MODEL), ("openai", OPENAI_MODEL), or the URL's."""
    if target in ("gemini", "openai"):  # the model the target's Settings build (agent.llm.build_llm)
        settings = Settings.isolated()
        return target, settings.default_model if target == "gemini" else settings.openai_model
    if target.startswith(("http://", "https://")):
        return "http", ""
    return "offline", ""


def totals(target: str) -> dict[str, Any]:
    """The experiment's LLM spend: provider, model, calls, tokens and the estimated cost in USD (None if unpriced)."""
    provider, model = provider_and_model(target)
    spent = {key: int(_spent[key]) for key in KEYS}
    prices = json.loads(PRICING.read_text(encoding="utf-8")).get("models", {}).get(model)
    cost = None
    if prices is not None:
        per_million = Decimal(1_000_000)
        cost = float(
            (Decimal(spent["input_tokens"]) * Decimal(str(prices["input"]))
             + Decimal(spent["output_tokens"]) * Decimal(str(prices["output"]))) / per_million
        )  # fmt: skip
    elif provider == "offline":
        cost = 0.0
    return {"provider": provider, "model": model, **spent, "cost_estimate_usd": cost}
