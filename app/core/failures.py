"""How an upstream failure is classified: the one table from status codes to a kind.

Every upstream problem leaves a carrier as a :class:`CarrierFailure` whose ``kind`` is decided
here, from status codes (and a carrier's exception types) only, never from message text:

    rejected      the request itself is refused (400, 422, content policy): never retried
    key_rejected  the upstream refused our key (401, 403): next carrier, cool this one, and
                  say so loudly (the operator must fix the key)
    carrier       our carrier's other problems (402, 404, quota): next carrier, cool this one
    rate_limited  429: retry later or elsewhere
    transient     connect errors, 408, 409, 5xx, unreadable bodies: retry, then next carrier
    timeout       the upstream did not answer in time: retry, then next carrier
"""

from __future__ import annotations

from typing import Any, Literal

FailureKind = Literal["rejected", "key_rejected", "carrier", "rate_limited", "transient", "timeout"]
# Failures of the carrier itself rather than of the request or the moment: move on at once.
CARRIER_PROBLEMS: frozenset[FailureKind] = frozenset({"key_rejected", "carrier"})


class CarrierFailure(Exception):
    """An upstream failure, already classified; ``message`` is safe to show a client."""

    def __init__(
        self,
        kind: FailureKind,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        upstream_error: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: FailureKind = kind
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.upstream_error = upstream_error or {}

    @property
    def outcome(self) -> str:
        """Short label for ``x-imagegate-attempts``: the status code, or the failure kind."""
        return str(self.status) if self.status is not None else self.kind


def classify_status(status: int, code: object = None) -> FailureKind:
    """The one table from an upstream HTTP status (and the error's ``code`` field) to a kind.

    OpenAI reports an exhausted quota as 429 with ``code: insufficient_quota``: that is the
    carrier's own problem (like 402), not a rate limit worth waiting for.
    """
    if status == 402 or code == "insufficient_quota":
        return "carrier"
    if status == 429:
        return "rate_limited"
    if status in (408, 409) or status >= 500:
        return "transient"
    if status in (401, 403):
        return "key_rejected"
    if status == 404:
        return "carrier"
    return "rejected"
