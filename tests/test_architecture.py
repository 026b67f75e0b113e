"""The package's layering rules (docs/architecture.md), checked on the source and at import time.

* the core (everything but ``gui/`` and ``cli/``) never imports napari, Qt, magicgui, ``gui`` or
  ``cli``;
* the subpackages import each other without cycles (imports under ``if TYPE_CHECKING:`` are for
  type checkers only and do not count; imports inside functions do);
* reading recordings, detecting stops, binning histograms and building datasets never import
  torch, so Dask workers building datasets do not pay for it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = "napari_mousestop"
ROOT = Path(__file__).resolve().parents[1] / "src" / PACKAGE
FRONT_ENDS = ("gui", "cli")
GUI_LIBRARIES = ("napari", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "magicgui", "superqt")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[str]:
    """Modules imported anywhere in ``tree`` except under ``if TYPE_CHECKING:``."""
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import: the package uses absolute imports"
            found.append(node.module)
            found.extend(f"{node.module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


MODULES = {_module_name(p): _imports(ast.parse(p.read_text())) for p in ROOT.rglob("*.py")}


def _unit(module: str) -> str | None:
    """The subpackage (or top-level module) a module of the package belongs to."""
    parts = module.split(".")
    if parts[0] != PACKAGE or len(parts) < 2:
        return None
    return parts[1]


def _is_core(module: str) -> bool:
    return _unit(module) not in FRONT_ENDS


def test_the_scan_sees_the_package():
    assert f"{PACKAGE}.stops" in MODULES and f"{PACKAGE}.gui.reader" in MODULES
    assert any(n.startswith(f"{PACKAGE}.gui") for n in MODULES[f"{PACKAGE}.cli.viewer"])  # lazy


def test_core_never_imports_napari_qt_or_the_front_ends():
    offences = []
    for module, imported in MODULES.items():
        if not _is_core(module):
            continue
        for name in imported:
            top = name.split(".")[0]
            front = name.split(".")[:2] in ([PACKAGE, "gui"], [PACKAGE, "cli"])
            if top in GUI_LIBRARIES or front:
                offences.append(f"{module} imports {name}")
    assert not offences, "\n".join(sorted(set(offences)))


def test_subpackages_import_each_other_without_cycles():
    graph: dict[str, set[str]] = {}
    for module, imported in MODULES.items():
        src = _unit(module)
        for name in imported:
            dst = _unit(name)
            if src and dst and dst != src and f"{PACKAGE}.{dst}" in MODULES:
                graph.setdefault(src, set()).add(dst)

    def cycle_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    return [*path, start]
                if nxt not in path:
                    stack.append((nxt, [*path, nxt]))
        return None

    cycles = [c for unit in sorted(graph) if (c := cycle_from(unit))]
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def _imported_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize(
    "module",
    [
        PACKAGE,
        f"{PACKAGE}.io.lmt",
        f"{PACKAGE}.stops",
        f"{PACKAGE}.histograms",
        f"{PACKAGE}.datasets.build",
    ],
)
def test_stop_and_histogram_path_does_not_import_torch(module):
    loaded = _imported_after(f"import {module}")
    assert module in loaded
    assert "torch" not in loaded


def test_importing_the_whole_core_loads_no_gui_library():
    core = sorted(m for m in MODULES if _is_core(m) and _unit(m))
    loaded = _imported_after("; ".join(f"import {m}" for m in core))
    assert not {m.split(".")[0] for m in loaded} & set(GUI_LIBRARIES)


def test_no_module_uses_pyplot_or_switches_the_backend():
    """Figures are drawn on matplotlib.figure.Figure, and only the CLI (which owns its process)
    sets process-wide state: torch's threads, warning filters."""
    offences = [
        f"{module} imports {name}"
        for module, imported in MODULES.items()
        for name in imported
        if name.startswith("matplotlib.pyplot") or name == "matplotlib.use"
    ]
    library = [p for p in ROOT.rglob("*.py") if "cli" not in p.relative_to(ROOT).parts]
    sources = {p: p.read_text() for p in library}
    offences += [f"{p.name} calls {call}" for p, text in sources.items()
                 for call in ("matplotlib.use(", "torch.set_num_threads(", "catch_warnings(")
                 if call in text]  # fmt: skip
    assert not offences, "\n".join(offences)
