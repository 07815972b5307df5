"""`python -m evals run dialogues`: natural conversations judged on what the reply says (evals/datasets/DIALOGUES.md).

Each dialogue runs in-process on a fresh copy of its world — the sample shop or the Mercadona catalogue alone —
in its own conversation. A turn is correct when every one of its checks holds; a dialogue when all its turns are.
Checks read the reply, the conversation's cart and the database after the turn, never the agent's internals, so
the same set measures any implementation (rules, an LLM, or both).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from data import orders
from data.models import Product
from evals.common import (
    RESULTS,
    EvalConfigError,
    check_target,
    eur,
    fold_text,
    load_jsonl,
    percentile,
    target_label,
)
from evals.experiment import run_experiment
from evals.report import report
from evals.targets import InProcessTarget, thread_for
from settings import ROOT, Settings
from vectorstore.embeddings import build_embedder

WORLDS = ("sample", "mercadona")
MERCADONA_CSV = ROOT.parent / "shared" / "datasets" / "mercadona" / "mercadona_products_all.csv"
MERCADONA_STOCK = 25
MERCADONA_MAP = ("sku=product_id", "price=price_eur", "category=category_l1", "subcategory=category_l2")
CHECK_KEYS = ("prices", "stock", "mentions", "not_mentions", "contains", "contains_any", "not_contains", "cart",
              "cart_total", "order_placed", "stock_after")  # fmt: skip


# ---------------------------------------------------------------------------- worlds


def _data_cli(var: Path, *args: str) -> None:
    env = {**os.environ, "VAR_DIR": str(var), "DATABASE_URL": "", "INDEX_DIR": "", "GOOGLE_API_KEY": "",
           "EMBEDDINGS_PROVIDER": "use", "LOG_LEVEL": "WARNING"}  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "manage", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise EvalConfigError(f"python -m manage {' '.join(args)} failed: {done.stderr.strip()[-400:]}")


def world_var(world: str, tmp: Path) -> Path:
    """A var dir for one world, prepared the way a shop would (`make run`, or the README's Mercadona import)."""
    var = tmp / world / "var"
    if world == "sample":
        _data_cli(var, "setup")
        return var
    if not MERCADONA_CSV.exists():
        raise EvalConfigError(f"The Mercadona catalogue is not at {MERCADONA_CSV}.")
    maps = [arg for m in MERCADONA_MAP for arg in ("--map", m)]
    _data_cli(var, "migrate")
    _data_cli(var, "import", str(MERCADONA_CSV), *maps, "--default-stock", str(MERCADONA_STOCK))
    _data_cli(var, "setup")  # policies and anything else `make run` prepares; the catalogue is not empty
    return var


@contextlib.asynccontextmanager
async def open_worlds(provider: str, worlds: Sequence[str]) -> AsyncIterator[dict[str, InProcessTarget]]:
    """One in-process target per world, sharing the embedder."""
    embedder = build_embedder(Settings.isolated(embeddings_provider="use"))
    with tempfile.TemporaryDirectory(prefix="eval-dialogues-") as tmp:
        targets: dict[str, InProcessTarget] = {}
        for world in worlds:
            template = await asyncio.to_thread(world_var, world, Path(tmp))
            targets[world] = InProcessTarget(provider, template, Path(tmp) / world, embedder)
        yield targets


# ---------------------------------------------------------------------------- observing the world


async def products_by_sku(session: Any, skus: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Price, stock, name and what tells each product apart from others that share its name."""
    if not skus:
        return {}
    async with session.catalog.sessions() as db:
        rows = (await db.execute(select(Product).where(Product.sku.in_(list(skus))))).scalars().all()  # type: ignore[attr-defined]
        out: dict[str, dict[str, Any]] = {}
        for p in rows:
            twins = (
                (
                    await db.execute(
                        select(Product).where(func.lower(Product.name) == p.name.lower(), Product.id != p.id)
                    )
                )
                .scalars()
                .all()
            )
            own = {str(k): str(v) for k, v in (p.attributes or {}).items() if v not in (None, "")}
            apart = sorted({v for k, v in own.items() if any(str((t.attributes or {}).get(k, "")) != v for t in twins)})
            out[p.sku] = {"price": f"{Decimal(p.price):.2f}", "stock": int(p.stock), "name": p.name,
                          "shared": bool(twins), "apart": apart}  # fmt: skip
    return out


async def cart_of(session: Any, thread_id: str) -> tuple[dict[str, int], str]:
    """The conversation's cart as {sku: quantity} and its total."""
    async with session.catalog.sessions() as db:
        cart = await orders.get_cart(db, thread_id=thread_id)
    return {i.sku: i.quantity for i in cart.items}, f"{cart.total:.2f}"


def skus_of(checks: dict[str, Any]) -> list[str]:
    """Every SKU a turn's checks name."""
    found = [*checks.get("prices", {}), *checks.get("stock", {}), *checks.get("mentions", []),
             *checks.get("not_mentions", []), *checks.get("cart", {}), *checks.get("stock_after", {})]  # fmt: skip
    return sorted(set(found))


# ---------------------------------------------------------------------------- judging one turn


def stock_said(reply: str, stock: int) -> bool:
    """A stock figure in the reply: the number itself, or "agotado" for zero."""
    if stock <= 0:
        return "agotad" in fold_text(reply) or bool(re.search(r"(?<![\d.,])0 unidades", reply))
    return bool(re.search(rf"(?<![\d.,]){stock}(?![\d]|,\d)", reply))


def in_reply(text: str, reply: str) -> bool:
    """Case- and accent-insensitive containment, with runs of spaces treated alike."""
    return " ".join(fold_text(text).split()) in " ".join(fold_text(reply).split())


def named(sku: str, reply: str, product: dict[str, Any]) -> bool:
    """The product is named: its name (and, when others share the name, what tells it apart)."""
    name = product.get("name")
    if not name or not in_reply(name, reply):
        return sku.lower() in reply.lower()
    if product.get("shared") and product.get("apart"):
        return any(in_reply(value, reply) for value in product["apart"])
    return True


def judge(checks: dict[str, Any], seen: dict[str, Any]) -> list[tuple[str, bool, str]]:
    """Every check of one turn: (kind, passed, note when it failed)."""
    reply = seen.get("reply") or ""
    before, after = seen.get("db_before") or {}, seen.get("db_after") or {}
    out: list[tuple[str, bool, str]] = []

    def check(kind: str, ok: bool, note: str) -> None:
        out.append((kind, ok, "" if ok else note))

    for sku, price in checks.get("prices", {}).items():
        actual = before.get(sku, {}).get("price")
        if actual != f"{Decimal(str(price)):.2f}":
            check("prices", False, f"precio de {sku}: conjunto {price}, base de datos {actual}")
        else:
            check("prices", eur(actual) in reply.replace("\u00a0", " "), f"falta {eur(actual)} ({sku})")
    for sku, stock in checks.get("stock", {}).items():
        actual = before.get(sku, {}).get("stock")
        if actual != stock:
            check("stock", False, f"stock de {sku}: conjunto {stock}, base de datos {actual}")
        else:
            check("stock", stock_said(reply, int(stock)), f"falta stock {stock} ({sku})")
    for sku in checks.get("mentions", []):
        check(
            "mentions", named(sku, reply, before.get(sku, {})), f"no nombra {sku} ({before.get(sku, {}).get('name')})"
        )
    for sku in checks.get("not_mentions", []):
        name = before.get(sku, {}).get("name") or sku
        check("not_mentions", not in_reply(name, reply), f"nombra {sku} ({name})")
    for text in checks.get("contains", []):
        check("contains", in_reply(text, reply), f"falta «{text}»")
    for group in checks.get("contains_any", []):
        check("contains_any", any(in_reply(t, reply) for t in group), f"falta alguno de {group[:4]}")
    for text in checks.get("not_contains", []):
        check("not_contains", not in_reply(text, reply), f"sobra «{text}»")
    if "cart" in checks:
        want = {k: int(v) for k, v in checks["cart"].items()}
        check("cart", seen.get("cart") == want, f"carrito {seen.get('cart')} y debía ser {want}")
    if "cart_total" in checks:
        total = f"{Decimal(str(checks['cart_total'])):.2f}"
        ok = seen.get("cart_total") == total and eur(total) in reply.replace("\u00a0", " ")
        check("cart_total", ok, f"total {seen.get('cart_total')} (debía ser {total} y aparecer en la respuesta)")
    if "order_placed" in checks:
        placed = seen.get("orders_delta") == 1
        check("order_placed", placed == bool(checks["order_placed"]), f"pedidos +{seen.get('orders_delta')}")
    for sku, stock in checks.get("stock_after", {}).items():
        actual = after.get(sku, {}).get("stock")
        check("stock_after", actual == stock, f"stock de {sku} después: {actual}, debía ser {stock}")
    return out


# ---------------------------------------------------------------------------- playing and scoring


async def play(target: InProcessTarget, dialogue: dict[str, Any]) -> dict[str, Any]:
    """One dialogue on a fresh copy of its world: reply, cart, stock and orders after every turn."""
    turns: list[dict[str, Any]] = []
    try:
        async with target.session() as session:
            thread_id = thread_for(session, dialogue["id"])
            for turn in dialogue["turns"]:
                skus = skus_of(turn.get("checks") or {})
                db_before = await products_by_sku(session, skus)
                orders_before = await session.order_count()
                seen = await session.turn(turn["user"], thread_id)
                cart, total = await cart_of(session, thread_id)
                turns.append(
                    {
                        "reply": seen["reply"][:3000],
                        "route": seen["route"],
                        "latency_ms": seen["latency_ms"],
                        "db_before": db_before,
                        "db_after": await products_by_sku(session, skus),
                        "cart": cart,
                        "cart_total": total,
                        "orders_delta": (await session.order_count() or 0) - (orders_before or 0),
                    }
                )
    except Exception as exc:  # one broken dialogue must not stop the experiment
        return {"turns": turns, "error": f"{type(exc).__name__}: {exc} (turno {len(turns) + 1})"}
    return {"turns": turns}


def turn_results(dialogue: dict[str, Any], outputs: dict[str, Any]) -> list[list[tuple[str, bool, str]]]:
    """The judged checks of every turn (a turn never played fails as a whole)."""
    got = outputs.get("turns") or []
    results = []
    for i, want in enumerate(dialogue["turns"]):
        if i >= len(got):
            results.append([("played", False, outputs.get("error") or "turno no jugado")])
        else:
            results.append(judge(want.get("checks") or {}, got[i]))
    return results


def dialogue_evaluator(inputs: dict[str, Any], outputs: dict[str, Any], reference_outputs: dict[str, Any]) -> Any:
    """LangSmith feedback: share of the dialogue's turns with every check right."""
    results = turn_results(reference_outputs, outputs or {})
    ok = [all(passed for _, passed, _ in checks) for checks in results]
    notes = [f"t{i}: {n}" for i, checks in enumerate(results, 1) for _, passed, n in checks if not passed]
    return {
        "results": [
            {"key": "turns_correct", "score": round(sum(ok) / max(1, len(ok)), 4), "comment": " | ".join(notes)[:1000]},
            {"key": "dialogue_correct", "score": float(all(ok))},
        ]
    }


def metrics_of(items: list[dict[str, Any]], rows: list[dict[str, Any]]) -> tuple[dict[str, float], dict[str, Any]]:
    """Turns and dialogues correct, overall and by world, region and tag; check pass rates; failures."""
    by_id = {d["id"]: d for d in items}
    turn_ok: list[bool] = []
    groups: dict[str, list[bool]] = defaultdict(list)
    dialogue_groups: dict[str, list[bool]] = defaultdict(list)
    kinds: dict[str, list[bool]] = defaultdict(list)
    failures: list[dict[str, Any]] = []
    latencies: list[float] = []
    per_dialogue = []
    for row in rows:
        dialogue = by_id[row["inputs"]["id"]]
        outputs = row["outputs"] or {}
        latencies += [float(t.get("latency_ms", 0)) for t in outputs.get("turns") or []]
        results = turn_results(dialogue, outputs)
        oks = []
        for i, checks in enumerate(results):
            ok = all(passed for _, passed, _ in checks)
            oks.append(ok)
            for kind, passed, _ in checks:
                kinds[kind].append(passed)
            if not ok:
                got = (outputs.get("turns") or [{}] * (i + 1))[i] if i < len(outputs.get("turns") or []) else {}
                failures.append({"dialogue": dialogue["id"], "turn": i + 1, "user": dialogue["turns"][i]["user"],
                                 "failed": [n for _, passed, n in checks if not passed],
                                 "reply": (got.get("reply") or "")[:400]})  # fmt: skip
        labels = [f"world:{dialogue.get('catalogue', 'sample')}", f"region:{dialogue.get('region', '?')}",
                  *(f"tag:{t}" for t in dialogue.get("tags", []))]  # fmt: skip
        for label in labels:
            groups[label] += oks
            dialogue_groups[label].append(all(oks))
        turn_ok += oks
        per_dialogue.append(
            {"id": dialogue["id"], "turns": len(oks), "correct": sum(oks), "error": outputs.get("error")}
        )

    def rate(values: list[bool]) -> float:
        return round(sum(values) / len(values), 4) if values else 0.0

    metrics: dict[str, float] = {
        "turns_correct": rate(turn_ok),
        "dialogues_correct": rate([d["correct"] == d["turns"] for d in per_dialogue]),
        "checks_passed": rate([ok for values in kinds.values() for ok in values]),
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": percentile(latencies, 95),
    }
    for label in sorted(groups):
        if label.startswith(("world:", "region:")):
            metrics[f"turns_correct.{label.replace(':', '.')}"] = rate(groups[label])
    metrics["price_checks_passed"] = rate(kinds.get("prices", []))
    details = {
        "turns": len(turn_ok),
        "dialogues": per_dialogue,
        "by_group": {
            k: {"turns": rate(v), "n": len(v), "dialogues": rate(dialogue_groups[k])} for k, v in groups.items()
        },
        "by_check": {k: {"passed": sum(v), "total": len(v)} for k, v in sorted(kinds.items())},
        "failures": failures,
    }
    return metrics, details


def markdown(metrics: dict[str, float], details: dict[str, Any]) -> str:
    """Summary, then groups and the failed turns."""
    n_dialogues = len(details["dialogues"])
    m = metrics
    lines = [
        f"Diálogos: {n_dialogues} diálogos, {details['turns']} turnos · turnos correctos **{m['turns_correct']:.1%}**"
        f" · diálogos enteros correctos **{m['dialogues_correct']:.1%}** · comprobaciones {m['checks_passed']:.1%}"
        f" · precios {m['price_checks_passed']:.1%} · p50 {m['latency_p50_ms']} ms",
        "",
        "| grupo | turnos | turnos correctos | diálogos correctos |",
        "|---|---|---|---|",
    ]
    for label, g in sorted(details["by_group"].items()):
        lines.append(f"| {label} | {g['n']} | {g['turns']:.0%} | {g['dialogues']:.0%} |")
    lines += ["", "| comprobación | aciertos |", "|---|---|"]
    for kind, c in details["by_check"].items():
        lines.append(f"| {kind} | {c['passed']}/{c['total']} |")
    counts = Counter(f["dialogue"] for f in details["failures"])
    lines += ["", f"Turnos fallidos: {len(details['failures'])} en {len(counts)} diálogos", ""]
    for f in details["failures"]:
        reply = " ".join(f["reply"].split())[:220]
        lines.append(f"- {f['dialogue']} t{f['turn']} «{f['user']}»: {'; '.join(f['failed'])[:300]} → «{reply}»")
    return "\n".join(lines)


async def evaluate(
    name: str, target: str, *, experiment: str, concurrency: int = 2, limit: int | None = None,
    items: list[dict[str, Any]] | None = None, worlds: dict[str, InProcessTarget] | None = None,
) -> tuple[dict[str, float], dict[str, Any], str]:  # fmt: skip
    """Play a dialogue set on its worlds (opened here unless given) and score it."""
    if target.startswith(("http://", "https://")):
        raise EvalConfigError("dialogues run in-process only (each needs its own copy of its catalogue).")
    data = items if items is not None else load_jsonl(name)
    data = data[:limit] if limit else data
    needed = sorted({d.get("catalogue", "sample") for d in data})
    unknown = set(needed) - set(WORLDS)
    if unknown:
        raise EvalConfigError(f"Unknown catalogue(s) {sorted(unknown)}: use {', '.join(WORLDS)}.")
    opened = contextlib.nullcontext(worlds) if worlds is not None else open_worlds(target, needed)
    async with opened as targets:

        async def run_one(inputs: dict[str, Any]) -> dict[str, Any]:
            dialogue = next(d for d in data if d["id"] == inputs["id"])
            return await play(targets[dialogue.get("catalogue", "sample")], dialogue)

        examples = [({"id": d["id"], "catalogue": d.get("catalogue", "sample")}, d) for d in data]
        rows = await run_experiment(run_one, examples, [dialogue_evaluator], experiment, concurrency)
    metrics, details = metrics_of(data, rows)
    return metrics, details, markdown(metrics, details)


def run(name: str, target: str = "offline", experiment: str | None = None, concurrency: int = 2,
        limit: int | None = None, out_dir: Path = RESULTS) -> int:  # fmt: skip
    """The CLI: play the set, print and save the results; exit code 1 on a configuration error."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    started = time.perf_counter()
    try:
        target = check_target(target)
        experiment = experiment or f"{name}-{target_label(target)}-{stamp}"
        result = asyncio.run(evaluate(name, target, experiment=experiment, concurrency=concurrency, limit=limit))
    except EvalConfigError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    report(name, target, experiment, stamp, started, limit, result, out_dir)
    return 0
