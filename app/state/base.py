"""The seams of state that several replicas will share. Each protocol has an in-process
implementation (``memory``-style classes) or a database one (async jobs and idempotency
answers, ``db_*``), and a Redis one (``redis_*``, chosen by ``app.state.stores``); the rest
of the gateway only ever sees these protocols.

Durations inside the state (cooldowns, TTLs, windows) run on a monotonic clock: stepping the
wall clock never keeps a carrier out of rotation or a key alive. Times shown to users are
derived from the wall clock at display time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from app.core.failures import FailureKind
from app.domain import Generation

# key_rejected: the upstream refused our key (401/403) and nothing has succeeded since.
CircuitState = Literal["healthy", "cooling_down", "half_open", "key_rejected"]
JobStatus = Literal["queued", "running", "succeeded", "failed"]


@dataclass(frozen=True, slots=True)
class CarrierStatus:
    state: CircuitState
    cooling_for: float | None  # seconds until the cooldown ends, while cooling down
    recent_failures: dict[str, int]
    successes: int
    last_error: str | None


class CircuitBook(Protocol):
    """A circuit breaker per carrier: which carriers may be tried now."""

    async def admit(self, carrier: str) -> bool:
        """May a request use ``carrier`` now? (A half-open carrier admits one probe.)"""
        ...

    async def succeeded(self, carrier: str) -> None: ...

    async def failed(
        self, carrier: str, kind: FailureKind, message: str, cool_for: float | None = None
    ) -> None:
        """Record a failure; ``cool_for`` forces a cooldown of at least that many seconds."""
        ...

    async def status(self, carrier: str) -> CarrierStatus: ...


class IdempotencyStore(Protocol):
    """One answer per idempotency key. The store keeps answers (image references and the
    response fields), never a request's input or image bytes that storage already holds."""

    async def begin(self, key: str, fingerprint: str) -> Generation | None:
        """``None``: the caller now owns ``key`` and must :meth:`finish` or :meth:`abandon` it.
        Otherwise the answer of the earlier identical request (waiting while it runs).
        Raises ``Conflict`` when ``key`` was used for a different request."""
        ...

    async def finish(self, key: str, answer: Generation) -> None: ...

    async def abandon(self, key: str) -> None:
        """The work failed: the key is free again, so a client's retry really retries."""
        ...


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: str
    status: JobStatus
    created_at: float  # wall clock: shown to users
    completed_at: float | None = None
    result: bytes | None = None  # the rendered ImagesResponse JSON
    error: bytes | None = None  # the rendered error object JSON


@dataclass(frozen=True, slots=True)
class RequestKey:
    """An Idempotency-Key, scoped to its owner, and the fingerprint of the request it came with."""

    key: str
    fingerprint: str


class JobStore(Protocol):
    """Async jobs (``Prefer: respond-async``), scoped to the principal that created them."""

    async def create(
        self, job_id: str, owner: str, ttl: float, key: RequestKey | None = None
    ) -> tuple[JobRecord, bool]:
        """The job, and whether it is new. With ``key``, an unexpired job made with the same
        key is returned instead; a different request under that key raises ``Conflict``."""
        ...

    async def update(
        self,
        job_id: str,
        status: JobStatus,
        *,
        result: bytes | None = None,
        error: bytes | None = None,
    ) -> None: ...

    async def get(self, job_id: str, owner: str) -> JobRecord | None: ...

    async def unfinished(self) -> int: ...

    async def renew(self) -> int:
        """Heartbeat: extend the lease of this process's unfinished jobs; how many."""
        ...

    async def reap(self, interrupted: bytes, never_started: bytes) -> int:
        """Finish as failed the unfinished jobs whose owner's lease ran out; how many."""
        ...

    async def purge_expired(self) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Take:
    """One counter a request takes from: ``amount`` in the current ``window``, refused when
    the count before it plus ``amount`` would pass ``limit`` (None: never refused).

    With ``holder`` the counter counts in-flight slots, one entry per holder (a token of one
    request): ``amount`` 1 takes the holder's slot (0 only reads the count), which lives
    ``window`` seconds unless given back (:meth:`Counters.give_back`) before; so the slots of
    a request whose process died free themselves at its deadline."""

    counter: str
    amount: int
    window: float
    limit: int | None = None
    holder: str | None = None


@dataclass(frozen=True, slots=True)
class Slot:
    """One request's entry in an in-flight counter, to give back exactly that one."""

    counter: str
    holder: str


@dataclass(frozen=True, slots=True)
class Taken:
    """What :meth:`Counters.take_all` did: each counter's count *before* the request, and
    whether it was refused (then nothing was counted). ``reset``: seconds until the windows
    end by the counters' own clock, when it is not the caller's (Redis's)."""

    before: tuple[int, ...]
    refused: bool
    reset: float | None = None


class Counters(Protocol):
    """Counts per key over fixed windows (rate limits, request quotas), and in-flight slots
    per key with a deadline each (concurrency limits)."""

    async def add(self, key: str, amount: int, window: float) -> int:
        """Add ``amount`` to ``key``'s count in the current ``window``-second window and
        return the new count for that window."""
        ...

    async def take_all(self, items: Sequence[Take]) -> Taken:
        """Count every item at once, atomically: all of them, or (when one would pass its
        limit) none. A request's admission is one call (with Redis: one round trip)."""
        ...

    async def give_back(self, slots: Sequence[Slot]) -> None:
        """Free these holders' slots. Idempotent: giving a slot back twice (or after it died)
        never frees another request's."""
        ...
