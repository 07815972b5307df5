"""The conversation over real HTTP: POST /chat, GET /chat/history and the LangServe routes under /agent."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from tests.conftest import LiveServer, detail_answer, detail_asked


def _thread() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def test_chat_turns_keep_memory_and_report_facts(client: httpx.Client) -> None:
    thread = _thread()
    first = client.post("/chat", json={"message": "¿Cuánto cuesta el iPhone 15?", "thread_id": thread})
    assert first.status_code == 200
    body = first.json()
    assert set(body) >= {"reply", "thread_id", "route", "products", "cached", "latency_ms"}
    assert body["thread_id"] == thread and body["route"] == "prices" and body["cached"] is False
    assert "959,00 €" in body["reply"]
    assert {"id", "sku", "name", "price", "stock"} <= set(body["products"][0])
    second_sku = body["products"][1]["sku"]
    follow = client.post("/chat", json={"message": "¿y el segundo?", "thread_id": thread}).json()
    assert follow["products"][0]["sku"] == second_sku
    assert follow["products"][0]["price"] == body["products"][1]["price"]


def test_new_conversation_gets_a_thread_id(client: httpx.Client) -> None:
    body = client.post("/chat", json={"message": "hola"}).json()
    assert len(body["thread_id"]) >= 16 and body["route"] == "conversation"


def test_history_returns_the_record(client: httpx.Client) -> None:
    thread = _thread()
    client.post("/chat", json={"message": "busco zapatillas de running", "thread_id": thread})
    client.post("/chat", json={"message": "gracias", "thread_id": thread})
    history = client.get("/chat/history", params={"thread_id": thread})
    assert history.status_code == 200
    messages = history.json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[0]["content"] == "busco zapatillas de running" and messages[0]["route"] == "products"
    assert "Pegasus" in messages[1]["content"]
    missing = client.get("/chat/history", params={"thread_id": _thread()})
    assert missing.status_code == 404 and "No existe la conversación" in missing.json()["detail"]


@pytest.mark.parametrize(
    ("payload", "status", "words"),
    [
        ({"message": ""}, 422, "vacío"),
        ({"message": "   "}, 422, "vacío"),
        ({"message": "a" * 4001}, 422, "4000"),
        ({"message": 42}, 422, "texto"),
        ({"message": ["hola"]}, 422, "texto"),
        ({}, 422, "falta"),
        ({"message": "hola", "thread_id": "con espacios y ñ"}, 422, "conversación"),
        ({"message": "hola", "extra": 1}, 422, "no existe"),
    ],
)
def test_bad_chat_input_is_refused_in_spanish(client: httpx.Client, payload: dict, status: int, words: str) -> None:
    response = client.post("/chat", json=payload)
    assert response.status_code == status
    assert words in response.json()["detail"]


def test_malformed_json_is_400(client: httpx.Client) -> None:
    response = client.post("/chat", content=b'{"message": ', headers={"content-type": "application/json"})
    assert response.status_code == 400 and "JSON" in response.json()["detail"]


def test_order_with_confirmation_over_http(client: httpx.Client) -> None:
    thread = _thread()
    client.post("/chat", json={"message": "añade dos pelotas de tenis Head al carrito", "thread_id": thread})
    ask = client.post("/chat", json={"message": "confirma el pedido", "thread_id": thread}).json()
    assert ask["awaiting_confirmation"] is False and detail_asked(ask["reply"]) == "name"
    asked: list[str] = []
    while (asking := detail_asked(ask["reply"])) is not None and asking not in asked:  # the customer's details
        asked.append(asking)
        ask = client.post("/chat", json={"message": detail_answer(asking), "thread_id": thread}).json()
    assert ask["awaiting_confirmation"] is True and "¿Confirmo el pedido?" in ask["reply"]
    done = client.post("/chat", json={"message": "sí, confirmo", "thread_id": thread}).json()
    assert "Pedido confirmado" in done["reply"] and done["awaiting_confirmation"] is False
    empty = client.post("/chat", json={"message": "¿qué tengo en el carrito?", "thread_id": thread}).json()
    assert "vacío" in empty["reply"]


def test_low_stock_report_needs_the_admin_key(client: httpx.Client, live_server: LiveServer) -> None:
    question = {"message": "¿qué productos tienen poco stock?"}
    customer = client.post("/chat", json=question).json()
    assert "equipo de la tienda" in customer["reply"]
    admin = client.post("/chat", json=question, headers={"X-API-Key": live_server.admin_key}).json()
    assert admin["reply"].startswith("Productos con poco stock")


def test_agent_invoke_accepts_role_dicts_and_thread_header(client: httpx.Client) -> None:
    thread = _thread()
    headers = {"X-Thread-Id": thread}
    first = client.post(
        "/agent/invoke",
        json={"input": {"messages": [{"role": "user", "content": "¿cuánto cuesta el iPhone 15?"}]}},
        headers=headers,
    )
    assert first.status_code == 200 and "959,00 €" in first.json()["output"]
    second = client.post(
        "/agent/invoke",
        json={"input": {"messages": [{"role": "user", "content": "¿y el último?"}]}},
        headers=headers,
    ).json()["output"]
    assert "1.089,00 €" in second  # the last of the four versions listed, by price
    history = client.get("/chat/history", params={"thread_id": thread}).json()
    assert history["channel"] == "langserve" and len(history["messages"]) == 4


def test_agent_thread_id_from_body_config(client: httpx.Client) -> None:
    thread = _thread()
    config = {"configurable": {"thread_id": thread}}
    client.post("/agent/invoke", json={"input": {"messages": [{"role": "user", "content": "hola"}]}, "config": config})
    assert client.get("/chat/history", params={"thread_id": thread}).status_code == 200
    bad = client.post("/agent/invoke", json={"input": {"messages": [{"role": "user", "content": "hola"}]}},
                      headers={"X-Thread-Id": "not a valid id!"})  # fmt: skip
    assert bad.status_code == 422


def test_agent_playground_style_history_keeps_the_thread(client: httpx.Client) -> None:
    """A client that resends the whole conversation (the chat playground) continues the same thread."""
    messages = [{"role": "user", "content": "¿cuánto cuesta el iPhone 15?"}]
    first = client.post("/agent/invoke", json={"input": {"messages": messages}}).json()["output"]
    messages += [{"role": "assistant", "content": first}, {"role": "user", "content": "¿y el segundo?"}]
    second = client.post("/agent/invoke", json={"input": {"messages": messages}}).json()["output"]
    assert "Apple iPhone 15 128 GB Negro" in second and "959,00 €" in second


def test_agent_batch_stream_and_events(client: httpx.Client) -> None:
    inputs = [
        {"messages": [{"role": "user", "content": "hola"}]},
        {"messages": [{"role": "user", "content": "¿cuánto cuesta el Galaxy S24 de 128 GB?"}]},
    ]
    batch = client.post("/agent/batch", json={"inputs": inputs})
    assert batch.status_code == 200
    outputs = batch.json()["output"]
    assert "precios" in outputs[0] and "909,00 €" in outputs[1]  # the greeting names what it can do

    with client.stream("POST", "/agent/stream", json={"input": inputs[1]}) as response:
        assert response.status_code == 200
        events = [line for line in response.iter_lines() if line.startswith("data:")]
    chunks = [json.loads(line[5:]) for line in events if line[5:].strip() not in ("", "null")]
    assert any(isinstance(c, str) and "909,00 €" in c for c in chunks)

    with client.stream("POST", "/agent/stream_events", json={"input": inputs[0]}) as response:
        assert response.status_code == 200
        kinds = {json.loads(line[5:]).get("event") for line in response.iter_lines()
                 if line.startswith("data:") and line[5:].strip().startswith("{")}  # fmt: skip
    assert "on_chain_end" in kinds


def test_agent_refuses_empty_or_non_customer_last_message(client: httpx.Client) -> None:
    empty = client.post("/agent/invoke", json={"input": {"messages": []}})
    assert empty.status_code == 422
    assistant_last = client.post(
        "/agent/invoke", json={"input": {"messages": [{"role": "assistant", "content": "hola"}]}}
    )
    assert assistant_last.status_code == 422
    too_long = client.post("/agent/invoke", json={"input": {"messages": [{"role": "user", "content": "x" * 4001}]}})
    assert too_long.status_code == 422


def test_playground_page_is_served(client: httpx.Client) -> None:
    page = client.get("/agent/playground/")
    assert page.status_code == 200 and "<script" in page.text
