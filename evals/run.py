"""`python -m evals run DATASET`: LangSmith-style experiments over routing, conversations, retrieval and cache.

Routing and conversations run through `langsmith.aevaluate` (evals/experiment.py) against a target
(evals/targets.py: `offline`, `gemini`, `openai` or `http://HOST:PORT`), judged by evals/judges.py, summed up by
evals/metrics.py and written out by evals/report.py. Each dialogue runs on its own fresh copy of the seeded
catalogue (orders change stock) and on its own thread; each routing utterance is the first turn of a new thread.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import traceback
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from evals import cache, retrieval
from evals.common import RESULTS, EvalConfigError, check_target, load_jsonl, target_label
from evals.experiment import run_experiment
from evals.judges import EVAL_KEYS, dialogue_evaluator, fact_skus, route_evaluator
from evals.metrics import conversation_metrics, routing_metrics
from evals.report import conversations_markdown, report, routing_markdown
from evals.targets import open_target, thread_for

Result = tuple[dict[str, float], dict[str, Any], str]


async def run_routing(factory: Any, items: list[dict[str, Any]], experiment: str, concurrency: int) -> Result:
    """Each utterance as the first turn of a new thread."""
    async with factory.session() as session:

        async def target(inputs: dict[str, Any]) -> dict[str, Any]:
            observed = await session.turn(inputs["text"], thread_for(session, inputs["id"]))
            return {"route": observed["route"], "latency_ms": observed["latency_ms"], "reply": observed["reply"][:300]}

        examples = [
            ({"id": i["id"], "text": i["text"], "tags": i.get("tags", [])}, {"routes": i["routes"]}) for i in items
        ]
        rows = await run_experiment(target, examples, [route_evaluator], experiment, concurrency)
    metrics, details = routing_metrics(rows)
    return metrics, details, routing_markdown(metrics, details, len(rows))


async def play_dialogue(factory: Any, inputs: dict[str, Any]) -> dict[str, Any]:
    """One dialogue on a fresh catalogue: every turn with its reply, route, tools, DB facts and orders delta."""
    turns: list[dict[str, Any]] = []
    try:
        async with factory.session() as session:
            thread_id = thread_for(session, inputs["id"])
            for text, skus in zip(inputs["turns"], inputs["lookup"], strict=True):
                db = await session.db_facts(skus)
                before = await session.order_count()
                observed = await session.turn(text, thread_id)
                after = await session.order_count()
                observed["db"] = db
                observed["orders_delta"] = None if before is None or after is None else after - before
                observed["reply"] = observed["reply"][:2000]
                turns.append(observed)
    except Exception as exc:  # one broken dialogue must not stop the experiment
        where = traceback.extract_tb(exc.__traceback__)[-1]
        error = f"{type(exc).__name__}: {exc} (turno {len(turns) + 1}, {Path(where.filename).name}:{where.lineno})"
        return {"turns": turns, "error": error, "traceback": traceback.format_exc()[-3000:]}
    return {"turns": turns}


def dialogue_example(dialogue: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A dialogue as LangSmith inputs (the user's turns and the SKUs to look up) and reference outputs."""
    inputs = {
        "id": dialogue["id"],
        "tags": dialogue.get("tags", []),
        "turns": [t["user"] for t in dialogue["turns"]],
        "lookup": [fact_skus(t.get("facts", {})) for t in dialogue["turns"]],
    }
    return inputs, {"turns": dialogue["turns"]}


async def run_conversations(factory: Any, items: list[dict[str, Any]], experiment: str, concurrency: int) -> Result:
    """Every dialogue on its own fresh catalogue, through LangSmith's evaluate."""

    async def target(inputs: dict[str, Any]) -> dict[str, Any]:
        return await play_dialogue(factory, inputs)

    examples = [dialogue_example(d) for d in items]
    evaluators = [dialogue_evaluator(key) for key in EVAL_KEYS]
    rows = await run_experiment(target, examples, evaluators, experiment, concurrency)
    metrics, details = conversation_metrics(rows)
    return metrics, details, conversations_markdown(metrics, details)


def run_retrieval() -> Result:
    """R@1/5/10 and MRR per search mode and split (evals/retrieval.py)."""
    results = asyncio.run(retrieval.evaluate("use"))
    metrics: dict[str, float] = {}
    for mode, per_split in results.items():
        for split, m in per_split.items():
            for name in ("r1", "r5", "r10", "mrr"):
                metrics[f"{mode}.{split}.{name}"] = getattr(m, name)
    details = {m: {s: asdict(x) for s, x in v.items()} for m, v in results.items()}
    return metrics, details, retrieval.table(results)


def run_cache(backend: str) -> Result:
    """False hits, paraphrase hit rate, stale answers and counters (evals/cache.py)."""
    backend, near, para, counters, stale = cache.measure(backend)
    metrics = {
        "false_hits": float(near.hits),
        "paraphrase_hit_rate": round(para.rate, 4),
        "stale_answers": float(stale["stale"]),
        "similarity_only_false_hits": float(near.similarity_only_hits),
    }
    details = {"backend": backend, "near_miss": asdict(near), "paraphrase": asdict(para), "staleness": stale,
               "counters": counters}  # fmt: skip
    text = cache.table(near, para, stale, backend)
    text += f"\n\nContadores: {json.dumps(counters.get('counters', {}), ensure_ascii=False)}"
    return metrics, details, text


async def evaluate_dataset(
    dataset: str,
    target: str,
    *,
    experiment: str,
    concurrency: int = 1,
    limit: int | None = None,
    items: list[dict[str, Any]] | None = None,
    var_template: Path | None = None,
    embedder: Any = None,
) -> Result:
    """Routing or conversations on a target (what the CLI and the smoke test both call)."""
    data = items if items is not None else load_jsonl(dataset)
    if limit:
        data = data[:limit]
    async with open_target(target, var_template, embedder) as factory:
        if dataset.startswith("routing"):
            return await run_routing(factory, data, experiment, concurrency)
        return await run_conversations(factory, data, experiment, concurrency)


def run(
    dataset: str,
    target: str = "offline",
    experiment: str | None = None,
    concurrency: int = 1,
    limit: int | None = None,
    out_dir: Path = RESULTS,
    cache_backend: str = "redis",
) -> int:
    """Run one experiment, print its table and save JSON + Markdown; exit code 1 on a configuration error."""
    try:
        target = check_target(target)
    except EvalConfigError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    experiment = experiment or f"{dataset}-{target_label(target)}-{stamp}"
    started = time.perf_counter()
    if dataset in ("routing", "conversations") or dataset.startswith("routing_"):
        result = asyncio.run(
            evaluate_dataset(dataset, target, experiment=experiment, concurrency=concurrency, limit=limit)
        )
    elif dataset == "retrieval":
        result = run_retrieval()
    else:
        result = run_cache(cache_backend)
    report(dataset, target, experiment, stamp, started, limit, result, out_dir)
    return 0
