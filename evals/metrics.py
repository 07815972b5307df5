"""Figures over an experiment's rows: routing accuracy, precision/recall and confusion; conversation scores."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from evals.common import percentile
from evals.judges import EVAL_KEYS, judge_turn
from state import ROUTES


def route_order(route: str) -> tuple[bool, int, str]:
    """Known routes in the graph's order, then anything else alphabetically."""
    return (route not in ROUTES, ROUTES.index(route) if route in ROUTES else 0, route)


def routing_metrics(rows: list[dict[str, Any]]) -> tuple[dict[str, float], dict[str, Any]]:
    """Accuracy, per-route precision/recall, confusion matrix, latency."""
    gold = [r["reference"]["routes"] for r in rows]
    pred = [str((r["outputs"] or {}).get("route")) for r in rows]
    correct = [p in g for p, g in zip(pred, gold, strict=True)]
    metrics: dict[str, float] = {"accuracy": round(sum(correct) / max(1, len(rows)), 4)}
    labels = sorted({g[0] for g in gold} | set(pred), key=route_order)
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


class ConversationTally:
    """Running totals over every turn of every dialogue (turn-level micro averages)."""

    def __init__(self) -> None:
        self.per_key: dict[str, list[float]] = defaultdict(list)
        self.fact_passed = self.fact_total = 0
        self.turns_all_facts = self.turns_with_facts = 0
        self.latencies: list[float] = []
        self.dialogues: list[dict[str, Any]] = []
        self.failures: list[dict[str, Any]] = []

    def add_dialogue(self, row: dict[str, Any]) -> None:
        """Judge every turn of one dialogue and keep its summary."""
        want_turns = row["reference"]["turns"]
        got_turns = (row["outputs"] or {}).get("turns") or []
        error = (row["outputs"] or {}).get("error") or row.get("error")
        summary: dict[str, Any] = {"id": row["inputs"]["id"], "turns": len(want_turns), "error": error}
        local: dict[str, list[float]] = defaultdict(list)
        local_lat: list[float] = []
        for i, want in enumerate(want_turns):
            if i >= len(got_turns):  # the dialogue broke off: the missing turns count as wrong
                for key in ("route", "facts"):
                    self.per_key[key].append(0.0)
                    local[key].append(0.0)
                continue
            local_lat.append(float(got_turns[i].get("latency_ms", 0.0)))
            self.add_turn(row["inputs"]["id"], i, want, got_turns[i], local)
        self.latencies += local_lat
        for key in EVAL_KEYS:
            summary[key] = round(sum(local[key]) / len(local[key]), 3) if local[key] else None
        summary["latency_p50_ms"] = percentile(local_lat, 50)
        self.dialogues.append(summary)

    def add_turn(
        self, dialogue: str, i: int, want: dict[str, Any], got: dict[str, Any], local: dict[str, list[float]]
    ) -> None:
        """One turn's scores into the overall and the dialogue's (`local`) lists; failures noted."""
        judged = judge_turn(want, got)
        for key, result in judged.items():
            if result["score"] is None:
                continue
            if key != "facts":
                self.per_key[key].append(result["score"])
                local[key].append(result["score"])
            if result["score"] < 1:
                self.failures.append(
                    {
                        "dialogue": dialogue,
                        "turn": i + 1,
                        "key": key,
                        "user": want["user"],
                        "comment": result["comment"],
                        "reply": got.get("reply", "")[:240],
                    }
                )
        facts = judged["facts"]
        if facts["total"]:
            self.fact_passed += facts["passed"]
            self.fact_total += facts["total"]
            self.turns_with_facts += 1
            self.turns_all_facts += facts["passed"] == facts["total"]
            local["facts"].append(facts["passed"] / facts["total"])

    def metrics(self) -> dict[str, float]:
        """Overall figures."""
        metrics: dict[str, float] = {}
        for key in EVAL_KEYS:
            values = self.per_key[key]
            if key != "facts" and values:
                name = f"{key}_accuracy" if key in ("route", "order", "tool_args") else key
                metrics[name] = round(sum(values) / len(values), 4)
        metrics["fact_correctness"] = round(self.fact_passed / self.fact_total, 4) if self.fact_total else 0.0
        metrics["turns_all_facts_right"] = (
            round(self.turns_all_facts / self.turns_with_facts, 4) if self.turns_with_facts else 0.0
        )
        without_error = sum(not d["error"] for d in self.dialogues)
        metrics["dialogues_without_error"] = round(without_error / max(1, len(self.dialogues)), 4)
        metrics["latency_p50_ms"] = percentile(self.latencies, 50)
        metrics["latency_p95_ms"] = percentile(self.latencies, 95)
        return metrics

    def details(self) -> dict[str, Any]:
        """Per-dialogue summaries, failures and counts."""
        categories = Counter(f["key"] for f in self.failures)
        return {
            "dialogues": self.dialogues,
            "failures": self.failures,
            "failure_counts": dict(categories.most_common()),
            "fact_checks": {"passed": self.fact_passed, "total": self.fact_total},
            "turns": len(self.latencies),
        }


def conversation_metrics(rows: list[dict[str, Any]]) -> tuple[dict[str, float], dict[str, Any]]:
    """Per-dialogue and overall figures (turn-level micro averages)."""
    tally = ConversationTally()
    for row in rows:
        tally.add_dialogue(row)
    return tally.metrics(), tally.details()
