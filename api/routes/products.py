"""/productos: the public catalogue (list, one product, search) and the owner's writes (X-API-Key).

A product is addressed by id (`/productos/{id}`) or by SKU (`/productos/sku/{sku}`): the shop front knows ids,
the owner knows SKUs. The SKU routes have their own segment so a numeric SKU is never read as an id.
Responses are ProductPublic or search facts, never the table row: `private` and `demo` stay in the database.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import AdminDep, CatalogDep, SessionDep
from data import crud
from data.db import write_session
from data.models import Product, ProductCreate, ProductPublic, ProductUpdate
from state import SearchFilters, SearchHit
from tools.catalog import CatalogService, UnknownCategoryError
from tools.facts import fact

MAX_QUERY_CHARS = 200
SEARCH_MODES = {"hibrido": "hybrid", "palabras": "keyword", "semantico": "semantic"}
MAX_PAGE_SIZE = 100

router = APIRouter(prefix="/productos", tags=["productos"])

# --------------------------------------------------------------------------- response shapes


class ProductHit(BaseModel):
    """A search result: the product's sale facts plus why it ranked where it did."""

    id: int
    sku: str
    name: str
    brand: str
    category: str
    subcategory: str
    price: Decimal
    currency: str
    stock: int
    score: float
    keyword_score: float
    semantic_score: float
    matched_by: list[str]
    matched_terms: list[str]

    @staticmethod
    def dump(hit: SearchHit) -> dict[str, Any]:
        """The JSON shape of a hit (prices as exact strings, as pydantic writes Decimals)."""
        return {
            **fact(hit.item),
            "currency": getattr(hit.item, "currency", "EUR"),
            "score": hit.score,
            "keyword_score": hit.keyword_score,
            "semantic_score": hit.semantic_score,
            "matched_by": list(hit.matched_by),
            "matched_terms": list(hit.matched_terms),
        }


def hits_response(hits: list[SearchHit]) -> Response:
    """Search results serialised directly: the hot path skips re-validating what we just built (~1 ms)."""
    body = json.dumps([ProductHit.dump(h) for h in hits], ensure_ascii=False, separators=(",", ":"))
    return Response(content=body.encode("utf-8"), media_type="application/json")


class ProductPage(BaseModel):
    """One page of the product listing."""

    items: list[ProductPublic]
    total: int
    pagina: int
    por_pagina: int
    paginas: int


# --------------------------------------------------------------------------- parameters

ProductId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Identificador del producto")]

# `:path` so a SKU with a slash ("ABC/12") is still addressable; nothing else lives under /productos/sku/.
SkuPath = Annotated[str, Path(min_length=1, max_length=64, description="SKU del producto (da igual mayúsculas)")]

QueryText = Annotated[
    str,
    Query(
        min_length=1,
        max_length=MAX_QUERY_CHARS,
        description="Lo que busca el cliente, en lenguaje natural",
    ),
]


def search_filters(
    categoria: Annotated[str | None, Query(max_length=80)] = None,
    marca: Annotated[str | None, Query(max_length=80)] = None,
    precio_min: Annotated[Decimal | None, Query(ge=0, le=Decimal("99999999.99"))] = None,
    precio_max: Annotated[Decimal | None, Query(ge=0, le=Decimal("99999999.99"))] = None,
    en_stock: bool = False,
) -> SearchFilters:
    """Query-string filters shared by the listing and the search endpoints."""
    for name, bound in (("precio_min", precio_min), ("precio_max", precio_max)):
        if bound is not None and bound != bound.quantize(Decimal("0.01")):
            raise HTTPException(422, f"{name} admite como máximo dos decimales.")
    if precio_min is not None and precio_max is not None and precio_min > precio_max:
        raise HTTPException(422, "precio_min no puede ser mayor que precio_max.")
    return SearchFilters(
        category=categoria.strip() or None if categoria else None,
        brand=marca.strip() or None if marca else None,
        price_min=precio_min,
        price_max=precio_max,
        in_stock=en_stock,
    )


FiltersDep = Annotated[SearchFilters, Depends(search_filters)]


def _unknown_category(exc: UnknownCategoryError) -> HTTPException:
    return HTTPException(422, f"La categoría «{exc.category}» no existe. Categorías: {', '.join(exc.known)}.")


def _sku_key(sku: str) -> str:
    """A SKU as the catalogue stores it (single-spaced, upper-case), so lookups ignore case."""
    return " ".join(sku.split()).upper()


# --------------------------------------------------------------------------- one product, by id or by SKU


async def _find(session: AsyncSession, key: int | str, *, include_inactive: bool = False) -> Product:
    """The product an id (int) or a SKU (str) names, or the 404 that says which one was missing.

    Retired products answer 404 like unknown ones, except to PATCH, which may bring them back.
    """
    if isinstance(key, int):
        product = await crud.get_product(session, product_id=key, include_inactive=include_inactive)
        missing = f"No existe el producto {key}."
    else:
        found = await crud.get_product_by_sku(session, sku=key) if key else None
        product = found if found is not None and (found.active or include_inactive) else None
        missing = f"No existe ningún producto con el SKU «{key}»."
    if product is None:
        raise HTTPException(404, missing)
    return product


async def _update(service: CatalogService, key: int | str, product_in: ProductUpdate) -> Product:
    """PATCH by id or SKU: one transaction, then the search index catches up before we answer."""
    try:
        async with write_session(service.sessions) as session:
            product = await _find(session, key, include_inactive=True)
            product = await crud.update_product(session, product=product, product_in=product_in)
    except crud.DuplicateSKUError as exc:
        raise HTTPException(409, f"Ya existe otro producto con el SKU {exc.sku}.") from exc
    await service.ensure_fresh()
    return product


async def _delete(service: CatalogService, key: int | str) -> Response:
    """Soft delete by id or SKU: old order lines keep their product, listings and search drop it."""
    async with write_session(service.sessions) as session:
        product = await _find(session, key)
        await crud.deactivate_product(session, product=product)
    await service.ensure_fresh()
    return Response(status_code=204)


# --------------------------------------------------------------------------- reads


@router.get("", response_model=ProductPage)
async def list_products(
    session: SessionDep,
    service: CatalogDep,
    filters: FiltersDep,
    pagina: Annotated[int, Query(ge=1, le=100_000)] = 1,
    por_pagina: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
) -> ProductPage:
    """Active products by name, a page at a time, with the same filters as search."""
    await service.ensure_fresh()
    try:
        filters = service.resolve_filters(filters)
    except UnknownCategoryError as exc:
        raise _unknown_category(exc) from exc
    items, total = await crud.list_products(
        session,
        offset=(pagina - 1) * por_pagina,
        limit=por_pagina,
        filters=filters,
    )
    return ProductPage(
        items=[ProductPublic.model_validate(p) for p in items],
        total=total,
        pagina=pagina,
        por_pagina=por_pagina,
        paginas=math.ceil(total / por_pagina) if total else 0,
    )


@router.get("/search", response_model=list[ProductHit])
async def search_products(
    service: CatalogDep,
    q: QueryText,
    filters: FiltersDep,
    limite: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 10,
    modo: Annotated[
        Literal["hibrido", "palabras", "semantico"],
        Query(description="hibrido (por defecto), solo palabras clave o solo semántica"),
    ] = "hibrido",
) -> Response:
    """Hybrid search; each hit says why it matched, so a wrong answer can be explained."""
    if not q.strip():
        raise HTTPException(422, "La búsqueda está vacía.")
    try:
        hits = await service.search(q, filters=filters, limit=limite, mode=SEARCH_MODES[modo])
    except UnknownCategoryError as exc:
        raise _unknown_category(exc) from exc
    return hits_response(hits)


@router.get("/semantic-search", response_model=list[ProductHit])
async def semantic_search(
    service: CatalogDep,
    q: QueryText,
    k: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 10,
) -> Response:
    """Meaning-only search (vectors), to compare with the hybrid ranking."""
    if not q.strip():
        raise HTTPException(422, "La búsqueda está vacía.")
    hits = await service.semantic_search(q, k=k)
    return hits_response(hits)


@router.get("/sku/{sku:path}", response_model=ProductPublic)
async def get_product_by_sku(sku: SkuPath, session: SessionDep) -> Product:
    """One active product by SKU, in any case."""
    return await _find(session, _sku_key(sku))


@router.get("/{product_id}", response_model=ProductPublic)
async def get_product(product_id: ProductId, session: SessionDep) -> Product:
    """One active product by id."""
    return await _find(session, product_id)


# --------------------------------------------------------------------------- writes (X-API-Key)


@router.post("", response_model=ProductPublic, status_code=201)
async def create_product(product_in: ProductCreate, service: CatalogDep, _admin: AdminDep) -> Product:
    """Add a product; prices may be written as people do ("1.199,00", "24 €")."""
    try:
        async with write_session(service.sessions) as session:
            product = await crud.create_product(session, product_in=product_in)
    except crud.DuplicateSKUError as exc:
        raise HTTPException(409, f"Ya existe un producto con el SKU {exc.sku}.") from exc
    await service.ensure_fresh()
    return product


@router.patch("/sku/{sku:path}", response_model=ProductPublic)
async def update_product_by_sku(
    sku: SkuPath, product_in: ProductUpdate, service: CatalogDep, _admin: AdminDep
) -> Product:
    """Change only the fields named; `regular_price: null` ends a sale."""
    return await _update(service, _sku_key(sku), product_in)


@router.patch("/{product_id}", response_model=ProductPublic)
async def update_product(
    product_id: ProductId, product_in: ProductUpdate, service: CatalogDep, _admin: AdminDep
) -> Product:
    """Change only the fields named; `regular_price: null` ends a sale."""
    return await _update(service, product_id, product_in)


@router.delete("/sku/{sku:path}", status_code=204)
async def delete_product_by_sku(sku: SkuPath, service: CatalogDep, _admin: AdminDep) -> Response:
    """Retire a product from sale by SKU; it stays for past orders."""
    return await _delete(service, _sku_key(sku))


@router.delete("/{product_id}", status_code=204)
async def delete_product(product_id: ProductId, service: CatalogDep, _admin: AdminDep) -> Response:
    """Retire a product from sale; it stays for past orders."""
    return await _delete(service, product_id)
