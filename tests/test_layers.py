"""The layers of the code hold: import-linter's contracts (pyproject.toml), no import cycle
anywhere in ``app``, no module importing another's underscore names, and the GUI and the CLI
reaching a core capability only through its package's public face."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

import app

ROOT = Path(app.__file__).parent.parent
CAPABILITIES = sorted(p.parent.name for p in (ROOT / "app" / "core").glob("*/__init__.py"))


def sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def absolute(path: Path, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module_name(path).split(".")
    if path.name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
    return ".".join(base + ([node.module] if node.module else []))


def app_imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            target = absolute(path, node)
            if target == "app" or target.startswith("app."):
                yield node, target


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_import_linter_contracts_are_kept():
    exe = shutil.which("lint-imports")
    assert exe, "import-linter is part of the test extras: pip install -e '.[test]'"
    run = subprocess.run([exe, "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout


def test_no_import_cycles_in_app():
    graph = grimp.build_graph("app", exclude_type_checking_imports=True)
    edges = {m: {i for i in graph.find_modules_directly_imported_by(m)} for m in graph.modules}
    assert cycles(edges) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_another_modules_private_names():
    offenders = [f"{p.relative_to(ROOT)}:{node.lineno} {target}.{alias.name}"
                 for p in sources("app") for node, target in app_imports(p)
                 for alias in node.names
                 if alias.name.startswith("_") and not alias.name.startswith("__")]
    assert offenders == []


@pytest.mark.parametrize("folder", ["app/gui", "app/commands"])
def test_gui_and_cli_use_only_the_public_face_of_core_packages(folder):
    offenders = []
    for p in sources(folder):
        for node, target in app_imports(p):
            parts = target.split(".")
            if len(parts) > 3 and parts[:2] == ["app", "core"] and parts[2] in CAPABILITIES:
                offenders.append(f"{p.relative_to(ROOT)}:{node.lineno} {target}")
    assert offenders == []


def test_every_capability_package_declares_its_public_api():
    for name in CAPABILITIES:
        init = ROOT / "app" / "core" / name / "__init__.py"
        tree = ast.parse(init.read_text(encoding="utf-8"))
        assert ast.get_docstring(tree), f"app/core/{name}/__init__.py has no docstring"
        declared = [n for n in tree.body if isinstance(n, ast.Assign)
                    and any(getattr(t, "id", "") == "__all__" for t in n.targets)]
        assert declared, f"app/core/{name}/__init__.py declares no __all__"
        module = __import__(f"app.core.{name}", fromlist=["__all__"])
        missing = [n for n in module.__all__ if not hasattr(module, n)]
        assert missing == [], f"app.core.{name} lists names it does not have: {missing}"
