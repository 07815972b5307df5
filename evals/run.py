"""`python -m evals run DATASET`: LangSmith-style experiments over routing, conversations, retrieval and cache.

Routing and conversations run through `langsmith.aevaluate` (Examples with ids, evaluators returning
`{key, score, comment}`); without LANGSMITH_API_KEY the client is a local `Client(info=LangSmithInfo())` and
nothing is uploaded, so no network is touched. Targets: `offline` (default), `gemini`, `openai` (in-process
ChatService with that LLM provider) or `http://HOST:PORT` (a running server, `POST /chat`).

Scoring decisions:

- routing: every item of `routing.jsonl` has exactly one label today (multi-intent utterances are labelled
  `orchestrator`). A prediction is correct when it is in `routes`, which for one label is plain equality.
- conversations: each dialogue runs on its own fresh copy of the seeded catalogue (orders change stock) and on
  its own thread. Per turn: the route; the tool trajectory (names only, strict / unordered / superset through
  agentevals, see `evals/trajectory.py` for how shop calls map to tool names); the facts: each expected price
  must equal the database and appear in the reply written the Spanish way ("1.299,00 €"); each expected stock
  must equal the database and its number appear in the reply (0: "agotado"); each expected SKU must be among the
  products shown or named in the reply (SKU or product name); `total` must appear formatted in the reply;
  `no_products` means no product shown; `anchor` (what a recommendation is for) must be named in the reply;
  `order_placed` is checked by counting rows in the orders table before and after the turn.
- Over HTTP the tool trajectory and the orders table are not observable: they are reported as "n/d", not zero,
  and prices/stock are read from `GET /productos/search`. The server's catalogue is shared by all dialogues.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
import warnings
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from settings import ROOT, Settings

DATASETS = ROOT / "evals" / "datasets"
RESULTS = ROOT / "evals" / "results"
DATASET_NAMES = ("routing", "conversations", "dialogues", "retrieval", "cache")
ROUTES = ("products", "prices", "recommendations", "inventory", "conversation", "orders", "orchestrator")
TRAJECTORY_MODES = ("strict", "unordered", "superset")
NA = "n/d"


class EvalConfigError(RuntimeError):
    """The run cannot start (missing API key, unknown target...); the message says why, in English."""


# ---------------------------------------------------------------------------- small helpers


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
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFD", text.lower()) if unicodedata.category(c) != "Mn")


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


# ---------------------------------------------------------------------------- sessions: one agent, one catalogue


class Session:
    """One conversation partner: answers turns and can read prices, stock and the number of orders."""

    observes_tools = True
    observes_orders = True

    async def turn(self, text: str, thread_id: str) -> dict[str, Any]:
        raise NotImplementedError

    async def db_facts(self, skus: Sequence[str]) -> dict[str, dict[str, Any]]:
        raise NotImplementedError

    async def order_count(self) -> int | None:
        raise NotImplementedError

    async def close(self) -> None:
        return None


class InProcessSession(Session):
    """A ChatService on its own var dir (a copy of the seeded catalogue) with the Shop's calls recorded."""

    def __init__(self, shared: InProcessTarget, var: Path) -> None:
        self.shared = shared
        self.var = var
        self.chat: Any = None
        self.catalog: Any = None
        self.recorder: Any = None

    async def open(self) -> None:
        from agent.context import AgentContext
        from chat import ChatService
        from data.migrate import upgrade
        from evals.trajectory import record_shop
        from tools.catalog import CatalogService
        from tools.shop import Shop
        from vectorstore.cache import build_cache

        settings = self.shared.settings(self.var)
        self.catalog = CatalogService(settings, embedder=self.shared.embedder)
        await self.catalog.load()
        async with self.shared.migrate_lock:  # alembic's context proxy is process-global: one migration at a time
            await upgrade(self.catalog.engine)
        shop = Shop(self.catalog)
        self.recorder = record_shop(shop)
        context = AgentContext(
            shop=shop,
            router=self.shared.router,
            cache=build_cache(settings, self.shared.embedder),
            llm=self.shared.llm,
            llm_timeout=settings.llm_timeout,
            tools=shop.langchain_tools(),
        )
        self.chat = ChatService(settings, self.catalog, context=context)
        await self.chat.start()

    async def turn(self, text: str, thread_id: str) -> dict[str, Any]:
        self.recorder.reset()
        result = await self.chat.turn(text, thread_id=thread_id, channel="eval")
        return {
            "reply": result.reply,
            "route": result.route,
            "products": [{"sku": p.get("sku"), "name": p.get("name")} for p in result.products],
            "cached": result.cached,
            "awaiting_confirmation": result.awaiting_confirmation,
            "latency_ms": result.latency_ms,
            "tools": self.recorder.tools(awaiting_confirmation=result.awaiting_confirmation),
            "tool_products": list(self.recorder.products),
            "tool_quantities": list(self.recorder.quantities),
        }

    async def db_facts(self, skus: Sequence[str]) -> dict[str, dict[str, Any]]:
        from sqlalchemy import select

        from data.models import Product

        if not skus:
            return {}
        async with self.catalog.sessions() as session:
            rows = (await session.execute(select(Product).where(Product.sku.in_(list(skus))))).scalars().all()  # type: ignore[attr-defined]
        return {p.sku: {"price": f"{Decimal(p.price):.2f}", "stock": int(p.stock), "name": p.name} for p in rows}

    async def order_count(self) -> int | None:
        from sqlalchemy import func, select

        from data.models import Order

        async with self.catalog.sessions() as session:
            return int((await session.execute(select(func.count()).select_from(Order))).scalar_one())

    async def close(self) -> None:
        if self.chat is not None:
            await self.chat.close()
        if self.catalog is not None:
            await self.catalog.close()
        shutil.rmtree(self.var, ignore_errors=True)


class HttpSession(Session):
    """A running server: POST /chat, prices and stock from GET /productos/search."""

    observes_tools = False
    observes_orders = False

    def __init__(self, client: Any) -> None:
        self.client = client

    async def turn(self, text: str, thread_id: str) -> dict[str, Any]:
        started = time.perf_counter()
        response = await self.client.post("/chat", json={"message": text, "thread_id": thread_id})
        response.raise_for_status()
        body = response.json()
        return {
            "reply": body.get("reply", ""),
            "route": body.get("route"),
            "products": [{"sku": p.get("sku"), "name": p.get("name")} for p in body.get("products") or []],
            "cached": bool(body.get("cached")),
            "awaiting_confirmation": bool(body.get("awaiting_confirmation")),
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            "tools": None,
        }

    async def db_facts(self, skus: Sequence[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for sku in skus:
            hits = (await self.client.get("/productos/search", params={"q": sku, "limite": 3})).json()
            for hit in hits if isinstance(hits, list) else []:
                if hit.get("sku") == sku:
                    out[sku] = {
                        "price": f"{Decimal(str(hit['price'])):.2f}",
                        "stock": hit["stock"],
                        "name": hit["name"],
                    }
        return out

    async def order_count(self) -> int | None:
        return None


class InProcessTarget:
    """What all in-process sessions share: the seeded var template, the embedder, the router and the LLM."""

    def __init__(self, provider: str, template: Path, workdir: Path, embedder: Any = None) -> None:
        from agent.llm import build_llm
        from agent.router import Router
        from vectorstore.embeddings import build_embedder

        self.provider = provider
        self.template = template
        self.workdir = workdir
        self.embedder = embedder or build_embedder(Settings.isolated(embeddings_provider="use"))
        self.llm = build_llm(self.settings(template))
        self.router = Router(self.embedder, self.llm)
        self.router.warm_up()
        self.migrate_lock = asyncio.Lock()

    def settings(self, var: Path) -> Settings:
        """Settings of one session: its own var dir, memory checkpointer and cache."""
        return Settings.isolated(
            var_dir=var, embeddings_provider="use", llm_provider=self.provider, checkpointer="memory",
            cache_backend="memory", database_url="", index_dir="",
        )  # fmt: skip

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[Session]:
        """A session on a fresh copy of the catalogue."""
        var = self.workdir / f"var-{uuid.uuid4().hex[:10]}"
        await asyncio.to_thread(shutil.copytree, self.template, var)
        session = InProcessSession(self, var)
        try:
            await session.open()
            yield session
        finally:
            await session.close()


class HttpTarget:
    """Sessions against a running server (they all share its catalogue)."""

    def __init__(self, base_url: str) -> None:
        import httpx

        self.client = httpx.AsyncClient(base_url=base_url, timeout=120)

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[Session]:
        """The shared HTTP client as a session."""
        yield HttpSession(self.client)

    async def aclose(self) -> None:
        await self.client.aclose()


@contextlib.asynccontextmanager
async def open_target(target: str, var_template: Path | None = None, embedder: Any = None) -> AsyncIterator[Any]:
    """The target's session factory; in-process targets build the seeded catalogue once (or use `var_template`)."""
    if target.startswith(("http://", "https://")):
        http = HttpTarget(target)
        try:
            yield http
        finally:
            await http.aclose()
        return
    with tempfile.TemporaryDirectory(prefix="eval-run-") as tmp:
        workdir = Path(tmp)
        if var_template is None:
            from evals.cache import fresh_var

            var_template = await asyncio.to_thread(fresh_var, workdir / "template")
        yield InProcessTarget(target, var_template, workdir, embedder)


def thread_for(session: Session, item_id: str) -> str:
    """Stable thread ids in-process (reproducible wording), unique ones against a server that keeps its threads."""
    return f"eval-{item_id}" if isinstance(session, InProcessSession) else f"eval-{item_id}-{uuid.uuid4().hex[:8]}"


# ---------------------------------------------------------------------------- LangSmith plumbing


async def run_experiment(
    target_fn: Callable[[dict[str, Any]], Any],
    examples: list[tuple[dict[str, Any], dict[str, Any]]],
    evaluators: list[Callable[..., dict[str, Any]]],
    experiment: str,
    concurrency: int,
) -> list[dict[str, Any]]:
    """Run `langsmith.aevaluate` (local client without LANGSMITH_API_KEY); rows of inputs/outputs/feedback."""
    from langsmith import Client, aevaluate
    from langsmith.schemas import Example, LangSmithInfo

    upload = bool(os.environ.get("LANGSMITH_API_KEY"))
    if not upload:  # the local client announces its (unused) upload path; nothing is sent
        logging.getLogger("langsmith.client").setLevel(logging.ERROR)
    client = Client() if upload else Client(info=LangSmithInfo())
    from langsmith.run_helpers import tracing_context

    data = [Example(id=uuid.uuid4(), inputs=inputs, outputs=outputs) for inputs, outputs in examples]

    async def traced(inputs: dict[str, Any]) -> Any:
        # Offline, LangSmith keeps its own runs local, but the agent's LangChain/LangGraph runs inside would
        # still pick a default (networked) tracer from that context: switch tracing off inside the target.
        with tracing_context(enabled=upload):
            return await target_fn(inputs)

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*upload_runs.*")  # langsmith marks the offline switch "beta"
        results = await aevaluate(
            traced,
            data=data,
            evaluators=evaluators,
            experiment_prefix=experiment,
            max_concurrency=concurrency,
            upload_results=upload,
            client=client,
            disable_evaluator_tracing=not upload,
        )
        rows: list[dict[str, Any]] = []
        async for row in results:
            run = row["run"]
            feedback = {r.key: {"score": r.score, "comment": r.comment} for r in row["evaluation_results"]["results"]}
            rows.append(
                {
                    "inputs": row["example"].inputs,
                    "reference": row["example"].outputs,
                    "outputs": run.outputs or {},
                    "error": run.error,
                    "feedback": feedback,
                }
            )
    return rows


# ---------------------------------------------------------------------------- routing


def route_evaluator(
    inputs: dict[str, Any], outputs: dict[str, Any], reference_outputs: dict[str, Any]
) -> dict[str, Any]:
    """Correct when the predicted route is one of the labels (one label: equality)."""
    predicted = (outputs or {}).get("route")
    ok = predicted in reference_outputs["routes"]
    return {"key": "route", "score": float(ok), "comment": f"{predicted} vs {'/'.join(reference_outputs['routes'])}"}


def routing_metrics(rows: list[dict[str, Any]]) -> tuple[dict[str, float], dict[str, Any]]:
    """Accuracy, per-route precision/recall, confusion matrix, latency."""
    gold = [r["reference"]["routes"] for r in rows]
    pred = [str((r["outputs"] or {}).get("route")) for r in rows]
    correct = [p in g for p, g in zip(pred, gold, strict=True)]
    metrics: dict[str, float] = {"accuracy": round(sum(correct) / max(1, len(rows)), 4)}
    labels = sorted(
        {g[0] for g in gold} | set(pred), key=lambda r: (r not in ROUTES, ROUTES.index(r) if r in ROUTES else 0, r)
    )
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    for p, g in zip(pred, gold, strict=True):
        confusion[p if p in g else g[0]][p] += 1
    for route in [r for r in labels if r in ROUTES]:
        tp = sum(p == route and p in g for p, g in zip(pred, gold, strict=True))
        predicted = sum(p == route for p in pred)
        actual = sum(route in g for g in gold)
        metrics[f"precision.{route}"] = round(tp / predicted, 4) if predicted else 0.0
        metrics[f"recall.{route}"] = round(tp / actual, 4) if actual else 0.0
    latencies = [float((r["outputs"] or {}).get("latency_ms", 0.0)) for r in rows]
    metrics["latency_p50_ms"] = percentile(latencies, 50)
    metrics["latency_p95_ms"] = percentile(latencies, 95)
    by_tag: dict[str, list[bool]] = defaultdict(list)
    for row, ok in zip(rows, correct, strict=True):
        for tag in row["inputs"].get("tags") or []:
            by_tag[tag].append(ok)
    errors = [
        {"id": r["inputs"]["id"], "text": r["inputs"]["text"], "expected": r["reference"]["routes"], "got": p}
        for r, p, ok in zip(rows, pred, correct, strict=True)
        if not ok
    ]
    details = {
        "confusion": {g: dict(c) for g, c in confusion.items()},
        "labels": labels,
        "by_tag": {t: round(sum(v) / len(v), 4) for t, v in sorted(by_tag.items())},
        "errors": errors,
    }
    return metrics, details


def routing_markdown(metrics: dict[str, float], details: dict[str, Any], n: int) -> str:
    """Summary, per-route table and confusion matrix."""
    lines = [
        f"Enrutado: {n} frases, exactitud **{metrics['accuracy']:.1%}** · latencia p50 {metrics['latency_p50_ms']} ms, "
        f"p95 {metrics['latency_p95_ms']} ms",
        "",
        "| ruta | precisión | exhaustividad |",
        "|---|---|---|",
    ]
    for route in ROUTES:
        if f"precision.{route}" in metrics:
            lines.append(f"| {route} | {metrics[f'precision.{route}']:.3f} | {metrics[f'recall.{route}']:.3f} |")
    labels = details["labels"]
    lines += ["", "Matriz de confusión (filas: ruta esperada, columnas: ruta predicha)", ""]
    lines.append("| esperada \\ predicha | " + " | ".join(labels) + " |")
    lines.append("|---|" + "---|" * len(labels))
    for gold in labels:
        row = details["confusion"].get(gold, {})
        lines.append(f"| {gold} | " + " | ".join(str(row.get(p, 0)) for p in labels) + " |")
    if details["by_tag"]:
        lines += ["", "Exactitud por etiqueta: " + " · ".join(f"{t} {v:.0%}" for t, v in details["by_tag"].items())]
    return "\n".join(lines)


async def run_routing(
    factory: Any, items: list[dict[str, Any]], experiment: str, concurrency: int
) -> tuple[dict[str, float], dict[str, Any], str]:
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


# ---------------------------------------------------------------------------- conversations


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


def judge_turn(expected: dict[str, Any], observed: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """All per-turn evaluations, each `{score, comment}` (score None when not applicable or not observable)."""
    from evals.trajectory import argument_match, trajectory_match

    out: dict[str, dict[str, Any]] = {}
    route = observed.get("route")
    out["route"] = {"score": float(route == expected["route"]), "comment": f"{route} vs {expected['route']}"}
    want = [t["name"] for t in expected.get("tools", [])]
    got = observed.get("tools")
    for mode in TRAJECTORY_MODES:
        if got is None:
            out[f"trajectory_{mode}"] = {"score": None, "comment": "no observable por HTTP"}
        else:
            ok = trajectory_match(mode, expected["user"], list(got), want)
            out[f"trajectory_{mode}"] = {"score": float(ok), "comment": f"{got} vs {want}"}
    if got is None:
        out["tool_args"] = {"score": None, "comment": "no observable por HTTP"}
    else:
        score, note = argument_match(
            expected.get("tools", []),
            fact_skus(expected.get("facts", {})),
            # what the turn acted on: the products of its single-product calls and those its reply presents
            [*(observed.get("tool_products") or []), *(p.get("sku") for p in observed.get("products") or [])],
            list(observed.get("tool_quantities") or []),
        )
        out["tool_args"] = {"score": score, "comment": note}
    passed, total, notes = judge_facts(expected.get("facts", {}), observed)
    out["facts"] = {
        "score": passed / total if total else None,
        "comment": "; ".join(notes),
        "passed": passed,
        "total": total,
    }
    if "order_placed" in expected.get("facts", {}):
        delta = observed.get("orders_delta")
        want_order = bool(expected["facts"]["order_placed"])
        if delta is None:
            out["order"] = {"score": None, "comment": "pedidos no observables por HTTP"}
        else:
            out["order"] = {
                "score": float((delta == 1) == want_order and delta in (0, 1)),
                "comment": f"pedidos +{delta}",
            }
    return out


EVAL_KEYS = ("route", *(f"trajectory_{m}" for m in TRAJECTORY_MODES), "tool_args", "facts", "order")


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
        import traceback

        where = traceback.extract_tb(exc.__traceback__)[-1]
        error = f"{type(exc).__name__}: {exc} (turno {len(turns) + 1}, {Path(where.filename).name}:{where.lineno})"
        return {"turns": turns, "error": error, "traceback": traceback.format_exc()[-3000:]}
    return {"turns": turns}


def conversation_metrics(rows: list[dict[str, Any]]) -> tuple[dict[str, float], dict[str, Any]]:
    """Per-dialogue and overall figures (turn-level micro averages)."""
    per_key: dict[str, list[float]] = defaultdict(list)
    fact_passed = fact_total = 0
    turns_all_facts = turns_with_facts = 0
    latencies: list[float] = []
    dialogues: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    for row in rows:
        want_turns = row["reference"]["turns"]
        got_turns = (row["outputs"] or {}).get("turns") or []
        error = (row["outputs"] or {}).get("error") or row.get("error")
        summary: dict[str, Any] = {"id": row["inputs"]["id"], "turns": len(want_turns), "error": error}
        local: dict[str, list[float]] = defaultdict(list)
        local_lat: list[float] = []
        for i, want in enumerate(want_turns):
            if i >= len(got_turns):
                for key in ("route", "facts"):
                    per_key[key].append(0.0)
                    local[key].append(0.0)
                continue
            got = got_turns[i]
            local_lat.append(float(got.get("latency_ms", 0.0)))
            judged = judge_turn(want, got)
            for key, result in judged.items():
                if result["score"] is None:
                    continue
                if key != "facts":
                    per_key[key].append(result["score"])
                    local[key].append(result["score"])
                if result["score"] < 1:
                    failures.append(
                        {
                            "dialogue": row["inputs"]["id"],
                            "turn": i + 1,
                            "key": key,
                            "user": want["user"],
                            "comment": result["comment"],
                            "reply": got.get("reply", "")[:240],
                        }
                    )
            facts = judged["facts"]
            if facts["total"]:
                fact_passed += facts["passed"]
                fact_total += facts["total"]
                turns_with_facts += 1
                turns_all_facts += facts["passed"] == facts["total"]
                local["facts"].append(facts["passed"] / facts["total"])
        latencies += local_lat
        for key in EVAL_KEYS:
            summary[key] = round(sum(local[key]) / len(local[key]), 3) if local[key] else None
        summary["latency_p50_ms"] = percentile(local_lat, 50)
        dialogues.append(summary)
    metrics: dict[str, float] = {}
    for key in EVAL_KEYS:
        if key == "facts":
            continue
        values = per_key[key]
        if values:
            metrics[f"{key}_accuracy" if key in ("route", "order", "tool_args") else key] = round(
                sum(values) / len(values), 4
            )
    metrics["fact_correctness"] = round(fact_passed / fact_total, 4) if fact_total else 0.0
    metrics["turns_all_facts_right"] = round(turns_all_facts / turns_with_facts, 4) if turns_with_facts else 0.0
    metrics["dialogues_without_error"] = round(sum(not d["error"] for d in dialogues) / max(1, len(dialogues)), 4)
    metrics["latency_p50_ms"] = percentile(latencies, 50)
    metrics["latency_p95_ms"] = percentile(latencies, 95)
    categories = Counter(f["key"] for f in failures)
    details = {
        "dialogues": dialogues,
        "failures": failures,
        "failure_counts": dict(categories.most_common()),
        "fact_checks": {"passed": fact_passed, "total": fact_total},
        "turns": len(latencies),
    }
    return metrics, details


def fmt(value: Any) -> str:
    """A score as a percentage, "n/d" when missing."""
    return NA if value is None else f"{value:.0%}"


def conversations_markdown(metrics: dict[str, float], details: dict[str, Any]) -> str:
    """Overall table, then one row per dialogue."""
    labels = {
        "route_accuracy": "ruta correcta (por turno)",
        "trajectory_strict": "trayectoria de herramientas, estricta",
        "trajectory_unordered": "trayectoria, sin orden",
        "trajectory_superset": "trayectoria, superconjunto",
        "tool_args_accuracy": "argumentos de herramientas (producto, cantidad)",
        "fact_correctness": "hechos correctos (comprobaciones)",
        "turns_all_facts_right": "turnos con todos los hechos bien",
        "order_accuracy": "pedidos correctos",
        "dialogues_without_error": "diálogos sin error",
    }
    checks = details["fact_checks"]
    lines = [
        f"Conversaciones: {len(details['dialogues'])} diálogos, {details['turns']} turnos, "
        f"{checks['passed']}/{checks['total']} comprobaciones de hechos",
        "",
        "| métrica | valor |",
        "|---|---|",
    ]
    for key, label in labels.items():
        lines.append(f"| {label} | {fmt(metrics.get(key))} |")
    lines.append(f"| latencia p50 / p95 | {metrics['latency_p50_ms']} / {metrics['latency_p95_ms']} ms |")
    lines += ["", "| diálogo | turnos | ruta | estricta | sin orden | superconj. | hechos | pedido | p50 ms | error |"]
    lines.append("|---|---|---|---|---|---|---|---|---|---|")
    for d in details["dialogues"]:
        lines.append(
            f"| {d['id']} | {d['turns']} | {fmt(d['route'])} | {fmt(d['trajectory_strict'])} | "
            f"{fmt(d['trajectory_unordered'])} | {fmt(d['trajectory_superset'])} | {fmt(d['facts'])} | "
            f"{fmt(d['order'])} | {d['latency_p50_ms']} | {(d['error'] or '')[:60]} |"
        )
    if details["failure_counts"]:
        lines += [
            "",
            "Fallos por tipo (turnos): " + " · ".join(f"{k} {v}" for k, v in details["failure_counts"].items()),
        ]
    return "\n".join(lines)


async def run_conversations(
    factory: Any, items: list[dict[str, Any]], experiment: str, concurrency: int
) -> tuple[dict[str, float], dict[str, Any], str]:
    """Every dialogue on its own fresh catalogue, through LangSmith's evaluate."""

    async def target(inputs: dict[str, Any]) -> dict[str, Any]:
        return await play_dialogue(factory, inputs)

    examples = [
        (
            {
                "id": d["id"],
                "tags": d.get("tags", []),
                "turns": [t["user"] for t in d["turns"]],
                "lookup": [fact_skus(t.get("facts", {})) for t in d["turns"]],
            },
            {"turns": d["turns"]},
        )
        for d in items
    ]
    evaluators = [dialogue_evaluator(key) for key in EVAL_KEYS]
    rows = await run_experiment(target, examples, evaluators, experiment, concurrency)
    metrics, details = conversation_metrics(rows)
    return metrics, details, conversations_markdown(metrics, details)


# ---------------------------------------------------------------------------- retrieval and cache


def run_retrieval() -> tuple[dict[str, float], dict[str, Any], str]:
    """R@1/5/10 and MRR per search mode and split (evals/retrieval.py)."""
    from evals import retrieval

    results = asyncio.run(retrieval.evaluate("use"))
    metrics: dict[str, float] = {}
    for mode, per_split in results.items():
        for split, m in per_split.items():
            for name in ("r1", "r5", "r10", "mrr"):
                metrics[f"{mode}.{split}.{name}"] = getattr(m, name)
    details = {m: {s: asdict(x) for s, x in v.items()} for m, v in results.items()}
    return metrics, details, retrieval.table(results)


def run_cache(backend: str) -> tuple[dict[str, float], dict[str, Any], str]:
    """False hits, paraphrase hit rate, stale answers and counters (evals/cache.py)."""
    from evals import cache

    with contextlib.ExitStack() as stack:
        url = stack.enter_context(cache.redis_stack()) if backend == "redis" else None
        if backend == "redis" and url is None:
            backend = "memory"
        near, para, counters = asyncio.run(cache.pair_reports(backend, url))
        stale = cache.staleness(backend, url)
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


# ---------------------------------------------------------------------------- results

LOWER_IS_BETTER = ("latency", "false_hits", "stale_answers")


def direction(metric: str) -> str:
    """`lower` for latencies and error counts, `higher` for everything else."""
    return "lower" if any(part in metric for part in LOWER_IS_BETTER) else "higher"


def save(out_dir: Path, experiment: str, payload: dict[str, Any], markdown: str) -> Path:
    """Write `<experiment>.json` and `<experiment>.md`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{experiment}.json"
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    (out_dir / f"{experiment}.md").write_text(f"# {experiment}\n\n{markdown}\n", encoding="utf-8")
    return path


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
) -> tuple[dict[str, float], dict[str, Any], str]:
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
        metrics, details, markdown = asyncio.run(
            evaluate_dataset(dataset, target, experiment=experiment, concurrency=concurrency, limit=limit)
        )
    elif dataset == "retrieval":
        metrics, details, markdown = run_retrieval()
    else:
        metrics, details, markdown = run_cache(cache_backend)
    report(dataset, target, experiment, stamp, started, limit, (metrics, details, markdown), out_dir)
    return 0


def report(
    dataset: str, target: str, experiment: str, stamp: str, started: float, limit: int | None,
    result: tuple[dict[str, float], dict[str, Any], str], out_dir: Path,
) -> Path:  # fmt: skip
    """Save an experiment's JSON and Markdown and print its table."""
    metrics, details, markdown = result
    seconds = round(time.perf_counter() - started, 1)
    payload = {
        "experiment": experiment,
        "dataset": dataset,
        "target": target if dataset not in ("retrieval", "cache") else "offline",
        "created": stamp,
        "duration_s": seconds,
        "limit": limit,
        "metrics": metrics,
        "directions": {k: direction(k) for k in metrics},
        "details": details,
    }
    path = save(out_dir, experiment, payload, markdown)
    print(f"\n## {experiment}\n\n{markdown}\n\n({seconds:.0f} s) Resultados en {path} y {path.with_suffix('.md')}")
    return path
