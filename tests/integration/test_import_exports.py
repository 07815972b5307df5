"""Real shop exports imported as they come (tests/fixtures/exports, written apart from the importer's code).

Each fixture's expectations.json says what a correct import gives a customer and keeps for the owner: names of
variants, the price charged now, the regular price while on sale, drafts not sold, stock, category paths, brand,
and the private values that must never reach a public field.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from data.importer import ImportPlan, plan_import
from data.models import ProductCreate, ProductPublic

EXPORTS = Path(__file__).parent.parent / "fixtures" / "exports"
EXPECTED: dict[str, Any] = json.loads((EXPORTS / "expectations.json").read_text(encoding="utf-8"))
FILES = sorted(EXPECTED["files"])


def expected_products(name: str) -> list[dict[str, Any]]:
    return [p for p in EXPECTED["products"] if p["file"] == name]


def public_json(product: ProductCreate) -> str:
    """Everything a customer or the public API can see of a product."""
    shown = ProductPublic.model_validate({**product.model_dump(), "id": 1, "created_at": "2026-01-01T00:00:00Z",
                                          "updated_at": "2026-01-01T00:00:00Z"})  # fmt: skip
    return shown.model_dump_json()


@pytest.fixture(scope="module", params=FILES)
def imported(request: pytest.FixtureRequest) -> tuple[str, ImportPlan]:
    return request.param, plan_import(EXPORTS / request.param)


def test_every_fixture_imports_without_editing(imported: tuple[str, ImportPlan]) -> None:
    name, plan = imported
    assert plan.errors == []
    assert len(plan.products) == EXPECTED["files"][name]["product_count"]
    assert sorted(p.sku for p in plan.products) == sorted(p["sku"].upper() for p in expected_products(name))


def test_customers_see_the_right_name_price_and_availability(imported: tuple[str, ImportPlan]) -> None:
    name, plan = imported
    got = {p.sku: p for p in plan.products}
    wrong = []
    for want in expected_products(name):
        product = got[want["sku"].upper()]
        names = [want["name"], *want.get("name_also_acceptable", [])]
        regular = (
            None if want["regular_price"] is None else Decimal(str(want["regular_price"])).quantize(Decimal("0.01"))
        )
        checks = {
            "name": product.name in names,
            "price": product.price == Decimal(str(want["price"])).quantize(Decimal("0.01")),
            "regular_price": product.regular_price == regular,
            "active": product.active == want["active"],
            "stock": product.stock == want["stock"],
            "brand": (product.brand or None) == want["brand"],
        }
        wrong += [f"{want['sku']}: {k} = {getattr(product, k)!r}" for k, ok in checks.items() if not ok]
    assert wrong == []


def test_category_paths_are_a_tree(imported: tuple[str, ImportPlan]) -> None:
    name, plan = imported
    got = {p.sku: p for p in plan.products}
    for want in expected_products(name):
        product = got[want["sku"].upper()]
        paths = [[level.strip() for level in path.split(" > ")] for path in product.categories]
        assert paths[: len(want["categories"])] == want["categories"], want["sku"]
        assert product.category == want["categories"][0][0]  # filtering by the parent finds the children


def test_private_columns_never_reach_a_public_field(imported: tuple[str, ImportPlan]) -> None:
    name, plan = imported
    got = {p.sku: p for p in plan.products}
    for want in expected_products(name):
        product = got[want["sku"].upper()]
        shown = public_json(product)
        for column, value in want.get("private_values", {}).items():
            assert column not in shown, (want["sku"], column)
            assert str(value) not in shown or str(value) in (product.name, str(product.price)), (want["sku"], value)
            assert column in product.private or any(column in str(v) for v in product.private.values()), column
    for column in EXPECTED["files"][name]["private_columns"]:
        assert column in plan.private_columns


def test_descriptions_are_text_for_customers_and_the_original_is_kept() -> None:
    plan = plan_import(EXPORTS / "woocommerce_en.csv")
    for product in plan.products:
        assert (
            "<" not in product.description and "&amp;" not in product.description and "\\n" not in product.description
        )
    drill = next(p for p in plan.products if p.sku == "TAL-18V-SC")
    assert "2 velocidades & 21 posiciones" in drill.description
    assert "<strong>" in drill.private["descripcion_original"]


def test_a_platform_column_can_be_made_public() -> None:
    plan = plan_import(EXPORTS / "shopify_products.csv", public_columns=["Variant Barcode"])
    assert "Variant Barcode" not in plan.private_columns
    with_barcode = [p for p in plan.products if "Variant Barcode" in p.attributes]
    assert with_barcode and all("Variant Barcode" not in p.private for p in plan.products)
    assert all("Cost per item" in p.private for p in plan.products)  # the rest stays private


async def test_listing_by_any_level_of_a_category_path_finds_the_products_under_it(db_url: str) -> None:
    """GET /productos?categoria=... reads the database: a middle level of a path finds what is under it."""
    from data import crud
    from data.db import create_engine, session_factory, write_session
    from data.migrate import upgrade
    from state import SearchFilters

    engine = create_engine(db_url)  # SQLite and the machine's PostgreSQL
    try:
        await upgrade(engine)
        sessions = session_factory(engine)
        plan = plan_import(EXPORTS / "woocommerce_es.csv")
        async with write_session(sessions) as session:
            await crud.upsert_products(session, products_in=plan.products, provided=plan.provided)
        async with sessions() as session:
            middle, _ = await crud.list_products(session, filters=SearchFilters(category="Jamón y paleta"))
            second, _ = await crud.list_products(session, filters=SearchFilters(category="Productos D.O.P."))
            none, _ = await crud.list_products(session, filters=SearchFilters(category="Jamón"))
        assert middle and all(p.sku.startswith("JIB-") for p in middle)
        assert {p.sku for p in second} >= {"QM-250", "QM-1K"}  # a product's second path
        assert none == []  # a level is matched whole, not as a piece of a name
    finally:
        await engine.dispose()
