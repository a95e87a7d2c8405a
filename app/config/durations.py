"""Durations in the config: a number of seconds (``90``, ``2.5``) or a string with one unit
(``90s``, ``15m``, ``12h``, ``30d``, ``2w``); ``0`` means "never" where a field says so.

``Duration`` is the pydantic type: it accepts either form and holds seconds as a float.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def parse_duration(value: Any) -> float:
    """Seconds in ``value`` (an int, a float or a string such as ``"30d"``); ValueError when
    it is none of these or negative."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string such as 90s, 12h, 30d")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is not None:
            number, unit = match.groups()
            return float(number) * UNIT_SECONDS[unit or "s"]
    raise ValueError(
        f"{value!r} is not a duration (a number of seconds, or a number with s, m, h, d or w)"
    )


Duration = Annotated[float, BeforeValidator(parse_duration)]
