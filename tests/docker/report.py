"""Pass/fail per check and the measured numbers, printed as they happen and again at the end."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import openai

from tests.docker.podman import CommandFailed

# What a scenario may fail with; anything else is a bug in the suite and propagates.
EXPECTED = (CommandFailed, TimeoutError, httpx.HTTPError, openai.OpenAIError, OSError, ValueError)


class Abort(Exception):
    """A check whose failure makes the rest of its scenario meaningless."""


@dataclass
class Report:
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    numbers: list[tuple[str, str]] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append((name, ok, detail))
        print(
            f"  {'PASS' if ok else 'FAIL'}  {name}{f'  ({detail})' if detail else ''}", flush=True
        )
        return ok

    def require(self, name: str, ok: bool, detail: str = "") -> None:
        if not self.check(name, ok, detail):
            raise Abort(name)

    def measure(self, name: str, value: str) -> None:
        self.numbers.append((name, value))

    @contextmanager
    def scenario(self, title: str) -> Iterator[None]:
        """Run one scenario; an error fails it and the run goes on with the next one."""
        print(f"\n== {title}", flush=True)
        try:
            yield
        except Abort:
            pass
        except EXPECTED as exc:
            detail = str(exc) or type(exc).__name__
            self.check(f"{title}: finished without error", False, detail)
        except Exception:
            traceback.print_exc()
            self.check(f"{title}: finished without error", False, "unexpected error, see above")

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(ok for _, ok, _ in self.checks)

    def summary(self) -> str:
        width = max((len(name) for name, _ in self.numbers), default=0)
        lines = ["", "== docker-test summary", ""]
        lines += [f"  {name:<{width}}  {value}" for name, value in self.numbers]
        lines.append("")
        lines += [f"  {'PASS' if ok else 'FAIL'}  {name}" for name, ok, _ in self.checks]
        failed = sum(not ok for _, ok, _ in self.checks)
        verdict = "PASSED" if self.passed else f"FAILED ({failed} of {len(self.checks)} checks)"
        lines += ["", f"  {len(self.checks)} checks: {verdict}"]
        return "\n".join(lines)
