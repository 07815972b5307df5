"""Types shared by every layer: what a catalogue item looks like, search filters and hits.

This module sits at the bottom of the import graph (`state` <- `data`/`vectorstore` <- `tools` <- ...), so it
holds only plain types: no I/O, no heavy imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class CatalogueItem(Protocol):
    """The fields search and indexing read from a product, whatever class carries them."""

    id: int
    sku: str
    name: str
    description: str
    category: str
    subcategory: str
    brand: str
    price: Decimal
    stock: int
    active: bool
    attributes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """Optional narrowing of a search; `None` means "any"."""

    category: str | None = None
    brand: str | None = None
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    in_stock: bool = False

    def is_empty(self) -> bool:
        """True when nothing narrows the catalogue."""
        return (
            self.category is None
            and self.brand is None
            and self.price_min is None
            and self.price_max is None
            and not self.in_stock
        )


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One ranked product with the evidence for its rank, so answers can say why it was chosen."""

    item: CatalogueItem
    score: float
    keyword_score: float = 0.0
    semantic_score: float = 0.0
    matched_terms: tuple[str, ...] = ()
    matched_by: tuple[str, ...] = field(default=())  # subset of: sku, brand, keyword, semantic
