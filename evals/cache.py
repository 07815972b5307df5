"""Semantic cache quality: near-miss pairs must miss, paraphrases should hit, a changed price is never served stale.

`python -m evals cache [--backend redis|memory]` runs the agent in-process (offline provider) on a fresh copy of
the sample catalogue:

- near-miss (`evals/datasets/cache_near_miss.jsonl`): ask `first`, then `second` in another conversation; a
  cached `second` is a false hit (the answer to another product, size, quantity, colour, number...). Target 0.
  Beside it, how many a similarity-only cache (the same embeddings, the same threshold, no entity guard) would
  have served wrongly.
- paraphrase (`cache_paraphrase.jsonl`): the same, where `second` should be served from the cache. Target ≥ 80%.
- staleness, over HTTP against the real server: ask a price twice (the second is cached), change the price with
  `PATCH /productos/{id}`, ask again: the reply must quote the new price. Target 0 stale answers.

The cache is cleared before every pair, so each pair is judged on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from agent.turn import turn_vector
from chat import ChatService
from data.migrate import upgrade
from evals.common import eur, load_jsonl
from evals.environment import fresh_var, redis_stack, serving
from settings import Settings
from tools.catalog import CatalogService


def load_pairs(name: str) -> list[dict[str, Any]]:
    """The pairs of `evals/datasets/cache_<name>.jsonl`."""
    return load_jsonl(f"cache_{name}")


@dataclass
class PairReport:
    """How one set of pairs went."""

    name: str
    pairs: int = 0
    hits: int = 0
    first_not_cached: int = 0  # the first question was not cacheable (a reference, small talk...)
    similarity_only_hits: int = 0  # what a threshold-only cache would have served
    by_kind: dict[str, list[int]] = field(default_factory=dict)  # kind -> [pairs, hits]
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.hits / self.pairs if self.pairs else 0.0


async def judge_pairs(chat: Any, name: str, pairs: list[dict[str, Any]]) -> PairReport:
    """Each pair on an empty cache: was `second` served with the answer cached for `first`."""
    report = PairReport(name)
    threshold = chat.context.cache.memory.threshold
    for pair in pairs:
        await chat.context.cache.clear()
        first = await chat.turn(pair["first"], thread_id=uuid.uuid4().hex)
        second = await chat.turn(pair["second"], thread_id=uuid.uuid4().hex)
        stored = len(chat.context.cache.memory) > 0
        similarity = float(turn_vector(chat.context, pair["first"]) @ turn_vector(chat.context, pair["second"]))
        report.pairs += 1
        report.hits += second.cached
        report.first_not_cached += not stored
        report.similarity_only_hits += stored and similarity >= threshold
        counts = report.by_kind.setdefault(pair.get("kind", "?"), [0, 0])
        counts[0] += 1
        counts[1] += second.cached
        wrong = second.cached if pair["expect"] == "miss" else not second.cached
        if wrong and len(report.examples) < 40:
            report.examples.append(
                {
                    "id": pair["id"],
                    "first": pair["first"],
                    "second": pair["second"],
                    "first_reply": first.reply[:160],
                    "second_reply": second.reply[:160],
                    "first_cached": stored,
                }
            )
    return report


async def pair_reports(backend: str, redis_url: str | None) -> tuple[PairReport, PairReport, dict[str, Any]]:
    """Near-miss and paraphrase reports from the agent in-process, plus the cache's counters."""
    with tempfile.TemporaryDirectory(prefix="eval-cache-") as tmp:
        var = fresh_var(Path(tmp))
        settings = Settings.isolated(
            var_dir=var, embeddings_provider="use", llm_provider="offline", checkpointer="memory",
            cache_backend=backend, redis_url=redis_url or "", cache_name=f"eval_{uuid.uuid4().hex[:8]}",
        )  # fmt: skip
        service = CatalogService(settings)
        await service.load()
        await upgrade(service.engine)
        chat = ChatService(settings, service)
        await chat.start()
        try:
            near = await judge_pairs(chat, "near-miss", load_pairs("near_miss"))
            para = await judge_pairs(chat, "paraphrase", load_pairs("paraphrase"))
            counters = chat.context.cache.describe()
        finally:
            await chat.context.cache.clear()
            await chat.close()
            await service.close()
    return near, para, counters


def staleness(backend: str, redis_url: str | None, limit: int = 50) -> dict[str, Any]:
    """Price questions over HTTP; PATCH the price between the cached answer and the next identical question."""
    questions = []
    for pair in load_pairs("paraphrase"):
        skus = pair.get("skus") or []
        if len(skus) == 1 and re.search(r"cu[aá]nto|precio|vale|cuesta", pair["first"], re.I):
            questions.append((pair["first"], skus[0]))
    questions = questions[:limit]
    key = "clave-eval-cache"
    stale = served_before = 0
    failures: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="eval-stale-") as tmp:
        var = fresh_var(Path(tmp))
        env = {
            "ADMIN_API_KEY": key,
            "CACHE_BACKEND": backend,
            "REDIS_URL": redis_url or "",
            "CACHE_NAME": f"eval_{uuid.uuid4().hex[:8]}",
            "LLM_PROVIDER": "offline",
            "OPENAI_API_KEY": "",
        }
        with serving(var, **env) as port, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            for question, sku in questions:
                hits = client.get("/productos/search", params={"q": sku, "limite": 1}).json()
                match = [h for h in hits if h["sku"] == sku]
                if not match:
                    failures.append({"question": question, "sku": sku, "error": "product not found over HTTP"})
                    continue
                pid, old = match[0]["id"], Decimal(str(match[0]["price"]))
                client.post("/chat", json={"message": question})
                cached = client.post("/chat", json={"message": question}).json()
                served_before += bool(cached["cached"])
                new = old + Decimal("1.00")
                patched = client.patch(f"/productos/{pid}", json={"price": str(new)}, headers={"X-API-Key": key})
                patched.raise_for_status()
                after = client.post("/chat", json={"message": question}).json()
                # Stale: served from an answer made before the change, or not quoting the new price. (The old
                # figure may still appear legitimately: a sibling version can cost what this one used to.)
                if after["cached"] or eur(new) not in after["reply"]:
                    stale += 1
                    failures.append({"question": question, "sku": sku, "old": str(old), "new": str(new),
                                     "reply": after["reply"][:200], "cached": after["cached"]})  # fmt: skip
    return {"questions": len(questions), "cached_before_change": served_before, "stale": stale, "failures": failures}


def table(near: PairReport, para: PairReport, stale: dict[str, Any], backend: str) -> str:
    """The Markdown summary printed and saved next to the JSON."""
    rows = [
        "| conjunto | pares | servidos de la caché | objetivo | resultado |",
        "|---|---|---|---|---|",
        f"| near-miss (otra talla, otro producto, otro número...) | {near.pairs} | {near.hits} falsos aciertos | 0 | "
        f"{'cumplido' if near.hits == 0 else 'NO cumplido'} |",
        f"| paráfrasis | {para.pairs} | {para.hits} ({para.rate:.1%}) | ≥ 80% | "
        f"{'cumplido' if para.rate >= 0.8 else 'NO cumplido'} |",
        f"| precio cambiado con PATCH | {stale['questions']} | {stale['stale']} respuestas caducadas | 0 | "
        f"{'cumplido' if stale['stale'] == 0 and stale['questions'] else 'NO cumplido'} |",
    ]
    kinds = " · ".join(f"{k} {v[1]}/{v[0]}" for k, v in sorted(near.by_kind.items()))
    return (
        "\n".join(rows)
        + f"\n\nCaché: {backend}. Near-miss por tipo (servidos/pares): {kinds}."
        + f"\nUna caché solo por similitud (mismos vectores, mismo umbral, sin firma de entidades) habría servido "
        f"{near.similarity_only_hits} de {near.pairs} near-miss con la respuesta de otra pregunta."
        + f"\nParáfrasis cuya primera pregunta no se guarda (no es cacheable): {para.first_not_cached}."
        + f"\nAntes del cambio de precio, la segunda pregunta idéntica vino de la caché en "
        f"{stale['cached_before_change']} de {stale['questions']} casos."
    )


def measure(backend: str) -> tuple[str, PairReport, PairReport, dict[str, Any], dict[str, Any]]:
    """(backend measured, near-miss, paraphrase, cache counters, staleness): Redis Stack falls back to memory."""
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(redis_stack()) if backend == "redis" else None
        if backend == "redis" and url is None:
            backend = "memory"
        near, para, counters = asyncio.run(pair_reports(backend, url))
        stale = staleness(backend, url)
    return backend, near, para, counters, stale


def run(backend: str, out_dir: Path | None) -> int:
    """Print (and save) the three measurements; exit code 1 when a target is missed."""
    started = time.perf_counter()
    backend, near, para, counters, stale = measure(backend)
    text = table(near, para, stale, backend)
    print(text)
    ok = near.hits == 0 and para.rate >= 0.8 and stale["stale"] == 0 and stale["questions"] > 0
    print(f"\nContadores: {json.dumps(counters['counters'], ensure_ascii=False)}")
    print(f"Objetivos {'cumplidos' if ok else 'NO cumplidos'} ({time.perf_counter() - started:.0f} s)")
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"cache-{backend}.json"
        payload = {"near_miss": asdict(near), "paraphrase": asdict(para), "staleness": stale, "counters": counters}
        path.write_text(json.dumps(payload, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
        (out_dir / f"cache-{backend}.md").write_text(text + "\n", encoding="utf-8")
        print(f"Resultados en {path}")
    return 0 if ok else 1
