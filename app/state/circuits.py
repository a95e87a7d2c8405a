"""The in-process circuit book: a circuit breaker per carrier, on a monotonic clock.

A carrier that fails ``failures`` times within ``window`` seconds (or once with a failure of
its own, such as a rejected key) cools down for ``duration`` seconds and is skipped. When the
cooldown ends, exactly one request probes it (half-open): success closes the circuit, failure
opens it again. A carrier whose key the upstream refused shows as ``key_rejected`` until it
next succeeds.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from app.config.runtime import CooldownConfig
from app.core.failures import CARRIER_PROBLEMS, FailureKind
from app.state.base import CarrierStatus, CircuitState

# Failures that say something about the carrier (a rejected request says nothing).
COUNTED: frozenset[FailureKind] = frozenset(
    {"key_rejected", "carrier", "rate_limited", "transient", "timeout"}
)


@dataclass
class _Circuit:
    failures: deque[tuple[float, FailureKind]] = field(default_factory=deque)
    open_until: float | None = None  # on the book's monotonic clock
    probing: bool = False
    successes: int = 0
    last_error: str | None = None
    key_rejected: bool = False  # until the next success


class MemoryCircuitBook:
    def __init__(self, config: CooldownConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._clock = clock
        self._circuits: dict[str, _Circuit] = {}

    def _circuit(self, carrier: str) -> _Circuit:
        return self._circuits.setdefault(carrier, _Circuit())

    async def admit(self, carrier: str) -> bool:
        circuit = self._circuit(carrier)
        if circuit.open_until is None:
            return True
        if self._clock() < circuit.open_until or circuit.probing:
            return False
        circuit.probing = True  # half-open: this request is the probe
        return True

    async def succeeded(self, carrier: str) -> None:
        circuit = self._circuit(carrier)
        circuit.open_until = None
        circuit.probing = False
        circuit.failures.clear()
        circuit.successes += 1
        circuit.key_rejected = False

    async def failed(
        self, carrier: str, kind: FailureKind, message: str, cool_for: float | None = None
    ) -> None:
        if kind not in COUNTED:  # the carrier answered: it is up
            circuit = self._circuit(carrier)
            circuit.open_until, circuit.probing = None, False
            return
        now = self._clock()
        circuit = self._circuit(carrier)
        circuit.last_error = message
        circuit.key_rejected = circuit.key_rejected or kind == "key_rejected"
        circuit.failures.append((now, kind))
        self._forget_old(circuit, now)
        tripped = (
            circuit.probing
            or kind in CARRIER_PROBLEMS
            or len(circuit.failures) >= self._config.failures
        )
        if tripped or cool_for is not None:
            duration = max(self._config.duration if tripped else 0.0, cool_for or 0.0)
            circuit.open_until = max(circuit.open_until or now, now + duration)
        circuit.probing = False

    async def status(self, carrier: str) -> CarrierStatus:
        now = self._clock()
        circuit = self._circuit(carrier)
        self._forget_old(circuit, now)
        state: CircuitState = "healthy"
        cooling_for = None
        if circuit.open_until is not None:
            state = "cooling_down" if now < circuit.open_until else "half_open"
            cooling_for = circuit.open_until - now if state == "cooling_down" else None
        if circuit.key_rejected:
            state = "key_rejected"
        return CarrierStatus(
            state=state,
            cooling_for=cooling_for,
            recent_failures=dict(Counter(kind for _, kind in circuit.failures)),
            successes=circuit.successes,
            last_error=circuit.last_error,
        )

    def _forget_old(self, circuit: _Circuit, now: float) -> None:
        while circuit.failures and circuit.failures[0][0] < now - self._config.window:
            circuit.failures.popleft()
