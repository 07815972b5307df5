"""Semantic cache latency over HTTP, on the real server with the project's Redis Stack.

POST /chat for a question the cache has not seen (miss), then the same question again (exact hit) or a paraphrase
of it (semantic hit).

Questions: one price question per product of the sample catalogue ("¿cuánto cuesta el <name>?") and the
paraphrase pairs of evals/datasets/cache_paraphrase.jsonl. Each first question opens a new conversation.
"""

from __future__ import annotations

import http.client
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

from evals.common import load_jsonl
from evals.environment import fresh_var, redis_stack, serving
from settings import ROOT

BENCH_REDIS_PORT = int(os.environ.get("BENCH_REDIS_PORT", "6394"))


def run(n: int = 200) -> tuple[str, dict[str, list[float]]]:
    """(backend measured, timings by kind: miss, exact hit, semantic hit)."""
    catalogue = json.loads((ROOT / "data" / "catalogue" / "sample_products.json").read_text(encoding="utf-8"))
    questions = [f"¿cuánto cuesta el {p['name']}?" for p in catalogue][:n]
    pairs = [(p["first"], p["second"]) for p in load_jsonl("cache_paraphrase")]
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp, redis_stack(BENCH_REDIS_PORT) as url:
        var = fresh_var(Path(tmp))
        backend = "redis" if url else "memory"
        extra = {"CACHE_BACKEND": backend, "REDIS_URL": url or "", "CACHE_NAME": f"bench_{uuid.uuid4().hex[:8]}"}
        with serving(var, OPENAI_API_KEY="", LLM_PROVIDER="offline", **extra) as port:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

            def ask(message: str) -> tuple[float, bool]:
                body = json.dumps({"message": message, "thread_id": uuid.uuid4().hex}).encode()
                started = time.perf_counter()
                conn.request("POST", "/chat", body=body, headers={"content-type": "application/json"})
                response = conn.getresponse()
                payload = response.read()
                elapsed = (time.perf_counter() - started) * 1000
                if response.status != 200:
                    raise RuntimeError(f"/chat answered {response.status}: {payload[:200]!r}")
                return elapsed, bool(json.loads(payload)["cached"])

            for q in questions[:10]:  # warm-up (not measured)
                ask(q + " ")
            timings: dict[str, list[float]] = {"fallo (miss)": [], "acierto exacto": [], "acierto semántico": []}
            for q in questions:
                ms, cached = ask(q)
                if not cached:
                    timings["fallo (miss)"].append(ms)
                ms, cached = ask(q)
                if cached:
                    timings["acierto exacto"].append(ms)
            for first, second in pairs:
                ms, cached = ask(first)
                if not cached:
                    timings["fallo (miss)"].append(ms)
                ms, cached = ask(second)
                if cached:
                    timings["acierto semántico"].append(ms)
            conn.close()
    return backend, timings
