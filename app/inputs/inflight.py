"""A process-wide cap on the bytes of request bodies in flight (JSON edits).

Each JSON edit reserves its body's bytes while it is read and holds them until its request is
done (its spool is closed): its ``Content-Length`` up front when it declares one, else chunk by
chunk. A reservation that does not fit is refused at once with a 503 and ``retry-after``:
queueing would keep the client's connection and its unread body waiting instead.
"""

from __future__ import annotations

from app.errors import Overloaded

RETRY_AFTER = 2.0  # seconds a refused client is told to wait


class ByteBudget:
    def __init__(self, capacity: int, what: str = "JSON edits") -> None:
        self.capacity = capacity
        self.what = what
        self.in_use = 0

    def reservation(self) -> Reservation:
        return Reservation(self)


class Reservation:
    """Bytes held in a :class:`ByteBudget` by one request; :meth:`release` is idempotent."""

    def __init__(self, budget: ByteBudget) -> None:
        self._budget = budget
        self.held = 0

    def grow_to(self, total: int) -> None:
        """Hold ``total`` bytes in all; :class:`Overloaded` when the budget cannot take them."""
        more = total - self.held
        if more <= 0:
            return
        budget = self._budget
        if budget.in_use + more > budget.capacity:
            raise Overloaded(
                f"Too many {budget.what} are in flight right now "
                f"({budget.capacity:,} bytes at most); retry shortly.",
                retry_after=RETRY_AFTER,
            )
        budget.in_use += more
        self.held = total

    def release(self) -> None:
        self._budget.in_use -= self.held
        self.held = 0
