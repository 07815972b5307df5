"""Retrieval quality on real data: the Amazon ESCI Spanish known-item queries (`python -m evals retrieval esci`).

The 600 judged products are imported into a throw-away database and indexed exactly as a shop's catalogue
would be; each of the 291 real amazon.es queries is searched and the rank of its Exact-judged product gives
R@1/5/10 and MRR, overall and per split. Weights are tuned on train and val only (`--tune`); test is held out,
so the quality target (R@5 ≥ 0.90 and MRR ≥ 0.80) is judged on the test split alone. The figures over all 291
queries, which include the train and val queries the weights were tuned on, are printed as information only.
"""

from __future__ import annotations

import asyncio
import csv
import itertools
import json
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from data import crud
from data.db import write_session
from data.importer import plan_import
from data.migrate import upgrade
from settings import ROOT, Settings
from tools.catalog import CatalogService

ESCI_DIR = ROOT.parent / "shared" / "datasets" / "esci_es"
SPLITS = ("train", "val", "test")
MODES = ("hybrid", "keyword", "semantic")
TARGET_R5, TARGET_MRR = 0.90, 0.80


@dataclass
class Metrics:
    """Known-item retrieval figures for one set of queries."""

    n: int
    r1: float
    r5: float
    r10: float
    mrr: float


def load_esci(directory: Path = ESCI_DIR) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """Products and judged queries, read from ../shared (never copied into the repo: licence)."""
    with (directory / "esci_es_products600.csv").open(encoding="utf-8") as fh:
        products = list(csv.DictReader(fh))
    queries = json.loads((directory / "esci_es_queries_known_item.json").read_text(encoding="utf-8"))["queries"]
    return products, queries


def metrics(ranks: list[int | None]) -> Metrics:
    """Ranks are 0-based positions of the first relevant product (None: not in the list)."""
    n = len(ranks) or 1
    found = [r for r in ranks if r is not None]
    return Metrics(
        n=len(ranks),
        r1=round(sum(r < 1 for r in found) / n, 3),
        r5=round(sum(r < 5 for r in found) / n, 3),
        r10=round(sum(r < 10 for r in found) / n, 3),
        mrr=round(sum(1 / (r + 1) for r in found) / n, 3),
    )


async def build_service(workdir: Path, provider: str) -> CatalogService:
    """Import the ESCI products into a fresh SQLite catalogue (through the real importer) and index it."""
    products, _ = load_esci()
    source = workdir / "esci_products.jsonl"
    with source.open("w", encoding="utf-8") as fh:
        for p in products:
            # ESCI has titles only: a neutral category and price let them pass the catalogue's validation.
            record = {"sku": p["product_id"], "nombre": p["product_title"], "categoria": "Amazon", "precio": "0.00"}
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    plan = plan_import(source, default_stock=1)
    if not plan.ok:
        raise RuntimeError(f"ESCI import failed: {plan.errors[:3]}")
    settings = Settings.isolated(var_dir=workdir / "var", embeddings_provider=provider)
    service = CatalogService(settings)
    await upgrade(service.engine)
    async with write_session(service.sessions) as session:
        await crud.upsert_products(session, products_in=plan.products)
    await service.load()
    return service


async def rank_all(service: Any, queries: list[dict[str, Any]], mode: str) -> dict[str, list[int | None]]:
    """Per split, the rank of each query's relevant product in the top 100."""
    by_split: dict[str, list[int | None]] = {s: [] for s in SPLITS}
    for q in queries:
        relevant = {pid.upper() for pid in q["relevant_product_ids"]}
        hits = await service.search(q["query"], limit=100, mode=mode)
        rank = next((i for i, h in enumerate(hits) if h.item.sku in relevant), None)
        by_split[q["source_split"]].append(rank)
    return by_split


def table(results: dict[str, dict[str, Metrics]]) -> str:
    """A Markdown table, for the terminal and for evals/results/."""
    lines = ["| modo | split | n | R@1 | R@5 | R@10 | MRR |", "|---|---|---|---|---|---|---|"]
    for mode, per_split in results.items():
        for split, m in per_split.items():
            lines.append(f"| {mode} | {split} | {m.n} | {m.r1:.3f} | {m.r5:.3f} | {m.r10:.3f} | {m.mrr:.3f} |")
    return "\n".join(lines)


async def evaluate(provider: str = "use", modes: tuple[str, ...] = MODES) -> dict[str, dict[str, Metrics]]:
    """Metrics per search mode and split over the 291 queries."""
    _, queries = load_esci()
    with tempfile.TemporaryDirectory(prefix="esci-") as tmp:
        service = await build_service(Path(tmp), provider)
        try:
            results: dict[str, dict[str, Metrics]] = {}
            for mode in modes:
                ranks = await rank_all(service, queries, mode)
                per_split = {s: metrics(ranks[s]) for s in SPLITS}
                per_split["all"] = metrics([r for s in SPLITS for r in ranks[s]])
                results[mode] = per_split
            return results
        finally:
            await service.close()


async def tune(provider: str = "use") -> list[tuple[float, ...]]:
    """Grid over fusion weights, scored on train+val only: (MRR, R@5, semantic, trigram, name weights)."""
    _, queries = load_esci()
    tuning = [q for q in queries if q["source_split"] in ("train", "val")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="esci-") as tmp:
        service = await build_service(Path(tmp), provider)
        try:
            base = service.index.weights
            grid = itertools.product((0.4, 0.5, 0.6), (0.2, 0.35, 0.5), (0.0, 0.1, 0.2, 0.3))
            for semantic, trigram, name in grid:
                service.index.weights = replace(base, semantic=semantic, trigram=trigram, name=name)
                ranks = await rank_all(service, tuning, "hybrid")
                m = metrics([r for s in SPLITS for r in ranks[s]])
                rows.append((m.mrr, m.r5, semantic, trigram, name))
        finally:
            await service.close()
    return sorted(rows, reverse=True)


def meets_target(m: Metrics) -> bool:
    """The known-item quality target, for the held-out test split."""
    return m.r5 >= TARGET_R5 and m.mrr >= TARGET_MRR


def run(provider: str, out_dir: Path | None, do_tune: bool) -> int:
    """Print (and save) the evaluation; exit code 1 when the quality target is missed."""
    started = time.perf_counter()
    if do_tune:
        print("MRR (train+val) | R@5 | peso semántico | peso trigramas | peso nombre")
        for row in asyncio.run(tune(provider))[:10]:
            print(" | ".join(f"{x:.3f}" for x in row))
        return 0
    results = asyncio.run(evaluate(provider))
    print(f"ESCI-es known-item, {provider}: 291 consultas reales de amazon.es, 600 productos\n")
    print(table(results))
    held_out, pooled = results["hybrid"]["test"], results["hybrid"]["all"]
    target = meets_target(held_out)
    print(
        f"\nHíbrido, partición test reservada ({held_out.n} consultas): R@5 {held_out.r5:.3f}, MRR {held_out.mrr:.3f}"
        f" — objetivo R@5 ≥ 0,90 y MRR ≥ 0,80: {'cumplido' if target else 'NO cumplido'} "
        f"({time.perf_counter() - started:.0f} s)"
    )
    print(
        f"Solo como información, las {pooled.n} juntas (train y val incluidas, con las que se ajustaron los pesos): "
        f"R@5 {pooled.r5:.3f}, MRR {pooled.mrr:.3f}"
    )
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"retrieval-esci-{provider}.json"
        path.write_text(
            json.dumps({m: {s: asdict(x) for s, x in v.items()} for m, v in results.items()}, indent=2),
            encoding="utf-8",
        )
        (out_dir / f"retrieval-esci-{provider}.md").write_text(table(results) + "\n", encoding="utf-8")
        print(f"Resultados en {path}")
    return 0 if target else 1
