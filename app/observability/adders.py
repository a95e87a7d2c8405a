"""Adding to a prometheus-client child without the library's per-call checks.

``Counter.inc`` and ``Histogram.observe`` check on every call that the metric is a labelled
child (a child always is) and a histogram walks its buckets through ``enumerate`` and
indexing. The functions here are made once per child and add to its values directly: the
library's own value objects (in-process, or the multiprocess files), so scrapes read them as
they would. ``tests/unit/test_metrics_sink.py`` pins the samples against the library's own
``inc``/``observe``, so a change of its internals shows there.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import Counter, Histogram

Add = Callable[[float], None]


def counter_add(child: Counter) -> Add:
    """``child.inc`` without its per-call checks, but for the one an amount can fail."""
    value_inc = child._value.inc

    def inc(amount: float) -> None:
        if amount < 0:
            raise ValueError("Counters can only be incremented by non-negative amounts.")
        value_inc(amount)

    return inc


def histogram_add(child: Histogram) -> Add:
    """``child.observe``: the sum, then the first bucket the amount fits (a NaN fits none)."""
    sum_inc = child._sum.inc
    adds = [bucket.inc for bucket in child._buckets]
    buckets = tuple(zip(child._upper_bounds, adds, strict=True))

    def observe(amount: float) -> None:
        sum_inc(amount)
        for bound, bucket_inc in buckets:
            if amount <= bound:
                bucket_inc(1)
                return

    return observe
