"""Redis outages follow ``redis.on_failure`` (a private redis-server, stopped or frozen): no
call waits past ``redis.timeout``; ``local`` counts in the process with one warning per outage,
``refuse`` answers 503 ``shared_state_unavailable``; Redis is probed at most once per
``probe_interval`` and used again as soon as it answers; readiness says degraded or fails."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest

from app.errors import SharedStateUnavailable
from app.observability.readiness import redis_check, run_checks
from app.state.base import Counters, Slot, Take
from app.state.counters import MemoryCounters
from app.state.redis_client import RedisUnavailable, SharedRedis
from app.state.redis_counters import RedisCounters
from app.state.redis_fallback import Fallback, FallbackCounters
from tests.support.redis import PrivateRedis, redis_config
from tests.support.waiting import eventually

TIMEOUT = 0.5
PROBE = 1.0  # far longer than a frozen call's timeout plus a signal: see the probe test
LIMITED = [Take("rpm:k", 1, 60.0, 1000)]


class Replica:
    def __init__(self, server: PrivateRedis, on_failure: str) -> None:
        self.shared = SharedRedis(
            redis_config(server.url, timeout=TIMEOUT, on_failure=on_failure, probe_interval=PROBE)
        )
        self.local = MemoryCounters()
        fallback = Fallback(self.shared.config.on_failure, retry_after=PROBE)
        self.counters: Counters = FallbackCounters(RedisCounters(self.shared), self.local, fallback)


@pytest.fixture
async def local(private: PrivateRedis) -> AsyncIterator[Replica]:
    replica = Replica(private, "local")
    yield replica
    await replica.shared.close()


@pytest.fixture
async def refuse(private: PrivateRedis) -> AsyncIterator[Replica]:
    replica = Replica(private, "refuse")
    yield replica
    await replica.shared.close()


async def timed(replica: Replica, items: list[Take] = LIMITED) -> tuple[float, object]:
    started = time.monotonic()
    try:
        result: object = await replica.counters.take_all(items)
    except SharedStateUnavailable as error:
        result = error
    return time.monotonic() - started, result


def in_redis(server: PrivateRedis) -> int:
    with server.client() as client:
        return sum(int(client.get(k) or 0) for k in client.scan_iter(match="imagegate:c:rpm:k:*"))


async def test_local_frozen_redis_never_holds_a_request_past_the_timeout(
    local: Replica, private: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    await timed(local)
    assert in_redis(private) == 1
    private.freeze()  # accepts nothing, answers nothing: the case only a timeout bounds
    with caplog.at_level(logging.WARNING, logger="app.state.redis_client"):
        waits = [await timed(local) for _ in range(20)]
    # the first call finds out, bounded by one timeout (not two: it does not try again); the
    # others do not even try (trying a frozen server takes a whole timeout). The margins are a
    # timeout each way, so a loaded machine cannot make this fail.
    assert waits[0][0] < 2 * TIMEOUT
    assert max(wait for wait, _ in waits[1:]) < TIMEOUT
    assert (await local.local.add("rpm:k", 0, 60.0)) == 20  # counted in this process
    outage = [r for r in caplog.records if "does not answer" in r.getMessage()]
    assert len(outage) == 1 and "per process" in outage[0].getMessage()
    private.thaw()
    await asyncio.sleep(PROBE)
    with caplog.at_level(logging.WARNING, logger="app.state.redis_client"):
        await timed(local)  # the probe: answers, so Redis is used again
    # 3, not 2: the call that timed out had reached the frozen server, which ran it on waking
    # (windowed counts expire with their window; in-flight slots at their deadline)
    assert local.shared.up and in_redis(private) == 3
    assert any("answers again" in r.getMessage() for r in caplog.records)


async def test_refuse_stopped_redis_answers_503_and_recovers(
    refuse: Replica, private: PrivateRedis
) -> None:
    private.stop()  # the port refuses connections
    wait, refused = await timed(refuse)
    assert wait < 2 * TIMEOUT
    assert isinstance(refused, SharedStateUnavailable)
    assert refused.status == 503 and refused.code == "shared_state_unavailable"
    assert refused.retry_after == PROBE
    assert (await refuse.local.add("rpm:k", 0, 60.0)) == 0  # nothing counted anywhere
    give_back = await refuse.counters.take_all([Take("rpm:k", -1, 60.0)])  # never refused
    assert not give_back.refused
    await refuse.counters.give_back([Slot("cc:k", "r")])  # nor is a slot's
    private.start()
    await asyncio.sleep(PROBE)
    _, result = await timed(refuse)
    assert not isinstance(result, SharedStateUnavailable) and in_redis(private) == 1


async def test_probes_at_most_once_per_interval(local: Replica, private: PrivateRedis) -> None:
    await timed(local)
    private.freeze()
    await timed(local)  # times out: marks it down
    private.thaw()  # answers again at once (restarting a server could outlast the interval)
    await timed(local)
    assert not local.shared.up  # within the interval nothing asked Redis
    await asyncio.sleep(PROBE)
    await timed(local)
    assert local.shared.up


async def test_readiness_degraded_under_local_failing_under_refuse(
    local: Replica, refuse: Replica, private: PrivateRedis
) -> None:
    checks = [redis_check(local.shared.ping, degrade=True)]
    assert (await run_checks(checks)).parts == {"redis": "ok"}
    private.stop()
    degraded = await run_checks(checks)
    assert degraded.ready and degraded.degraded == ["redis"]
    assert degraded.parts["redis"].startswith("degraded")
    failing = await run_checks([redis_check(refuse.shared.ping, degrade=False)])
    assert not failing.ready and failing.failing == ["redis"]


def in_flight(server: PrivateRedis) -> int:
    with server.client() as client:
        return int(client.zcard("imagegate:slots:cc:k"))


def slot(holder: str, limit: int = 5, deadline: float = 600.0) -> list[Take]:
    return [Take("cc:k", 1, deadline, limit, holder)]


async def test_slots_go_back_where_they_were_taken(local: Replica, private: PrivateRedis) -> None:
    assert not (await local.counters.take_all(slot("a", limit=2))).refused  # in Redis
    private.stop()
    assert not (await local.counters.take_all(slot("b", limit=2))).refused  # here: Redis is down
    assert (await local.local.take_all(slot("read", 0))).before == (1,)
    await local.counters.give_back([Slot("cc:k", "b")])  # the one taken here goes back here
    await local.counters.give_back([Slot("cc:k", "b")])  # twice: frees nothing else
    await local.counters.give_back([Slot("cc:k", "a")])  # the one Redis held is owed
    assert (await local.local.take_all(slot("read", 0))).before == (0,)
    private.start()  # empty (no persistence)
    await asyncio.sleep(PROBE)
    taken = await local.counters.take_all(slot("c", limit=2))
    assert local.shared.up and taken.before == (0,) and in_flight(private) == 1


async def test_owed_slots_are_given_back_when_redis_answers_again(
    local: Replica, private: PrivateRedis
) -> None:
    for holder in ("a", "b", "c"):
        await local.counters.take_all(slot(holder))
    assert in_flight(private) == 3
    private.freeze()
    await local.counters.give_back([Slot("cc:k", "a")])  # times out: Redis may still do it
    await local.counters.give_back([Slot("cc:k", "b")])  # Redis known down: owed
    private.thaw()  # carries out the first
    await asyncio.sleep(PROBE)
    taken = await local.counters.take_all(slot("d"))  # first the owed ones (a again: harmless)
    assert local.shared.up and taken.before == (1,) and in_flight(private) == 2


async def test_a_ghost_slot_of_a_frozen_redis_is_taken_out_or_dies_at_its_deadline(
    local: Replica, private: PrivateRedis
) -> None:
    """A take that timed out may still be carried out when Redis wakes: a slot nobody holds.
    The fallback owes its removal; and even unowed (another replica), it dies at its deadline."""
    await local.counters.take_all(slot("warm", 0))  # a connection, and the script loaded
    private.freeze()
    taken = await local.counters.take_all(slot("ghost", deadline=0.6))  # times out: counted here
    assert not taken.refused
    private.thaw()
    await eventually(lambda: in_flight(private) == 1, what="the ghost")  # carried out on waking
    await local.counters.give_back([Slot("cc:k", "ghost")])  # taken here: given back here
    assert (await local.local.take_all(slot("read", 0))).before == (0,)
    await asyncio.sleep(PROBE)
    taken = await local.counters.take_all(slot("next"))  # the owed removal goes first
    assert local.shared.up and taken.before == (0,)

    another = SharedRedis(redis_config(private.url, timeout=TIMEOUT))  # another replica's
    try:
        other = RedisCounters(another)
        await other.take_all(slot("warm", 0))
        private.freeze()
        with pytest.raises(RedisUnavailable) as timed_out:
            await other.take_all(slot("ghost2", deadline=0.6))
        assert timed_out.value.maybe_applied
    finally:
        private.thaw()
        await another.close()
    await eventually(lambda: in_flight(private) == 2, what="the ghost nobody will give back")
    await asyncio.sleep(0.6)
    taken = await local.counters.take_all(slot("read", 0))
    assert taken.before == (1,) and in_flight(private) == 1  # the ghost died: "next" lives


async def test_a_restart_between_calls_is_not_an_outage(
    local: Replica, private: PrivateRedis
) -> None:
    await timed(local)  # a pooled connection, which the restart breaks
    private.stop()
    private.start()
    await timed(local)
    assert local.shared.up and in_redis(private) == 1  # reconnected within the call
