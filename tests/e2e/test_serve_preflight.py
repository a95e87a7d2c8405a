"""``imagegate serve`` refuses to start in one clear line when it could not work: a port that is
taken, a data directory it cannot write. Real processes, so a regression cannot hang the suite
in-process: each has a timeout."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.config import base_config, write_config
from tests.support.gateway import free_port


def serve(config: Path, port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", "serve", "--config", str(config), "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def config_with(tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    data = base_config(tmp_path)
    edit(data)
    return write_config(tmp_path, data)


def test_a_port_in_use_is_a_one_line_hint(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = serve(write_config(tmp_path, base_config(tmp_path)), port)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"imagegate: port {port} on 127.0.0.1 is already in use: stop the other server or "
        "choose another port (--port N, or make run PORT=N)"
    ]


def test_an_image_directory_that_is_a_file_is_one_line_naming_it_and_the_uid(
    tmp_path: Path,
) -> None:
    in_the_way = tmp_path / "images"
    in_the_way.write_text("not a directory")

    def storage_on_a_file(data: dict[str, Any]) -> None:
        data["storage"]["directory"] = str(in_the_way)

    result = serve(config_with(tmp_path, storage_on_a_file), free_port())
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(
        f"imagegate: cannot write to {in_the_way.resolve()} as uid {os.getuid()}"
    )
    assert "it is a file, not a directory" in line and "Traceback" not in result.stderr
    assert in_the_way.read_text() == "not a directory"  # left alone


def test_a_database_under_a_file_is_one_line_naming_it_and_the_uid(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where a folder should be")

    def database_under_a_file(data: dict[str, Any]) -> None:
        data["database"] = {"url": f"sqlite:///{blocker / 'imagegate.sqlite3'}"}

    result = serve(config_with(tmp_path, database_under_a_file), free_port())
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"imagegate: cannot write to {blocker.resolve()}")
    assert f"as uid {os.getuid()}, gid {os.getgid()}" in line
