"""Imports flow one way (style.md rule 1): an AST walk over app/, resolved transitively where a
rule is about what a package may reach, not only what it names."""

from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"


def imports(path: Path) -> set[str]:
    """Every module a file imports at module level or in functions (app modules and libraries)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): imports(p) for p in APP.rglob("*.py")}


def app_deps(module: str) -> set[str]:
    """The app modules ``module`` names, each resolved to a module that exists."""
    out = set()
    for dep in MODULES[module]:
        while dep.startswith("app") and dep not in MODULES:
            dep = dep.rpartition(".")[0]  # ``from app.x import name``: name is not a module
        if dep.startswith("app"):
            out.add(dep)
    return out


@cache
def reach(module: str) -> frozenset[str]:
    """Every module ``module`` loads, transitively: app modules and top-level libraries."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        current = todo.pop()
        for dep in app_deps(current) | {d for d in MODULES[current] if not d.startswith("app")}:
            if dep not in seen:
                seen.add(dep)
                if dep in MODULES:
                    todo.append(dep)
    # a package's __init__ runs when any of its modules is imported
    for dep in list(seen):
        parts = dep.split(".")
        for i in range(1, len(parts)):
            parent = ".".join(parts[:i])
            if parent in MODULES and parent != module:
                seen.add(parent)
    return frozenset(seen)


def libraries(module: str) -> set[str]:
    return {dep.split(".")[0] for dep in reach(module) if not dep.startswith("app")}


def in_package(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


CORE = sorted(m for m in MODULES if in_package(m, "app.core"))
NOT_PURE = {"asyncio", "httpx", "aiohttp", "fastapi", "starlette", "socket", "sqlite3",
            "threading", "subprocess", "os", "tempfile", "shutil", "io"}  # fmt: skip


def test_app_holds_at_most_eight_modules_at_the_top() -> None:
    top = [p.name for p in APP.glob("*.py")]
    assert len(top) <= 8, sorted(top)


def test_every_module_stays_under_about_300_lines() -> None:
    long = {str(p.relative_to(APP)): n for p in APP.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 320}  # fmt: skip
    assert not long


@pytest.mark.parametrize("module", CORE)
def test_the_core_reaches_no_io_asyncio_fastapi_or_httpx(module: str) -> None:
    assert not libraries(module) & NOT_PURE, (module, libraries(module) & NOT_PURE)
    allowed = ("app.core", "app.config", "app.domain", "app.errors")
    outside = {d for d in reach(module) if d.startswith("app.") and not in_package(d, *allowed)}
    assert not outside, (module, outside)


@pytest.mark.parametrize("leaf", ["app.errors", "app.domain", "app.observability.logs"])
def test_leaves_import_nothing_from_app(leaf: str) -> None:
    assert app_deps(leaf) == set()


def test_only_the_edge_imports_fastapi() -> None:
    for module, deps in MODULES.items():
        if in_package(module, "app.api") or module == "app.main":
            continue
        web = {d for d in deps if d.split(".")[0] in ("fastapi", "starlette")}
        assert not web, (module, web)


def test_only_main_imports_the_http_edge() -> None:
    for module in MODULES:
        if in_package(module, "app.api") or module in ("app.main", "app.cli"):
            continue
        assert not any(in_package(d, "app.api") for d in app_deps(module)), module


def test_nothing_imports_main() -> None:
    assert not [m for m in MODULES if "app.main" in app_deps(m)]


@pytest.mark.parametrize(
    "package", ["app.carriers", "app.storage", "app.state", "app.images_index"]
)
def test_carriers_storage_and_state_never_reach_the_edge_or_the_use_case(package: str) -> None:
    for module in MODULES:
        if in_package(module, package):
            bad = {d for d in reach(module) if in_package(d, "app.api", "app.run", "app.wiring")}
            assert not bad, (module, bad)


def test_only_the_redis_state_modules_import_redis() -> None:
    """Redis stays behind the state protocols: one client module and its stores."""
    users = {m for m, deps in MODULES.items() if any(d.split(".")[0] == "redis" for d in deps)}
    assert users and all(m.startswith("app.state.redis_") for m in users), users


def test_config_does_not_depend_on_the_domain_or_the_core() -> None:
    for module in MODULES:
        if in_package(module, "app.config"):
            bad = {d for d in reach(module) if in_package(d, "app.core", "app.domain", "app.run")}
            assert not bad, (module, bad)


def test_carriers_and_storage_do_not_import_each_other() -> None:
    for module in MODULES:
        if in_package(module, "app.carriers"):
            assert not any(in_package(d, "app.storage") for d in app_deps(module)), module
        if in_package(module, "app.storage"):
            assert not any(in_package(d, "app.carriers") for d in app_deps(module)), module


def test_carrier_kinds_are_named_only_in_the_registry() -> None:
    for path in APP.rglob("*.py"):
        if path.name == "__init__.py" and path.parent.name == "carriers":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                for comparator in (node.left, *node.comparators):
                    if isinstance(comparator, ast.Constant) and comparator.value in (
                        "openai", "local",
                    ):  # fmt: skip
                        pytest.fail(f"{path}: compares with the carrier kind {comparator.value!r}")


def test_the_image_index_is_reached_by_the_record_stage_not_the_pipeline() -> None:
    """The index is written by the ledger's batches and read by its endpoints: the request's
    pipeline (carriers, storage, run) never waits on it."""
    for module in MODULES:
        if in_package(module, "app.run", "app.carriers", "app.storage", "app.core"):
            assert not any(in_package(d, "app.images_index") for d in reach(module)), module


def test_the_walk_sees_real_imports() -> None:
    """Guards the guard: the walk finds known edges, so an empty result means something."""
    assert "app.core.routing" in app_deps("app.run.pipeline")
    assert "fastapi" in libraries("app.main")
    assert sys.modules  # the walk is static: nothing above imported app
