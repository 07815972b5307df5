"""Catalogue reads and writes. Every product write bumps the catalogue revision in the same transaction."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, cast, delete, func, or_, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from data.models import CartLine, CatalogueMeta, Product, ProductCreate, ProductUpdate
from data.types import sale_regular_price, utcnow
from state import SearchFilters


class DuplicateSKUError(ValueError):
    """Another product already uses this SKU."""

    def __init__(self, sku: str) -> None:
        super().__init__(sku)
        self.sku = sku


# Fields whose change alters what search indexes (text, filters) or what customers are quoted.
PRODUCT_FIELDS = tuple(ProductCreate.model_fields)


# Also run as raw SQL by tools.catalog's fast path, on a plain sqlite3 connection.
REVISION_QUERY = "SELECT revision FROM catalogue_meta WHERE id = 1"


async def get_revision(session: AsyncSession) -> int:
    """The catalogue revision: grows by one with every committed product write."""
    result = await session.execute(text(REVISION_QUERY))
    return int(result.scalar_one_or_none() or 0)


async def bump_revision(session: AsyncSession) -> int:
    """Claim the next revision; the row lock (or SQLite's write lock) serialises concurrent writers."""
    result = await session.execute(
        update(CatalogueMeta)
        .where(col(CatalogueMeta.id) == 1)
        .values(revision=CatalogueMeta.revision + 1)
        .returning(col(CatalogueMeta.revision))
    )
    revision = result.scalar_one_or_none()
    if revision is None:  # a database created outside the migrations
        session.add(CatalogueMeta(id=1, revision=1))
        await session.flush()
        return 1
    return int(revision)


async def get_product(session: AsyncSession, *, product_id: int, include_inactive: bool = False) -> Product | None:
    """A product by id; deactivated ones only when asked (they still back old order lines)."""
    product = await session.get(Product, product_id)
    if product is None or (not product.active and not include_inactive):
        return None
    return product


async def get_product_by_sku(session: AsyncSession, *, sku: str) -> Product | None:
    """SKUs are stored upper-case; lookups accept any case."""
    result = await session.execute(select(Product).where(Product.sku == sku.strip().upper()))
    return result.scalar_one_or_none()


async def list_products(
    session: AsyncSession,
    *,
    offset: int = 0,
    limit: int = 20,
    filters: SearchFilters | None = None,
) -> tuple[list[Product], int]:
    """A page of active products ordered by name, and the total that matches."""
    query = select(Product).where(col(Product.active).is_(True))
    if filters:
        # Exact names: callers spell them as the catalogue does (SQLite's lower() ignores accents' case).
        if filters.category:
            query = query.where(
                or_(
                    col(Product.category) == filters.category,
                    col(Product.subcategory) == filters.category,
                    *_in_a_category_path(filters.category),
                )
            )
        if filters.brand:
            query = query.where(col(Product.brand) == filters.brand)
        if filters.price_min is not None:
            query = query.where(col(Product.price) >= filters.price_min)
        if filters.price_max is not None:
            query = query.where(col(Product.price) <= filters.price_max)
        if filters.in_stock:
            query = query.where(col(Product.stock) > 0)
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    page = await session.execute(query.order_by(col(Product.name), col(Product.id)).offset(offset).limit(limit))
    return list(page.scalars().all()), int(total)


def _in_a_category_path(level: str) -> list[Any]:
    """Conditions for "a category path of the product has this level" (in "Ibéricos > Jamón y paleta > Loncheados").

    They read the JSON text as both databases store it, written by the same serializer (accents escaped).
    """
    text = cast(col(Product.categories), String)
    said = json.dumps(level)[1:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    patterns = (f'%"{said}"%', f'%"{said} > %', f'% > {said}"%', f"% > {said} > %")
    return [text.like(p, escape="\\") for p in patterns]


async def products_changed_since(session: AsyncSession, *, revision: int) -> list[Product]:
    """Products (active or not) written after `revision`: what an index that saw `revision` must apply."""
    result = await session.execute(select(Product).where(col(Product.revision) > revision).order_by(col(Product.id)))
    return list(result.scalars().all())


async def count_products(session: AsyncSession) -> int:
    """Every product row, active or not."""
    return int((await session.execute(select(func.count()).select_from(Product))).scalar_one())


async def all_products(session: AsyncSession) -> list[Product]:
    """Every row, active or not: what a full index rebuild reads."""
    result = await session.execute(select(Product).order_by(col(Product.id)))
    return list(result.scalars().all())


async def create_product(session: AsyncSession, *, product_in: ProductCreate) -> Product:
    """Insert a product; a taken SKU raises DuplicateSKUError instead of an integrity error."""
    existing = await get_product_by_sku(session, sku=product_in.sku)
    if existing is not None:
        raise DuplicateSKUError(product_in.sku)
    product = Product.model_validate(product_in)
    product.revision = await bump_revision(session)
    session.add(product)
    await session.flush()
    return product


async def update_product(session: AsyncSession, *, product: Product, product_in: ProductUpdate) -> Product:
    """Apply a partial update; an update that changes nothing does not move the revision."""
    changes = product_in.model_dump(exclude_unset=True)
    if "sku" in changes and changes["sku"] != product.sku:
        other = await get_product_by_sku(session, sku=changes["sku"])
        if other is not None and other.id != product.id:
            raise DuplicateSKUError(changes["sku"])
    if not _apply(product, changes):
        return product
    product.revision = await bump_revision(session)
    session.add(product)
    await session.flush()
    return product


async def deactivate_product(session: AsyncSession, *, product: Product) -> Product:
    """Soft delete: order lines keep pointing at it, search and listings stop showing it."""
    return await update_product(session, product=product, product_in=ProductUpdate(active=False))


def _apply(product: Product, changes: dict[str, Any]) -> bool:
    regular = changes.get("regular_price", product.regular_price)
    if regular is not None:  # a change that leaves the "before" price at or under the price ends the sale
        changes = {**changes, "regular_price": sale_regular_price(changes.get("price", product.price), regular)}
    changed = False
    for name, value in changes.items():
        if getattr(product, name) != value:
            setattr(product, name, value)
            changed = True
    if changed:
        product.updated_at = utcnow()
    return changed


@dataclass(slots=True)
class UpsertCounts:
    """What an upsert did, for the import report."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0


async def upsert_products(
    session: AsyncSession,
    *,
    products_in: Sequence[ProductCreate],
    provided: Sequence[Collection[str]] | None = None,
    chunk: int = 500,
) -> UpsertCounts:
    """Insert new SKUs, update changed ones, leave identical ones alone; one revision for the whole batch.

    `provided[i]` names the fields the source really gave for `products_in[i]`: an existing product changes
    only those (a price list without stock must not reset stock). Runs inside the caller's transaction, so a
    failure anywhere leaves the catalogue as it was.
    """
    counts = UpsertCounts()
    revision: int | None = None
    for start in range(0, len(products_in), chunk):
        batch = products_in[start : start + chunk]
        batch_fields = provided[start : start + chunk] if provided is not None else [None] * len(batch)
        skus = [p.sku for p in batch]
        result = await session.execute(select(Product).where(col(Product.sku).in_(skus)))
        existing = {p.sku: p for p in result.scalars().all()}
        for product_in, fields in zip(batch, batch_fields, strict=True):
            current = existing.get(product_in.sku)
            if current is None:
                if revision is None:
                    revision = await bump_revision(session)
                product = Product.model_validate(product_in)
                product.revision = revision
                session.add(product)
                existing[product.sku] = product
                counts.created += 1
            elif _apply(current, product_in.model_dump(include=set(fields) | {"sku"} if fields is not None else None)):
                if revision is None:
                    revision = await bump_revision(session)
                current.revision = revision
                counts.updated += 1
            else:
                counts.unchanged += 1
        await session.flush()
    return counts


async def retire_demo(session: AsyncSession) -> int:
    """Take the example products (`make run`'s demo catalogue) off sale: a real catalogue has arrived."""
    return await _retire(session, select(Product).where(col(Product.demo).is_(True), col(Product.active).is_(True)))


async def retire_all(session: AsyncSession) -> int:
    """Take every product off sale and empty the carts: `python -m manage reset`. Orders keep their lines."""
    count = await _retire(session, select(Product).where(col(Product.active).is_(True)))
    await session.execute(delete(CartLine))
    return count


async def _retire(session: AsyncSession, query: Any) -> int:
    products = list((await session.execute(query)).scalars().all())
    if products:
        revision = await bump_revision(session)
        for product in products:
            product.active = False
            product.revision = revision
            product.updated_at = utcnow()
        await session.flush()
    return len(products)
