"""``GET /metrics``: the Prometheus text format, optionally behind its own bearer token.

Counters and histograms come from the record stage (``app.observability.metrics``), summed over
workers; the state gauges (carrier circuits, unfinished async jobs) are read at scrape time.
With ``metrics.port`` set, the main port answers only the side port's relay
(``app.observability.side_port``), so both serve the same set.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Request
from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from starlette.responses import Response

from app.api.state import ServicesDep
from app.errors import AuthenticationFailed, NotFound
from app.observability import multiproc, side_port
from app.wiring import Services

router = APIRouter()
# The classic text format every Prometheus version reads (what generate_latest writes).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# The circuit states as numbers, for alerting: healthy 0, half open 1, cooling down 2.
CIRCUIT_VALUES = {"healthy": 0.0, "half_open": 1.0, "cooling_down": 2.0}


@router.get("/metrics")
async def metrics(request: Request, services: ServicesDep) -> Response:
    if services.metrics is None or (
        services.config.metrics.port is not None and not _relayed(request)
    ):
        raise NotFound("Metrics are off here (metrics.enabled: false, or metrics.port is set).")
    token = services.config.metrics.token
    if (
        token is not None
        and services.config.metrics.port is None
        and not _bearer_matches(request, token.get_secret_value())
    ):
        raise AuthenticationFailed("/metrics needs its bearer token (metrics.token).")
    state = _State(await _state_families(services))
    body = generate_latest(multiproc.scrape_registry(services.metrics.registry))
    return Response(body + generate_latest(state), media_type=CONTENT_TYPE)


def _bearer_matches(request: Request, token: str) -> bool:
    return side_port.bearer_matches(request.headers.get("authorization", ""), token)


def _relayed(request: Request) -> bool:
    """A scrape relayed from ``metrics.port`` (which checked ``metrics.token`` itself)."""
    relay = side_port.relay_token()
    return relay is not None and _bearer_matches(request, relay)


async def _state_families(services: Services) -> list[Metric]:
    circuits = GaugeMetricFamily(
        "imagegate_carrier_circuit_state",
        "Carrier circuit as this worker sees it: 0 healthy, 1 half open, 2 cooling down.",
        labels=("carrier",),
    )
    for name in sorted(services.enabled_carriers):
        status = await services.circuits.status(name)
        circuits.add_metric((name,), CIRCUIT_VALUES[status.state])
    jobs = GaugeMetricFamily("imagegate_async_jobs", "Async jobs by state.", labels=("state",))
    for state, count in (await services.jobs.by_status()).items():
        jobs.add_metric((state,), float(count))
    return [circuits, jobs]


class _State:
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)
