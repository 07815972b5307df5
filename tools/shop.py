"""What the agent can do in the shop, as typed async operations and as LangChain tools bindable to an LLM.

Every price and stock figure the agent may say comes from here (the database through the catalogue index). The
customer's identity (the conversation's thread id) is read from the run config, never from a tool argument, so
a model cannot act on somebody else's cart.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from langchain_core.runnables import RunnableConfig

from data import order_status, orders
from data.customer_details import OrderDetails
from data.db import write_session
from data.order_status import OrderRecord
from data.types import utcnow
from state import CatalogueItem, SearchFilters, SearchHit
from tools.catalog import CatalogService, UnknownCategoryError
from tools.complements import COMPLEMENTS
from tools.facts import display_name
from tools.policies import PolicyAnswer, PolicyBook
from tools.versions import model_words, name_tokens
from vectorstore.index_snapshot import namesakes_of
from vectorstore.query import Query
from vectorstore.text import fold, normalise_query, normalise_units, stem, words

log = logging.getLogger(__name__)

LOW_STOCK = 3
RESTOCK_WINDOW_DAYS = 30
RESTOCK_COVER_DAYS = 14


class ToolError(ValueError):
    """A tool could not do what was asked; the message is for the customer (Spanish)."""


def thread_id_of(config: RunnableConfig | None) -> str:
    """The conversation the run belongs to; tools that touch a cart refuse to guess it."""
    thread_id = ((config or {}).get("configurable") or {}).get("thread_id")
    if not thread_id:
        raise ToolError("No sé a qué conversación pertenece este carrito (falta thread_id).")
    return str(thread_id)


@dataclass
class Recommendation:
    """A suggested product and the one-line reason shown with it."""

    item: CatalogueItem
    reason: str


@dataclass
class StockReport:
    """Availability of one product, with in-stock alternatives when it has run out."""

    item: CatalogueItem
    alternatives: list[CatalogueItem] = field(default_factory=list)


@dataclass
class RestockLine:
    """A low-stock product, how fast it sold, and how many units to order."""

    item: CatalogueItem
    sold_last_30_days: int
    suggested_units: int


class Shop:
    """The agent's hands: catalogue lookups, recommendations, stock, cart and checkout."""

    def __init__(self, catalog: CatalogService, policies: PolicyBook | None = None) -> None:
        self.catalog = catalog
        settings = catalog.settings
        self.policies = policies or PolicyBook(
            settings.resolved_policies_file, catalog.embedder, settings.resolved_lexicon_dir
        )

    # ------------------------------------------------------------------ the shop's policies

    def policy(self, question: str) -> PolicyAnswer | None:
        """What the shop's policies document says about a question (None: the shop has no document)."""
        return self.policies.answer(question)

    # ------------------------------------------------------------------ catalogue

    async def search(
        self,
        query: str | Query,
        *,
        category: str | None = None,
        brand: str | None = None,
        min_price: Decimal | None = None,
        max_price: Decimal | None = None,
        in_stock: bool = False,
        limit: int = 5,
    ) -> list[SearchHit]:
        filters = SearchFilters(
            category=category, brand=brand, price_min=min_price, price_max=max_price, in_stock=in_stock
        )
        try:
            return await self.catalog.search(query, filters=filters, limit=limit)
        except UnknownCategoryError as exc:
            raise ToolError(f"No tenemos la categoría «{exc.category}». Categorías: {', '.join(exc.known)}.") from exc

    async def resolve(self, ref: str | int) -> CatalogueItem:
        """A product by id, SKU or name (best match); ToolError when nothing matches."""
        await self.catalog.ensure_fresh()
        index = self.catalog.index
        text = str(ref).strip()
        if not text:
            raise ToolError("No me has dicho qué producto.")
        if text.isdigit() and int(text) in index.items:
            return index.items[int(text)]
        by_sku = index.by_sku(text)
        if by_sku is not None:
            return by_sku
        item = await self.best_match(text)
        if item is None:
            raise ToolError(f"No encuentro ningún producto que coincida con «{text}».")
        return item

    async def best_match(self, query: str | Query) -> CatalogueItem | None:
        """The product a name refers to, or None when nothing is really called that.

        "Really" means the SKU, or at least half of the words in the product's name: a stray trigram or a word
        in some description ("cosas", "nokia dorado") must not turn into a product in a cart.
        """
        hits = await self.catalog.search(query, limit=5)
        if not hits:
            return None
        top = hits[0]
        if "sku" in top.matched_by:
            return top.item
        if top.name_match < 0.5:
            return None
        # Several versions match the name equally ("galaxy s24"): the one in stock, then the cheapest.
        model = model_words(top.item)
        equal = [h.item for h in hits if h.name_match == top.name_match and model_words(h.item) == model]
        return min(equal, key=lambda i: (i.stock <= 0, i.price, i.id))

    async def variant(self, item: CatalogueItem, wanted: Sequence[str]) -> CatalogueItem | None:
        """The same model in another version: "ese en negro", "¿y en 128?", "la talla 43"."""
        if not wanted:
            return None
        model = model_words(item)
        anchor = set(name_tokens(display_name(item)))
        # stems: "la negra" is the "Negro" version, "las blancas" the "Blanco" one
        wanted_tokens = {stem(t) for w in wanted for t in name_tokens(normalise_units(fold(w)))}
        hits = await self.catalog.search(" ".join([*model, *wanted]), limit=20)
        pool = [h.item for h in hits] + [n for n in self.namesakes(item) if all(n.id != h.item.id for h in hits)]
        candidates = [
            c
            for c in pool
            if c.id != item.id
            and model_words(c) == model
            and wanted_tokens <= {stem(t) for t in name_tokens(normalise_units(fold(display_name(c))))}
        ]
        if not candidates:
            return None
        # "¿y en 256?" after the 128 GB black one is the 256 GB black one: keep everything else that was said.
        # "una botella de 1,5" is the bottle, not the pack of six bottles, unless a pack is said
        single = not {"x", "pack", "packs"} & wanted_tokens
        return max(
            candidates,
            key=lambda c: (
                single and " x " not in f" {fold(display_name(c))} ",
                len(anchor & set(name_tokens(display_name(c)))),
                c.stock > 0,
                -c.id,
            ),
        )

    async def details(self, ref: str | int) -> CatalogueItem:
        return await self.resolve(ref)

    async def compare(self, refs: Sequence[str | int]) -> list[CatalogueItem]:
        """Products sorted by price, cheapest first."""
        items: dict[int, CatalogueItem] = {}
        for ref in refs:
            item = await self.resolve(ref)
            items[item.id] = item
        return sorted(items.values(), key=lambda i: (i.price, i.id))

    async def extreme(
        self,
        query: str | Query,
        *,
        cheapest: bool = True,
        category: str | None = None,
        max_price: Decimal | None = None,
        in_stock: bool = True,
        pool: int = 20,
    ) -> list[CatalogueItem]:
        """Cheapest (or dearest) among the relevant matches for a query, within a budget."""
        # Within a category every product counts (the dearest phone may rank low for the word "móvil").
        limit = max(pool, 500) if category else pool
        hits = await self.search(query, category=category, max_price=max_price, in_stock=in_stock, limit=limit)
        # Cheapest among what really is the thing asked for (named so, not just mentioned in a description).
        relevant = (
            [h for h in hits if h.name_match >= 0.999]
            or [h for h in hits if h.name_match >= 0.5]
            or (hits if category else [])
            or [h for h in hits if h.matched_terms]
            or hits
        )
        return sorted((h.item for h in relevant), key=lambda i: (i.price, i.id), reverse=not cheapest)

    async def stock(self, ref: str | int) -> StockReport:
        item = await self.resolve(ref)
        report = StockReport(item=item)
        if item.stock <= 0:
            report.alternatives = await self.alternatives(item)
        return report

    def is_namesake(self, a: CatalogueItem, b: CatalogueItem) -> bool:
        """Whether two products are sold under exactly the same name."""
        return fold(a.name).split() == fold(b.name).split()

    def namesakes(self, item: CatalogueItem) -> list[CatalogueItem]:
        """Every product sold under exactly this name (sizes, packages), itself included."""
        return namesakes_of(self.catalog.index.snapshot(), item)

    async def alternatives(self, item: CatalogueItem, limit: int = 3) -> list[CatalogueItem]:
        """In-stock stand-ins for a sold-out product: other versions of it first, then the same kind of product."""
        await self.catalog.ensure_fresh()
        index = self.catalog.index
        model = model_words(item)
        for filters in (
            SearchFilters(category=item.subcategory or None, in_stock=True),
            SearchFilters(category=item.category, in_stock=True),
        ):
            neighbours = [h.item for h in index.neighbours(item.id, k=limit * 4, filters=filters)]
            if neighbours:
                neighbours.sort(key=lambda i: model_words(i) != model)  # stable: same model first
                return neighbours[:limit]
        return []

    # ------------------------------------------------------------------ recommendations

    async def similar(self, anchor: CatalogueItem, *, limit: int = 3) -> list[Recommendation]:
        """Nearest products by meaning, in stock first; close variants of the same model are left out."""
        await self.catalog.ensure_fresh()
        base = model_words(anchor)
        out: list[Recommendation] = []
        for hit in self.catalog.index.neighbours(anchor.id, k=limit * 6):
            item = hit.item
            if base and model_words(item) == base:
                continue  # the same product in another size or colour is not a recommendation
            kind = (item.subcategory or item.category).lower()
            if item.price < anchor.price * Decimal("0.8"):
                reason = f"también {kind}, más económico"
            elif item.price > anchor.price * Decimal("1.2"):
                reason = f"también {kind}, de gama superior"
            else:
                reason = f"también {kind}, precio parecido"
            if item.subcategory != anchor.subcategory:
                reason = f"alternativa en {kind}"
            out.append(Recommendation(item, reason))
        out.sort(key=lambda r: r.item.stock <= 0)  # stable: in stock first, similarity order kept
        return out[:limit]

    async def complements(self, anchor: CatalogueItem, *, limit: int = 3) -> list[Recommendation]:
        """What goes with a product: bought together in past orders first, then the shop's category rules."""
        await self.catalog.ensure_fresh()
        index = self.catalog.index
        out: list[Recommendation] = []
        seen = {anchor.id}
        async with self.catalog.sessions() as session:
            together = await orders.bought_together(session, product_id=anchor.id, limit=limit * 2)
        for product_id, n in together:
            item = index.items.get(product_id)
            if item is not None and item.id not in seen:
                seen.add(item.id)
                times = "1 pedido" if n == 1 else f"{n} pedidos"
                out.append(Recommendation(item, f"otros clientes lo compraron junto a {anchor.name} ({times})"))
        targets = COMPLEMENTS.get(fold(anchor.subcategory), ())
        if targets:
            model = set(model_words(anchor))
            candidates = [i for i in index.in_subcategories(targets) if i.id not in seen]

            def fit(item: CatalogueItem) -> tuple[int, int, int, int]:
                mentions = len(model & set(words(f"{item.name} {item.description}")))
                return (-mentions, item.stock <= 0, targets.index(fold(item.subcategory)), item.id)

            for item in sorted(candidates, key=fit):
                mentions = model & set(words(f"{item.name} {item.description}"))
                why = f"compatible con {anchor.name}" if mentions else f"va bien con {anchor.subcategory.lower()}"
                out.append(Recommendation(item, why))
                if len(out) >= limit * 2:
                    break
        out.sort(key=lambda r: r.item.stock <= 0)
        return out[:limit]

    # ------------------------------------------------------------------ inventory (admin)

    async def low_stock(self, threshold: int = LOW_STOCK) -> list[CatalogueItem]:
        await self.catalog.ensure_fresh()
        items = [i for i in self.catalog.index.items.values() if i.stock <= threshold]
        return sorted(items, key=lambda i: (i.stock, i.name))

    async def restock(self, threshold: int = LOW_STOCK) -> list[RestockLine]:
        """Units to order so stock covers two weeks at last month's sales pace (at least back to threshold+1)."""
        low = await self.low_stock(threshold)
        async with self.catalog.sessions() as session:
            sold = await orders.product_sales(
                session, since=utcnow() - timedelta(days=RESTOCK_WINDOW_DAYS), product_ids=[i.id for i in low]
            )
        lines = []
        for item in low:
            units = sold.get(item.id, 0)
            need = -(-units * RESTOCK_COVER_DAYS // RESTOCK_WINDOW_DAYS)  # ceil
            lines.append(RestockLine(item, units, max(need, threshold + 1) - item.stock))
        return sorted(lines, key=lambda r: (-r.sold_last_30_days, r.item.stock, r.item.name))

    # ------------------------------------------------------------------ cart & orders

    async def cart(self, thread_id: str) -> orders.Cart:
        async with self.catalog.sessions() as session:
            return await orders.get_cart(session, thread_id=thread_id)

    async def add_to_cart(self, thread_id: str, ref: str | int, quantity: int = 1) -> tuple[CatalogueItem, orders.Cart]:
        item = await self.resolve(ref)
        try:
            async with write_session(self.catalog.sessions) as session:
                cart = await orders.add_to_cart(session, thread_id=thread_id, product_id=item.id, quantity=quantity)
        except orders.CartError as exc:
            raise ToolError(str(exc)) from exc
        return item, cart

    async def remove_from_cart(
        self, thread_id: str, ref: str | int, quantity: int | None = None
    ) -> tuple[CatalogueItem, orders.Cart]:
        cart = await self.cart(thread_id)
        item = None

        def loose(name: str) -> str:  # "Hellmann's" and "hellmanns" are one word
            return normalise_query(re.sub(r"['’]", "", name))

        text = loose(str(ref))
        for line in cart.items:  # match inside the cart first: "quita la funda", "quita la Hellmann's"
            if str(line.product_id) == str(ref) or line.sku == str(ref).upper() or text in loose(line.name):
                item = await self.resolve(line.product_id)
                break
        if item is None:
            item = await self.resolve(ref)
        try:
            async with write_session(self.catalog.sessions) as session:
                cart = await orders.remove_from_cart(
                    session, thread_id=thread_id, product_id=item.id, quantity=quantity
                )
        except orders.CartError as exc:
            raise ToolError(str(exc)) from exc
        return item, cart

    async def place_order(
        self, thread_id: str, expected_total: Decimal | None = None, details: OrderDetails | None = None
    ) -> tuple[Any, list[Any]]:
        try:
            async with write_session(self.catalog.sessions) as session:
                order, lines = await orders.place_order(
                    session, thread_id=thread_id, expected_total=expected_total, details=details
                )
        except orders.CartError as exc:
            raise ToolError(str(exc)) from exc
        await self.catalog.ensure_fresh()  # stock moved: the next answer must see it
        return order, lines

    # ------------------------------------------------------------------ a customer's own orders

    async def orders_of(self, thread_id: str, chat_id: int | None = None) -> list[OrderRecord]:
        """The orders of this conversation (and of its Telegram chat), newest first."""
        async with self.catalog.sessions() as session:
            found = {r.order.id: r for r in await order_status.orders_of_thread(session, thread_id)}
            if chat_id is not None:
                found.update({r.order.id: r for r in await order_status.orders_of_telegram_chat(session, chat_id)})
        return sorted(found.values(), key=lambda r: r.order.id or 0, reverse=True)

    async def last_details(self, chat_id: int) -> Any:
        """The newest order of a Telegram chat that has a customer name (for a returning customer), or None."""
        async with self.catalog.sessions() as session:
            records = await order_status.orders_of_telegram_chat(session, chat_id)
        return next((r.order for r in records if r.order.customer_name), None)

    async def cancel_order(self, order_id: int) -> None:
        """The customer cancels their order (allowed while not sent); its units go back to stock."""
        try:
            async with write_session(self.catalog.sessions) as session:
                await order_status.transition(session, order_id, order_status.CANCELLED, order_status.CUSTOMER)
        except order_status.OrderError as exc:
            raise ToolError(str(exc)) from exc
        await self.catalog.ensure_fresh()  # stock came back
