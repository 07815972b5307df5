"""The layers point one way, and no module imports itself back, not even through a function-local import.

`state` ← `data`/`vectorstore` ← `tools` ← `agent` ← `graph` ← `chat` ← `api` ← `server`; the command lines
(`manage`, `evals`, `bench`, `scripts`) sit on top. `settings` is a leaf any layer may read.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Lower rank = lower layer. A module may import its own package and anything of a strictly lower rank.
RANK = {
    "settings": 0,
    "state": 1,
    "data": 2,
    "vectorstore": 2,
    "tools": 3,
    "agent": 4,
    "graph": 5,
    "chat": 6,
    "api": 7,
    "telegram_bot": 7,  # a channel beside the HTTP API: both call `chat`; server wires the two together
    "server": 8,
    "manage": 8,
    "evals": 9,
    "bench": 10,
    "scripts": 10,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> Iterator[tuple[str, Path]]:
    for top in RANK:
        single = ROOT / f"{top}.py"
        if single.is_file():
            yield top, single
        for path in sorted((ROOT / top).rglob("*.py")) if (ROOT / top).is_dir() else []:
            yield _module_name(path), path


def _imports(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """Every project module this file imports, wherever the import statement sits (function bodies included)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in RANK:
                yield name, node.lineno


MODULES = dict(_sources())
# Parsed once, at collection: ast.parse is not safe to run while another thread of the session parses too.
IMPORTS = {module: list(_imports(module, path)) for module, path in MODULES.items()}
EDGES = {
    module: sorted({name for name, _ in IMPORTS[module] if name in MODULES and name != module}) for module in MODULES
}


def test_the_sources_are_found() -> None:
    expected = {"state", "data.crud", "tools.catalog", "agent.planner", "graph", "chat", "server", "manage.commands"}
    assert expected <= set(MODULES)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module: str) -> None:
    top = module.split(".")[0]
    upward = [
        f"{name} (line {line})"
        for name, line in IMPORTS[module]
        if name.split(".")[0] != top and RANK[name.split(".")[0]] >= RANK[top]
    ]
    assert not upward, f"{module} imports from its own layer or above: {upward}"


def test_no_import_cycle() -> None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in EDGES[module]:
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[module] = 2
        return None

    for module in sorted(MODULES):
        if module not in state and (cycle := visit(module)):
            pytest.fail("import cycle: " + " → ".join(cycle))
