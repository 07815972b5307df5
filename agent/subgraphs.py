"""The route subgraphs by intent, for the main graph's wiring and the orchestrator's workers."""

from __future__ import annotations

from typing import Any

from agent.conversation import conversation_graph
from agent.inventory import inventory_graph
from agent.orders import orders_graph
from agent.prices import prices_graph
from agent.products import products_graph
from agent.recommendations import recommendations_graph

SUBGRAPHS: dict[str, Any] = {
    "products": products_graph,
    "prices": prices_graph,
    "recommendations": recommendations_graph,
    "inventory": inventory_graph,
    "conversation": conversation_graph,
    "orders": orders_graph,
}
