"""The import layering of the shipped packages, read from their source (ast), lazy imports included.

world (lbmock core, pure data) -> strategies -> mockserver -> contract_tests, with the CLI
(``lbmock.cli``) on top: no module imports one above it, and no two modules import each other
through any chain.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("lbmock", "strategies", "mockserver", "contract_tests")
TOP = {"lbmock.cli"}  # the command line sits above everything
# package -> packages it must never import
FORBIDDEN = {
    "lbmock": {"strategies", "mockserver", "contract_tests"},
    "strategies": {"mockserver", "contract_tests"},
    "mockserver": {"contract_tests"},
    "contract_tests": set(),
}


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


MODULES = _modules()


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
    assert {"lbmock.cli", "lbmock.world", "lbmock.world_spec", "strategies.served_world", "mockserver.app",
            "mockserver.cli", "contract_tests.plugin"} <= set(MODULES)


def test_no_module_imports_a_layer_above_it():
    wrong = [f"{name} imports {target}" for name, targets in GRAPH.items() if name not in TOP
             for target in sorted(targets) if target.split(".")[0] in FORBIDDEN[name.split(".")[0]]]
    assert not wrong, "\n".join(wrong)


def test_nothing_imports_the_cli():
    wrong = [f"{name} imports {target}" for name, targets in GRAPH.items() for target in targets if target in TOP]
    assert not wrong, "\n".join(wrong)


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


def test_the_checker_sees_a_cycle_and_a_layer_violation():
    # lbmock.cli imports mockserver.cli (allowed: it is the top); a lazy import back would be caught.
    assert "mockserver.cli" in GRAPH["lbmock.cli"]
    assert "strategies.served_world" in GRAPH["mockserver.app"]
