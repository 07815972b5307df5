"""The last step of every subgraph: the composer's reply, or — with an LLM — the LLM's, if its figures hold.

The LLM gets the conversation, the tool results and the composer's draft, may call tools itself (at most
`MAX_TOOL_ROUNDS` rounds), and writes the reply. Every price and stock figure in that reply must appear in the
tool results; on a mismatch, an LLM error, a malformed answer or a timeout, the composer's draft goes out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from decimal import Decimal, InvalidOperation
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from pydantic import ValidationError

from agent.composer import figures_match
from agent.context import AgentContext
from state import ProductFact

log = logging.getLogger(__name__)

MAX_TOOL_ROUNDS = 2
HISTORY = 6

SYSTEM_PROMPT = """Eres el asistente de ventas de una tienda online española. Hablas con clientes en español, \
con un tono cercano y profesional, y respuestas breves.
Reglas:
- Los precios y las existencias salen SOLO de los resultados de las herramientas que tienes delante. Nunca \
inventes ni redondees un precio o un número de unidades; escribe los precios en formato español (1.299,00 €).
- Si te falta un dato, usa una herramienta para consultarlo o dilo con honestidad.
- No confirmes pedidos tú: el pedido se confirma con el cliente en un paso aparte.
- Si la pregunta no tiene que ver con la tienda, redirige amablemente a lo que sí puedes hacer."""


def _walk(value: Any, facts: list[ProductFact], money: set[Decimal], counts: set[int]) -> None:
    if isinstance(value, dict):
        if "price" in value and "name" in value:
            facts.append(value)  # type: ignore[arg-type]
        for key, inner in value.items():
            if key in ("price", "regular_price", "unit_price", "line_total", "total"):
                with contextlib.suppress(InvalidOperation, ValueError):
                    money.add(Decimal(str(inner)).quantize(Decimal("0.01")))
            elif key in ("stock", "quantity") and isinstance(inner, int):
                counts.add(inner)
            else:
                _walk(inner, facts, money, counts)
    elif isinstance(value, list):
        for inner in value:
            _walk(inner, facts, money, counts)


def allowed_figures(facts: list[Any], extra_money: set[Decimal] | None = None) -> tuple[set[Decimal], set[int]]:
    """Money and unit counts a reply may quote: the tools' figures, pairwise price differences, small multiples."""
    found: list[ProductFact] = []
    money: set[Decimal] = set(extra_money or set())
    counts: set[int] = set()
    _walk(facts, found, money, counts)
    prices = sorted(money)
    for a in prices:
        for b in prices:
            if b > a:
                money.add(b - a)
        for n in range(2, 11):
            money.add(a * n)
    return money, counts


async def respond(
    context: AgentContext,
    config: RunnableConfig,
    messages: list[AnyMessage],
    *,
    draft: str,
    facts: list[Any],
) -> str:
    """The reply for this turn: the LLM's when it is configured and truthful, else `draft`."""
    if context.llm is None:
        return draft
    try:
        text, seen = await asyncio.wait_for(_llm_turn(context, config, messages, draft, facts), context.llm_timeout)
    except TimeoutError:
        log.warning("LLM reply timed out after %.1fs; sending the composer's reply", context.llm_timeout)
        return draft
    except Exception:  # any provider failure: the customer still gets an exact answer
        log.warning("LLM reply failed; sending the composer's reply", exc_info=True)
        return draft
    money, counts = allowed_figures([facts, seen])
    if not text.strip():
        return draft
    if not figures_match(text, money, counts):
        log.info("LLM reply quoted figures the tools did not report; sending the composer's reply")
        return draft
    return text


async def _llm_turn(
    context: AgentContext, config: RunnableConfig, messages: list[AnyMessage], draft: str, facts: list[Any]
) -> tuple[str, list[Any]]:
    assert context.llm is not None
    tools = {t.name: t for t in context.tools}
    model = context.llm.bind_tools(list(tools.values())) if tools else context.llm
    grounding = HumanMessage(
        "Resultados de las herramientas (JSON, la única fuente de precios y existencias):\n"
        f"{json.dumps(facts, ensure_ascii=False, default=str)}\n\n"
        f"Borrador de respuesta, correcto pero mejorable:\n{draft}\n\n"
        "Escribe la respuesta final al cliente."
    )
    history = [
        m for m in messages[-HISTORY:] if isinstance(m, HumanMessage) or (isinstance(m, AIMessage) and not m.tool_calls)
    ]
    convo: list[AnyMessage] = [SystemMessage(SYSTEM_PROMPT), *history, grounding]
    seen: list[Any] = []
    for _ in range(MAX_TOOL_ROUNDS + 1):
        answer = await model.ainvoke(convo, config)
        if not isinstance(answer, AIMessage):
            raise TypeError(f"unexpected LLM output {type(answer).__name__}")
        if not answer.tool_calls:
            return _text(answer), seen
        convo.append(answer)
        for call in answer.tool_calls:
            tool = tools.get(call.get("name", ""))
            if tool is None:
                result = json.dumps({"error": f"No existe la herramienta {call.get('name')!r}."})
            else:
                try:
                    result = await tool.ainvoke(call.get("args") or {}, config)
                except (ValidationError, TypeError, ValueError) as exc:
                    result = json.dumps({"error": f"Argumentos no válidos: {exc}"}, ensure_ascii=False)
            with contextlib.suppress(TypeError, ValueError):
                seen.append(json.loads(result))
            convo.append(ToolMessage(content=str(result), tool_call_id=call.get("id") or "call"))
    raise RuntimeError("the LLM kept calling tools")


def _text(message: AIMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
