"""The house's rules, checked on every run: dependencies point one way and nothing imports in a circle.

- ``adapters`` imports nothing of ours: platforms in, events out.
- ``brain`` imports nothing from ``bots``, and from ``adapters`` only the shared event model.
- ``bots.features`` never import each other: what one feature needs of another is a Protocol,
  wired in the composition root (``bots/app.py``).
- No import cycle anywhere, counting imports inside functions and under ``TYPE_CHECKING``.
- No two brain modules share a name: a name says which module it is.

The graph is read from the source with `ast`, so a rule breaks here before anything runs.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("adapters", "brain", "bots")


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports() -> dict[str, set[str]]:
    """Module → our modules it imports (``from pkg import module`` counts as the module)."""
    modules = _modules()
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and target.split(".")[0] in PACKAGES:
                    edges[name].add(target)
    return edges


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _violations(rule) -> list[str]:  # noqa: ANN001 - a predicate on (importer, imported)
    return sorted(f"{a} -> {b}" for a, targets in _imports().items() for b in targets if rule(a, b))


def test_adapters_import_nothing_of_ours() -> None:
    assert _violations(lambda a, b: _in(a, "adapters") and not _in(b, "adapters")) == []


def test_the_brain_knows_no_platform_and_no_runtime() -> None:
    assert _violations(lambda a, b: _in(a, "brain") and (
        _in(b, "bots") or (_in(b, "adapters") and b != "adapters.model"))) == []


def test_features_never_import_each_other() -> None:
    def feature(m: str) -> str | None:
        return m.split(".")[2] if _in(m, "bots.features") and m.count(".") >= 2 else None
    assert _violations(lambda a, b: feature(a) is not None and feature(b) is not None
                       and feature(a) != feature(b)) == []


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    nodes = set(edges) | {b for targets in edges.values() for b in targets}
    for start in sorted(nodes):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_no_import_cycle_anywhere() -> None:
    # A package's __init__ re-exporting its modules is not a cycle of ideas: leave those edges out.
    edges = {a: {b for b in targets if not (a == b.rpartition(".")[0] and _modules()[a].name == "__init__.py")}
             for a, targets in _imports().items()}
    assert _cycles(edges) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_brain_module_names_are_unique() -> None:
    names: dict[str, list[str]] = defaultdict(list)
    for module, path in _modules().items():
        if _in(module, "brain") and path.name not in ("__init__.py", "__main__.py"):
            names[path.stem].append(module)
    assert {stem: mods for stem, mods in names.items() if len(mods) > 1} == {}
