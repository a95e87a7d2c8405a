"""Imports flow one way (style.md rule 1): a small AST walk over app/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"


def app_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("app"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("app"))
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): app_imports(p) for p in APP.rglob("*.py")}


@pytest.mark.parametrize("leaf", ["app.errors", "app.context", "app.runtime_config"])
def test_leaves_import_nothing_from_app(leaf: str) -> None:
    assert MODULES[leaf] == set()


def test_only_main_and_cli_import_the_http_edge() -> None:
    importers = {m for m, deps in MODULES.items() if any(d.startswith("app.api") for d in deps)}
    assert {m for m in importers if not m.startswith("app.api")} <= {
        "app.main",
        "app.cli",
        "app.logs",
    }


def test_nothing_imports_main() -> None:
    assert not [m for m, deps in MODULES.items() if "app.main" in deps]


def test_the_core_does_not_know_fastapi() -> None:
    for path in APP.rglob("*.py"):
        if "api" in path.relative_to(APP).parts or path.name == "main.py":
            continue
        source = path.read_text()
        assert "fastapi" not in source and "starlette" not in source, path


@pytest.mark.parametrize("pure", ["app.normalize", "app.routing", "app.pricing", "app.rules"])
def test_pure_modules_do_no_io(pure: str) -> None:
    source = (APP / (pure.removeprefix("app.").replace(".", "/") + ".py")).read_text()
    for io_word in ("httpx", "asyncio", "open(", "requests"):
        assert io_word not in source, (pure, io_word)


def test_carriers_and_storage_do_not_import_each_other() -> None:
    for module, deps in MODULES.items():
        if module.startswith("app.carriers"):
            assert not any(d.startswith("app.storage") for d in deps), module
        if module.startswith("app.storage"):
            assert not any(d.startswith("app.carriers") for d in deps), module


def test_carrier_kinds_are_named_only_in_the_registry() -> None:
    for path in APP.rglob("*.py"):
        if path.name == "__init__.py" and path.parent.name == "carriers":
            continue
        source = path.read_text()
        for kind in ('== "openai"', '== "local"', "== 'openai'", "== 'local'"):
            assert kind not in source, path
