"""The LLM path with a scripted chat model: tool calls run for real, figures are checked, failures fall back."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, ToolMessage

from agent.context import AgentContext
from agent.llm import LLMConfigError, build_llm
from agent.router import Router
from chat import ChatService
from data.migrate import upgrade
from settings import Settings
from tests.conftest import make_settings
from tests.fakes import ScriptedChatModel, Sleep, tool_call
from tools.catalog import CatalogService

PHONE = "Samsung Galaxy S24 128 GB Negro Onyx"  # 909.00 €, 19 in stock in the sample catalogue


async def _chat(service: CatalogService, tmp_path: Path, model: ScriptedChatModel, llm_timeout: float) -> ChatService:
    await upgrade(service.engine)
    settings = make_settings(tmp_path, checkpointer="memory", llm_mode="polish", llm_timeout=llm_timeout)
    context = AgentContext.build(service, settings, llm=model)
    chat = ChatService(settings, service, context)
    await chat.start()
    return chat


@pytest.fixture
async def scripted(service: CatalogService, tmp_path: Path) -> AsyncIterator[Any]:
    chats: list[ChatService] = []

    async def make(script: list[Any], llm_timeout: float = 5.0) -> tuple[ChatService, ScriptedChatModel]:
        model = ScriptedChatModel(script=script)
        chat = await _chat(service, tmp_path, model, llm_timeout)
        chats.append(chat)
        return chat, model

    yield make
    for chat in chats:
        await chat.close()


def _tool_results(model: ScriptedChatModel) -> list[Any]:
    return [json.loads(m.content) for call in model.calls for m in call if isinstance(m, ToolMessage)]


async def test_llm_reply_with_true_figures_goes_out(scripted: Any) -> None:
    chat, model = await scripted(
        [
            tool_call("check_stock", {"product": "Galaxy S24 128 GB"}),
            AIMessage(content=f"¡Sí! El {PHONE} está disponible: quedan 19 unidades a 909,00 €. ¿Te lo reservo?"),
        ]
    )
    result = await chat.turn("¿tenéis el Galaxy S24 de 128 GB en stock?", thread_id="t")
    assert result.reply.startswith("¡Sí! El Samsung Galaxy S24 128 GB")
    assert "check_stock" in model.bound_tools and "add_to_cart" in model.bound_tools
    (stock,) = _tool_results(model)
    assert stock["product"]["stock"] == 19 and stock["product"]["price"] == "909.00"
    # The model saw the tool facts and the composer's draft, never a made-up price.
    grounding = model.calls[0][-1].content
    assert "909.00" in grounding and "Borrador" in grounding


async def test_invented_price_falls_back_to_the_composer(scripted: Any) -> None:
    chat, _ = await scripted([AIMessage(content=f"El {PHONE} cuesta 799,00 € y quedan 50 unidades.")])
    result = await chat.turn("¿cuánto cuesta el Galaxy S24 de 128 GB?", thread_id="t")
    assert "799,00" not in result.reply
    assert "909,00 €" in result.reply  # the composer's exact answer


async def test_wrong_stock_count_falls_back(scripted: Any) -> None:
    chat, _ = await scripted([AIMessage(content=f"Del {PHONE} quedan 3 unidades, a 909,00 €.")])
    result = await chat.turn("¿queda stock del Galaxy S24 de 128 GB?", thread_id="t")
    assert "3 unidades" not in result.reply and "19 unidades" in result.reply


async def test_tool_call_for_a_product_that_does_not_exist(scripted: Any) -> None:
    chat, model = await scripted(
        [
            tool_call("product_details", {"product": "Nokia 3310 edición dorada"}),
            AIMessage(content="Lo siento, ese modelo no lo tenemos en la tienda. ¿Te enseño otros móviles?"),
        ]
    )
    result = await chat.turn("¿tenéis el nokia 3310 dorado?", thread_id="t")
    (details,) = _tool_results(model)
    assert "error" in details and "No encuentro" in details["error"]
    assert result.reply.startswith("Lo siento, ese modelo no lo tenemos")


async def test_malformed_tool_calls_are_answered_not_fatal(scripted: Any) -> None:
    chat, model = await scripted(
        [
            AIMessage(
                content="",
                tool_calls=[
                    {"name": "borrar_base_de_datos", "args": {}, "id": "c1", "type": "tool_call"},
                    {"name": "add_to_cart", "args": {"product": "", "quantity": "muchas"}, "id": "c2",
                     "type": "tool_call"},
                ],
            ),
            AIMessage(content="Perdona, no he podido hacer eso. ¿Qué producto quieres añadir?"),
        ]
    )  # fmt: skip
    result = await chat.turn("añade cosas al carrito", thread_id="t")
    errors = [r.get("error", "") for r in _tool_results(model)]
    assert any("No existe la herramienta" in e for e in errors)
    assert any("Argumentos no válidos" in e for e in errors)
    assert result.reply.startswith("Perdona, no he podido hacer eso")
    assert (await chat.context.shop.cart("t")).items == ()


async def test_timeout_sends_the_composer_reply(scripted: Any) -> None:
    chat, _ = await scripted([Sleep(2.0)], llm_timeout=0.2)
    result = await chat.turn("¿cuánto cuesta el Galaxy S24 de 128 GB?", thread_id="t")
    assert "909,00 €" in result.reply and "demasiado tarde" not in result.reply


async def test_provider_error_sends_the_composer_reply(scripted: Any) -> None:
    chat, _ = await scripted([ConnectionError("no network")])
    result = await chat.turn("busco auriculares sony", thread_id="t")
    assert "Sony WH-1000XM5" in result.reply


async def test_cart_tools_act_on_the_run_thread_only(scripted: Any) -> None:
    chat, _ = await scripted(
        [
            tool_call("add_to_cart", {"product": "TEL-SAM-S24-128-NEG", "quantity": 2, "thread_id": "someone-else"}),
            AIMessage(content="Hecho, tienes 2 en el carrito por 1.818,00 €."),
        ]
    )
    result = await chat.turn("¿me ayudas con el carrito?", thread_id="mine")
    assert result.reply.startswith("Hecho, tienes 2")
    mine = await chat.context.shop.cart("mine")
    assert [(i.sku, i.quantity) for i in mine.items] == [("TEL-SAM-S24-128-NEG", 2)]
    assert (await chat.context.shop.cart("someone-else")).items == ()


async def test_router_asks_the_llm_only_when_unsure(service: CatalogService) -> None:
    from agent.router import RouteChoice

    model = ScriptedChatModel(script=[], structured=RouteChoice(route="recommendations"))
    router = Router(service.embedder, model)
    sure = await router.decide("¿cuánto cuesta el iPhone 15?")
    assert (sure.route, sure.tier) == ("prices", "rules")
    unsure = await router.decide("pues no sé, algo bonito para el salón")
    assert (unsure.route, unsure.tier) == ("recommendations", "llm")
    model.structured = RuntimeError("quota exceeded")
    fallback = await router.decide("pues no sé, algo bonito para el salón")
    assert fallback.tier == "default"


def test_llm_factory_offline_by_default() -> None:
    assert build_llm(Settings.isolated()) is None


def test_llm_factory_gemini_bounded() -> None:
    llm = build_llm(Settings.isolated(google_api_key="fake-key", llm_timeout=20, llm_max_retries=2))
    assert type(llm).__name__ == "ChatGoogleGenerativeAI"
    assert llm.model.endswith("gemini-2.0-flash")  # type: ignore[union-attr]
    # max_retries is google-genai's attempts: one; agent.llm_retry retries (LLM_MAX_RETRIES) on top of it
    assert llm.timeout == 20 and llm.max_retries == 1  # type: ignore[union-attr]


def test_llm_factory_openai_compatible_server() -> None:
    llm = build_llm(Settings.isolated(llm_provider="openai", openai_base_url="http://127.0.0.1:9/v1"))
    assert type(llm).__name__ == "ChatOpenAI"
    assert str(llm.openai_api_base).startswith("http://127.0.0.1:9")  # type: ignore[union-attr]


def test_llm_factory_refuses_bad_settings() -> None:
    with pytest.raises(LLMConfigError, match="GOOGLE_API_KEY"):
        build_llm(Settings.isolated(llm_provider="gemini"))
    with pytest.raises(ValueError):
        Settings.isolated(llm_timeout=60)  # a customer never waits a minute
    with pytest.raises(ValueError):
        Settings.isolated(llm_max_retries=5)
