"""Types shared by every layer: what a catalogue item looks like, search filters and hits.

This module sits at the bottom of the import graph (`state` <- `data`/`vectorstore` <- `tools` <- ...), so it
holds only types: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any, Literal, Protocol, get_args, runtime_checkable

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict


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
    name_match: float = 0.0  # share of the query's terms in the product's name (what it is, not what it fits)
    matched_by: tuple[str, ...] = field(default=())  # subset of: sku, brand, keyword, semantic


# --------------------------------------------------------------------------- the agent's graph state


class ProductFact(TypedDict, total=False):
    """A product as tools report it: the only source of prices and stock the agent may quote."""

    id: int
    sku: str
    name: str
    brand: str
    category: str
    subcategory: str
    price: str  # exact decimal string, "959.00"
    regular_price: str  # the price before a sale, only while the product is on sale
    stock: int
    description: str
    reason: str  # why it was recommended or suggested


class CartFact(TypedDict):
    """One cart line as tools report it, at today's price."""

    product_id: int
    sku: str
    name: str
    unit_price: str
    quantity: int
    line_total: str


Route = Literal["products", "prices", "recommendations", "inventory", "conversation", "orders", "orchestrator"]
ROUTES: tuple[Route, ...] = get_args(Route)


def keep_last_list(old: list[ProductFact] | None, new: list[ProductFact] | None) -> list[ProductFact]:
    """Products in play: a turn that shows products replaces the list; a turn that shows none keeps it."""
    return list(new) if new else list(old or [])


SEEN_LIMIT = 20


def remember_seen(old: list[ProductFact] | None, new: list[ProductFact] | None) -> list[ProductFact]:
    """Every product shown in the conversation, newest first, once each (for "me quedo con la Spigen")."""
    out: list[ProductFact] = []
    ids: set[Any] = set()
    for item in [*(new or []), *(old or [])]:
        if item.get("id") not in ids:
            ids.add(item.get("id"))
            out.append(item)
    return out[:SEEN_LIMIT]


class InputState(TypedDict):
    """What a caller sends: only messages (the rest is the conversation's memory)."""

    messages: Annotated[list[AnyMessage], add_messages]


class AgentState(InputState, total=False):
    """The whole conversation state kept by the checkpointer, per thread."""

    routes: list[Route]  # the route(s) chosen for this turn
    products: Annotated[list[ProductFact], keep_last_list]  # last products shown: "el segundo", "ese"
    focus: ProductFact | None  # the product the conversation is about right now
    seen: Annotated[list[ProductFact], remember_seen]  # everything shown so far, newest first
    shown: list[ProductFact]  # the products this turn's reply presents (what /chat returns as "products")
    cart: list[CartFact]
    facts: list[ProductFact]  # everything tools reported this turn (checks the LLM's figures)
    cache: Literal["hit", "miss", "skip"]
    cache_key: tuple[str, str]  # (standalone question, entity signature) of this turn
    query: str  # what the answering subgraph looked up (empty: do not cache)
    reply: str  # the text that goes out this turn
    topic: dict[str, Any] | None  # what the last list was about ({"name": words, "subcategory": kind})
    offer: dict[str, Any] | None  # units the last reply offered ("¿te pongo las 3 que quedan?"), with its position
    outcome: Literal["answered", "checkout", "fallback"]  # how the assistant (LLM) left this turn, when it ran
    # checkout details (agent.checkout): name, contact, delivery, address or pickup point; "collecting" while the
    # checkout asks for them. JSON-able; personal data, so never cached nor logged.
    order_details: dict[str, Any] | None
