"""The graph as LangGraph Studio loads it (langgraph.json), and its shape."""

from __future__ import annotations

import importlib
import json

from settings import ROOT


def test_langgraph_json_points_at_the_compiled_graph() -> None:
    spec = json.loads((ROOT / "langgraph.json").read_text())
    module_path, attribute = spec["graphs"]["agente_vendedor"].split(":")
    module = importlib.import_module(module_path.removeprefix("./").removesuffix(".py"))
    graph = getattr(module, attribute)
    nodes = set(graph.get_graph().nodes)
    assert {"cache_lookup", "router", "cache_store", "orchestrator"} <= nodes
    assert {"products", "prices", "recommendations", "inventory", "conversation", "orders"} <= nodes
    assert set(graph.get_input_jsonschema()["properties"]) == {"messages"}  # narrow input: messages only


def test_each_route_is_its_own_compiled_subgraph() -> None:
    from agent.subgraphs import SUBGRAPHS

    for name, subgraph in SUBGRAPHS.items():
        assert subgraph.name == name
        assert "reply" in subgraph.get_graph().nodes
        assert importlib.import_module(f"agent.{name}")  # one file per subgraph
