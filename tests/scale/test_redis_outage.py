"""Redis stopped mid-load under three replicas (a private redis-server): no request waits past
the Redis timeout; the two ``on_failure: local`` replicas keep serving with per-process
limits and say degraded, the ``refuse`` one answers 503 ``shared_state_unavailable`` to the
requests that need Redis (and only those); all recover when Redis is back. Before that, the
Redis commands a request costs are counted (MONITOR)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count

import httpx
import pytest

from tests.scale.conftest import Fleet, post, start_fleet, wait_for
from tests.support.redis import PrivateRedis, command_names, private_redis

TIMEOUT = 0.25
LOCAL, REFUSE = "local", "refuse"
POLICIES = (LOCAL, LOCAL, REFUSE)
FREEZE = 3.0  # seconds Redis hangs: far longer than its timeout, so a call that hung shows


@pytest.fixture(scope="module")
def server() -> Iterator[PrivateRedis]:
    yield from private_redis()


@pytest.fixture(scope="module")
def fleet(
    tmp_path_factory: pytest.TempPathFactory, upstream, postgres_url: str, server: PrivateRedis
) -> Iterator[Fleet]:
    options = [{"url": server.url, "prefix": "outage", "timeout": TIMEOUT, "on_failure": policy,
                "probe_interval": 0.5} for policy in POLICIES]  # fmt: skip
    yield from start_fleet(tmp_path_factory.mktemp("outage"), upstream, postgres_url, options)


@dataclass(frozen=True)
class Outcome:
    replica: int
    started: float
    seconds: float
    status: int
    code: str | None
    retry_after: str | None


def load(fleet: Fleet, secret: str, stop: threading.Event, out: list[Outcome]) -> None:
    turns = count()
    while not stop.is_set():
        replica = next(turns) % len(fleet.replicas)
        started = time.monotonic()
        response = post(fleet.replicas[replica].url, secret)
        code = response.json()["error"]["code"] if response.status_code != 200 else None
        out.append(Outcome(replica, started, time.monotonic() - started, response.status_code,
                           code, response.headers.get("retry-after")))  # fmt: skip


def readiness(fleet: Fleet, replica: int) -> tuple[int, str]:
    response = httpx.get(f"{fleet.replicas[replica].url}/readyz", timeout=5)
    return response.status_code, response.json()["status"]


def test_redis_commands_per_request(fleet: Fleet, server: PrivateRedis) -> None:
    limited = fleet.key(requests_per_minute=1000, images_per_minute=1000, max_concurrent=50)
    unlimited = fleet.key()
    for secret in (limited, unlimited):  # warm: scripts loaded, connections open
        assert post(fleet.replicas[0].url, secret).status_code == 200
    requests = 30
    with server.monitor() as sent:
        for i in range(requests):
            assert post(fleet.replicas[i % 3].url, limited).status_code == 200
        time.sleep(0.3)  # the concurrency slots are given back off the request path
        for i in range(requests):
            assert post(fleet.replicas[i % 3].url, unlimited).status_code == 200
    per_request = [line for line in sent if ":cool:" not in line]  # not the cooldown reader
    commands = Counter(command_names(per_request))
    assert commands.pop("evalsha") == requests  # one script to admit
    assert commands.pop("zrem") == requests  # and, off the request path, the slot given back
    assert commands.pop("hello", 0) <= 6  # a new pooled connection's handshake, not per request
    assert not commands
    taking = [line for line in per_request if ":c:rpm:" in line]  # admission takes all three
    assert len(taking) == requests and all(":slots:cc:" in line for line in taking)


def test_redis_commands_per_idempotent_request(fleet: Fleet, server: PrivateRedis) -> None:
    secret = fleet.key()
    requests = 12
    with server.monitor() as sent:
        for i in range(requests):
            key = {"idempotency-key": f"rt-{i}"}
            assert post(fleet.replicas[i % 3].url, secret, headers=key).status_code == 200
    commands = Counter(command_names([line for line in sent if ":cool:" not in line]))
    commands.pop("hello", None)
    assert commands == {"set": 2 * requests}  # the claim (SET NX PX GET), then "done"


def test_redis_stopped_mid_load(fleet: Fleet, server: PrivateRedis) -> None:
    rated = fleet.key(images_per_minute=100_000)
    plain = fleet.key()  # no limits: needs nothing from Redis
    outcomes: list[Outcome] = []
    stop = threading.Event()
    workers = [threading.Thread(target=load, args=(fleet, rated, stop, outcomes))
               for _ in range(6)]  # fmt: skip
    for worker in workers:
        worker.start()
    try:
        time.sleep(0.5)
        down = time.monotonic()
        server.freeze()  # first the worst case: connections hang
        time.sleep(FREEZE)
        server.stop()  # then the port refuses
        time.sleep(0.5)
        during = {replica: readiness(fleet, replica) for replica in range(3)}
        plain_on_refuse = post(fleet.replicas[2].url, plain).status_code
        idempotent = [post(fleet.replicas[i].url, rated, headers={"idempotency-key": "o-1"})
                      for i in (0, 1)]  # fmt: skip
        server.start()
        up = time.monotonic()

        def refuse_replica_serves_again() -> bool:
            return any(o.replica == 2 and o.status == 200 and o.started > up for o in outcomes)

        wait_for(refuse_replica_serves_again, within=10.0, what="the refuse replica recovers")
        recovered = time.monotonic()
        time.sleep(0.5)
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    # nothing hangs on a dead Redis: a hung call would wait out the freeze; the bound leaves
    # room for a loaded CI machine's slow requests
    assert max(o.seconds for o in outcomes) < FREEZE - 0.5
    outage = [o for o in outcomes if down <= o.started < up]
    assert outage
    for replica, policy in enumerate(POLICIES):
        theirs = [o for o in outage if o.replica == replica]
        assert theirs
        if policy == LOCAL:  # per-process limits meanwhile
            assert {o.status for o in theirs} == {200}
        else:
            refused = [o for o in theirs if o.status == 503]
            assert refused and {o.status for o in theirs} <= {200, 503}
            assert {o.code for o in refused} == {"shared_state_unavailable"}
            assert all(o.retry_after for o in refused)
    assert during == {0: (200, "degraded"), 1: (200, "degraded"), 2: (503, "unready")}
    assert plain_on_refuse == 200
    assert [r.status_code for r in idempotent] == [200, 200]
    assert len({httpx.URL(r.json()["data"][0]["url"]).path for r in idempotent}) == 1
    after = [o for o in outcomes if o.started > recovered]
    assert after and {o.status for o in after} == {200}
    with server.client() as client:  # counted in Redis again
        assert list(client.scan_iter(match="outage:c:ipm:*"))
    for replica in range(3):
        assert readiness(fleet, replica) == (200, "ready")
    for replica, policy in enumerate(POLICIES):
        log = fleet.replicas[replica].log()
        assert log.count("Redis does not answer") >= 1
        assert "answers again" in log
        assert ("refused (503" in log) == (policy == REFUSE)
