"""The right to be forgotten for a web customer (issue 14, point 6): `python -m manage forget-customer --pedido N`.

A customer who ordered through the chat has no customer row; the owner names one of their orders. The order
(and any other from that conversation) loses every personal detail, the transcript of the conversation is
deleted, and so is the conversation's memory (the checkpoint held the checkout's details); lines, totals and
statuses stay. Run as the owner runs it: a real subprocess on the same SQLite files.
"""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from chat import ChatService
from data.migrate import upgrade
from data.models import Message, Order, OrderLine
from settings import ROOT
from tests.conftest import give_details, make_settings
from tools.catalog import CatalogService


def _manage(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VAR_DIR": str(tmp_path / "var"), "DATABASE_URL": "", "INDEX_DIR": "",
           "CHECKPOINTER": "sqlite", "EMBEDDINGS_PROVIDER": "use", "GOOGLE_API_KEY": ""}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "manage", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


async def _chat(service: CatalogService, tmp_path: Path) -> ChatService:
    chat = ChatService(make_settings(tmp_path, checkpointer="sqlite"), service)
    await chat.start()
    return chat


async def test_forgetting_the_customer_of_a_web_order(service: CatalogService, tmp_path: Path) -> None:
    await upgrade(service.engine)
    chat = await _chat(service, tmp_path)
    thread = "web-ana"
    await chat.turn("añade el Kindle Paperwhite al carrito", thread_id=thread)
    await chat.turn("confirmar pedido", thread_id=thread)
    await give_details(chat, thread, pickup=False)
    done = await chat.turn("sí", thread_id=thread)
    assert "Pedido confirmado" in done.reply
    await chat.recorder.flush()
    async with service.sessions() as session:
        (order,) = (await session.execute(select(Order))).scalars().all()
        assert order.customer_name and order.address_line and order.postal_code
        said = await session.scalar(select(func.count()).select_from(Message))
        assert said and said > 0
    await chat.close()

    refused = _manage(tmp_path, "forget-customer", "--pedido", "999")
    assert refused.returncode == 1 and "No se ha borrado nada" in refused.stderr
    both = _manage(tmp_path, "forget-customer", "3", "--pedido", str(order.id))
    assert both.returncode == 2
    forgot = _manage(tmp_path, "forget-customer", "--pedido", str(order.id))
    assert forgot.returncode == 0, forgot.stderr
    assert "se conservan las líneas, los importes y los estados" in forgot.stdout

    async with service.sessions() as session:
        after = await session.get(Order, order.id, populate_existing=True)
        assert after is not None
        personal: dict[str, Any] = {k: getattr(after, k) for k in ("customer_name", "customer_email", "customer_phone",
                                                                    "address_line", "postal_code", "city")}  # fmt: skip
        assert not any(personal.values()), personal
        assert after.total == order.total == Decimal("169.99") and after.status == "confirmado"
        lines = (await session.execute(select(OrderLine).where(col(OrderLine.order_id) == order.id))).scalars().all()
        assert [(line.sku, line.quantity) for line in lines] == [("ELE-AMZ-KPW-16-NEG", 1)]
        assert await session.scalar(select(func.count()).select_from(Message)) == 0

    again = await _chat(service, tmp_path)  # the conversation's memory is gone with it
    try:
        state = await again.graph.aget_state(again.config(thread))
        assert not (state.values or {}).get("order_details") and not (state.values or {}).get("messages")
    finally:
        await again.close()
