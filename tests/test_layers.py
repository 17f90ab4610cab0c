"""The house's layering, measured on the import graph of the code (tests excluded): every arrow points down."""

from __future__ import annotations

import ast
import graphlib
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# ground first; folders of one layer may import each other (ledgers and workflows sit beside rules)
LAYERS = {"core": 0, "adapters": 1, "rules": 1, "ledgers": 1, "workflows": 1, "actors": 2, "serve": 2,
          "ops_center": 3, "sim": 3, "runtime": 4}  # fmt: skip


@cache
def import_graph() -> dict[str, frozenset[str]]:
    """Each code module and the project modules it imports anywhere in its file (any depth, any branch)."""
    files = {}
    for folder in LAYERS:
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return {name: frozenset(t for t in imports(path) if t in files and t != name) for name, path in files.items()}


def imports(path: Path) -> set[str]:
    """Every module a file imports, and for `from m import x` also `m.x` (x may be a module)."""
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets.add(node.module)
            targets.update(f"{node.module}.{a.name}" for a in node.names)
    return targets


def _folder(module: str) -> str:
    return module.split(".")[0]


def test_no_module_imports_from_a_folder_above_it() -> None:
    up = sorted(
        f"{a} -> {b}"
        for a, targets in import_graph().items()
        for b in targets
        if LAYERS[_folder(b)] > LAYERS[_folder(a)]
    )
    assert up == []


def test_the_serve_models_depend_on_core_alone() -> None:
    outside = sorted(
        f"{a} -> {b}"
        for a, targets in import_graph().items()
        if _folder(a) == "serve"
        for b in targets
        if _folder(b) not in ("core", "serve")
    )
    assert outside == []


def test_no_page_imports_another_page() -> None:
    pages = sorted(
        f"{a} -> {b}"
        for a, targets in import_graph().items()
        if a.startswith("ops_center.pages.")
        for b in targets
        if b.startswith("ops_center.pages.")
    )
    assert pages == []


def test_device_page_queries_and_formatting_draw_nothing() -> None:
    for part in ("queries", "formatting"):
        toolkits = {t.split(".")[0] for t in imports(ROOT / "ops_center" / "devices" / f"{part}.py")}
        assert toolkits.isdisjoint({"panel", "bokeh", "param"}), part


def test_no_import_cycle_between_files() -> None:
    try:
        graphlib.TopologicalSorter(import_graph()).prepare()
    except graphlib.CycleError as exc:
        raise AssertionError(f"import cycle: {' -> '.join(exc.args[1])}") from None
