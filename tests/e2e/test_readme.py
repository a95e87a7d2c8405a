"""The README works as written: its ``sh`` and ``python`` blocks run, in order, in an empty
directory, against a real ``imagegate serve`` with the shipped config (offline, no keys) on a
free port. Nothing is skipped silently: each block that is not run is listed below with why,
and a listed block that no longer exists fails the test too."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.support.config import ROOT
from tests.support.gateway import RunningGateway, stop_gateway
from tests.support.shipped import start_shipped_gateway

# A block containing the key is not run, for the reason given.
EXCLUDED = {
    "make run        #": "starts a server in the foreground and runs this suite (`make run` is "
    "tested in tests/unit/test_makefile.py)",
    "export OPENAI_API_KEY=sk-...": "needs real carrier keys",
    "docker compose up -d ": "needs Docker (tests/docker, `make docker-test`)",
    "docker build -t imagegate .": "needs Docker (tests/docker, `make docker-test`)",
    "docker compose --profile team up": "needs Docker (tests/docker/team.py, `make docker-test`)",
    "kubectl apply -k deploy/kubernetes": "needs a Kubernetes cluster (the manifests are "
    "validated offline by tests/unit/test_kubernetes_manifests.py)",
    "make bench  ": "the benchmark takes minutes (`make bench`)",
    "IMAGEGATE_FUZZ_EXAMPLES=10000": "a long fuzz run of this suite (tests/e2e/test_fuzz.py)",
    "export IMAGEGATE_ADMIN_KEY=adm-...": "needs a gateway started with that admin key, and "
    "adds keys that close it (tests/db/test_cli_keys.py runs these commands as written)",
    "/admin/v1/keys -d ": "needs a gateway started with an admin key "
    "(tests/db/test_admin_api.py drives these endpoints)",
}
_FENCE = re.compile(r"^( *)```(\w*)\s*$")


@dataclass(frozen=True)
class Block:
    language: str
    code: str
    line: int

    def excluded_by(self) -> list[str]:
        return [key for key in EXCLUDED if key in self.code]


def readme_blocks() -> list[Block]:
    """Every ``sh`` and ``python`` fenced block (list-indented ones dedented), in order."""
    found: list[Block] = []
    lines = (ROOT / "README.md").read_text().splitlines()
    opened: tuple[int, str, str] | None = None
    body: list[str] = []
    for number, line in enumerate(lines, 1):
        fence = _FENCE.match(line)
        if fence is None:
            if opened is not None:
                body.append(line[len(opened[2]) :])
            continue
        if opened is None:
            opened, body = (number, fence.group(2), fence.group(1)), []
            continue
        if opened[1] in ("sh", "python"):
            found.append(Block(opened[1], "\n".join(body) + "\n", opened[0]))
        opened = None
    assert opened is None, f"README.md: the block at line {opened[0]} is never closed"
    return found


def test_every_block_is_run_or_excluded_with_a_reason() -> None:
    blocks = readme_blocks()
    assert len(blocks) >= 12
    for block in blocks:
        assert len(block.excluded_by()) <= 1, (block.line, block.excluded_by())
    for key in EXCLUDED:
        matching = [block.line for block in blocks if key in block.code]
        assert len(matching) == 1, f"exclusion {key!r} matches blocks at lines {matching}"
    runnable = [block for block in blocks if not block.excluded_by()]
    assert sum("127.0.0.1:8080" in block.code for block in runnable) >= 8


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[RunningGateway]:
    started = start_shipped_gateway(tmp_path)
    yield started
    stop_gateway(started)


def test_the_readme_blocks_run_as_written(gateway: RunningGateway, tmp_path: Path) -> None:
    workdir = tmp_path / "newcomer"
    workdir.mkdir()
    port = gateway.url.rsplit(":", 1)[1]
    for block in readme_blocks():
        if block.excluded_by():
            continue
        code = block.code.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
        command = (
            ["bash", "-e", "-c", code] if block.language == "sh" else [sys.executable, "-c", code]
        )
        result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=120)
        where = f"README.md line {block.line}:\n{result.stdout}\n{result.stderr}"
        assert result.returncode == 0 and result.stderr == "", where
        if block.language == "sh":
            _check_answers(code, result.stdout, where)
        else:
            _check_urls(result.stdout, f"127.0.0.1:{port}", where)
        _like_a_photo(workdir / "cat.png")
    assert " ERROR " not in gateway.log() and "Traceback" not in gateway.log()


def _check_answers(code: str, stdout: str, where: str) -> None:
    """One JSON answer per curl, none of them an error."""
    decoder, answers, position = json.JSONDecoder(), [], 0
    text = stdout.strip()
    while position < len(text):
        answer, end = decoder.raw_decode(text, position)
        answers.append(answer)
        position = end + len(text[end:]) - len(text[end:].lstrip())
    assert len(answers) == len(re.findall(r"(?m)^curl ", code)), where
    for answer in answers:
        assert isinstance(answer, dict) and "error" not in answer, where


def _check_urls(stdout: str, host: str, where: str) -> None:
    """Every image URL printed is served by the gateway."""
    for url in re.findall(r"https?://\S+", stdout):
        assert host in url, where
        response = httpx.get(url, timeout=30)
        assert response.status_code == 200, where
        assert response.headers["content-type"].startswith("image/"), where


def _like_a_photo(path: Path) -> None:
    """Once the README has made its stand-in ``cat.png``, swap in one as heavy as a photo (noise
    does not compress: about 3 MB, far over what one command-line argument may hold)."""
    if path.exists() and path.stat().st_size < 1_000_000:
        Image.frombytes("RGB", (1024, 1024), random.Random(7).randbytes(3 * 1024 * 1024)).save(path)
