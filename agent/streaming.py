"""The assistant's reply token by token, without ever letting an unchecked figure through.

When the caller streams (`ChatService.stream`, /agent/stream, the playground), the turn carries a `ReplySink`
(agent.llm_retry) and the assistant calls the model with `astream`. The text goes through a `FigureGate`: it is
released one sentence at a time, and only when every price and unit count in that sentence came from the shop
(the same rule as `agent.respond.reply_problem`). The first sentence that fails closes the gate: nothing more of
that reply is released, the turn falls back to the offline answer, and the customer sees the checked sentences
followed by that answer. What the gate released is never taken back, and it never holds an unchecked figure.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig

from agent.llm import message_text
from agent.llm_retry import ReplySink, with_retries
from agent.respond import reply_problem

# The end of a sentence or line: what comes before it can be checked on its own.
_BOUNDARY = re.compile(r"[.!?:;…](?=\s)|\n")


class FigureGate:
    """Releases the model's text to the sink sentence by sentence, each checked; closes at the first bad one."""

    def __init__(self, sink: ReplySink, money: set[Decimal], counts: set[int]) -> None:
        self.sink = sink
        self.money = money
        self.counts = counts
        self.pending = ""
        self.closed = False

    def feed(self, delta: str) -> None:
        if self.closed or not delta:
            return
        self.pending += delta
        cut = 0
        for match in _BOUNDARY.finditer(self.pending):
            cut = match.end()
        if cut:
            self._release(self.pending[:cut])
            self.pending = self.pending[cut:]

    def _release(self, text: str) -> None:
        if not text.strip():
            self.sink.release(text)
            return
        if reply_problem(text, self.money, self.counts) is not None:
            self.closed = True
            return
        self.sink.release(text)


async def stream_llm(
    runnable: Runnable[Any, Any], value: list[BaseMessage], config: RunnableConfig | None, gate: FigureGate
) -> AIMessageChunk:
    """`runnable.astream(value)` merged into one message, its text fed to `gate` as it arrives.

    Retried like `agent.llm_retry.invoke_llm` (429/5xx, Retry-After, the turn's budget) until the first chunk
    arrives; after that a failure goes up (what was released stays released).
    """
    started: list[bool] = []
    return await with_retries(
        lambda cfg: _merge(runnable, value, cfg, gate, started), config, may_retry=lambda: not started
    )


async def _merge(
    runnable: Runnable[Any, Any],
    value: list[BaseMessage],
    config: RunnableConfig,
    gate: FigureGate,
    started: list[bool],
) -> AIMessageChunk:
    merged: AIMessageChunk | None = None
    async for chunk in runnable.astream(value, config):
        if not isinstance(chunk, AIMessageChunk):
            raise TypeError(f"unexpected LLM chunk {type(chunk).__name__}")
        started.append(True)
        merged = chunk if merged is None else merged + chunk
        gate.feed(message_text(chunk))
    if merged is None:
        raise ValueError("the LLM streamed nothing")
    return merged
