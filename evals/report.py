"""An experiment's Markdown tables, and its JSON + Markdown files in evals/results/."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from evals import usage
from evals.common import NA, direction
from state import ROUTES

CONVERSATION_LABELS = {
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


def fmt(value: Any) -> str:
    """A score as a percentage, "n/d" when missing."""
    return NA if value is None else f"{value:.0%}"


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


def conversations_markdown(metrics: dict[str, float], details: dict[str, Any]) -> str:
    """Overall table, then one row per dialogue."""
    checks = details["fact_checks"]
    lines = [
        f"Conversaciones: {len(details['dialogues'])} diálogos, {details['turns']} turnos, "
        f"{checks['passed']}/{checks['total']} comprobaciones de hechos",
        "",
        "| métrica | valor |",
        "|---|---|",
    ]
    for key, label in CONVERSATION_LABELS.items():
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


def save(out_dir: Path, experiment: str, payload: dict[str, Any], markdown: str) -> Path:
    """Write `<experiment>.json` and `<experiment>.md`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{experiment}.json"
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    (out_dir / f"{experiment}.md").write_text(f"# {experiment}\n\n{markdown}\n", encoding="utf-8")
    return path


def report(
    dataset: str, target: str, experiment: str, stamp: str, started: float, limit: int | None,
    result: tuple[dict[str, float], dict[str, Any], str], out_dir: Path,
) -> Path:  # fmt: skip
    """Save an experiment's JSON and Markdown and print its table (with what the LLM cost, if one was used)."""
    metrics, details, markdown = result
    seconds = round(time.perf_counter() - started, 1)
    target = target if dataset not in ("retrieval", "cache") else "offline"
    spent = usage.totals(target)  # provider, model, calls, tokens, cost estimate
    usage.reset()  # the next experiment in this process counts from zero
    payload = {
        "experiment": experiment,
        "dataset": dataset,
        "target": target,
        "created": stamp,
        "duration_s": seconds,
        "limit": limit,
        "metrics": metrics,
        "directions": {k: direction(k) for k in metrics},
        "details": details,
        "llm": spent,
    }
    if spent["provider"] != "offline":
        cost = spent["cost_estimate_usd"]
        markdown += (
            f"\n\nLLM: {spent['provider']} {spent['model']} · {spent['llm_calls']} llamadas · "
            f"{spent['input_tokens']} tokens de entrada, {spent['output_tokens']} de salida · "
            + (f"coste estimado {cost:.4f} USD" if cost is not None else "sin precio para este modelo")
        )
    path = save(out_dir, experiment, payload, markdown)
    print(f"\n## {experiment}\n\n{markdown}\n\n({seconds:.0f} s) Resultados en {path} y {path.with_suffix('.md')}")
    return path
