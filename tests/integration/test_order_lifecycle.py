"""The order lifecycle on SQLite files and on the real PostgreSQL: details, transitions, history, races, forgetting.

Each test gets its own database (a tmp SQLite file, or a throw-away PostgreSQL database from tests/conftest.py
pg_url), so nothing collides with other tests.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from data import crud, order_status, orders
from data.customer_details import OrderDetails
from data.db import create_engine, session_factory, write_session
from data.migrate import upgrade
from data.models import Conversation, Customer, Order, Product
from data.order_status import OrderNotFoundError, TransitionNotAllowedError
from data.types import Money, UTCDateTime, utcnow
from settings import ROOT
from tests.conftest import new_product
from tests.integration.test_cli import cli_env

Sessions = async_sessionmaker[AsyncSession]

DETAILS = OrderDetails(
    name="Ana López",
    email="ana@correo.es",
    phone="612 345 678",
    address_line="Calle Mayor 1, 2º B",
    postal_code="08001",
    city="Barcelona",
    shipping_cost=Decimal("4.95"),
    payment_method="tarjeta",
    channel="telegram",
    telegram_chat_id=5_000_000_001,  # beyond 32 bits, as Telegram ids can be
)


async def _order(
    sessions: Sessions,
    thread: str,
    items: dict[int, int],
    details: OrderDetails | None = None,
    customer_id: int | None = None,
) -> int:
    async with write_session(sessions) as session:
        if customer_id is not None:
            session.add(Conversation(thread_id=thread, channel="telegram", customer_id=customer_id))
        for product_id, quantity in items.items():
            await orders.add_to_cart(session, thread_id=thread, product_id=product_id, quantity=quantity)
        order, _lines = await orders.place_order(session, thread_id=thread, details=details)
        return order.id or 0


async def _stock(sessions: Sessions, product_id: int) -> int:
    async with sessions() as session:
        product = await session.get(Product, product_id)
        assert product is not None
        return product.stock


async def _move(sessions: Sessions, order_id: int, to: str, actor: str, note: str = "", **kw: str) -> None:
    async with write_session(sessions) as session:
        await order_status.transition(session, order_id, to, actor, note, **kw)


async def _status(sessions: Sessions, order_id: int) -> str:
    async with sessions() as session:
        record = await order_status.get_order(session, order_id)
        assert record is not None
        return record.order.status


# --------------------------------------------------------------------------- placing


async def test_an_order_with_details_keeps_them_and_starts_its_history(sessions: Sessions) -> None:
    a = await new_product(sessions, "A", "19.99", 10)
    b = await new_product(sessions, "B", "0.10", 5)
    order_id = await _order(sessions, "t1", {a: 2, b: 3}, DETAILS)
    async with sessions() as session:
        record = await order_status.get_order(session, order_id)
    assert record is not None
    order = record.order
    assert (order.status, order.subtotal, order.shipping_cost, order.total) == (
        "confirmado",
        Decimal("40.28"),
        Decimal("4.95"),
        Decimal("45.23"),
    )
    assert (order.customer_name, order.customer_email, order.customer_phone) == (
        "Ana López",
        "ana@correo.es",
        "612345678",
    )
    assert (order.delivery_method, order.postal_code, order.city, order.province, order.country) == (
        "envio",
        "08001",
        "Barcelona",
        "Barcelona",
        "ES",
    )
    assert (order.payment_method, order.channel, order.telegram_chat_id) == ("tarjeta", "telegram", 5_000_000_001)
    assert [(line.sku, line.quantity) for line in record.lines] == [("A", 2), ("B", 3)] and record.units == 5
    assert [(e.from_status, e.to_status, e.actor) for e in record.events] == [(None, "confirmado", "cliente")]
    assert record.events[0].at == order.created_at


async def test_an_order_without_details_still_works(sessions: Sessions) -> None:
    a = await new_product(sessions, "A", "5.00", 3)
    order_id = await _order(sessions, "t", {a: 3})
    async with sessions() as session:
        record = await order_status.get_order(session, order_id)
        assert await order_status.get_order(session, order_id + 100) is None
    assert record is not None
    assert (record.order.status, record.order.subtotal, record.order.total) == (
        "confirmado",
        Decimal("15.00"),
        Decimal("15.00"),
    )
    assert (record.order.shipping_cost, record.order.channel, record.order.customer_name) == (
        Decimal("0.00"),
        "http",
        None,
    )
    assert len(record.events) == 1
    assert await _stock(sessions, a) == 0
    async with sessions() as session:
        assert await orders.product_sales(session) == {a: 3}


# --------------------------------------------------------------------------- moving on


async def test_the_owner_moves_an_order_to_delivered_and_the_history_says_when(sessions: Sessions) -> None:
    a = await new_product(sessions, "A")
    order_id = await _order(sessions, "t", {a: 1})
    await _move(sessions, order_id, "enviado", "tienda", "  Seur   123  ")
    await _move(sessions, order_id, "entregado", "tienda", expected_from="enviado")
    async with sessions() as session:
        record = await order_status.get_order(session, order_id)
    assert record is not None and record.order.status == "entregado"
    steps = [(e.from_status, e.to_status, e.actor, e.note) for e in record.events]
    assert steps == [
        (None, "confirmado", "cliente", ""),
        ("confirmado", "enviado", "tienda", "Seur 123"),
        ("enviado", "entregado", "tienda", ""),
    ]
    times = [e.at for e in record.events]
    assert times == sorted(times) and record.order.updated_at == times[-1]
    assert times[-1] - times[0] < timedelta(minutes=1) and times[-1].tzinfo is not None


async def test_refused_moves_say_why_in_spanish_and_change_nothing(sessions: Sessions) -> None:
    a = await new_product(sessions, "A", stock=5)
    order_id = await _order(sessions, "t", {a: 2})
    await _move(sessions, order_id, "enviado", "tienda")
    cases = [
        ("cancelado", "cliente", {}, "ya está enviado, así que ya no se puede cancelar"),
        (
            "cancelado",
            "tienda",
            {},
            "está enviado y no puede pasar a cancelado. Desde «enviado» puede pasar a: entregado",
        ),
        ("enviado", "tienda", {}, "ya está enviado"),
        ("entregado", "cliente", {}, "Solo la tienda puede marcar un pedido como entregado"),
        ("entregado", "tienda", {"expected_from": "confirmado"}, "ya no está confirmado: ahora está enviado"),
    ]
    for to, actor, kw, message in cases:
        with pytest.raises(TransitionNotAllowedError, match=message):
            await _move(sessions, order_id, to, actor, **kw)
    with pytest.raises(OrderNotFoundError, match=f"No existe el pedido {order_id + 50}"):
        await _move(sessions, order_id + 50, "cancelado", "cliente")
    with pytest.raises(order_status.OrderError, match="El estado «perdido» no existe"):
        await _move(sessions, order_id, "perdido", "tienda")
    async with sessions() as session:
        record = await order_status.get_order(session, order_id)
    assert record is not None and record.order.status == "enviado" and len(record.events) == 2
    assert await _stock(sessions, a) == 3
    await _move(sessions, order_id, "entregado", "tienda")
    with pytest.raises(TransitionNotAllowedError, match="Es un estado final"):
        await _move(sessions, order_id, "enviado", "tienda")


async def test_cancelling_returns_the_stock_and_bumps_the_revision(sessions: Sessions) -> None:
    a = await new_product(sessions, "A", stock=10)
    b = await new_product(sessions, "B", stock=4)
    order_id = await _order(sessions, "t", {a: 3, b: 4})
    assert (await _stock(sessions, a), await _stock(sessions, b)) == (7, 0)
    async with sessions() as session:
        before = await crud.get_revision(session)
    await _move(sessions, order_id, "cancelado", "cliente", "Me he equivocado de talla")
    assert (await _stock(sessions, a), await _stock(sessions, b)) == (10, 4)
    async with sessions() as session:
        assert await crud.get_revision(session) == before + 1
        products = {p.sku: p.revision for p in await crud.all_products(session)}
        assert products == {"A": before + 1, "B": before + 1}  # the search index sees both changes
        assert await orders.product_sales(session) == {}  # a cancelled order sold nothing
    with pytest.raises(TransitionNotAllowedError, match="ya está cancelado"):
        await _move(sessions, order_id, "cancelado", "cliente")
    assert (await _stock(sessions, a), await _stock(sessions, b)) == (10, 4)  # never returned twice


async def test_a_pickup_order_goes_from_confirmed_to_delivered(sessions: Sessions) -> None:
    a = await new_product(sessions, "A")
    pickup = OrderDetails(delivery_method="recogida", pickup_point="Tienda Centro", name="Luis")
    order_id = await _order(sessions, "t", {a: 1}, pickup)
    await _move(sessions, order_id, "entregado", "tienda", "Recogido en tienda")
    assert await _status(sessions, order_id) == "entregado"


async def test_cancel_racing_shipped_has_exactly_one_winner(sessions: Sessions) -> None:
    """The customer cancels while the owner marks the order shipped, 20 times: one wins each time."""
    a = await new_product(sessions, "RACE", stock=100)
    wins = {"cancelado": 0, "enviado": 0}
    for round_ in range(20):
        order_id = await _order(sessions, f"race-{round_}", {a: 2})
        before = await _stock(sessions, a)

        async def attempt(to: str, actor: str, order_id: int = order_id) -> str | None:
            try:
                await _move(sessions, order_id, to, actor)
                return to
            except TransitionNotAllowedError:
                return None

        pair = [attempt("cancelado", "cliente"), attempt("enviado", "tienda")]
        results = await asyncio.gather(*(pair if round_ % 2 else pair[::-1]))
        winners = [r for r in results if r is not None]
        assert len(winners) == 1, results
        wins[winners[0]] += 1
        assert await _status(sessions, order_id) == winners[0]
        assert await _stock(sessions, a) == (before + 2 if winners[0] == "cancelado" else before)
        async with sessions() as session:
            record = await order_status.get_order(session, order_id)
        assert record is not None and [e.to_status for e in record.events] == ["confirmado", winners[0]]
    assert sum(wins.values()) == 20


# --------------------------------------------------------------------------- reading


async def test_the_owners_list_filters_by_status_and_date_and_pages(sessions: Sessions) -> None:
    a = await new_product(sessions, "A", stock=50)
    ids = [await _order(sessions, f"t{i}", {a: i + 1}) for i in range(5)]
    await _move(sessions, ids[1], "enviado", "tienda")
    await _move(sessions, ids[3], "cancelado", "tienda")
    async with sessions() as session:
        page = await order_status.list_orders(session)
        assert page.total == 5 and [s.order.id for s in page.items] == ids[::-1]
        assert [s.units for s in page.items] == [5, 4, 3, 2, 1] and all(s.line_count == 1 for s in page.items)
        shipped = await order_status.list_orders(session, estado="enviado")
        assert (shipped.total, [s.order.id for s in shipped.items]) == (1, [ids[1]])
        second = await order_status.list_orders(session, limit=2, offset=2)
        assert (second.total, [s.order.id for s in second.items]) == (5, [ids[2], ids[1]])
        now = utcnow()
        assert (await order_status.list_orders(session, desde=now - timedelta(hours=1))).total == 5
        assert (await order_status.list_orders(session, desde=now + timedelta(seconds=5))).total == 0
        assert (await order_status.list_orders(session, hasta=now - timedelta(hours=1))).total == 0
        with pytest.raises(order_status.OrderError, match="no existe; los estados son: pendiente, confirmado"):
            await order_status.list_orders(session, estado="shipped")
        with pytest.raises(order_status.OrderError, match="limit"):
            await order_status.list_orders(session, limit=0)


async def test_a_customers_orders_by_conversation_and_by_telegram_chat(sessions: Sessions) -> None:
    a = await new_product(sessions, "A")
    async with write_session(sessions) as session:
        session.add(Conversation(thread_id="tg:42", channel="telegram"))
    first = await _order(sessions, "tg:42", {a: 1}, DETAILS.with_changes(telegram_chat_id=42))
    second = await _order(sessions, "tg:42", {a: 2}, DETAILS.with_changes(telegram_chat_id=42))
    await _order(sessions, "other", {a: 1})
    async with sessions() as session:
        by_thread = await order_status.orders_of_thread(session, "tg:42")
        by_chat = await order_status.orders_of_telegram_chat(session, 42)
        assert await order_status.orders_of_thread(session, "nadie") == []
    assert [r.order.id for r in by_thread] == [second, first] == [r.order.id for r in by_chat]
    assert [r.units for r in by_thread] == [2, 1] and all(len(r.events) == 1 for r in by_thread)


# --------------------------------------------------------------------------- forgetting


async def _customer(sessions: Sessions) -> int:
    async with write_session(sessions) as session:
        customer = Customer(external_id="tg-user-77", name="Ana López", email="ana@correo.es", phone="612345678")
        session.add(customer)
        await session.flush()
        return customer.id or 0


async def test_forgetting_a_customer_erases_personal_data_and_keeps_the_accounts(sessions: Sessions) -> None:
    a = await new_product(sessions, "A", stock=10)
    customer_id = await _customer(sessions)
    mine = [await _order(sessions, f"c{i}", {a: 1}, DETAILS, customer_id=customer_id) for i in range(2)]
    other = await _order(sessions, "someone-else", {a: 1}, DETAILS.with_changes(name="Otra Persona"))
    await _move(sessions, mine[1], "enviado", "tienda")
    async with write_session(sessions) as session:
        assert await order_status.forget_customer(session, customer_id) == 2
    async with sessions() as session:
        customer = await session.get(Customer, customer_id)
        assert customer is not None
        assert (customer.name, customer.email, customer.phone, customer.external_id) == ("", None, None, None)
        for order_id, status in zip(mine, ("confirmado", "enviado"), strict=True):
            record = await order_status.get_order(session, order_id)
            assert record is not None
            order = record.order
            erased = (order.customer_name, order.customer_email, order.customer_phone, order.address_line)
            assert erased == (None, None, None, None)
            assert (order.postal_code, order.city, order.pickup_point, order.telegram_chat_id) == (None,) * 4
            assert (order.status, order.total, order.province) == (status, Decimal("14.95"), "Barcelona")
            assert [line.sku for line in record.lines] == ["A"]
        kept = await order_status.get_order(session, other)
        assert kept is not None and kept.order.customer_name == "Otra Persona"
    with pytest.raises(order_status.UnknownCustomerError, match="No existe el cliente 999"):
        async with write_session(sessions) as session:
            await order_status.forget_customer(session, 999)


def test_forget_customer_command(tmp_path: Path) -> None:
    """`python -m manage forget-customer ID`: says in Spanish what it erased; an unknown id fails, erasing nothing."""
    var = tmp_path / "var"

    async def prepare() -> tuple[int, int]:
        engine = create_engine(f"sqlite+aiosqlite:///{var / 'agente.db'}")
        try:
            await upgrade(engine)
            sessions = session_factory(engine)
            a = await new_product(sessions, "A")
            customer_id = await _customer(sessions)
            return customer_id, await _order(sessions, "cli", {a: 1}, DETAILS, customer_id=customer_id)
        finally:
            await engine.dispose()

    customer_id, order_id = asyncio.run(prepare())

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "manage", "forget-customer", *args]
        return subprocess.run(command, cwd=ROOT, env=cli_env(var), capture_output=True, text=True, timeout=120)

    done = run(str(customer_id))
    assert done.returncode == 0, done.stderr
    assert f"Borrados los datos personales del cliente {customer_id}" in done.stdout
    assert "En sus 1 pedido(s)" in done.stdout and "se conservan las líneas" in done.stdout
    assert "Ana" not in done.stdout + done.stderr and "612345678" not in done.stdout + done.stderr
    missing = run(str(customer_id + 100))
    assert missing.returncode != 0 and f"No existe el cliente {customer_id + 100}" in missing.stderr
    bad = run("abc")
    assert bad.returncode != 0 and "no es un número de cliente" in bad.stderr

    async def check() -> Order:
        engine = create_engine(f"sqlite+aiosqlite:///{var / 'agente.db'}")
        try:
            async with session_factory(engine)() as session:
                record = await order_status.get_order(session, order_id)
                assert record is not None
                return record.order
        finally:
            await engine.dispose()

    order = asyncio.run(check())
    assert order.customer_name is None and order.total == Decimal("14.95")


# --------------------------------------------------------------------------- migration 0005


async def _rows_before_0005(engine: AsyncEngine, placed: datetime) -> None:
    """A product, a Telegram conversation, a confirmed order with a line and a cancelled one, as 0004 stored them."""
    product = sa.table(
        "product",
        *(sa.column(n) for n in ("id", "sku", "name", "description", "category", "subcategory", "brand")),
        *(sa.column(n) for n in ("currency", "stock", "active", "attributes", "revision", "categories")),
        *(sa.column(n) for n in ("private", "demo")),
        sa.column("price", Money()),
        sa.column("created_at", UTCDateTime()),
        sa.column("updated_at", UTCDateTime()),
    )
    old_orders = sa.table(
        "orders",
        *(sa.column(n) for n in ("id", "status", "currency", "conversation_id")),
        sa.column("total", Money()),
        sa.column("created_at", UTCDateTime()),
    )
    line = sa.table(
        "order_line",
        *(sa.column(n) for n in ("id", "order_id", "product_id", "sku", "name", "quantity")),
        sa.column("unit_price", Money()),
        sa.column("line_total", Money()),
    )
    conversation = sa.table(
        "conversation",
        *(sa.column(n) for n in ("id", "thread_id", "channel")),
        sa.column("created_at", UTCDateTime()),
        sa.column("updated_at", UTCDateTime()),
    )
    async with engine.begin() as conn:
        await conn.execute(
            product.insert().values(
                id=1, sku="OLD", name="Viejo", description="", category="X", subcategory="", brand="",
                currency="EUR", stock=5, active=True, attributes="{}", revision=0, categories="[]",
                private="{}", demo=False, price=Decimal("9.99"), created_at=placed, updated_at=placed,
            )
        )  # fmt: skip
        await conn.execute(
            conversation.insert().values(
                id=1, thread_id="tg:9", channel="telegram", created_at=placed, updated_at=placed
            )
        )
        await conn.execute(
            old_orders.insert(),
            [
                {"id": 1, "status": "confirmed", "currency": "EUR", "conversation_id": 1,
                 "total": Decimal("19.98"), "created_at": placed},
                {"id": 2, "status": "cancelled", "currency": "EUR", "conversation_id": None,
                 "total": Decimal("9.99"), "created_at": placed},
            ],
        )  # fmt: skip
        await conn.execute(
            line.insert().values(
                id=1, order_id=1, product_id=1, sku="OLD", name="Viejo", quantity=2,
                unit_price=Decimal("9.99"), line_total=Decimal("19.98"),
            )
        )  # fmt: skip


async def test_upgrading_a_database_with_orders_from_0004(db_url: str) -> None:
    """Orders placed before 0005 get Spanish statuses, a subtotal, a channel and a first event, and can move on."""
    engine = create_engine(db_url)
    try:
        await upgrade(engine, "0004")
        placed = utcnow() - timedelta(days=3)
        await _rows_before_0005(engine, placed)
        await upgrade(engine)
        sessions = session_factory(engine)
        async with sessions() as session:
            first = await order_status.get_order(session, 1)
            second = await order_status.get_order(session, 2)
        assert first is not None and second is not None
        assert (first.order.status, first.order.subtotal, first.order.total, first.order.shipping_cost) == (
            "confirmado",
            Decimal("19.98"),
            Decimal("19.98"),
            Decimal("0.00"),
        )
        assert (first.order.channel, first.order.country, first.order.updated_at) == ("telegram", "ES", placed)
        assert (second.order.status, second.order.channel) == ("cancelado", "http")
        assert [(e.from_status, e.to_status, e.actor, e.at) for e in first.events] == [
            (None, "confirmado", "sistema", placed)
        ]
        await _move(sessions, 1, "cancelado", "tienda")  # an old order moves on like a new one
        assert await _stock(sessions, 1) == 7
        with pytest.raises(sa.exc.IntegrityError):
            async with write_session(sessions) as session:
                await session.execute(sa.text("UPDATE orders SET status = 'confirmed' WHERE id = 2"))
    finally:
        await engine.dispose()
