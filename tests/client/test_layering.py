"""The client package imports in one direction only: no module imports one that imports it.

Every import counts, including those inside functions and under `TYPE_CHECKING`: a cycle hidden
that way still couples the modules and breaks as soon as someone moves the import.
"""

from __future__ import annotations

import ast
from graphlib import TopologicalSorter
from pathlib import Path

import upslice.client

PACKAGE = "upslice.client"
FOLDER = Path(upslice.client.__file__).parent


def imports_of(path: Path) -> set[str]:
    """Modules of the package that `path` imports, anywhere in its body."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith(PACKAGE + ".")}


def module_graph() -> dict[str, set[str]]:
    modules = {f"{PACKAGE}.{p.stem}" for p in FOLDER.glob("*.py") if p.stem != "__init__"}
    return {
        f"{PACKAGE}.{path.stem}": imports_of(path) & modules
        for path in FOLDER.glob("*.py")
        if path.stem != "__init__"
    }


def test_client_modules_form_no_import_cycle() -> None:
    graph = module_graph()
    assert graph[f"{PACKAGE}.aio"] >= {f"{PACKAGE}.{m}" for m in ("chunked", "tus", "download")}
    order = list(TopologicalSorter(graph).static_order())  # CycleError names the cycle
    assert set(order) == set(graph)
