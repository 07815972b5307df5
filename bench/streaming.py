"""First words against the whole reply with an LLM: /agent/stream on the real server, Gemini played by a fake.

The real google-genai client (GOOGLE_GEMINI_BASE_URL) talks to the local fake Gemini of the tests, which answers
each turn with a product lookup (a `functionCall`) and then a reply in four sentences 150 ms apart, as a model
writing. Measured per turn, from the request: when the customer sees the first checked sentence, and when the
reply is complete. The difference is what streaming saves the customer; the rest is the app's own overhead.
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from evals.environment import fresh_var, serving
from tests.fake_llm import FAKE_KEY, FakeLLMServer, Stream, ToolCalls

SENTENCE_DELAY = 0.15
PRODUCTS = [  # SKU, name and price in the sample catalogue
    ("TEL-SAM-S24-128-NEG", "Samsung Galaxy S24 128 GB Negro Onyx", "909,00 €"),
    ("TEL-SAM-FUN-S24-NEG", "Funda Samsung Silicone Case para Galaxy S24 Negro", "29,90 €"),
]


def _turn(port: int, fake: FakeLLMServer, sku: str, name: str, price: str) -> tuple[float, float]:
    fake.script(
        ToolCalls((("product_details", {"product": sku}),)),
        Stream((f"El {name} ", f"cuesta {price}. ", "Te lo envío en 24/48 horas. ", "¿Te lo añado al carrito? "),
               SENTENCE_DELAY),
    )  # fmt: skip
    body = {"input": {"messages": [{"role": "user", "content": f"¿cuánto cuesta el {name}?"}]}}
    headers = {"X-Thread-Id": uuid.uuid4().hex}
    start = time.perf_counter()
    first = 0.0
    with httpx.stream("POST", f"http://127.0.0.1:{port}/agent/stream", json=body, headers=headers, timeout=30) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if line.startswith("data: ") and not first and isinstance(json.loads(line[6:]), str):
                first = time.perf_counter()
    end = time.perf_counter()
    return (first - start) * 1000, (end - start) * 1000


def run(turns: int = 20) -> dict[str, list[float]]:
    fake = FakeLLMServer("gemini").start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp:
            var = fresh_var(Path(tmp))
            env = {"GOOGLE_API_KEY": FAKE_KEY, "GOOGLE_GEMINI_BASE_URL": fake.url, "LLM_PROVIDER": "gemini",
                   "EMBEDDINGS_PROVIDER": "use", "NO_PROXY": "127.0.0.1,localhost", "LLM_TIMEOUT": "10"}  # fmt: skip
            with serving(var, **env) as port:
                _turn(port, fake, *PRODUCTS[0])  # warm-up
                timings: dict[str, list[float]] = {"primera frase": [], "respuesta completa": []}
                for i in range(turns):
                    first, whole = _turn(port, fake, *PRODUCTS[i % len(PRODUCTS)])
                    timings["primera frase"].append(first)
                    timings["respuesta completa"].append(whole)
                return timings
    finally:
        fake.stop()
