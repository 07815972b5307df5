"""Chat-turn latency over HTTP with the offline provider: POST /chat and /agent/invoke, 200 questions each.

Questions are real Spanish customer wording (evals/datasets/routing.jsonl: every route, Spain and Latin America,
typos, multi-intent), each endpoint getting its own 200 distinct ones, each as the first turn of a new
conversation, so neither rides on the other's cache.
"""

from __future__ import annotations

import csv
import http.client
import json
import random
import tempfile
import time
import uuid
from pathlib import Path

from bench.cache import BENCH_REDIS_PORT
from evals.environment import fresh_var, redis_stack, serving
from settings import ROOT

ROUTING = ROOT / "evals" / "datasets" / "routing.jsonl"
ESCI_QUERIES = ROOT.parent / "shared" / "datasets" / "esci_es" / "esci_es_test_queries3844.csv"


def questions(n: int, seed: int = 11) -> list[str]:
    rows = [json.loads(line)["text"] for line in ROUTING.read_text(encoding="utf-8").splitlines() if line.strip()]
    with ESCI_QUERIES.open(encoding="utf-8") as fh:
        extra = [f"busco {r['query'].strip(chr(34) + chr(39) + ' ')}" for r in csv.DictReader(fh)]
    rng = random.Random(seed)
    rng.shuffle(rows)
    rng.shuffle(extra)
    pool = list(dict.fromkeys(rows + extra))
    return pool[:n]


def run(n_per_endpoint: int = 200) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(prefix="bench-chat-") as tmp:
        var = fresh_var(Path(tmp))
        with (
            redis_stack(BENCH_REDIS_PORT) as url,
            serving(
                var, OPENAI_API_KEY="", LLM_PROVIDER="offline", CACHE_BACKEND="redis" if url else "memory",
                REDIS_URL=url or "", CACHE_NAME=f"bench_{uuid.uuid4().hex[:8]}",
            ) as port,
        ):  # fmt: skip
            pool = questions(2 * n_per_endpoint + 20)
            # Measured through the stdlib client on one keep-alive connection: httpx adds about a millisecond of
            # its own per request, which is the client's cost, not the server's.
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            timings: dict[str, list[float]] = {"/chat": [], "/agent/invoke": []}
            jobs = [("/chat", q) for q in pool[:20]]  # warm-up, not measured
            jobs += [("/chat", q) for q in pool[20 : 20 + n_per_endpoint]]
            jobs += [("/agent/invoke", q) for q in pool[20 + n_per_endpoint : 20 + 2 * n_per_endpoint]]
            for i, (path, q) in enumerate(jobs):
                thread = uuid.uuid4().hex
                if path == "/chat":
                    body = json.dumps({"message": q, "thread_id": thread})
                    headers = {"content-type": "application/json"}
                else:
                    body = json.dumps({"input": {"messages": [{"role": "user", "content": q}]}})
                    headers = {"content-type": "application/json", "X-Thread-Id": thread}
                started = time.perf_counter()
                conn.request("POST", path, body=body.encode(), headers=headers)
                response = conn.getresponse()
                payload = response.read()
                if i >= 20:
                    timings[path].append((time.perf_counter() - started) * 1000)
                if response.status != 200:
                    raise RuntimeError(f"{path} answered {response.status}: {payload[:200]!r}")
            conn.close()
            return timings
