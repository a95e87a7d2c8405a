"""``storage.retention`` and ``storage.sweep_interval`` read durations as people write them;
anything else stops the start with the key path named."""

from __future__ import annotations

import pytest

from app.config import ConfigError
from tests.support.config import MakeConfig


@pytest.mark.parametrize(
    ("retention", "seconds"),
    [("30d", 30 * 86_400), ("12h", 43_200), ("90s", 90), (90, 90), ("0", 0), (0, 0)],
)
def test_retention_takes_durations(
    make_config: MakeConfig, retention: object, seconds: int
) -> None:
    config = make_config(lambda data: data["storage"].update(retention=retention))
    assert config.storage.retention == seconds
    assert config.storage.sweep_interval == 60  # the default


@pytest.mark.parametrize(
    ("field", "value"),
    [("retention", "soon"), ("retention", -1), ("retention", "30y"), ("sweep_interval", 0),
     ("sweep_interval", "never"), ("retention", True)],
)  # fmt: skip
def test_bad_durations_stop_the_start(make_config: MakeConfig, field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"storage.{field}"):
        make_config(lambda data: data["storage"].update({field: value}))
