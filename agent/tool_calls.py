"""Running the tool calls an LLM asked for: every failure becomes a result the model can read, never an exception.

Shared by the two LLM paths (`agent.respond` and `agent.assistant`). The tools take the conversation's thread id
from the run config, so a model cannot act on another customer's cart whatever arguments it invents.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import ToolCall, ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool
from pydantic import ValidationError


@dataclass(frozen=True, slots=True)
class ToolRun:
    """One call and what came of it: the message for the model and the parsed result (None if not JSON)."""

    name: str
    args: dict[str, Any]
    message: ToolMessage
    result: Any

    @property
    def failed(self) -> bool:
        return not isinstance(self.result, (dict, list)) or (isinstance(self.result, dict) and "error" in self.result)


async def run_tool_calls(
    tools: Mapping[str, BaseTool], calls: Sequence[ToolCall], config: RunnableConfig
) -> list[ToolRun]:
    """Each call in order; an unknown tool or invalid arguments answer {"error": ...} in Spanish."""
    runs = []
    for call in calls:
        name = str(call.get("name") or "")
        args = call.get("args") or {}
        tool = tools.get(name)
        if tool is None:
            raw: Any = json.dumps({"error": f"No existe la herramienta {name!r}."}, ensure_ascii=False)
        else:
            try:
                raw = await tool.ainvoke(args, config)
            except (ValidationError, TypeError, ValueError) as exc:
                raw = json.dumps({"error": f"Argumentos no válidos: {exc}"}, ensure_ascii=False)
        result = None
        with contextlib.suppress(TypeError, ValueError):
            result = json.loads(raw)
        message = ToolMessage(content=str(raw), tool_call_id=call.get("id") or "call", name=name)
        runs.append(ToolRun(name, dict(args), message, result))
    return runs
