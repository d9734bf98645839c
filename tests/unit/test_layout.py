"""The package's shape, read from its source (AST): room sizes, import direction, no cycles.

Every ``import`` counts, those under ``if TYPE_CHECKING:`` and inside
functions included. The layers, from the bottom::

    _redact, _policy_ids, _version  →  errors  →  wire, transport, policy, config  →  http
        →  resources  →  tokens  →  auditing  →  client, models, reporting  →  cli  →  rbtokens

A module may import its own package and the layers below it, never above.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "rbtokens"
MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 300
MAX_FUNCTION_LINES = 80

LAYERS: dict[str, int] = {
    "_redact": 0,
    "_policy_ids": 0,
    "_version": 0,
    "errors": 1,
    "wire": 2,
    "transport": 2,
    "policy": 2,
    "config": 2,
    "http": 3,
    "resources": 4,
    "tokens": 5,
    "auditing": 6,
    "client": 7,
    "reporting": 7,
    "models": 7,
    "cli": 8,
    "__init__": 9,
    "__main__": 9,
}


def _modules() -> dict[str, Path]:
    """``rbtokens.x.y`` → its file (a package is its ``__init__.py``)."""
    out: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ["rbtokens", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> Iterator[str]:
    """Every rbtokens module ``name`` imports, anywhere in the file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from pkg import sub`` imports the submodule ``pkg.sub``.
            subs = [f"{base}.{alias.name}" for alias in node.names]
            targets = [t for t in subs if t in MODULES] or [base]
        else:
            continue
        for imported in targets:
            target = imported
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target.startswith("rbtokens") and target != name:
                yield target


GRAPH = {name: set(_imports(name, path)) for name, path in MODULES.items()}


def _layer(name: str) -> tuple[int, str]:
    parts = name.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    return LAYERS[top], top


def _spans() -> Iterator[tuple[str, str, int, int]]:
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                yield name, f"class {node.name}", node.end_lineno - node.lineno + 1, MAX_CLASS_LINES  # type: ignore[operator]
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                size = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                yield name, f"def {node.name}", size, MAX_FUNCTION_LINES


def test_every_module_is_in_a_layer() -> None:
    tops = {_layer(name)[1] for name in MODULES}
    assert tops <= set(LAYERS)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_under_the_size_limit(name: str) -> None:
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{name} has {lines} lines"


def test_classes_and_functions_stay_under_their_limits() -> None:
    too_big = [
        f"{mod}: {what} ({size} lines)" for mod, what, size, limit in _spans() if size > limit
    ]
    assert not too_big


def test_imports_point_down_the_layers() -> None:
    upward = [
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        for target in targets
        if _layer(target)[0] > _layer(name)[0]
        or (_layer(target)[0] == _layer(name)[0] and _layer(target)[1] != _layer(name)[1])
    ]
    assert not upward


def test_there_is_no_import_cycle() -> None:
    state: dict[str, int] = {}  # 1: on the path, 2: done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(GRAPH):
        if start not in state:
            visit(start, [start])
    assert not cycles


def test_errors_and_the_pure_layers_import_nothing_above_them() -> None:
    allowed = {
        "rbtokens.errors": {"_redact"},
        "rbtokens.wire": {"_redact", "errors", "wire"},
        "rbtokens.transport": {"_redact", "errors", "transport"},
    }
    for prefix, tops in allowed.items():
        for name, targets in GRAPH.items():
            if name == prefix or name.startswith(prefix + "."):
                assert {_layer(t)[1] for t in targets} <= tops, name


def test_the_choke_point_imports_no_resources() -> None:
    for name, targets in GRAPH.items():
        if name.startswith("rbtokens.http"):
            assert not any(t.startswith("rbtokens.resources") for t in targets), name


def test_the_graph_holds_the_known_imports() -> None:
    """The graph is real: known edges are found (so a passing check means something)."""
    assert "rbtokens.errors" in GRAPH["rbtokens.wire.decoding"]
    assert "rbtokens.resources" in GRAPH["rbtokens.client"]
    assert "rbtokens.tokens" in GRAPH["rbtokens.client"]
