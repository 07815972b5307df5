"""What every eval shares: paths, the configuration error, money and text helpers, target names.

Light on purpose (only the standard library and `settings`): `python -m evals compare` and the cache eval load it
without the agent.
"""

from __future__ import annotations

import json
import math
import os
import re
import unicodedata
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from settings import ROOT

DATASETS = ROOT / "evals" / "datasets"
RESULTS = ROOT / "evals" / "results"
TRAJECTORY_MODES = ("strict", "unordered", "superset")
NA = "n/d"
LOWER_IS_BETTER = ("latency", "false_hits", "stale_answers")


class EvalConfigError(RuntimeError):
    """The run cannot start (missing API key, unknown target...); the message says why, in English."""


def eur(value: Decimal | str) -> str:
    """Decimal("1299.00") -> "1.299,00 €", written here independently of the agent's formatter."""
    whole, cents = f"{Decimal(value):.2f}".split(".")
    sign = "-" if whole.startswith("-") else ""
    return sign + f"{abs(int(whole)):,}".replace(",", ".") + f",{cents} €"


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return round(float(ordered[rank - 1]), 1)


def load_jsonl(name: str) -> list[dict[str, Any]]:
    """The items of `evals/datasets/<name>.jsonl`."""
    path = DATASETS / f"{name}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def fold_text(text: str) -> str:
    """Lower case without accents, for "is this name in the reply" checks."""
    return "".join(c for c in unicodedata.normalize("NFD", text.lower()) if unicodedata.category(c) != "Mn")


def direction(metric: str) -> str:
    """`lower` for latencies and error counts, `higher` for everything else."""
    return "lower" if any(part in metric for part in LOWER_IS_BETTER) else "higher"


def check_target(target: str) -> str:
    """Validate the target, failing clearly when an LLM target has no key."""
    if target.startswith(("http://", "https://")):
        return target.rstrip("/")
    if target == "gemini" and not os.environ.get("GOOGLE_API_KEY"):
        raise EvalConfigError("--target gemini needs GOOGLE_API_KEY in the environment.")
    if target == "openai" and not (os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL")):
        raise EvalConfigError("--target openai needs OPENAI_API_KEY in the environment.")
    if target not in ("offline", "gemini", "openai"):
        raise EvalConfigError(f"Unknown target {target!r}: use offline, gemini, openai or http://HOST:PORT.")
    return target


def target_label(target: str) -> str:
    """A file-name friendly name for the target."""
    return re.sub(r"[^A-Za-z0-9]+", "_", target.split("://", 1)[-1]).strip("_") if "://" in target else target
