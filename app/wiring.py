"""Composition: build every service from a config. The only place registries are consulted."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

import httpx

from app.access.keys import ConfigKeys, KeyStore
from app.carriers import Carrier, CarrierTools, build_carrier
from app.config.schema import GatewayConfig
from app.core.catalog import Catalog, build_catalog
from app.inputs.fetch import Resolver, SafeFetcher
from app.inputs.loader import InputLoader
from app.observability.metrics import Metrics, MetricsSink
from app.observability.readiness import Check, storage_check
from app.run.async_jobs import JobRunner
from app.run.pipeline import Pipeline
from app.run.rehost import Rehoster
from app.run.runner import Executor
from app.run.tasks import TaskRegistry
from app.state.base import CircuitBook, JobStore
from app.state.circuits import MemoryCircuitBook
from app.state.idempotency import MemoryIdempotencyStore
from app.storage import Storage, local_directories, make_storage
from app.usage.log_sink import LogSink
from app.usage.recorder import Recorder, Sink

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Services:
    config: GatewayConfig
    catalog: Catalog
    executor: Executor
    circuits: CircuitBook
    enabled_carriers: frozenset[str]
    jobs: JobRunner
    storage: Storage
    inputs: InputLoader
    keys: KeyStore
    recorder: Recorder
    metrics: Metrics | None = None
    readiness: tuple[Check, ...] = ()  # GET /readyz: one named check per part


def build_services(
    config: GatewayConfig,
    http: httpx.AsyncClient,
    tasks: TaskRegistry,
    jobs: JobStore,
    resolver: Resolver | None = None,
    metrics: Metrics | None = None,
) -> Services:
    tools = CarrierTools(http=http)
    carriers: dict[str, Carrier] = {}
    disabled: list[str] = []
    for carrier in config.carriers:
        if carrier.disabled_reason is not None:
            disabled.append(f"{carrier.name} ({carrier.disabled_reason})")
            continue
        carriers[carrier.name] = build_carrier(carrier, tools)
        log.debug("carrier %s (%s) enabled: %s", carrier.name, carrier.kind, carrier.endpoint)
    if disabled:  # the documented default for carriers whose key is unset: one quiet line
        log.info("carriers disabled: %s", "; ".join(disabled))
    storage = make_storage(config.storage)
    routing = config.routing
    # Carriers' image URLs are fetched as safely as clients' (allow-list included).
    downloads = config.fetch.model_copy(update={"timeout": config.storage.download_timeout})
    circuits = MemoryCircuitBook(routing.cooldown)
    pipeline = Pipeline(
        carriers=carriers,
        rehoster=Rehoster(storage, SafeFetcher(downloads, resolver), config.storage),
        health=circuits,
        retry=routing.retry,
        rng=random.Random(routing.seed),
    )
    idempotency = MemoryIdempotencyStore(routing.idempotency)
    catalog = build_catalog(config)
    sinks: list[Sink] = [LogSink()]  # usage sinks: one line each
    if metrics is not None:
        sinks.append(MetricsSink(metrics, (m.name for m in catalog.models), carriers))
    readiness = [  # one line per part; the database joins as database_check(engine)
        Check("jobs", jobs.unfinished),
        storage_check(storage, local_directories(config.storage)),
    ]
    return Services(
        config=config,
        catalog=catalog,
        executor=Executor(pipeline, tasks, idempotency, storage),
        circuits=circuits,
        enabled_carriers=frozenset(carriers),
        jobs=JobRunner(jobs, tasks, config.jobs),
        storage=storage,
        inputs=InputLoader(config, SafeFetcher(config.fetch, resolver)),
        keys=ConfigKeys(key.get_secret_value() for key in config.auth.keys),
        recorder=Recorder(sinks),
        metrics=metrics,
        readiness=tuple(readiness),
    )
