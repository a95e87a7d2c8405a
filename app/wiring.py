"""Composition: build every service from a config. The only place registries are consulted."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from app.access.admin import AdminKeys
from app.access.admission import Admission
from app.access.db_keys import DbKeys
from app.access.keys import ConfigKeys, GatewayKeys, KeyStore
from app.access.leases import Leases
from app.access.registry import Registry
from app.access.settlement import Settlement
from app.carriers import Carrier, CarrierTools, build_carrier, offline_carriers
from app.config.schema import GatewayConfig
from app.core.catalog import Catalog, build_catalog
from app.core.routing import offline_models
from app.db.budgets import Budgets
from app.images_index.lease import ReplicaLeases
from app.images_index.rows import ImageRows
from app.images_index.store import ImageIndex
from app.images_index.sweeper import Sweeper
from app.inputs.decoding import Decoder, tune_allocator
from app.inputs.fetch import Resolver, SafeFetcher
from app.inputs.loader import InputLoader
from app.observability.metrics import Metrics, MetricsSink
from app.observability.readiness import Check, database_check, redis_check, storage_check
from app.observability.redact import Redactor
from app.run.async_jobs import JobRunner
from app.run.pipeline import Pipeline
from app.run.rehost import Rehoster
from app.run.runner import Executor
from app.run.shutdown import Stopping
from app.run.tasks import TaskRegistry
from app.state.base import CircuitBook
from app.state.db_idempotency import DbIdempotencyStore
from app.state.db_jobs import DbJobStore, instance_id
from app.state.stores import HotState, StateNeeds, build_hot_state
from app.storage import Storage, local_directories, make_storage
from app.usage.ledger import LedgerSink
from app.usage.log_sink import LogSink
from app.usage.recorder import Recorder, Sink
from app.usage.reports import Reports

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
    stopping: Stopping
    engine: AsyncEngine  # the database (app.db): its lifetime is the app's (app.main)
    registry: Registry
    reports: Reports
    ledger: LedgerSink
    admin_keys: AdminKeys
    admission: Admission
    settlement: Settlement
    images: ImageIndex  # the image index (app.images_index) and its retention sweeper
    sweeper: Sweeper
    metrics: Metrics | None = None
    readiness: tuple[Check, ...] = ()  # GET /readyz: one named check per part
    hot_state: HotState | None = None  # counters, cooldowns, claims: where they live (close())


def build_services(
    config: GatewayConfig,
    http: httpx.AsyncClient,
    tasks: TaskRegistry,
    engine: AsyncEngine,
    resolver: Resolver | None = None,
    *,
    admin_keys: Sequence[str] = (),
    metrics: Metrics | None = None,
) -> Services:
    server = config.server
    tune_allocator()
    tools = CarrierTools(http, Decoder(server.max_input_pixels, server.max_decoding_pixels))
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
    instance = instance_id()  # this process, in the rows it claims
    idempotency = DbIdempotencyStore(
        engine, routing.idempotency, claim_ttl=longest_deadline(config), instance=instance
    )
    hot = build_hot_state(  # in this process, or shared through Redis (redis.url)
        StateNeeds(config.redis, routing.cooldown, carriers, idempotency, longest_deadline(config))
    )
    circuits = hot.circuits
    pipeline = Pipeline(
        carriers=carriers,
        rehoster=Rehoster(storage, SafeFetcher(downloads, resolver), config.storage),
        health=circuits,
        retry=routing.retry,
        rng=random.Random(routing.seed),
        redactor=Redactor(carrier_secrets(config)),
    )
    catalog = build_catalog(config, offline_carriers(config))
    offline = offline_models(catalog.models, carriers)
    if offline:  # one line: which models the offline renderer serves (no real carrier of theirs)
        log.info("offline mode (no real carrier enabled) for: %s", ", ".join(offline))
    stopping = Stopping(config.server.request_grace)
    stored = config.storage
    index_rows = ImageRows(stored.backend, stored.retention, config.ledger.store_prompts)
    images = ImageIndex(engine)
    replica_leases = ReplicaLeases(engine, instance, images.now)
    counters = hot.counters
    team_budgets = metrics.team_budget_left if metrics and metrics.label_keys else None
    leases = Leases(
        Budgets(engine),
        interval=config.auth.budget_sync_interval,
        team_budget_left=team_budgets,  # the budget gauge: team names only when opted in
    )
    ledger = LedgerSink(engine, config.ledger, leases, index_rows)  # charges with their rows
    settlement = Settlement(counters, leases, tasks.spawn)
    job_store = DbJobStore(engine, instance=instance, lease=config.jobs.lease)
    # usage sinks, one line each: the log line, the ledger, budget settlement, the metrics
    sinks: list[Sink] = [LogSink(), ledger, settlement]
    if metrics is not None:
        sinks.append(MetricsSink(metrics, (m.name for m in catalog.models), carriers))
    readiness: tuple[Check, ...] = (  # one line per part
        database_check(engine),
        Check("jobs", job_store.unfinished),
        storage_check(storage, local_directories(config.storage)),
    )
    if hot.ping is not None:
        readiness += (redis_check(hot.ping, degrade=not config.redis.refuses),)
    return Services(
        config=config,
        catalog=catalog,
        executor=Executor(pipeline, tasks, hot.idempotency, storage, stopping),
        stopping=stopping,
        circuits=circuits,
        enabled_carriers=frozenset(carriers),
        jobs=JobRunner(job_store, tasks, config.jobs),
        storage=storage,
        inputs=InputLoader(config, SafeFetcher(config.fetch, resolver), storage),
        keys=GatewayKeys(
            ConfigKeys(key.get_secret_value() for key in config.auth.keys),
            DbKeys(engine, ttl=config.auth.key_cache_ttl),
        ),
        recorder=Recorder(sinks),
        engine=engine,
        registry=Registry(engine, resolve_model=lambda name: catalog.resolve(name).name),
        reports=Reports(engine),
        ledger=ledger,
        admin_keys=AdminKeys(admin_keys),
        admission=Admission(counters, leases, carriers, slot_lifetime=longest_deadline(config)),
        settlement=settlement,
        images=images,
        sweeper=Sweeper(images, storage, replica_leases, interval=stored.sweep_interval),
        metrics=metrics,
        readiness=readiness,
        hot_state=hot,
    )


def carrier_secrets(config: GatewayConfig) -> tuple[str, ...]:
    return tuple(secret for carrier in config.carriers for secret in carrier.secrets)


def configured_secrets(config: GatewayConfig) -> tuple[str, ...]:
    """Every secret the config holds (carrier keys, gateway keys): never in any log line."""
    gateway_keys = tuple(key.get_secret_value() for key in config.auth.keys)
    return carrier_secrets(config) + gateway_keys


def longest_deadline(config: GatewayConfig) -> float:
    """How long a request can run at most: an idempotency claim or a concurrency slot older
    than that is dead."""
    deadlines = [t for m in config.models for t in (m.timeout, *m.timeout_by_quality.values())]
    return max(deadlines) + 60.0
