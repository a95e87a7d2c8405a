"""The SSRF-safe fetcher: refused addresses are never connected to; allowed ones are pinned.

``connections`` records every TCP connect the process attempts, so "no connection" means none
at all, not just none that reached a test server.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import respx

from app.config import FetchConfig
from app.inputs.fetch import FetchError, SafeFetcher, refusal
from app.inputs.spool import Spool
from tests.support.images import png_bytes
from tests.support.upstream import FakeUpstream, Reply, fake_upstream

PNG = png_bytes()


class FakeDNS:
    """An injectable resolver: a fixed table, or answers that change between lookups."""

    def __init__(self, **records: str | Sequence[str]) -> None:
        self.records = {host.replace("_", "."): v for host, v in records.items()}
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append(host)
        answer = self.records.get(host)
        if answer is None:
            raise OSError("no such host")
        if isinstance(answer, str):
            return [answer]
        if answer and isinstance(answer[0], list):  # successive answers
            return answer[min(len(self.calls), len(answer)) - 1]
        return list(answer)


def fetcher(resolver: FakeDNS | None = None, **config: Any) -> SafeFetcher:
    return SafeFetcher(FetchConfig(**config), resolver or FakeDNS())


async def fetch(f: SafeFetcher, url: str, max_bytes: int = 10_000_000) -> bytes:
    with Spool(threshold=1024) as spool:
        blob = await f.fetch(url, spool.writer(), max_bytes)
        with blob.open() as reader:
            return reader.read()


@pytest.fixture
def server() -> Iterator[FakeUpstream]:
    with fake_upstream() as s:
        s.route("/img.png", Reply(body=PNG, headers={"content-type": "image/png"}))
        yield s


@pytest.fixture
def server6() -> Iterator[FakeUpstream]:
    with fake_upstream("::1") as s:
        s.route("/img.png", Reply(body=PNG))
        yield s


@pytest.fixture
def other() -> Iterator[FakeUpstream]:
    """A second server, on 127.0.0.2: the target of rebinding and redirect attacks."""
    with fake_upstream("127.0.0.2") as s:
        s.route("/img.png", Reply(body=PNG))
        yield s


# --- the address policy --------------------------------------------------------------------

REFUSED = [
    "127.0.0.1", "127.255.255.254", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254",
    "100.64.0.1", "0.0.0.0", "0.1.2.3", "224.0.0.1", "239.255.255.250", "255.255.255.255",
    "240.0.0.1", "198.18.0.1", "192.0.2.1", "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1",
    "fec0::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
    "2002:7f00:1::1", "2002:a9fe:a9fe::1", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "2001::1",
    "2001:db8::1", "::127.0.0.1",
]  # fmt: skip
PUBLIC = ["8.8.8.8", "93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001::1",
          "::ffff:8.8.8.8", "2002:808:808::1"]  # fmt: skip


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


def test_refusals_say_what_the_address_is() -> None:
    assert refusal(ipaddress.ip_address("169.254.169.254")) == "a link-local address"
    assert (
        refusal(ipaddress.ip_address("::ffff:127.0.0.1")) == "a loopback address (embedded in IPv6)"
    )
    assert refusal(ipaddress.ip_address("100.64.0.1")) == "a carrier-grade NAT address"


# --- the SSRF matrix: nothing is connected to ----------------------------------------------

DNS = FakeDNS(
    localhost=["127.0.0.1", "::1"],
    metadata_test="169.254.169.254",
    mixed_test=["93.184.216.34", "127.0.0.1"],  # one bad address refuses the host
    internal_test="10.1.2.3",
    v6_test="fd00::1",
    mapped_test="::ffff:127.0.0.1",
    **{"2130706433": "127.0.0.1"},  # what getaddrinfo makes of a decimal IPv4 address
)
SSRF = [
    "http://127.0.0.1:{port}/img.png",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]:{port6}/img.png",
    "http://10.0.0.1/",
    "http://0.0.0.0:{port}/img.png",
    "http://[::ffff:127.0.0.1]:{port}/img.png",
    "http://[::ffff:7f00:1]:{port}/img.png",
    "http://[fe80::1]/",
    "https://127.0.0.1:{port}/img.png",
    "http://localhost:{port}/img.png",
    "http://LOCALHOST:{port}/img.png",
    "http://metadata.test/latest/meta-data",
    "http://mixed.test:{port}/img.png",
    "http://internal.test/",
    "http://v6.test/",
    "http://mapped.test:{port}/img.png",
    "http://2130706433:{port}/img.png",
    "file:///etc/passwd",
    "gopher://x",
    "ftp://example.com/img.png",
    "http://user:secret@93.184.216.34/img.png",
]


@pytest.mark.parametrize("template", SSRF)
async def test_refused_urls_are_never_connected_to(
    template: str,
    server: FakeUpstream,
    server6: FakeUpstream,
    connections: list[tuple[str, int]],
) -> None:
    url = template.format(port=server.port, port6=server6.port)
    with pytest.raises(FetchError) as info:
        await fetch(fetcher(DNS), url)
    assert info.value.refused
    assert connections == []
    assert server.connections == server6.connections == 0


async def test_unresolvable_hosts_fail_without_connecting(
    connections: list[tuple[str, int]],
) -> None:
    with pytest.raises(FetchError, match="could not be resolved"):
        await fetch(fetcher(FakeDNS()), "http://nowhere.test/img.png")
    assert connections == []


# --- allowed fetches are pinned to the checked address --------------------------------------


async def test_the_allow_list_admits_a_private_asset_server_and_pins_the_address(
    server: FakeUpstream, connections: list[tuple[str, int]]
) -> None:
    dns = FakeDNS(assets_test="127.0.0.1")
    f = fetcher(dns, allow=["127.0.0.1/32"])
    assert await fetch(f, f"http://assets.test:{server.port}/img.png") == PNG
    assert dns.calls == ["assets.test"]
    assert connections == [("127.0.0.1", server.port)]
    seen = server.requests[0]
    assert seen.headers["host"] == f"assets.test:{server.port}"
    assert seen.headers["accept-encoding"] == "identity"


@pytest.mark.parametrize(
    ("allow", "host", "admitted"),
    [
        (["assets.test"], "assets.test", True),
        (["assets.test"], "sub.assets.test", False),
        (["*.internal"], "cdn.internal", True),
        (["*.internal"], "internal", False),
        (["*.internal"], "evilinternal", False),
        (["127.0.0.0/8"], "anything.test", True),
        (["10.0.0.0/8"], "anything.test", False),
    ],
)
async def test_allow_list_entries(
    allow: list[str], host: str, admitted: bool, server: FakeUpstream
) -> None:
    f = fetcher(FakeDNS(**{host: "127.0.0.1"}), allow=allow)
    url = f"http://{host}:{server.port}/img.png"
    if admitted:
        assert await fetch(f, url) == PNG
    else:
        with pytest.raises(FetchError):
            await fetch(f, url)
        assert server.connections == 0


async def test_dns_rebinding_has_no_window(
    server: FakeUpstream, other: FakeUpstream, connections: list[tuple[str, int]]
) -> None:
    """The name is looked up once; a second answer (127.0.0.2) is never asked for or used."""
    dns = FakeDNS(flip_test=[["127.0.0.1"], ["127.0.0.2"]])  # type: ignore[list-item]
    f = fetcher(dns, allow=["127.0.0.1/32"])
    assert await fetch(f, f"http://flip.test:{server.port}/img.png") == PNG
    assert dns.calls == ["flip.test"]
    assert other.connections == 0
    assert {address for address, _ in connections} == {"127.0.0.1"}


# --- redirects ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.2:{other}/img.png",
        "http://internal.test:{other}/img.png",
        "http://[::ffff:127.0.0.2]:{other}/img.png",
        "file:///etc/passwd",
        "gopher://127.0.0.2:{other}/",
    ],
)
async def test_a_redirect_to_a_refused_address_is_not_followed(
    location: str, server: FakeUpstream, other: FakeUpstream, connections: list[tuple[str, int]]
) -> None:
    server.route("/start", Reply(302, headers={"location": location.format(other=other.port)}))
    dns = FakeDNS(public_test="127.0.0.1", internal_test="127.0.0.2")
    f = fetcher(dns, allow=["127.0.0.1/32"])  # as if public.test were a public host
    with pytest.raises(FetchError) as info:
        await fetch(f, f"http://public.test:{server.port}/start")
    assert info.value.refused
    assert other.connections == 0
    assert {address for address, _ in connections} == {"127.0.0.1"}


async def test_relative_redirects_are_followed_and_checked(server: FakeUpstream) -> None:
    server.route("/start", Reply(301, headers={"location": "/img.png"}))
    f = fetcher(FakeDNS(cdn_test="127.0.0.1"), allow=["127.0.0.1/32"])
    assert await fetch(f, f"http://cdn.test:{server.port}/start") == PNG
    assert [r.path for r in server.requests] == ["/start", "/img.png"]
    assert server.requests[1].headers["host"] == f"cdn.test:{server.port}"


async def test_redirects_are_followed_only_a_few_times(server: FakeUpstream) -> None:
    server.route("/loop", Reply(302, headers={"location": "/loop"}))
    f = fetcher(FakeDNS(), allow=["127.0.0.1/32"], max_redirects=3)
    with pytest.raises(FetchError, match="redirected more than 3 times"):
        await fetch(f, f"http://127.0.0.1:{server.port}/loop")
    assert len(server.requests) == 4


# --- size, time, and what the server says --------------------------------------------------


@pytest.mark.parametrize("declared", [True, False])
async def test_bodies_over_the_cap_are_refused(server: FakeUpstream, declared: bool) -> None:
    server.route("/big", Reply(body=b"\0" * 50_000, length=declared))
    f = fetcher(allow=["127.0.0.1/32"])
    with pytest.raises(FetchError) as info:
        await fetch(f, f"http://127.0.0.1:{server.port}/big", max_bytes=10_000)
    assert info.value.too_large


async def test_a_slow_server_hits_the_deadline(server: FakeUpstream) -> None:
    server.route("/slow", Reply(body=PNG, delay=10))
    f = fetcher(allow=["127.0.0.1/32"], timeout=0.3)
    started = time.monotonic()
    with pytest.raises(FetchError, match="did not answer in time|longer than"):
        await fetch(f, f"http://127.0.0.1:{server.port}/slow")
    assert time.monotonic() - started < 5  # cut at 0.3 s, not the reply's 10 s (a loaded CI)


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (Reply(404, b"nope"), "HTTP 404"),
        (Reply(200, PNG, headers={"content-encoding": "gzip"}), "compressed"),
    ],
)
async def test_unusable_answers(server: FakeUpstream, reply: Reply, message: str) -> None:
    server.route("/x", reply)
    with pytest.raises(FetchError, match=message):
        await fetch(fetcher(allow=["127.0.0.1/32"]), f"http://127.0.0.1:{server.port}/x")


async def test_a_closed_port_is_unreachable() -> None:
    with fake_upstream() as s:
        port = s.port
    with pytest.raises(FetchError, match="could not be reached"):
        await fetch(fetcher(allow=["127.0.0.1/32"]), f"http://127.0.0.1:{port}/img.png")


async def test_large_bodies_are_spooled_to_disk(server: FakeUpstream) -> None:
    body = PNG + b"\0" * 300_000
    server.route("/big.png", Reply(body=body))
    f = fetcher(allow=["127.0.0.1/32"])
    with Spool(threshold=64 * 1024) as spool:
        blob = await f.fetch(f"http://127.0.0.1:{server.port}/big.png", spool.writer(), 10**6)
        assert spool.open_files == 1 and blob.size == len(body)
        with blob.open() as reader:
            assert reader.read() == body


async def test_https_connects_to_the_checked_address_with_the_names_sni_and_host(
    connections: list[tuple[str, int]],
) -> None:
    """respx stands in for the network: the request is pinned to the resolved public address,
    while TLS (SNI and certificate checks) and the Host header use the name."""
    with respx.mock(assert_all_mocked=True) as router:
        route = router.get("https://93.184.216.34/cat.png").respond(200, content=PNG)
        f = fetcher(FakeDNS(cdn_example="93.184.216.34"))
        assert await fetch(f, "https://cdn.example/cat.png") == PNG
    request = route.calls.last.request
    assert request.extensions["sni_hostname"] == "cdn.example"
    assert request.headers["host"] == "cdn.example"
    assert connections == []
