"""Search quality on real data is a regression test.

The target (R@5 >= 0.90) is judged on the held-out test split by `python -m evals retrieval esci`, which says
when it is missed (0.869 on 2026-12-01); here the measured levels must not fall.
"""

from __future__ import annotations

from evals.retrieval import evaluate


async def test_esci_known_item_target_holds() -> None:
    results = (await evaluate("use", modes=("hybrid",)))["hybrid"]
    overall = results["all"]
    assert overall.n == 291
    assert overall.r5 >= 0.90, results  # pooled with the splits the weights were tuned on: 0.907
    assert overall.mrr >= 0.80, results
    # The held-out split, measured 2026-12-01: R@5 0.869, MRR 0.818.
    assert results["test"].r5 >= 0.85, results
    assert results["test"].mrr >= 0.80, results
