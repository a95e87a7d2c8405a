"""Composition: build every service from a config. The only place registries are consulted."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from app.access.admission import Admission
from app.access.keys import ConfigKeys, GatewayKeys, KeyStore
from app.access.settlement import Settlement
from app.carriers import Carrier, CarrierTools, build_carrier
from app.config.schema import GatewayConfig
from app.core.catalog import Catalog, build_catalog
from app.inputs.fetch import Resolver, SafeFetcher
from app.inputs.loader import InputLoader
from app.run.async_jobs import JobRunner
from app.run.pipeline import Pipeline
from app.run.rehost import Rehoster
from app.run.runner import Executor
from app.run.tasks import TaskRegistry
from app.state.base import CircuitBook, JobStore
from app.state.circuits import MemoryCircuitBook
from app.state.counters import MemoryCounters
from app.state.idempotency import MemoryIdempotencyStore
from app.storage import Storage, make_storage
from app.usage.log_sink import LogSink
from app.usage.recorder import Recorder

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

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
    admission: Admission
    settlement: Settlement


def build_services(
    config: GatewayConfig,
    http: httpx.AsyncClient,
    tasks: TaskRegistry,
    jobs: JobStore,
    resolver: Resolver | None = None,
    database: AsyncEngine | None = None,
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
    counters = MemoryCounters()
    leases, db_keys = None, None
    if database is not None:  # only then is the database layer (SQLAlchemy) loaded
        from app.access.db_keys import DbKeys
        from app.access.leases import Leases
        from app.db.budgets import Budgets

        interval = config.auth.budget_sync_interval
        leases = Leases(Budgets(database), tasks.spawn, interval=interval)
        db_keys = DbKeys(database, ttl=config.auth.key_cache_ttl)
    settlement = Settlement(counters, leases, tasks.spawn)
    return Services(
        config=config,
        catalog=build_catalog(config),
        executor=Executor(pipeline, tasks, idempotency, storage),
        circuits=circuits,
        enabled_carriers=frozenset(carriers),
        jobs=JobRunner(jobs, tasks, config.jobs),
        storage=storage,
        inputs=InputLoader(config, SafeFetcher(config.fetch, resolver)),
        keys=GatewayKeys(
            ConfigKeys(key.get_secret_value() for key in config.auth.keys),
            db_keys,
        ),
        recorder=Recorder([LogSink(), settlement]),  # usage sinks: one line each
        admission=Admission(counters, leases, carriers),
        settlement=settlement,
    )
