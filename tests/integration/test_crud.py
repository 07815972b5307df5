"""The data layer on a real SQLite file and on the real PostgreSQL: same behaviour on both."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from data import crud
from data.db import create_engine, normalise_url, session_factory, write_session
from data.migrate import downgrade, upgrade
from data.models import Product, ProductCreate, ProductUpdate
from state import SearchFilters


def _product(sku: str = "HOG-TEST-1", price: str = "19.99", stock: int = 5, **extra: object) -> ProductCreate:
    values: dict[str, object] = {
        "sku": sku,
        "name": f"Producto {sku}",
        "category": "Hogar",
        "brand": "Marca",
        "price": price,
        "stock": stock,
    }
    values.update(extra)
    return ProductCreate.model_validate(values)


def test_normalise_url_picks_async_drivers() -> None:
    assert normalise_url("postgres://u@h/db").startswith("postgresql+asyncpg://")
    assert normalise_url("sqlite:///x.db").startswith("sqlite+aiosqlite://")
    with pytest.raises(ValueError, match="Unsupported DATABASE_URL driver"):
        normalise_url("mysql://u@h/db")


async def test_sqlite_uses_wal(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'wal.db'}")
    async with engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
    await engine.dispose()


async def test_migrations_go_down_and_up(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'mig.db'}")
    await upgrade(engine)
    await downgrade(engine)
    async with engine.connect() as conn:
        tables = {r[0] for r in await conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))}
    assert "product" not in tables
    await upgrade(engine)
    async with session_factory(engine)() as session:
        assert await crud.get_revision(session) == 0
    await engine.dispose()


async def test_money_round_trips_to_the_cent(sessions: async_sessionmaker[AsyncSession]) -> None:
    prices = ["0.00", "0.01", "0.10", "19.99", "1299.00", "99999999.99"]
    async with write_session(sessions) as session:
        for i, price in enumerate(prices):
            await crud.create_product(session, product_in=_product(f"P{i}", price=price))
    async with sessions() as session:
        for i, price in enumerate(prices):
            product = await crud.get_product_by_sku(session, sku=f"P{i}")
            assert product is not None
            assert product.price == Decimal(price)
            assert str(product.price) == price
        # Price filters compare exactly, on both databases.
        items, total = await crud.list_products(
            session, filters=SearchFilters(price_min=Decimal("0.10"), price_max=Decimal("19.99"))
        )
        assert total == 2 and {str(p.price) for p in items} == {"0.10", "19.99"}


async def test_writes_bump_the_revision_once_each(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with write_session(sessions) as session:
        product = await crud.create_product(session, product_in=_product())
    async with sessions() as session:
        assert await crud.get_revision(session) == 1
    async with write_session(sessions) as session:
        loaded = await crud.get_product(session, product_id=product.id or 0)
        assert loaded is not None
        await crud.update_product(session, product=loaded, product_in=ProductUpdate(price=Decimal("18.50")))
        # A no-op update does not move the revision.
        await crud.update_product(session, product=loaded, product_in=ProductUpdate(price=Decimal("18.50")))
    async with sessions() as session:
        assert await crud.get_revision(session) == 2
        changed = await crud.products_changed_since(session, revision=1)
        assert [p.sku for p in changed] == ["HOG-TEST-1"] and changed[0].price == Decimal("18.50")
        assert await crud.products_changed_since(session, revision=2) == []


async def test_duplicate_sku_is_refused(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with write_session(sessions) as session:
        await crud.create_product(session, product_in=_product("DUP-1"))
    with pytest.raises(crud.DuplicateSKUError):
        async with write_session(sessions) as session:
            await crud.create_product(session, product_in=_product("dup-1"))  # SKUs are upper-cased
    async with sessions() as session:
        assert await crud.count_products(session) == 1


async def test_database_refuses_negative_stock(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with write_session(sessions) as session:
        product = await crud.create_product(session, product_in=_product(stock=1))
    with pytest.raises(IntegrityError):
        async with write_session(sessions) as session:
            await session.execute(text("UPDATE product SET stock = stock - 2 WHERE id = :id"), {"id": product.id})
    async with sessions() as session:
        reloaded = await session.get(Product, product.id)
        assert reloaded is not None and reloaded.stock == 1


async def test_deactivate_hides_but_keeps(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with write_session(sessions) as session:
        product = await crud.create_product(session, product_in=_product())
        await crud.deactivate_product(session, product=product)
    async with sessions() as session:
        assert await crud.get_product(session, product_id=product.id or 0) is None
        assert await crud.get_product(session, product_id=product.id or 0, include_inactive=True) is not None
        items, total = await crud.list_products(session)
        assert total == 0 and items == []


async def test_list_filters_and_pages(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with write_session(sessions) as session:
        for i in range(7):
            await crud.create_product(
                session,
                product_in=_product(
                    f"F{i}", price=f"{10 + i}.00", stock=i % 2, category="Cocina" if i < 4 else "Hogar"
                ),
            )
    async with sessions() as session:
        page, total = await crud.list_products(session, offset=2, limit=2)
        assert total == 7 and len(page) == 2
        _, in_stock = await crud.list_products(session, filters=SearchFilters(in_stock=True))
        assert in_stock == 3
        items, kitchen = await crud.list_products(session, filters=SearchFilters(category="Cocina"))
        assert kitchen == 4 and all(p.category == "Cocina" for p in items)


async def test_concurrent_writers_serialise_revisions(sessions: async_sessionmaker[AsyncSession]) -> None:
    async def create(i: int) -> None:
        async with write_session(sessions) as session:
            await crud.create_product(session, product_in=_product(f"C{i}"))

    await asyncio.gather(*(create(i) for i in range(12)))
    async with sessions() as session:
        assert await crud.get_revision(session) == 12
        products = await crud.all_products(session)
        assert sorted(p.revision for p in products) == list(range(1, 13))


async def test_sample_products_of_an_older_install_become_demo(tmp_path: Path) -> None:
    """0004: a shop set up before the demo flag gets its sample products marked, so an import retires them."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        await upgrade(engine, "0003")
        sessions = session_factory(engine)
        async with write_session(sessions) as session:
            for sku in ("TEL-APL-IP15-128-NEG", "MI-PROPIO-1"):
                session.add(Product(sku=sku, name=sku, category="X", price=Decimal("1.00")))
        await upgrade(engine)
        async with sessions() as session:
            demo = dict((await session.execute(text("SELECT sku, demo FROM product"))).all())
        assert demo == {"TEL-APL-IP15-128-NEG": 1, "MI-PROPIO-1": 0}
    finally:
        await engine.dispose()
