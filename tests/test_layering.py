"""The import layering of the shipped package, read from its source (ast), lazy imports included.

Layers, bottom to top: the core (``lbmock`` itself: world, dicom, render, oracle, validate...) ->
``lbmock.strategies`` -> ``lbmock.mockserver`` -> ``lbmock.contract_tests`` -> the command line
(``lbmock.cli``, ``lbmock.__main__``).  No module imports a layer above its own, no two modules
import each other through any chain, and no two folders import each other.  No exceptions.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Bottom to top; a module belongs to the last layer whose prefix it starts with.
LAYERS = ("lbmock", "lbmock.strategies", "lbmock.mockserver", "lbmock.contract_tests", "lbmock.cli")
TOP_EXTRA = {"lbmock.__main__": "lbmock.cli"}  # `python -m lbmock` is the command line too


def _modules() -> dict[str, Path]:
    """Every module of the package, walking through the checkout's links to the top-level folders."""
    out = {}
    for folder, dirs, names in os.walk(ROOT / "lbmock", followlinks=True):
        dirs[:] = [d for d in dirs if d not in ("__pycache__", "fixtures")]
        for name in names:
            if name.endswith(".py"):
                path = Path(folder, name)
                parts = list(path.relative_to(ROOT).with_suffix("").parts)
                if parts[-1] == "__init__":
                    parts.pop()
                out[".".join(parts)] = path
    return out


MODULES = _modules()


def layer_of(module: str) -> int:
    module = TOP_EXTRA.get(module, module)
    return max(i for i, prefix in enumerate(LAYERS) if module == prefix or module.startswith(prefix + "."))


def _imports(name: str, path: Path) -> set[str]:
    """Project modules ``name`` imports anywhere in its body (a package's name when no module matches)."""
    found: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def test_the_packages_are_found():
    assert {"lbmock.cli", "lbmock.world", "lbmock.world_spec", "lbmock.strategies.served_world",
            "lbmock.mockserver.app", "lbmock.contract_tests.plugin", "lbmock.__main__"} <= set(MODULES)


def test_no_module_imports_a_layer_above_it():
    wrong = [f"{name} imports {target}" for name, targets in GRAPH.items()
             for target in sorted(targets) if layer_of(target) > layer_of(name)]
    assert not wrong, "\n".join(wrong)


def _folder_edges() -> set[tuple[str, str]]:
    """(A, B) for sibling folders A and B when a module under A imports a module under B."""
    edges = set()
    for name, targets in GRAPH.items():
        for target in targets:
            a, b = name.split("."), target.split(".")
            common = 0
            while common < min(len(a), len(b)) and a[common] == b[common]:
                common += 1
            if common < len(a) - 1 and common < len(b) - 1:  # both below the shared folder, in subfolders
                edges.add((".".join(a[:common + 1]), ".".join(b[:common + 1])))
    return edges


def test_no_two_folders_import_each_other():
    edges = _folder_edges()
    mutual = sorted(f"{a} <-> {b}" for a, b in edges if (b, a) in edges and a < b)
    assert not mutual, "\n".join(mutual)


def test_no_import_cycles():
    # Tarjan's strongly connected components: any component of two or more modules is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in GRAPH[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_checker_sees_imports_and_layers():
    assert "lbmock.strategies.served_world" in GRAPH["lbmock.mockserver.app"]
    assert layer_of("lbmock.cli") > layer_of("lbmock.contract_tests.plugin") > layer_of("lbmock.mockserver.app")
    assert layer_of("lbmock.mockserver.app") > layer_of("lbmock.strategies") > layer_of("lbmock.world")
    assert layer_of("lbmock.__main__") == layer_of("lbmock.cli")
    assert ("lbmock.mockserver", "lbmock.strategies") in _folder_edges()


def test_the_server_keeps_at_most_eight_modules_at_its_top():
    """mockserver/ is grouped by job (_mock_architecture.md's rooms): new code goes into a room."""
    top = sorted(p.name for p in (ROOT / "mockserver").glob("*.py"))
    assert len(top) <= 8, top
