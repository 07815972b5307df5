"""LangSmith plumbing: run a target over Examples through `langsmith.aevaluate`, locally without an API key.

Evaluators return `{key, score, comment}`; without LANGSMITH_API_KEY the client is a local
`Client(info=LangSmithInfo())` and nothing is uploaded, so no network is touched.
"""

from __future__ import annotations

import logging
import os
import uuid
import warnings
from collections.abc import Callable
from typing import Any

from langsmith import Client, aevaluate
from langsmith.run_helpers import tracing_context
from langsmith.schemas import Example, LangSmithInfo


def local_client(upload: bool) -> Client:
    """The real client with an API key; otherwise a local one (its announced upload path is never used)."""
    if upload:
        return Client()
    logging.getLogger("langsmith.client").setLevel(logging.ERROR)
    return Client(info=LangSmithInfo())


def result_row(row: Any) -> dict[str, Any]:
    """One evaluated example as inputs / reference / outputs / error / feedback."""
    run = row["run"]
    feedback = {r.key: {"score": r.score, "comment": r.comment} for r in row["evaluation_results"]["results"]}
    return {
        "inputs": row["example"].inputs,
        "reference": row["example"].outputs,
        "outputs": run.outputs or {},
        "error": run.error,
        "feedback": feedback,
    }


async def run_experiment(
    target_fn: Callable[[dict[str, Any]], Any],
    examples: list[tuple[dict[str, Any], dict[str, Any]]],
    evaluators: list[Callable[..., dict[str, Any]]],
    experiment: str,
    concurrency: int,
) -> list[dict[str, Any]]:
    """Run `langsmith.aevaluate` (local client without LANGSMITH_API_KEY); rows of inputs/outputs/feedback."""
    upload = bool(os.environ.get("LANGSMITH_API_KEY"))
    client = local_client(upload)
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
        return [result_row(row) async for row in results]
