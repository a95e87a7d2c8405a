"""The Makefile as a newcomer meets it, run for real in a copy of the project whose Python is a
stand-in that records what it is asked to do (no install, no network)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

from tests.support.config import ROOT

STAND_IN = """#!/bin/sh
# Records its name and arguments; as `python -m venv DIR` it makes DIR/bin of stand-ins.
echo "$(basename "$0") $*" >> {calls}
if [ "$1 $2" = "-m venv" ]; then
    mkdir -p "$3/bin"
    for tool in python imagegate pytest; do cp "$0" "$3/bin/$tool"; done
fi
"""


def project(tmp_path: Path) -> Path:
    """The Makefile and pyproject.toml in a fresh directory, with a stand-in ``python3``."""
    root = tmp_path / "project"
    root.mkdir()
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, root / name)
    python = tmp_path / "python3"
    python.write_text(STAND_IN.format(calls=tmp_path / "calls.log"))
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    return root


def make(root: Path, *args: str) -> str:
    """``make`` in ``root``, untouched by an outer ``make test`` (its flags and variables)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    result = subprocess.run(
        ["make", "--no-print-directory", f"PYTHON={root.parent / 'python3'}", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def calls(root: Path) -> list[str]:
    log = root.parent / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def test_make_run_installs_the_runtime_only_and_takes_port_and_host(tmp_path: Path) -> None:
    root = project(tmp_path)
    make(root, "run", "PORT=9123", "HOST=::1")
    assert calls(root)[1:] == [
        "python -m pip install --quiet --upgrade pip",
        "python -m pip install --quiet -e .",
        "imagegate serve --host ::1 --port 9123",
    ]
    make(root, "run")  # installed: straight to serving, on the defaults
    assert calls(root)[-1] == "imagegate serve --host 127.0.0.1 --port 8080"
    assert len(calls(root)) == 5


def test_the_dev_install_is_separate_and_covers_make_run(tmp_path: Path) -> None:
    root = project(tmp_path)
    make(root, "run")
    make(root, "unit")
    assert calls(root)[-2:] == ["python -m pip install --quiet -e .[dev]", "pytest -q"]
    before = len(calls(root))
    make(root, "run")
    assert calls(root)[before:] == ["imagegate serve --host 127.0.0.1 --port 8080"]


def test_make_clean_keeps_data(tmp_path: Path) -> None:
    root = project(tmp_path)
    image = root / "data" / "images" / "ab" / "abcdef.png"
    image.parent.mkdir(parents=True)
    image.write_bytes(b"precious")
    for cache in (".venv/bin", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis"):
        (root / cache).mkdir(parents=True)
    output = make(root, "clean")
    assert image.read_bytes() == b"precious"
    assert sorted(path.name for path in root.iterdir()) == ["Makefile", "data", "pyproject.toml"]
    assert "data" not in output


def test_make_clean_data_says_what_it_deletes_then_deletes_it(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "data" / "images").mkdir(parents=True)
    (root / "data" / "jobs.sqlite3").write_bytes(b"jobs")
    (root / ".venv").mkdir()
    output = make(root, "clean-data")
    assert output.startswith("deleting data/ (")
    assert "every stored image and the async-jobs database" in output
    assert not (root / "data").exists() and (root / ".venv").is_dir()
    assert make(root, "clean-data") == "data/ does not exist: nothing to delete\n"
