"""The catalogue service end to end on the real PostgreSQL: import, index, search, and writes seen at once."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from data import crud
from data.db import write_session
from data.importer import plan_import
from data.migrate import upgrade
from data.models import ProductUpdate
from state import SearchFilters
from tests.conftest import SAMPLE, make_settings
from tools.catalog import CatalogService
from vectorstore.embeddings import Embedder


async def test_search_and_freshness_on_postgres(tmp_path: Path, pg_url: str, embedder: Embedder) -> None:
    service = CatalogService(make_settings(tmp_path, database_url=pg_url), embedder=embedder)
    try:
        assert service.engine.url.drivername == "postgresql+asyncpg"
        await upgrade(service.engine)
        plan = plan_import(SAMPLE)
        async with write_session(service.sessions) as session:
            counts = await crud.upsert_products(session, products_in=plan.products, provided=plan.provided)
        assert counts.created == len(plan.products)
        report = await service.load()
        assert report.applied == len(plan.products) and report.embedded == len(plan.products)

        hits = await service.search("iphone 15 blanco", limit=3)
        assert "iPhone 15" in hits[0].item.name and "Blanco" in hits[0].item.name
        filtered = await service.search(
            "pienso", filters=SearchFilters(category="mascotas", price_max=Decimal("25.00"), in_stock=True), limit=10
        )
        assert filtered and all(h.item.price <= Decimal("25.00") and h.item.stock > 0 for h in filtered)

        async with write_session(service.sessions) as session:
            product = await crud.get_product_by_sku(session, sku=hits[0].item.sku)
            assert product is not None
            await crud.update_product(session, product=product, product_in=ProductUpdate(price=Decimal("10.01")))
        again = await service.search(hits[0].item.sku, limit=1)
        assert again[0].item.price == Decimal("10.01")
        assert await service.current_revision() == 2
    finally:
        await service.close()
