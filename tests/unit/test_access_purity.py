"""The policy and the demand it judges stay pure, like the core: no I/O, no asyncio, no
database, no web framework (the admission stage around them does the I/O)."""

from __future__ import annotations

import pytest

from tests.unit.test_architecture import NOT_PURE, in_package, libraries, reach

PURE = ["app.access.policy", "app.access.demand"]


@pytest.mark.parametrize("module", PURE)
def test_the_policy_reaches_no_io(module: str) -> None:
    assert not libraries(module) & (NOT_PURE | {"sqlalchemy"}), libraries(module)
    allowed = ("app.core", "app.config", "app.domain", "app.errors", *PURE)
    outside = {d for d in reach(module) if d.startswith("app.") and not in_package(d, *allowed)}
    outside.discard("app.access")  # the package's __init__: a docstring
    assert not outside, outside
