"""The package's layering, as ARCHITECTURE.md draws it: no import cycle (lazy
imports inside functions included, and imports made only for type checking),
and nothing below the clients imports the concurrency layer (the transport
learns about a fan-out only through the attempt observers it is handed)."""

from __future__ import annotations

import ast
from pathlib import Path

import uprock_async

ROOT = Path(uprock_async.__file__).parent
#: What lies below the clients: none of it may import ``uprock_async.concurrency``.
BELOW_CLIENTS = (
    "uprock_async._http",
    "uprock_async._codec",
    "uprock_async._lenient",
    "uprock_async._twins",
    "uprock_async._errors",
    "uprock_async._config",
    "uprock_async._stats",
    "uprock_async._redact",
    "uprock_async._timestamps",
    "uprock_async._validate",
    "uprock_async._compat",
    "uprock_async._html",
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, *, type_checking: bool = False) -> set[str]:
    """The ``uprock_async`` modules ``path`` imports, anywhere (inside functions too);
    under ``if TYPE_CHECKING:`` only with ``type_checking``."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node) and not type_checking:
            for statement in node.orelse:
                visit(statement)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("uprock_async"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.startswith("uprock_async"):
                found.add(module)
                # ``from . import _validate`` names a module, not an attribute
                found.update(f"{module}.{a.name}" for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def _graph(*, type_checking: bool = False) -> dict[str, set[str]]:
    paths = sorted(ROOT.rglob("*.py"))
    modules = {_module_name(p): p for p in paths}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        imported = _imports(path, type_checking=type_checking)
        graph[name] = {m for m in imported if m in modules and m != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                strong(nxt)
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

    for node in graph:
        if node not in index:
            strong(node)
    return found


def _package_edges(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Edges between modules, a package's ``__init__`` re-exports left out: importing
    ``uprock_async.concurrency`` from inside it is how submodules reach siblings."""
    return {name: {m for m in deps if not name.startswith(m + ".")} for name, deps in graph.items()}


def test_the_import_graph_is_read() -> None:
    graph = _graph()
    assert "uprock_async._http._transport" in graph
    assert "uprock_async._codec" in graph["uprock_async._api"]  # the reader sees imports


def test_lazy_imports_inside_methods_are_read() -> None:
    graph = _graph()
    # ``JobDetail._repr_html_`` imports the views inside the method.
    assert "uprock_async._html" in graph["uprock_async.uprock.models"]
    assert "uprock_async._html" in graph["uprock_async._stats"]


def test_no_import_cycle() -> None:
    assert _cycles(_package_edges(_graph())) == []


def test_no_import_cycle_even_through_imports_for_type_checking() -> None:
    """A circle made only of ``TYPE_CHECKING`` imports still ties the modules together:
    the views (``_html``) read their objects through Protocols, never the models."""
    assert _cycles(_package_edges(_graph(type_checking=True))) == []


def test_the_views_import_no_model() -> None:
    graph = _graph(type_checking=True)
    assert graph["uprock_async._html"] <= {"uprock_async._errors"}


def test_nothing_below_the_clients_imports_the_concurrency_layer() -> None:
    graph = _graph()
    offenders = {
        name: sorted(m for m in deps if m.startswith("uprock_async.concurrency"))
        for name, deps in graph.items()
        if name.startswith(BELOW_CLIENTS)
    }
    assert {name: deps for name, deps in offenders.items() if deps} == {}


def _private_concurrency_imports(path: Path) -> list[str]:
    """The private modules of ``concurrency/`` that ``path`` imports (``_adaptive`` ...)."""
    return sorted(
        m for m in _imports(path, type_checking=True) if m.startswith("uprock_async.concurrency._")
    )


def test_the_reader_sees_imports_of_private_concurrency_modules() -> None:
    engine = ROOT / "concurrency" / "_engine.py"
    assert "uprock_async.concurrency._adaptive" in _private_concurrency_imports(engine)


def test_nothing_outside_concurrency_imports_its_private_modules() -> None:
    """``concurrency/__init__`` is the layer's public face: the resolver of
    ``concurrency=``, ``Progress``/``ProgressArg``, ``TaskScope``, ``Outcome``,
    ``fan_out`` ... Every other module imports from there, never from
    ``concurrency._*`` (lazy imports inside functions and imports made only for
    type checking included), so the package may rearrange its insides freely."""
    offenders = {
        _module_name(path): found
        for path in sorted(ROOT.rglob("*.py"))
        if not _module_name(path).startswith("uprock_async.concurrency")
        if (found := _private_concurrency_imports(path))
    }
    assert offenders == {}
