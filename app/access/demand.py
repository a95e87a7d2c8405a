"""What a normalized job asks for, as the policy and the budget see it (pure).

The worst-case estimate takes the most expensive route that may serve the job, at the price
each has on the request's day: ``n`` images at the largest size the request may render and
the highest quality it may get, the prompt and the input images.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from app.access.policy import Demand
from app.core import pricing
from app.core.catalog import ModelSpec, Route
from app.domain import ImageJob


def demand_of(
    job: ImageJob, spec: ModelSpec, routes: Iterable[Route], day: date
) -> tuple[Demand, int | None]:
    """The job's :class:`Demand` and its worst-case cost in nano-dollars (None: unbounded)."""
    sizes = pricing.candidate_sizes(job.size, spec.rules)
    inputs = [(image.width, image.height) for image in job.images]
    if job.mask is not None:
        inputs.append((job.mask.width, job.mask.height))
    ask = pricing.Ask(
        n=job.n,
        sizes=sizes,
        quality=job.quality,
        prompt_bytes=len(job.prompt.encode()),
        inputs=tuple(inputs),
        partial_images=(job.partial_images or 0) if job.stream else 0,
        high_fidelity=job.input_fidelity == "high",
    )
    estimates = [pricing.estimate(pricing.price_at(r.prices, day), ask) for r in routes]
    known = [e for e in estimates if e is not None]
    worst = max(known) if known and len(known) == len(estimates) else None
    demand = Demand(
        model=spec.name,
        names=frozenset((spec.name, *spec.aliases)),
        n=job.n,
        pixels=max(pricing.pixels(size) or 0 for size in sizes),
        quality=job.quality or "auto",
        edit_images=len(job.images),
        priced=worst is not None,
    )
    return demand, worst
