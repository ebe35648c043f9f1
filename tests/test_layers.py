"""The source layering: every import points down (or sideways) and no module imports itself back.

The order below is the one in docs/DESIGN.md ("Layers"); change both together. Every import
counts: top level, inside functions (a lazy import is still a dependency) and under
``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = "bluecurrent_sync"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

#: Lowest first. A module may import modules of its own layer or of a lower one.
LAYERS: list[tuple[str, set[str]]] = [
    (
        "foundation",
        {
            "errors",
            "models",
            "models._base",
            "models._generated",
            "_tabular",
            "_log",
            "_lazy",
            "_args",
            "_tap",
            "_url",
            "_proxy",
            "_extras",
            "_capture_lines",
            "_clock",
            "_fork",
        },
    ),
    ("wire facts", {"_wire", "_redact"}),
    ("protocol", {"_protocol"}),
    ("conversion", {"_values", "_fastpath", "_convert", "_events"}),
    (
        "transport",
        {
            "_dial",
            "_frames",
            "_transport",
            "_memory_transport",
            "_liveness",
            "_session",
            "_exchanges",
            "_opening",
            "_read_role",
            "_reader",
            "_connection",
            "_wirelog",
            "_record",
            "_usage",
        },
    ),
    ("routing", {"_cell", "_pending", "_dispatch", "_router", "_mirror"}),
    ("requests", {"_requests"}),
    ("facade", {"client", "__init__"}),
    (
        "front door",
        {"_console", "_capture_check", "cli", "demo", "pytest_plugin", "__main__"},
    ),
]

#: The simulator sits beside the client: it may use these layers and nothing above them.
SIMULATOR_MAY_USE = {"foundation", "wire facts", "protocol"}

#: ``(a, b)``: ``a`` must not import ``b``. The demo shares the console module with the CLI
#: and never imports the CLI (the ``bluecurrent-sync demo`` subcommand runs the demo, as
#: ``bluecurrent-sync simulator`` runs the simulator: one way only).
MUST_NOT_IMPORT = [("demo", "cli"), ("_console", "cli"), ("_console", "demo")]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


MODULES = _modules()


def _resolve(current: str, node: ast.ImportFrom | ast.Import) -> Iterator[str]:
    """Our modules an import statement in ``current`` names (third-party ones skipped)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield from _ours(alias.name)
        return
    base = ""
    if node.level:
        base = PACKAGE if current == "__init__" else f"{PACKAGE}.{current}"
        if MODULES[current].name != "__init__.py":
            base = base.rsplit(".", 1)[0]
        for _ in range(node.level - 1):
            base = base.rsplit(".", 1)[0]
    target = ".".join(part for part in (base, node.module or "") if part)
    for alias in node.names:
        child = f"{target}.{alias.name}"
        if _ours(child):
            yield from _ours(child)
        else:
            yield from _ours(target)


def _ours(dotted: str) -> list[str]:
    if dotted != PACKAGE and not dotted.startswith(PACKAGE + "."):
        return []
    name = dotted.removeprefix(PACKAGE).lstrip(".") or "__init__"
    return [name] if name in MODULES else []


def _imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        found: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                found.update(_resolve(name, node))
        found.discard(name)
        graph[name] = found
    return graph


GRAPH = _imports()


def _layer_of(module: str) -> tuple[int, str]:
    for index, (layer, members) in enumerate(LAYERS):
        if module in members:
            return index, layer
    raise AssertionError(f"{module} is in no layer: add it to LAYERS and docs/DESIGN.md")


def test_the_graph_is_read() -> None:
    """Guard against a parser that finds nothing (the other tests would then pass vacuously)."""
    assert "client" in GRAPH
    assert {"_requests", "_router", "_connection"} <= GRAPH["client"]
    assert "_wire" in GRAPH["_router"]
    assert "simulator._server" in MODULES


def test_every_client_module_has_a_layer() -> None:
    for module in MODULES:
        if not module.startswith("simulator"):
            _layer_of(module)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if not m.startswith("simulator")))
def test_imports_point_down(module: str) -> None:
    level, layer = _layer_of(module)
    upward = []
    for target in sorted(GRAPH[module]):
        if target.startswith("simulator"):
            if layer != "front door":
                upward.append(f"{target} (the simulator is for the front door only)")
            continue
        target_level, target_layer = _layer_of(target)
        if target_level > level:
            upward.append(f"{target} ({target_layer})")
    assert not upward, f"{module} ({layer}) imports upward: {upward}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("simulator")))
def test_simulator_uses_only_the_shared_layers(module: str) -> None:
    outside = [
        target
        for target in sorted(GRAPH[module])
        if not target.startswith("simulator") and _layer_of(target)[1] not in SIMULATOR_MAY_USE
    ]
    assert not outside, f"{module} reaches into the client: {outside}"


def test_no_import_cycles() -> None:
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(GRAPH[module]):
            if target == "__init__" or module == "__init__":
                continue  # every submodule import runs the package __init__ first
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)
    assert not cycles, f"import cycles: {cycles}"


@pytest.mark.parametrize(("module", "forbidden"), MUST_NOT_IMPORT)
def test_forbidden_imports(module: str, forbidden: str) -> None:
    assert forbidden not in GRAPH[module], f"{module} imports {forbidden}"


def test_front_door_uses_no_private_transport_or_converter() -> None:
    """cli.py and demo.py reach the wire only through the console module and the client."""
    for module in ("cli", "demo"):
        reached = GRAPH[module] & {"_connection", "_convert", "_transport", "_router", "_pending"}
        assert not reached, f"{module} imports {sorted(reached)}"


#: Classes allowed past the size limit: the facade is the readable list of public methods.
LARGE_CLASSES_ALLOWED = {("client", "Client")}
MAX_CLASS_CODE_LINES = 400


def _code_lines(source: list[str], node: ast.ClassDef) -> int:
    """Lines of ``node`` that are code (no blank lines, comments or docstrings)."""
    docstrings: set[int] = set()
    for inner in ast.walk(node):
        body = getattr(inner, "body", None)
        if (
            isinstance(inner, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            docstrings.update(range(body[0].lineno, (body[0].end_lineno or 0) + 1))
    count = 0
    for number in range(node.lineno, (node.end_lineno or node.lineno) + 1):
        text = source[number - 1].strip()
        if text and not text.startswith("#") and number not in docstrings:
            count += 1
    return count


@pytest.mark.parametrize("module", sorted(m for m in MODULES if not m.startswith("simulator")))
def test_no_class_of_the_client_is_over_400_lines_of_code(module: str) -> None:
    source = MODULES[module].read_text(encoding="utf-8")
    lines = source.splitlines()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and (module, node.name) not in LARGE_CLASSES_ALLOWED:
            assert _code_lines(lines, node) <= MAX_CLASS_CODE_LINES, (module, node.name)


def test_the_connection_module_stays_small() -> None:
    assert len(MODULES["_connection"].read_text(encoding="utf-8").splitlines()) <= 400
