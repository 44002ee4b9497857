"""The package's layers only point down, and no dashboard module takes part in an import cycle.

Every module's imports are read with `ast`, wherever they stand: at module level, under
`if TYPE_CHECKING:`, or inside a function. A module may import modules of its own layer and of
the layers below it; an import of a higher layer, or any cycle among dashboard modules, fails
with the modules named. The table is the one in docs/architecture.md ("Layers"), which a test
here keeps equal to it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "dashboard"

#: lowest first: a module belongs to the layer of the longest prefix that names it.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "base",
        (
            "dashboard",
            "dashboard.config",
            "dashboard.keyfile",
            "dashboard.countries",
            "dashboard.privacy",
            "dashboard.when",
            "dashboard.store.duck",
        ),
    ),
    ("events", ("dashboard.events", "dashboard.ingest.geo")),
    ("store", ("dashboard.store", "dashboard.filters")),
    ("services", ("dashboard.evidence", "dashboard.retention", "dashboard.access", "dashboard.ingest")),
    ("products", ("dashboard.detect", "dashboard.figures", "dashboard.packs", "dashboard.demo", "dashboard.stream")),
    ("web", ("dashboard.web",)),
    ("cli", ("dashboard.cli",)),
)


def module_name(path: Path) -> str:
    """dashboard/store/db.py -> dashboard.store.db; a package's __init__.py -> the package."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    """Every module of the dashboard package."""
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str, path: Path, known: set[str]) -> Iterator[tuple[str, int]]:
    """The dashboard modules `name` imports, with the line of each import (function-level ones too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            # `from dashboard.store import schema` imports the module dashboard.store.schema
            targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in known else source for a in node.names]
        for target in targets:
            while target not in known and "." in target:
                target = target.rpartition(".")[0]
            if target in known and target != name:
                yield target, node.lineno


def graph() -> dict[str, dict[str, int]]:
    """module -> {imported module: line of the first such import}."""
    found = modules()
    known = set(found)
    edges: dict[str, dict[str, int]] = {}
    for name, path in found.items():
        edges[name] = {}
        for target, line in imported(name, path, known):
            edges[name].setdefault(target, line)
    return edges


def layer_of(name: str) -> int | None:
    """Index in LAYERS of the module's layer (the longest matching prefix), or None."""
    best: tuple[int, int] | None = None
    for index, (_layer, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (index, len(prefix))
    return best[0] if best else None


def cycles(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in edges[node]:
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
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_every_module_has_a_layer() -> None:
    unplaced = [name for name in modules() if layer_of(name) is None]
    assert not unplaced, f"modules in no layer (add them to LAYERS here and in docs/architecture.md): {unplaced}"


def test_imports_only_point_down() -> None:
    edges = graph()
    upward = []
    for name, targets in sorted(edges.items()):
        mine = layer_of(name)
        for target, line in sorted(targets.items()):
            theirs = layer_of(target)
            if mine is not None and theirs is not None and theirs > mine:
                where = modules()[name].relative_to(ROOT)
                upward.append(f"{where}:{line}: {name} ({LAYERS[mine][0]}) imports {target} ({LAYERS[theirs][0]})")
    assert not upward, "a lower layer imports an upper one:\n" + "\n".join(upward)


def test_no_import_cycles() -> None:
    edges = graph()
    found = cycles(edges)
    described = []
    for component in found:
        members = set(component)
        links = [f"{a} -> {b} (line {edges[a][b]})" for a in component for b in sorted(edges[a]) if b in members]
        described.append(", ".join(component) + ":\n    " + "\n    ".join(links))
    assert not found, "import cycles among dashboard modules:\n" + "\n".join(described)


def test_the_checker_sees_function_level_imports_and_cycles(tmp_path: Path) -> None:
    """The reader finds an import inside a function, and `cycles` finds a loop through it."""
    source = tmp_path / "dashboard" / "a.py"
    source.parent.mkdir()
    source.write_text("def f():\n    from dashboard import b\n    return b\n")
    assert list(imported("dashboard.a", source, {"dashboard.a", "dashboard.b"})) == [("dashboard.b", 2)]
    assert cycles({"dashboard.a": {"dashboard.b": 2}, "dashboard.b": {"dashboard.a": 1}}) == [
        ["dashboard.a", "dashboard.b"]
    ]
    assert cycles({"dashboard.a": {"dashboard.b": 2}, "dashboard.b": {}}) == []


def test_the_documented_layers_are_these() -> None:
    """docs/architecture.md lists the same layers, in the same order, with the same modules."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| *`?(\w+)`? *\| *(.+?) *\|", section, flags=re.MULTILINE)
    documented = tuple(
        (layer, tuple(re.findall(r"`([\w.]+)`", modules_text))) for layer, modules_text in rows if layer != "layer"
    )
    assert documented == LAYERS


@pytest.mark.parametrize("name", ["dashboard.store.db", "dashboard.cli", "dashboard.web.app"])
def test_layer_of_takes_the_longest_prefix(name: str) -> None:
    expected = {"dashboard.store.db": "store", "dashboard.cli": "cli", "dashboard.web.app": "web"}[name]
    index = layer_of(name)
    assert index is not None and LAYERS[index][0] == expected
    duck = layer_of("dashboard.store.duck")
    assert duck is not None and LAYERS[duck][0] == "base"
