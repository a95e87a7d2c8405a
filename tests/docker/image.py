"""Build the image and check what it holds, by comparing its file system with its base's."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from tests.docker.podman import inspect, mounted, run
from tests.docker.report import Report

# The venv and config over the base image. The team gateway's database layer (SQLAlchemy,
# Alembic, asyncpg, aiosqlite: about 40 MB) raised it from 120 MB.
MAX_DELTA_MB = 170
COMPILER = re.compile(r"^(cc|c\+\+|gcc|g\+\+|cpp|clang|clang\+\+|tcc|cc1|cc1plus|ld|as)(-[\d.]+)?$")
# What the runtime stage may add or change: the venv, the config, the data volume, and the
# account database entries of the non-root user.
ALLOWED = ("opt/venv/", "etc/imagegate/", "data/")
ACCOUNTS = re.compile(r"^etc/(passwd|group|shadow|gshadow|subuid|subgid)-?$")
# Things from the build context or a developer's tree that must never be added to the image.
CONTEXT = {".venv", ".git", ".env", "tests", "conftest.py", ".mypy_cache", ".ruff_cache"}
CONTEXT_FILES = {"slow_upstream.py", "test_normalize.py", "Makefile", ".dockerignore"}


def build(report: Report, root: Path, tag: str, python_version: str) -> None:
    start = time.monotonic()
    run(
        [
            "podman",
            "build",
            "--format",
            "docker",
            "--build-arg",
            f"PYTHON_VERSION={python_version}",
            "--tag",
            tag,
            str(root),
        ],
        timeout=900,
    )
    report.measure("build", f"{time.monotonic() - start:.1f} s")
    report.check("image builds with --build-arg PYTHON_VERSION=" + python_version, True)


def check_config(report: Report, tag: str) -> None:
    image = inspect("image", tag)
    config = image["Config"]
    user = str(config.get("User") or "")
    report.check("image runs as a non-root user", user.split(":")[0] not in ("", "0", "root"), user)
    cmd = config.get("Cmd") or []
    want = ["imagegate", "serve", "--host", "0.0.0.0"]
    report.check("command is exec-form `imagegate serve --host 0.0.0.0`", cmd == want, str(cmd))
    report.check("exposes 8080", "8080/tcp" in (config.get("ExposedPorts") or {}))
    health = (image.get("Healthcheck") or {}).get("Test") or []
    report.check("HEALTHCHECK probes /healthz", any("/healthz" in part for part in health))
    report.check("/data is a volume", "/data" in (config.get("Volumes") or {}))


def check_size(report: Report, tag: str, base: str) -> None:
    size, base_size = inspect("image", tag)["Size"], inspect("image", base)["Size"]
    delta = (size - base_size) / 1e6
    report.measure(
        "image size",
        f"{size / 1e6:.1f} MB = base {base} {base_size / 1e6:.1f} MB + {delta:.1f} MB "
        f"(limit +{MAX_DELTA_MB} MB)",
    )
    report.check(
        f"image adds under {MAX_DELTA_MB} MB to its base", delta < MAX_DELTA_MB, f"+{delta:.1f} MB"
    )


def check_files(report: Report, tag: str, base: str) -> None:
    with mounted(tag) as top:
        files = _walk(top)
    with mounted(base) as bottom:
        base_files = _walk(bottom)
    compilers = sorted(p for p in files if COMPILER.match(p.rsplit("/", 1)[-1]) and _is_exe(p))
    report.check("no compiler in the image", not compilers, ", ".join(compilers[:5]))
    added = [p for p, stamp in files.items() if p not in base_files or base_files[p] != stamp]
    leaked = sorted(p for p in added if _from_context(p))
    report.check(
        "no .venv, tests, .git or .env from the build context", not leaked, ", ".join(leaked[:5])
    )
    added = [p for p in added if files[p] is not None]  # changed directory times do not count
    stray = sorted(p for p in added if not p.startswith(ALLOWED) and not ACCOUNTS.match(p))
    report.check(
        "runtime stage adds only the venv, the config and /data (no caches)",
        not stray,
        ", ".join(stray[:5]),
    )
    report.check("no pip left in the runtime venv", "opt/venv/bin/pip" not in files)


def _walk(root: Path) -> dict[str, tuple[int, int] | None]:
    """Every path under ``root``: (size, mtime) for files and links, None for directories."""
    out: dict[str, tuple[int, int] | None] = {}
    for folder, dirs, names in os.walk(root):
        rel = os.path.relpath(folder, root)
        prefix = "" if rel == "." else rel + "/"
        for name in dirs:
            out[prefix + name] = None
        for name in names:
            stat = os.lstat(os.path.join(folder, name))
            out[prefix + name] = (stat.st_size, int(stat.st_mtime))
    return out


def _is_exe(path: str) -> bool:
    return "/bin/" in f"/{path}" or path.startswith("usr/lib/gcc/")


def _from_context(path: str) -> bool:
    parts = set(path.split("/"))
    if parts & CONTEXT_FILES or re.search(r"site-packages/tests(/|$)", path):
        return True
    if path.startswith("opt/venv/lib/"):  # third-party packages may ship their own tests/
        return bool(parts & {".venv", ".git", ".env"})
    return bool(parts & CONTEXT)
