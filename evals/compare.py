"""`python -m evals compare A B`: metric by metric, with the deltas and the regressions marked.

A regression is a higher-is-better metric that drops by more than 1 point (0.01 on a 0-1 scale, 1 on a larger
one), a latency that rises more than 20%, or a count that should be low (false hits, stale answers) rising.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from evals.common import RESULTS, direction


def load(ref: str, results: Path = RESULTS) -> dict[str, Any]:
    """An experiment by name (in evals/results/) or by path to its JSON."""
    path = Path(ref)
    if not path.suffix:
        path = results / f"{ref}.json"
    if not path.exists():
        raise FileNotFoundError(f"No experiment {ref!r} (looked for {path}).")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def is_regression(metric: str, old: float, new: float, way: str) -> bool:
    """Whether going from `old` to `new` is a regression for this metric."""
    if "latency" in metric:
        return old > 0 and new > old * 1.2
    if way == "lower":
        return new > old
    point = 0.01 if max(abs(old), abs(new)) <= 1 else 1.0
    return old - new > point


def compare(a: dict[str, Any], b: dict[str, Any]) -> tuple[str, int]:
    """The Markdown comparison and the number of regressions."""
    ma, mb = a.get("metrics", {}), b.get("metrics", {})
    ways = {**a.get("directions", {}), **b.get("directions", {})}
    lines = [
        f"Comparación: A = {a.get('experiment')} ({a.get('target')}), B = {b.get('experiment')} ({b.get('target')})",
        "",
        "| métrica | A | B | delta | |",
        "|---|---|---|---|---|",
    ]
    regressions = 0
    for metric in [*ma, *(m for m in mb if m not in ma)]:
        old, new = ma.get(metric), mb.get(metric)
        if old is None or new is None:
            lines.append(
                f"| {metric} | {old if old is not None else 'n/d'} | {new if new is not None else 'n/d'} | | |"
            )
            continue
        way = ways.get(metric) or direction(metric)
        bad = is_regression(metric, float(old), float(new), way)
        regressions += bad
        delta = float(new) - float(old)
        lines.append(f"| {metric} | {old} | {new} | {delta:+.4g} | {'REGRESIÓN' if bad else ''} |")
    if a.get("dataset") != b.get("dataset"):
        lines.append(f"\nAviso: conjuntos distintos ({a.get('dataset')} frente a {b.get('dataset')}).")
    if a.get("limit") != b.get("limit"):
        lines.append(f"\nAviso: límites distintos ({a.get('limit')} frente a {b.get('limit')}).")
    lines.append(f"\n{regressions} regresiones." if regressions else "\nSin regresiones.")
    return "\n".join(lines), regressions


def run(a: str, b: str) -> int:
    """Print the comparison; exit code 1 when B regresses on A (or an experiment cannot be read)."""
    try:
        text, regressions = compare(load(a), load(b))
    except (FileNotFoundError, ValueError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    print(text)
    return 1 if regressions else 0
