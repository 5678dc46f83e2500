"""DESIGN's boundaries, enforced: who may import what, and no environment reads at import time."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package.replace(".", "/")).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _top(name: str) -> str:
    return name.split(".")[0]


def _violations(package: str, forbidden) -> list[str]:
    out = []
    for path in _modules(package):
        for name in _imports(path):
            if forbidden(name):
                out.append(f"{path.relative_to(ROOT)} imports {name}")
    return out


def test_canonical_imports_only_pydantic_and_the_standard_library():
    allowed = set(sys.stdlib_module_names) | {"pydantic", "pydantic_core", "canonical", "__future__"}
    assert _violations("canonical", lambda n: _top(n) not in allowed) == []


@pytest.mark.parametrize("package", ["connectors", "canonical", "opsconsole/store", "opsconsole/engine"])
def test_headless_layers_never_import_the_console(package):
    assert _violations(package, lambda n: _top(n) == "textual" or n.startswith("opsconsole.tui")) == []


def test_the_console_never_imports_sqlalchemy_httpx_or_the_layers_below_services():
    below = ("sqlalchemy", "httpx", "aiohttp", "connectors", "opsconsole.store", "opsconsole.engine")
    assert _violations("opsconsole/tui", lambda n: any(n == b or n.startswith(b + ".") for b in below)) == []


def test_connectors_do_not_import_the_engine_or_the_store():
    assert _violations("connectors", lambda n: n.startswith("opsconsole")) == []


def _module_level_env_reads(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = []

    def visit(node, in_function: bool):
        scoped = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        if not scoped:
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv") and \
                    isinstance(node.value, ast.Name) and node.value.id == "os":
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
        for child in ast.iter_child_nodes(node):
            visit(child, scoped)
    visit(tree, False)
    return found


def test_no_module_reads_the_environment_at_import_time():
    found = []
    for package in ("opsconsole", "connectors", "canonical"):
        for path in _modules(package):
            found += _module_level_env_reads(path)
    assert found == []


def test_canonical_loads_without_io_libraries():
    code = ("import sys, canonical.models, canonical.mapping, canonical.money, canonical.identity; "
            "bad = [m for m in ('sqlalchemy', 'httpx', 'aiohttp', 'textual', 'starlette') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_tui_loads_without_the_http_stack():
    code = ("import sys, opsconsole.tui.app; "
            "bad = [m for m in ('httpx', 'aiohttp', 'connectors.http') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
