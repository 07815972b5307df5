"""Hybrid search over the sample catalogue: ranking rules, filters and Spanish the way customers type it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from state import SearchFilters
from tools.catalog import CatalogService, UnknownCategoryError


async def top(service: CatalogService, q: str, n: int = 3, **filters: object) -> list[str]:
    hits = await service.search(q, filters=SearchFilters(**filters) if filters else None, limit=n)  # type: ignore[arg-type]
    return [h.item.name for h in hits]


async def test_exact_sku_ranks_first(service: CatalogService) -> None:
    hits = await service.search("TEL-APL-IP15-256-NEG", limit=3)
    assert hits[0].item.sku == "TEL-APL-IP15-256-NEG"
    assert "sku" in hits[0].matched_by
    # Lower case, inside a sentence, still the SKU.
    hits = await service.search("¿tenéis el tel-apl-ip15-256-neg?", limit=1)
    assert hits[0].item.sku == "TEL-APL-IP15-256-NEG"


async def test_brand_in_query_ranks_that_brand_first(service: CatalogService) -> None:
    hits = await service.search("samsung", limit=5)
    assert all(h.item.brand == "Samsung" for h in hits)
    assert all("brand" in h.matched_by for h in hits)
    hits = await service.search("zapatillas nike", limit=2)
    assert all(h.item.brand == "Nike" and "Zapatillas" in h.item.name for h in hits)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("iphone 15 blanco", "iPhone 15 128 GB Blanco"),
        ("sarten tefal 24", "Tefal Unlimited 24 cm"),
        ("pienso royal canin mediano 15kg", "Medium Adult pienso para perros 15 kg"),
        ("zapatilas de runing nike", "Pegasus 40"),  # typos
        ("telefono movil xiaomi", "Redmi Note 13"),  # no accents, Spain's "móvil"
        ("celular samsung galaxy", "Galaxy S24"),  # Latin-American "celular"
        ("cafetera delonghi roja", "Dedica"),
    ],
)
async def test_finds_what_customers_mean(service: CatalogService, query: str, expected: str) -> None:
    names = await top(service, query, n=3)
    assert any(expected in name for name in names), names


async def test_filters_narrow_before_ranking(service: CatalogService) -> None:
    hits = await service.search(
        "regalo", filters=SearchFilters(category="juguetes", price_max=Decimal("30"), in_stock=True), limit=20
    )
    assert hits
    assert all(h.item.category == "Juguetes" and h.item.price <= 30 and h.item.stock > 0 for h in hits)
    hits = await service.search("auriculares", filters=SearchFilters(brand="SONY"), limit=10)
    assert hits and all(h.item.brand == "Sony" for h in hits)
    assert await service.search("auriculares", filters=SearchFilters(brand="Marca Inexistente")) == []


async def test_in_stock_filter_drops_sold_out_variant(service: CatalogService) -> None:
    names = await top(service, "galaxy s24", n=10)
    assert any("256 GB" in n for n in names)
    in_stock = await service.search("galaxy s24", filters=SearchFilters(in_stock=True), limit=10)
    assert all(h.item.stock > 0 for h in in_stock)
    assert not any("S24" in h.item.name and "256 GB" in h.item.name for h in in_stock)


async def test_unknown_category_is_an_error_with_choices(service: CatalogService) -> None:
    with pytest.raises(UnknownCategoryError) as info:
        await service.search("algo", filters=SearchFilters(category="Coches"))
    assert "Telefonía" in info.value.known


async def test_hits_say_what_matched(service: CatalogService) -> None:
    hit = (await service.search("cafetera espresso", limit=1))[0]
    assert "keyword" in hit.matched_by
    assert set(hit.matched_terms) <= {"cafetera", "espresso"} and hit.matched_terms
    assert hit.score > 0 and 0 <= hit.keyword_score <= 1


async def test_price_change_is_visible_to_the_next_search(service: CatalogService) -> None:
    from data import crud
    from data.db import write_session
    from data.models import ProductUpdate

    async with write_session(service.sessions) as session:
        product = await crud.get_product_by_sku(session, sku="TEL-APL-IP15-128-NEG")
        assert product is not None
        await crud.update_product(session, product=product, product_in=ProductUpdate(price=Decimal("777.77")))
    hit = (await service.search("TEL-APL-IP15-128-NEG", limit=1))[0]
    assert hit.item.price == Decimal("777.77")
