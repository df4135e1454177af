"""The layout is the architecture: every import in ``netdsl/`` and the built-in plugins, function
level and ``TYPE_CHECKING`` blocks included, runs one way through the layers, and no module
imports itself back through others.

    front ends (tools) → run, search → keras → checking → vocab → lang → errors

A layer may import its own modules and any layer to its right, never one to its left.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: package prefix -> rank; a module may import modules of its own rank or lower
LAYERS: dict[str, int] = {
    "netdsl.errors": 0,
    "netdsl._version": 0,
    "netdsl.lang": 1,
    "netdsl.vocab": 2,
    "netdsl.checking": 3,
    "netdsl.keras": 4,
    "netdsl.run": 5,
    "netdsl.search": 5,  # search spaces checked and tuned (the space itself is netdsl.lang.space)
    "netdsl.tools": 6,
    "netdsl.testing": 7,  # the public helpers for plugin authors' tests
    "netdsl.__main__": 7,
    "netdsl": 7,  # the public API (lazily loaded)
}
#: plugins supply vocabulary: they may use the vocabulary, the language, Keras at run time, and
#: the one size-bounded reader of data files (NumPy only), so every dataset reads files alike
PLUGIN_RANK = 4
PLUGIN_MAY_IMPORT = (
    "netdsl.errors",
    "netdsl._version",
    "netdsl.lang",
    "netdsl.vocab",
    "netdsl.keras.runtime",
    "netdsl.keras.datafiles",
)

SOURCES = {
    "netdsl": ROOT / "netdsl",
    "netdsl_builtins": ROOT / "plugins" / "netdsl_builtins",
    "netdsl_extras": ROOT / "plugins" / "netdsl-extras" / "netdsl_extras",
}


def _modules() -> dict[str, Path]:
    out = {}
    for package, folder in SOURCES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join((package, *parts))] = path
    return out


MODULES = _modules()


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def imports_of(module: str) -> set[str]:
    """Every project module ``module`` imports anywhere in its body."""
    path = MODULES[module]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, path, node)
            names = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names
            ]
        else:
            continue
        for name in names:
            while name and name not in MODULES:  # `import netdsl.lang.ir as x` names a module
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def _top(module: str) -> str:
    return module.split(".")[0]


def rank(module: str) -> int:
    if _top(module) != "netdsl":
        return PLUGIN_RANK if module.split(".")[0] in SOURCES else 99
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return LAYERS[best]


GRAPH = {m: imports_of(m) for m in MODULES}


def test_every_netdsl_module_has_a_layer() -> None:
    loose = [
        m
        for m in MODULES
        if _top(m) == "netdsl"
        and m != "netdsl"
        and not any(m == p or m.startswith(p + ".") for p in LAYERS if p != "netdsl")
    ]
    assert loose == [], "modules outside every layer: give each a subpackage"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _top(m) == "netdsl"))
def test_imports_run_one_way(module: str) -> None:
    back = sorted(t for t in GRAPH[module] if rank(t) > rank(module))
    assert back == [], f"{module} (rank {rank(module)}) imports a layer above it"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _top(m) != "netdsl"))
def test_plugins_use_only_the_vocabulary(module: str) -> None:
    bad = sorted(
        t
        for t in GRAPH[module]
        if t.startswith("netdsl.")
        and t != "netdsl"  # the public API (`from netdsl import check_run`), as any author's
        and not any(t == p or t.startswith(p + ".") for p in PLUGIN_MAY_IMPORT)
    )
    assert bad == [], f"plugin module {module} reaches past the vocabulary"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def test_no_import_cycles() -> None:
    # a package's __init__ is imported by its own modules implicitly; the top package lazily
    # loads the API, so edges *into* `netdsl` itself are not dependencies of the importer
    graph = {m: {t for t in ts if t != "netdsl"} for m, ts in GRAPH.items()}
    assert _cycles(graph) == []


def test_the_checker_finds_a_back_edge_and_a_cycle() -> None:
    assert rank("netdsl.lang.parser") < rank("netdsl.vocab.settings")
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
