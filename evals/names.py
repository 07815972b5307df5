"""`python -m evals run names`: every price of the real Mercadona catalogue asked by the product's name.

The questions are generated from the catalogue itself, not written against the agent: "¿Cuánto cuesta <name>?"
for a deterministic sample of names — every name that several products share (the reply must list each of them
with its price and what tells it apart: size or package) and as many names that are unique. A question is correct
when every product of that name appears with its exact price (and, when shared, its size or package).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hashlib
import time
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from evals.common import RESULTS, EvalConfigError, check_target, eur, fold_text, percentile, target_label
from evals.dialogues import MERCADONA_CSV, open_worlds
from evals.report import report
from evals.targets import InProcessTarget

SHARED_LIMIT = 300
UNIQUE_LIMIT = 200


def questions(path: Path = MERCADONA_CSV) -> list[dict[str, Any]]:
    """Names to ask about, with the rows each must bring back (shared names first, then unique ones)."""
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    by_name: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        by_name[" ".join(fold_text(row["name"]).split())].append(row)
    order = sorted(by_name, key=lambda n: hashlib.blake2b(n.encode(), digest_size=8).hexdigest())
    shared = [n for n in order if len(by_name[n]) > 1][:SHARED_LIMIT]
    unique = [n for n in order if len(by_name[n]) == 1][:UNIQUE_LIMIT]
    out = []
    for name in [*shared, *unique]:
        group = by_name[name]
        out.append(
            {
                "id": group[0]["product_id"],
                "text": f"¿Cuánto cuesta {group[0]['name']}?",
                "rows": [
                    {"sku": r["product_id"], "price": r["price_eur"], "size": r["size"], "package": r["package"]}
                    for r in group
                ],
            }
        )
    return out


def judge(question: dict[str, Any], reply: str) -> tuple[bool, bool, str]:
    """(every price exact, every variant told apart, note)."""
    text = reply.replace("\u00a0", " ")
    prices = all(eur(Decimal(r["price"])) in text for r in question["rows"])
    shared = len(question["rows"]) > 1
    told = True
    if shared:
        lines = text.splitlines()
        for r in question["rows"]:
            marks = [m for m in (r["size"], r["package"]) if m]
            price = eur(Decimal(r["price"]))
            told &= any(price in line and any(fold_text(m) in fold_text(line) for m in marks) for line in lines)
    missing = [r["sku"] for r in question["rows"] if eur(Decimal(r["price"])) not in text]
    return prices, told, "" if prices and told else f"faltan {missing}" if missing else "variantes sin distinguir"


async def evaluate(
    target: str, limit: int | None = None, *, items: list[dict[str, Any]] | None = None,
    world: InProcessTarget | None = None,
) -> tuple[dict[str, float], dict[str, Any], str]:  # fmt: skip
    """Ask every question in a new conversation of one in-process agent on the Mercadona catalogue."""
    items = items if items is not None else questions()
    items = items[:limit] if limit else items
    failures: list[dict[str, Any]] = []
    results: list[tuple[bool, bool, bool]] = []
    latencies: list[float] = []
    opened = contextlib.nullcontext({"mercadona": world}) if world is not None else open_worlds(target, ["mercadona"])
    async with opened as targets, targets["mercadona"].session() as session:
        for item in items:
            seen = await session.turn(item["text"], f"names-{item['id']}")
            latencies.append(float(seen["latency_ms"]))
            prices, told, note = judge(item, seen["reply"])
            results.append((prices, told, len(item["rows"]) > 1))
            if note:
                failures.append({"id": item["id"], "text": item["text"], "note": note, "reply": seen["reply"][:300]})
    shared = [r for r in results if r[2]]
    metrics = {
        "exact_prices": round(sum(r[0] for r in results) / max(1, len(results)), 4),
        "exact_prices.shared": round(sum(r[0] for r in shared) / max(1, len(shared)), 4),
        "variants_told_apart": round(sum(r[1] for r in shared) / max(1, len(shared)), 4),
        "correct": round(sum(r[0] and r[1] for r in results) / max(1, len(results)), 4),
        "latency_p50_ms": percentile(latencies, 50),
    }
    text = (
        f"Nombres del catálogo de Mercadona: {len(results)} preguntas ({len(shared)} de nombres compartidos) · "
        f"precios exactos **{metrics['exact_prices']:.1%}** (compartidos {metrics['exact_prices.shared']:.1%}) · "
        f"variantes distinguidas {metrics['variants_told_apart']:.1%} · p50 {metrics['latency_p50_ms']} ms\n\n"
        + "\n".join(f"- {f['text']}: {f['note']} → «{' '.join(f['reply'].split())[:200]}»" for f in failures)
    )
    return metrics, {"failures": failures, "questions": len(results)}, text


def run(
    target: str = "offline", experiment: str | None = None, limit: int | None = None, out_dir: Path = RESULTS
) -> int:
    """The CLI entry: print and save the results; exit code 1 on a configuration error."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    started = time.perf_counter()
    try:
        target = check_target(target)
        if target.startswith("http"):
            raise EvalConfigError("names runs in-process only (it needs the Mercadona catalogue alone).")
        experiment = experiment or f"names-{target_label(target)}-{stamp}"
        result = asyncio.run(evaluate(target, limit))
    except EvalConfigError as exc:
        print(f"Error: {exc}")
        return 1
    report("names", target, experiment, stamp, started, limit, result, out_dir)
    return 0
