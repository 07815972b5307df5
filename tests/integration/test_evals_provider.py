"""`python -m evals run conversations --target gemini` records what the LLM cost: provider, model, calls, tokens.

The eval runs in-process exactly as the CLI does, with GOOGLE_API_KEY set and the real Gemini client talking to
the local fake server (tests/fake_llm.py), which reports 11 prompt and 7 output tokens per answer.
"""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest

from evals import usage
from evals.run import run
from tests.fake_llm import FAKE_KEY, FakeLLMServer, Text, fake_gemini

__all__ = ["fake_gemini"]  # fixture, imported for pytest

pytestmark = [  # third-party warnings of the Gemini client, as in test_llm_wire.py
    pytest.mark.filterwarnings(
        "ignore:Inheritance class AiohttpClientSession from ClientSession is discouraged:DeprecationWarning"
    ),
    pytest.mark.filterwarnings("ignore:coroutine 'ClientResponse.json' was never awaited:RuntimeWarning"),
]


@pytest.mark.slow
def test_an_eval_on_gemini_records_provider_model_tokens_and_cost(
    fake_gemini: FakeLLMServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", FAKE_KEY)
    fake_gemini.script(*[Text("De acuerdo.", prompt_tokens=11, output_tokens=7)] * 40)
    usage.reset()
    assert run("conversations", target="gemini", experiment="prov", limit=1, out_dir=tmp_path) == 0
    spent = json.loads((tmp_path / "prov.json").read_text(encoding="utf-8"))["llm"]
    calls = len(fake_gemini.requests)
    assert calls > 0 and spent["provider"] == "gemini" and spent["model"] == "gemini-2.0-flash"
    assert spent["llm_calls"] == calls
    assert spent["input_tokens"] == 11 * calls and spent["output_tokens"] == 7 * calls
    assert spent["cost_estimate_usd"] == pytest.approx((11 * 0.10 + 7 * 0.40) * calls / 1_000_000)
    assert "LLM: gemini gemini-2.0-flash" in (tmp_path / "prov.md").read_text(encoding="utf-8")
    gc.collect()  # an HTTP connection left open by the eval would fail here, not in a later test


def test_offline_spends_nothing_and_an_unknown_model_gets_no_price(monkeypatch: pytest.MonkeyPatch) -> None:
    usage.reset()
    usage.record({"llm_calls": 2, "input_tokens": 5, "output_tokens": -3, "total_tokens": "x"})
    assert usage.totals("offline")["cost_estimate_usd"] == 0.0
    monkeypatch.setenv("OPENAI_MODEL", "un-modelo-local")
    spent = usage.totals("openai")
    assert spent["llm_calls"] == 2 and spent["output_tokens"] == 0 and spent["cost_estimate_usd"] is None
    usage.reset()
