"""The shop's operations as LangChain tools an LLM can call: argument schemas and the tool factory.

Every tool returns JSON with exact prices and stock; a `ToolError` comes back as {"error": "..."} instead of an
exception. The customer's identity (the conversation's thread id) is read from the run config, never from a
tool argument, so a model cannot act on somebody else's cart.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from decimal import Decimal
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from data import orders
from state import ProductFact
from tools.facts import cart_facts, fact
from tools.shop import Shop, ToolError, thread_id_of

# ---------------------------------------------------------------------------- schemas


class SearchArgs(BaseModel):
    """Arguments the LLM sees for a tool (the thread id never is one)."""

    query: str = Field(description="Lo que busca el cliente, en sus palabras", min_length=1, max_length=200)
    category: str | None = Field(default=None, description="Categoría o subcategoría del catálogo")
    brand: str | None = Field(default=None, description="Marca")
    min_price: Decimal | None = Field(default=None, ge=0, description="Precio mínimo en euros")
    max_price: Decimal | None = Field(default=None, ge=0, description="Precio máximo en euros")
    in_stock_only: bool = Field(default=False, description="Solo productos con existencias")
    limit: int = Field(default=5, ge=1, le=20)


class ProductRefArgs(BaseModel):
    """Arguments the LLM sees for a tool (the thread id never is one)."""

    product: str = Field(description="Id numérico, SKU o nombre del producto", min_length=1, max_length=200)


class CompareArgs(BaseModel):
    """Arguments the LLM sees for a tool (the thread id never is one)."""

    products: list[str] = Field(description="Ids, SKUs o nombres de los productos", min_length=2, max_length=10)


class RecommendArgs(BaseModel):
    """Arguments the LLM sees for a tool (the thread id never is one)."""

    product: str = Field(description="Id, SKU o nombre del producto de referencia", min_length=1, max_length=200)
    kind: Literal["similar", "complement"] = Field(
        default="similar", description="similar: alternativas parecidas; complement: lo que combina con él"
    )


class CartAddArgs(BaseModel):
    """Arguments the LLM sees for a tool (the thread id never is one)."""

    product: str = Field(description="Id, SKU o nombre del producto", min_length=1, max_length=200)
    quantity: int = Field(default=1, ge=1, le=orders.MAX_QUANTITY)


class CartRemoveArgs(BaseModel):
    """Arguments the LLM sees for a tool (the thread id never is one)."""

    product: str = Field(description="Id, SKU o nombre del producto del carrito", min_length=1, max_length=200)
    quantity: int | None = Field(default=None, ge=1, le=orders.MAX_QUANTITY, description="Vacío: quitarlo entero")


class PolicyArgs(BaseModel):
    """Arguments the LLM sees for a tool (the thread id never is one)."""

    question: str = Field(description="La pregunta del cliente sobre la tienda", min_length=1, max_length=300)


class NoArgs(BaseModel):
    """Arguments the LLM sees for a tool (the thread id never is one)."""


def _json(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False, default=str)


async def _guarded(coro: Awaitable[Any]) -> str:
    """The result as JSON, or the customer-facing message of a ToolError as {"error": ...}."""
    try:
        return _json(await coro)
    except ToolError as exc:
        return _json({"error": str(exc)})


def _tool(fn: Any, name: str, schema: type[BaseModel], description: str) -> BaseTool:
    return StructuredTool.from_function(coroutine=fn, name=name, args_schema=schema, description=description)


# ---------------------------------------------------------------------------- tools


def build_langchain_tools(shop: Shop) -> list[BaseTool]:
    """Tools whose schemas an LLM sees; errors come back as {"error": "..."} instead of exceptions."""
    return [*_lookup_tools(shop), *_advice_tools(shop), *_cart_tools(shop), _policy_tool(shop)]


def _lookup_tools(shop: Shop) -> list[BaseTool]:
    """Search, a product's details, and price comparison."""

    async def search_products(
        query: str,
        category: str | None = None,
        brand: str | None = None,
        min_price: Decimal | None = None,
        max_price: Decimal | None = None,
        in_stock_only: bool = False,
        limit: int = 5,
    ) -> str:
        async def run() -> list[ProductFact]:
            hits = await shop.search(
                query, category=category, brand=brand, min_price=min_price, max_price=max_price,
                in_stock=in_stock_only, limit=limit,
            )  # fmt: skip
            return [fact(h.item) for h in hits]

        return await _guarded(run())

    async def product_details(product: str) -> str:
        async def run() -> ProductFact:
            item = await shop.details(product)
            out = fact(item, description=True)
            return out

        return await _guarded(run())

    async def compare_prices(products: list[str]) -> str:
        async def run() -> list[ProductFact]:
            return [fact(i) for i in await shop.compare(products)]

        return await _guarded(run())

    return [
        _tool(search_products, "search_products", SearchArgs, "Busca productos del catálogo (búsqueda híbrida)."),
        _tool(product_details, "product_details", ProductRefArgs,
              "Ficha de un producto: precio, existencias, descripción."),
        _tool(compare_prices, "compare_prices", CompareArgs,
              "Compara precios de varios productos, del más barato al más caro."),
    ]  # fmt: skip


def _advice_tools(shop: Shop) -> list[BaseTool]:
    """Stock (with alternatives when sold out) and recommendations."""

    async def check_stock(product: str) -> str:
        async def run() -> dict[str, Any]:
            report = await shop.stock(product)
            return {"product": fact(report.item), "alternatives": [fact(i) for i in report.alternatives]}

        return await _guarded(run())

    async def recommend_products(product: str, kind: str = "similar") -> str:
        async def run() -> list[ProductFact]:
            anchor = await shop.resolve(product)
            recs = await (shop.complements(anchor) if kind == "complement" else shop.similar(anchor))
            return [fact(r.item, reason=r.reason) for r in recs]

        return await _guarded(run())

    return [
        _tool(check_stock, "check_stock", ProductRefArgs, "Existencias de un producto y alternativas si está agotado."),
        _tool(recommend_products, "recommend_products", RecommendArgs, "Productos parecidos o complementarios."),
    ]  # fmt: skip


def _cart_tools(shop: Shop) -> list[BaseTool]:
    """The cart of the run's conversation: add, show, remove, and prepare the order (the customer confirms it)."""

    async def add_to_cart(product: str, quantity: int = 1, *, config: RunnableConfig) -> str:
        async def run() -> dict[str, Any]:
            item, cart = await shop.add_to_cart(thread_id_of(config), product, quantity)
            return {"added": fact(item), "quantity": quantity, "cart": cart_facts(cart), "total": str(cart.total)}

        return await _guarded(run())

    async def show_cart(*, config: RunnableConfig) -> str:
        async def run() -> dict[str, Any]:
            cart = await shop.cart(thread_id_of(config))
            return {"cart": cart_facts(cart), "total": str(cart.total)}

        return await _guarded(run())

    async def remove_from_cart(product: str, quantity: int | None = None, *, config: RunnableConfig) -> str:
        async def run() -> dict[str, Any]:
            item, cart = await shop.remove_from_cart(thread_id_of(config), product, quantity)
            return {"removed": fact(item), "cart": cart_facts(cart), "total": str(cart.total)}

        return await _guarded(run())

    async def place_order(*, config: RunnableConfig) -> str:
        # The LLM never places an order by itself: the graph asks the customer to confirm first.
        async def run() -> dict[str, Any]:
            cart = await shop.cart(thread_id_of(config))
            return {
                "needs_confirmation": True,
                "cart": cart_facts(cart),
                "total": str(cart.total),
                "note": "El pedido se confirma con el cliente antes de registrarlo.",
            }

        return await _guarded(run())

    return [
        _tool(
            add_to_cart, "add_to_cart", CartAddArgs, "Añade unidades de un producto al carrito de esta conversación."
        ),
        _tool(show_cart, "show_cart", NoArgs, "Muestra el carrito de esta conversación con su total."),
        _tool(remove_from_cart, "remove_from_cart", CartRemoveArgs, "Quita un producto (o unidades) del carrito."),
        _tool(place_order, "place_order", NoArgs, "Prepara el pedido del carrito; el cliente debe confirmarlo."),
    ]


def _policy_tool(shop: Shop) -> BaseTool:
    """What the shop's published conditions say (shipping, returns, warranty, payment, hours, contact)."""

    async def store_policies(question: str) -> str:
        answer = shop.policy(question)
        if answer is None:
            return _json({"error": "La tienda no ha publicado sus condiciones."})
        return _json({"section": answer.section, "passages": list(answer.passages), "covered": answer.covered})

    return _tool(
        store_policies,
        "store_policies",
        PolicyArgs,
        "Condiciones de la tienda: envíos, plazos, devoluciones, garantía, pagos, horario, contacto.",
    )
