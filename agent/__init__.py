"""The sales agent: router, planner, composer and one subgraph per route (see graph.py for how they meet)."""
