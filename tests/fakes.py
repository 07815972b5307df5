"""Fakes at the edge we cannot reach in tests: the LLM. Everything behind it (tools, database) is real."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import PrivateAttr


class Sleep:
    """A scripted step: take this long (to trip the caller's timeout)."""

    def __init__(self, seconds: float, then: AIMessage | None = None) -> None:
        self.seconds = seconds
        self.then = then or AIMessage(content="demasiado tarde")


class ScriptedChatModel(BaseChatModel):
    """Answers with the scripted AIMessages in order (tool calls included), records what it was sent.

    A step may also be an Exception (raised) or a `Sleep` (a slow provider). `bind_tools` records the tools and
    returns the same model, as a real provider's binding would.
    """

    script: list[Any]
    structured: Any = None  # what with_structured_output(...) returns when asked

    _calls: list[list[BaseMessage]] = PrivateAttr(default_factory=list)
    _tools: list[str] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def calls(self) -> list[list[BaseMessage]]:
        return self._calls

    @property
    def bound_tools(self) -> list[str]:
        return self._tools

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable[Any, BaseMessage]:  # type: ignore[override]
        self._tools = [getattr(t, "name", str(t)) for t in tools]
        return self

    def with_structured_output(self, schema: Any, **kwargs: Any) -> Runnable[Any, Any]:  # type: ignore[override]
        async def answer(_: Any) -> Any:
            if isinstance(self.structured, Exception):
                raise self.structured
            return self.structured

        return RunnableLambda(lambda _: self.structured, afunc=answer)

    def _next(self, messages: list[BaseMessage]) -> Any:
        self._calls.append(list(messages))
        if not self.script:
            raise RuntimeError("the scripted model ran out of answers")
        return self.script.pop(0)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        step = self._next(messages)
        if isinstance(step, Exception):
            raise step
        if isinstance(step, Sleep):
            raise RuntimeError("use the async API for Sleep steps")
        return ChatResult(generations=[ChatGeneration(message=step)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        step = self._next(messages)
        if isinstance(step, Exception):
            raise step
        if isinstance(step, Sleep):
            await asyncio.sleep(step.seconds)
            step = step.then
        return ChatResult(generations=[ChatGeneration(message=step)])


def tool_call(name: str, args: dict[str, Any], call_id: str = "call-1") -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id, "type": "tool_call"}])
