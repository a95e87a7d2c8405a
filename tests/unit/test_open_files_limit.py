"""``imagegate serve`` raises the soft open-files limit to the hard one, and says when even
that is short of ``server.max_connections``."""

from __future__ import annotations

import logging
import resource

import pytest

from app.cli.limits import raise_open_files_limit


class FakeLimits:
    """RLIMIT_NOFILE as (soft, hard), through the two functions the module calls."""

    def __init__(self, soft: int, hard: int, *, refuse: bool = False) -> None:
        self.value = (soft, hard)
        self.refuse = refuse

    def get(self, which: int) -> tuple[int, int]:
        assert which == resource.RLIMIT_NOFILE
        return self.value

    def set(self, which: int, value: tuple[int, int]) -> None:
        assert which == resource.RLIMIT_NOFILE
        if self.refuse:
            raise ValueError("not allowed")
        self.value = value


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch) -> FakeLimits:
    fake = FakeLimits(256, 65536)
    monkeypatch.setattr(resource, "getrlimit", fake.get)
    monkeypatch.setattr(resource, "setrlimit", fake.set)
    return fake


def test_the_soft_limit_is_raised_to_the_hard_one(
    limits: FakeLimits, caplog: pytest.LogCaptureFixture
) -> None:
    assert raise_open_files_limit(1024) == 65536
    assert limits.value == (65536, 65536)
    assert not caplog.records


def test_a_hard_limit_short_of_the_cap_is_a_warning(
    limits: FakeLimits, caplog: pytest.LogCaptureFixture
) -> None:
    limits.value = (256, 1024)
    with caplog.at_level(logging.WARNING):
        assert raise_open_files_limit(1024) == 1024
    assert "open files limit (1024) is below server.max_connections (1024)" in caplog.text


def test_a_refused_raise_keeps_the_old_limit_and_warns(
    limits: FakeLimits, caplog: pytest.LogCaptureFixture
) -> None:
    limits.refuse = True
    with caplog.at_level(logging.WARNING):
        assert raise_open_files_limit(1024) == 256
    assert limits.value == (256, 65536)
    assert "open files limit (256)" in caplog.text
