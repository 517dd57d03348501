"""The package's shape: one concept a module, imports one way, argparse only in the CLI.

These tests read the source (``ast``), so they see every import a module can
run, at module level or inside a function; imports under ``if TYPE_CHECKING:``
are for type checkers only and are left out.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "evaltools"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
SUBPACKAGES = sorted({m.split(".")[1] for m in MODULES if m.count(".") >= 1 and (PACKAGE / m.split(".")[1]).is_dir()})


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append(child)
            visit(child)

    visit(tree)
    return found


def _absolute(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _edges(module: str) -> list[tuple[str, ast.Import | ast.ImportFrom, list[str]]]:
    """(imported module, node, imported names) for each evaltools import of ``module``."""
    out = []
    for node in _runtime_imports(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(a.name, node, []) for a in node.names if a.name.split(".")[0] == "evaltools"]
        else:
            target = _absolute(module, node)
            if target.split(".")[0] == "evaltools":
                out.append((target, node, [a.name for a in node.names]))
    return out


def import_graph() -> dict[str, set[str]]:
    """Module -> the evaltools modules importing it runs (parent packages included, own ancestors not)."""
    graph: dict[str, set[str]] = {}
    for module in MODULES:
        deps: set[str] = set()
        for target, _, names in _edges(module):
            targets = [target] + [f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES]
            for t in targets:
                parts = t.split(".")
                for k in range(1, len(parts) + 1):
                    ancestor = ".".join(parts[:k])
                    own = module == ancestor or module.startswith(ancestor + ".")
                    if ancestor in MODULES and not own:
                        deps.add(ancestor)
        graph[module] = deps
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                return stack[stack.index(dep) :] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_in_the_package():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def _owner(module: str) -> str | None:
    """The subpackage a module belongs to (None for a top-level module)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in SUBPACKAGES) else None


def test_no_private_name_or_module_is_imported_across_subpackages():
    offences = []
    for module in MODULES:
        mine = _owner(module)
        for target, node, names in _edges(module):
            theirs = _owner(target) if target in MODULES or target.count(".") >= 2 else None
            if theirs is None or theirs == mine:
                # a top-level module (_util, _html, errors, embeddings): only its public names
                if theirs is None and target != "evaltools":
                    offences += [f"{module}:{node.lineno} {target}.{n}" for n in names if n.startswith("_")]
                continue
            private_path = any(part.startswith("_") for part in target.split(".")[2:])
            private_names = [n for n in names if n.startswith("_")]
            if private_path or private_names:
                offences.append(f"{module}:{node.lineno} from {target} import {', '.join(names)}")
    assert not offences, "private names imported across subpackages:\n" + "\n".join(offences)


def test_argparse_lives_only_in_the_cli():
    users = [
        module
        for module in MODULES
        if not module.startswith("evaltools.cli")
        and any(target == "argparse" or target.startswith("argparse.") for target, *_ in _all_imports(module))
    ]
    assert users == []


def _all_imports(module: str) -> list[tuple[str, int]]:
    out = []
    for node in _runtime_imports(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif not node.level:
            out.append((node.module or "", node.lineno))
    return out


@pytest.mark.parametrize("subpackage", SUBPACKAGES)
def test_each_subpackage_lists_its_public_names(subpackage):
    import importlib

    mod = importlib.import_module(f"evaltools.{subpackage}")
    assert mod.__doc__ and mod.__doc__.strip(), f"evaltools.{subpackage} has no docstring"
    names = getattr(mod, "__all__", None)
    assert names, f"evaltools.{subpackage} has no __all__"
    missing = [n for n in names if not hasattr(mod, n)]
    assert not missing, f"evaltools.{subpackage}.__all__ names what it does not define: {missing}"
    assert len(names) == len(set(names))


def test_the_front_door_is_small_and_resolves_every_name():
    import evaltools

    names = [n for n in evaltools.__all__ if n != "__version__" and not n.endswith("Error")]
    assert 30 <= len(names) <= 50, len(names)
    for name in evaltools.__all__:
        assert getattr(evaltools, name) is not None
    # a subpackage is reachable by attribute, and stays the subpackage
    import evaltools.gate

    assert evaltools.gate.__name__ == "evaltools.gate"
    assert callable(evaltools.regression_gate) and evaltools.regression_gate is evaltools.gate.gate


def _notebook_imports(path: Path) -> list[tuple[str, list[str]]]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    found = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "evaltools":
                found.append((node.module or "", [a.name for a in node.names]))
            elif isinstance(node, ast.Import):
                found += [(a.name, []) for a in node.names if a.name.split(".")[0] == "evaltools"]
    return found


NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebooks_import_only_public_names(notebook):
    import importlib
    import importlib.util

    for module, names in _notebook_imports(notebook):
        assert not any(part.startswith("_") for part in module.split(".")), (notebook.name, module)
        mod = importlib.import_module(module)
        public = set(getattr(mod, "__all__", ())) | {
            n for n in dir(mod) if isinstance(getattr(mod, n, None), type(mod))
        }
        for name in names:
            if importlib.util.find_spec(f"{module}.{name}") is not None and not name.startswith("_"):
                continue  # a public subpackage or module
            assert name in public, f"{notebook.name}: {name!r} is not a public name of {module}"


def test_the_layout_checks_catch_an_offence(tmp_path):
    # the walker reads the code it is given: a private cross-package import and a cycle are seen
    tree = ast.parse("from evaltools.stats._compare import compare_paired\nimport argparse\n")
    nodes = _runtime_imports(tree)
    assert [type(n).__name__ for n in nodes] == ["ImportFrom", "Import"]
    guarded = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import evaltools.gate\n")
    assert [getattr(n, "module", None) for n in _runtime_imports(guarded)] == ["typing"]
