"""Concurrency slots, in process and in Redis, behave the same: one entry per request with a
deadline. A slot never given back (its replica was SIGKILLed) frees itself at the deadline;
giving one back twice never frees another request's; a refused request holds none; in Redis
taking is the one admission script, giving back one pipelined round trip."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from dataclasses import replace
from typing import Any

import pytest

from app.access.admission import Admission
from app.access.settlement import Settlement
from app.core.catalog import build_catalog
from app.domain import Limits, Principal, UsageRecord
from app.errors import GatewayError
from app.state.base import Counters, Slot, Take
from app.state.counters import MemoryCounters
from app.state.redis_client import SharedRedis
from app.state.redis_counters import RedisCounters
from tests.support.config import MakeConfig
from tests.support.redis import PrivateRedis, command_names, redis_config
from tests.support.rules import job

DEADLINE = 1.0  # seconds: short, so the tests need not wait long, yet far longer than the
# few store round trips that must fit inside it (a slot taken, then another refused)
MINUTE = 60.0


@pytest.fixture(params=["memory", "redis"])
async def counters(request: pytest.FixtureRequest, shared: SharedRedis) -> AsyncIterator[Counters]:
    yield MemoryCounters() if request.param == "memory" else RedisCounters(shared)


def slot(holder: str, limit: int | None = 2, deadline: float = DEADLINE) -> Take:
    return Take("cc:key", 1, deadline, limit, holder)


async def held(counters: Counters) -> int:
    return (await counters.take_all([Take("cc:key", 0, DEADLINE, None, "")])).before[0]


async def test_slots_never_given_back_free_themselves_at_their_deadline(
    counters: Counters,
) -> None:
    # A replica SIGKILLed mid-request never gives its slots back.
    assert not (await counters.take_all([slot("killed-1")])).refused
    assert not (await counters.take_all([slot("killed-2")])).refused
    refused = await counters.take_all([slot("waiting")])
    assert refused.refused and refused.before == (2,)
    await asyncio.sleep(DEADLINE + 0.1)
    taken = await counters.take_all([slot("waiting")])
    assert not taken.refused and taken.before == (0,)


async def test_giving_a_slot_back_twice_never_frees_another_requests(counters: Counters) -> None:
    for holder in ("a", "b"):
        assert not (await counters.take_all([slot(holder, deadline=MINUTE)])).refused
    await counters.give_back([Slot("cc:key", "a")])
    await counters.give_back([Slot("cc:key", "a")])  # again (a retried give-back): nothing
    assert await held(counters) == 1  # b still holds its slot
    assert not (await counters.take_all([slot("c", deadline=MINUTE)])).refused
    assert (await counters.take_all([slot("d", deadline=MINUTE)])).refused  # b and c: full
    await counters.give_back([Slot("cc:key", "b"), Slot("cc:key", "c"), Slot("cc:other", "c")])
    assert await held(counters) == 0


async def test_a_refused_request_holds_no_slot(counters: Counters) -> None:
    await counters.take_all([Take("rpm:key", 1, MINUTE, 1)])
    refused = await counters.take_all([slot("r"), Take("rpm:key", 1, MINUTE, 1)])
    assert refused.refused and refused.before == (0, 1)
    assert await held(counters) == 0


async def test_a_slot_taken_again_by_its_holder_is_still_one(counters: Counters) -> None:
    await counters.take_all([slot("same")])
    await counters.take_all([slot("same")])
    assert await held(counters) == 1


async def test_slots_are_shared_between_replicas(redis_prefix: str) -> None:
    replicas = [SharedRedis(redis_config(prefix=redis_prefix, timeout=2)) for _ in range(2)]
    a, b = (RedisCounters(r) for r in replicas)
    try:
        await a.take_all([slot("on-a", limit=1, deadline=MINUTE)])
        assert (await b.take_all([slot("on-b", limit=1, deadline=MINUTE)])).refused
        await a.give_back([Slot("cc:key", "on-a")])
        assert not (await b.take_all([slot("on-b", limit=1, deadline=MINUTE)])).refused
    finally:
        for r in replicas:
            await r.close()


async def test_redis_round_trips_one_script_to_take_one_pipeline_to_give_back(
    private: PrivateRedis,
) -> None:
    shared = SharedRedis(redis_config(private.url, timeout=2))
    store = RedisCounters(shared)
    items = [Take("rpm:key", 1, MINUTE, 100), slot("r", 10), Take("cc:team", 1, DEADLINE, 10, "r")]
    try:
        await store.take_all(items)  # loads the script once
        with private.monitor() as sent:
            await store.take_all([*items[:1], slot("s", 10), Take("cc:team", 1, 9, 10, "s")])
            await store.give_back([Slot("cc:key", "s"), Slot("cc:team", "s")])
    finally:
        await shared.close()
    assert command_names(sent) == ["evalsha", "zrem", "zrem"]  # the ZREMs: one pipeline


@pytest.fixture
async def stores(request: pytest.FixtureRequest, shared: SharedRedis) -> AsyncIterator[Counters]:
    yield MemoryCounters() if request.param == "memory" else RedisCounters(shared)


@pytest.mark.parametrize("stores", ["memory", "redis"], indirect=True)
async def test_admission_slots_die_at_the_deadline_and_settle_only_their_own(
    stores: Counters, make_config: MakeConfig
) -> None:
    """Through admission and settlement, per process and shared: a request that never ends
    (its replica was killed) holds its slot only until the deadline wiring gives admission;
    settling one request twice never frees another's slot."""
    spec = build_catalog(make_config()).resolve("dall-e-3")
    dalle = job("dall-e-3", quality="standard")
    admission = Admission(stores, None, {"up"}, slot_lifetime=DEADLINE)
    spawn = Inline()
    settlement = Settlement(stores, None, spawn)
    alice = Principal(id="key_1", name="alice", limits=Limits(max_concurrent=1))
    killed = await admission.admit(alice, dalle, spec, "killed")
    assert killed is not None and killed.concurrency == ("cc:key:key_1",) and killed.slot_holder
    with pytest.raises(GatewayError) as busy:
        await admission.admit(alice, dalle, spec, "waiting")
    assert busy.value.code == "rate_limit_exceeded"
    await asyncio.sleep(DEADLINE + 0.1)  # "killed" never settles
    first = await admission.admit(alice, dalle, spec, "first")
    assert first is not None and first.slot_holder != killed.slot_holder
    record = UsageRecord("killed", "key_1", "alice", "dall-e-3", "generate", "failed")
    for _ in range(2):  # the dead request's record, settled late and twice
        settlement.write(replace(record, charge=killed))
        await spawn.run()
    with pytest.raises(GatewayError):  # "first" still holds the only slot
        await admission.admit(alice, dalle, spec, "second")
    settlement.write(replace(record, request_id="first", charge=first))
    await settlement.close()
    await spawn.run()
    assert await admission.admit(alice, dalle, spec, "second") is not None


class Inline:
    """A spawn that runs the settlement when the test says so."""

    def __init__(self) -> None:
        self.pending: list[Coroutine[Any, Any, None]] = []

    def __call__(self, work: Coroutine[Any, Any, None], name: str) -> Any:  # no task
        self.pending.append(work)

    async def run(self) -> None:
        while self.pending:
            await self.pending.pop(0)
