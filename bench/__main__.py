"""`make bench`: import time for the 5,093-product Mercadona catalogue and search latency, in-process and HTTP.

Each mode gets its own disjoint set of real query texts (ESCI amazon.es wording plus grocery wording built from
the catalogue), so no measurement rides on a cache filled by another.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from bench.cache import run as run_cache
from bench.chat import run as run_chat
from bench.streaming import SENTENCE_DELAY
from bench.streaming import run as run_streaming
from evals.environment import serving
from settings import ROOT, Settings
from tools.catalog import CatalogService
from vectorstore.text import fold

SHARED = ROOT.parent / "shared" / "datasets"
MERCADONA = SHARED / "mercadona" / "mercadona_products_all.csv"
ESCI_QUERIES = SHARED / "esci_es" / "esci_es_test_queries3844.csv"
IMPORT_ARGS = [
    "--map", "sku=product_id", "--map", "price=price_eur", "--map", "category=category_l1",
    "--map", "subcategory=category_l2", "--default-stock", "25",
]  # fmt: skip
MODES = ("keyword", "semantic", "hybrid")


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def queries(n_per_mode: int, seed: int = 7) -> dict[str, list[str]]:
    """Disjoint query sets per mode: half real amazon.es queries, half grocery wording from the catalogue."""
    rng = random.Random(seed)
    with ESCI_QUERIES.open(encoding="utf-8") as fh:
        esci = list(dict.fromkeys(r["query"].strip("\"' ") for r in csv.DictReader(fh)))
    with MERCADONA.open(encoding="utf-8") as fh:
        names = [r["name"] for r in csv.DictReader(fh)]
    grocery = []
    for name in names:
        words = fold(name).split()
        if len(words) >= 2:
            grocery.append(" ".join(words[: rng.choice((2, 3))]))
    grocery = list(dict.fromkeys(grocery))
    rng.shuffle(esci)
    rng.shuffle(grocery)
    half = n_per_mode // 2
    sets = {}
    for i, mode in enumerate(("warmup", *MODES)):
        sets[mode] = esci[i * half : (i + 1) * half] + grocery[i * half : (i + 1) * half]
    return sets


def run_import(var_dir: Path) -> float:
    env = {**os.environ, "VAR_DIR": str(var_dir), "DATABASE_URL": "", "INDEX_DIR": "", "GOOGLE_API_KEY": ""}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "manage", "import", str(MERCADONA), *IMPORT_ARGS, "--quiet"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    return time.perf_counter() - started


async def in_process(var_dir: Path, sets: dict[str, list[str]]) -> dict[str, list[float]]:
    service = CatalogService(Settings.isolated(var_dir=var_dir))
    await service.load()
    for q in sets["warmup"]:
        await service.search(q)
    timings: dict[str, list[float]] = {}
    for mode in MODES:
        samples = []
        for q in sets[mode]:
            started = time.perf_counter()
            await service.search(q, limit=10, mode=mode)
            samples.append((time.perf_counter() - started) * 1000)
        timings[mode] = samples
    await service.close()
    return timings


def over_http(var_dir: Path, sets: dict[str, list[str]]) -> dict[str, list[float]]:
    with serving(var_dir) as port, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        for q in sets["warmup"]:
            client.get("/productos/search", params={"q": q})
        routes = {
            "keyword": ("/productos/search", {"modo": "palabras"}),
            "semantic": ("/productos/semantic-search", {}),
            "hybrid": ("/productos/search", {}),
        }
        timings: dict[str, list[float]] = {}
        for mode in MODES:
            path, extra = routes[mode]
            samples = []
            for q in sets[mode]:
                started = time.perf_counter()
                response = client.get(path, params={"q": q, **extra})
                samples.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
            timings[mode] = samples
        return timings


def report(title: str, timings: dict[str, list[float]]) -> None:
    print(f"\n{title}")
    print(f"{'':<14} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'media':>8}")
    for mode, samples in timings.items():
        print(
            f"{mode:<14} {len(samples):>5} {percentile(samples, 50):>8.2f} {percentile(samples, 95):>8.2f} "
            f"{statistics.fmean(samples):>8.2f}"
        )


def verdict(ok: bool) -> str:
    return "cumplido" if ok else "NO cumplido"


def bench_cache() -> bool:
    """Semantic cache over HTTP; whether cache hits meet p50 ≤ 10 ms."""
    backend, cache = run_cache()
    report(f"Caché semántica por HTTP (POST /chat, caché {backend})", cache)
    hits = cache["acierto exacto"] + cache["acierto semántico"]
    p50 = percentile(hits, 50)
    ok = p50 <= 10
    print(f"Aciertos de caché p50 {p50:.2f} ms (objetivo ≤ 10 ms: {verdict(ok)})")
    return ok


def bench_chat() -> bool:
    """Chat turns over HTTP; whether /chat meets p50 ≤ 30 ms and p95 ≤ 80 ms."""
    chat = run_chat()
    report("Conversación por HTTP (proveedor offline, catálogo de ejemplo, 200 preguntas distintas)", chat)
    p50, p95 = percentile(chat["/chat"], 50), percentile(chat["/chat"], 95)
    ok = p50 <= 30 and p95 <= 80
    print(f"/chat p50 {p50:.2f} ms, p95 {p95:.2f} ms (objetivo p50 ≤ 30 ms y p95 ≤ 80 ms: {verdict(ok)})")
    return ok


def bench_streaming() -> bool:
    """The reply streamed by the LLM path; whether the first sentence arrives well before the whole reply."""
    timings = run_streaming()
    report(f"Respuesta en streaming (/agent/stream, Gemini simulado: 4 frases cada {SENTENCE_DELAY * 1000:.0f} ms)",
           timings)  # fmt: skip
    first, whole = percentile(timings["primera frase"], 50), percentile(timings["respuesta completa"], 50)
    ok = first <= whole - 2 * SENTENCE_DELAY * 1000
    print(f"Primera frase p50 {first:.0f} ms, respuesta completa p50 {whole:.0f} ms "
          f"(objetivo: la primera frase al menos {2 * SENTENCE_DELAY * 1000:.0f} ms antes: {verdict(ok)})")  # fmt: skip
    return ok


def bench_search(n_queries: int, reuse: Path | None) -> bool:
    """Import (unless `reuse`) and search in-process and over HTTP; whether every printed target is met."""
    sets = queries(n_queries)
    ok = True
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        var_dir = reuse or Path(tmp) / "var"
        print(f"Benchmark en {os.cpu_count()} núcleos; catálogo Mercadona (5.093 productos reales)")
        if reuse is None:
            seconds = run_import(var_dir)
            ok = seconds <= 60
            print(f"Importación + indexado de 5.093 productos: {seconds:.1f} s (objetivo ≤ 60 s: {verdict(ok)})")
        report("Búsqueda en proceso (CatalogService.search, límite 10)", asyncio.run(in_process(var_dir, sets)))
        http = over_http(var_dir, sets)
        report("Búsqueda por HTTP (servidor real, keep-alive)", http)
        p50 = percentile(http["hybrid"], 50)
        print(f"\nHíbrida por HTTP p50 {p50:.2f} ms (objetivo ≤ 20 ms: {verdict(p50 <= 20)})")
    return ok and p50 <= 20


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks; exit code 1 when any target printed is missed."""
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--queries", type=int, default=200, help="consultas por modo")
    parser.add_argument("--var-dir", type=Path, help="reutiliza un catálogo ya importado (omite la importación)")
    parser.add_argument("--solo", choices=["busqueda", "chat", "cache", "streaming"], help="mide solo una parte")
    args = parser.parse_args(argv)
    met: list[bool] = []
    if args.solo in (None, "cache"):
        met.append(bench_cache())
    if args.solo in (None, "chat"):
        met.append(bench_chat())
    if args.solo in (None, "streaming"):
        met.append(bench_streaming())
    if args.solo in (None, "busqueda"):
        met.append(bench_search(args.queries, args.var_dir))
    return 0 if all(met) else 1


if __name__ == "__main__":
    sys.exit(main())
