"""``fetch.allow`` entries with ports, and refusals that keep internal DNS to the log."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterator, Sequence

import pytest
from pydantic import ValidationError

from app.config import FetchConfig
from app.config.allow import AllowRule, parse_allow_entry
from app.inputs.fetch import FetchError, SafeFetcher
from app.inputs.spool import Spool
from tests.support.images import png_bytes
from tests.support.upstream import FakeUpstream, Reply, fake_upstream

PNG = png_bytes()
net = ipaddress.ip_network


class FixedDNS:
    def __init__(self, **records: str | Sequence[str]) -> None:
        self.records = {host.replace("_", "."): v for host, v in records.items()}

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        answer = self.records.get(host)
        if answer is None:
            raise OSError("no such host")
        return [answer] if isinstance(answer, str) else list(answer)


@pytest.fixture
def server() -> Iterator[FakeUpstream]:
    with fake_upstream() as s:
        s.route("/img.png", Reply(body=PNG))
        yield s


async def fetch(url: str, allow: list[str], dns: FixedDNS | None = None) -> bytes:
    fetcher = SafeFetcher(FetchConfig(allow=allow), dns or FixedDNS())
    with Spool(threshold=1024) as spool:
        blob = await fetcher.fetch(url, spool.writer(), 10_000_000)
        with blob.open() as reader:
            return reader.read()


@pytest.mark.parametrize(
    ("entry", "rule"),
    [
        ("10.20.0.0/16", AllowRule(net("10.20.0.0/16"), None, None)),
        ("10.20.0.0/16:8080", AllowRule(net("10.20.0.0/16"), None, 8080)),
        ("10.0.0.5:443", AllowRule(net("10.0.0.5/32"), None, 443)),
        ("Assets.Internal", AllowRule(None, "assets.internal", None)),
        ("assets.internal:8443", AllowRule(None, "assets.internal", 8443)),
        ("*.assets.internal:443", AllowRule(None, "*.assets.internal", 443)),
        ("fd00::/8", AllowRule(net("fd00::/8"), None, None)),
        ("[fd00::/8]:443", AllowRule(net("fd00::/8"), None, 443)),
        ("[fd00::5]", AllowRule(net("fd00::5/128"), None, None)),
    ],
)
def test_entries_name_a_network_or_a_host_and_maybe_a_port(entry: str, rule: AllowRule) -> None:
    assert parse_allow_entry(entry) == rule


@pytest.mark.parametrize(
    "entry",
    [
        "assets.internal:0",
        "assets.internal:65536",
        "assets.internal:http",
        "10.0.0.0/8:",
        "[fd00::/8",
        "[fd00::/8]443",
        "fd00::/8:443",
        "a b",
        "host:80:90",
    ],
)
def test_malformed_entries_are_config_errors(entry: str) -> None:
    with pytest.raises(ValidationError, match="port|CIDR|IPv6"):
        FetchConfig(allow=[entry])


@pytest.mark.parametrize(
    ("entry", "admitted"),
    [
        ("assets.test", True),
        ("assets.test:{port}", True),
        ("assets.test:{other}", False),
        ("*.test:{port}", True),
        ("*.test:{other}", False),
        ("127.0.0.0/8", True),
        ("127.0.0.0/8:{port}", True),
        ("127.0.0.1:{other}", False),
    ],
)
async def test_an_entry_with_a_port_admits_that_port_only(
    entry: str, admitted: bool, server: FakeUpstream
) -> None:
    allow = [entry.format(port=server.port, other=server.port + 1)]
    url = f"http://assets.test:{server.port}/img.png"
    dns = FixedDNS(assets_test="127.0.0.1")
    if admitted:
        assert await fetch(url, allow, dns) == PNG
    else:
        with pytest.raises(FetchError) as info:
            await fetch(url, allow, dns)
        assert info.value.refused
        assert server.connections == 0


INTERNAL = {
    "loopback.test": "127.0.0.1",
    "private.test": "10.1.2.3",
    "metadata.test": "169.254.169.254",
    "cgnat.test": "100.64.0.1",
    "v6.test": "fd00::1",
    "mapped.test": "::ffff:127.0.0.1",
}


async def test_a_refused_name_does_not_say_how_it_resolves(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dns = FixedDNS(**{host.replace(".", "_"): address for host, address in INTERNAL.items()})
    messages = {}
    with caplog.at_level(logging.INFO, logger="app.inputs.fetch"):
        for host in INTERNAL:
            with pytest.raises(FetchError) as info:
                await fetch(f"http://{host}/x.png", [], dns)
            assert info.value.refused
            messages[host] = info.value.message
    assert len({message.replace(host, "HOST") for host, message in messages.items()}) == 1
    for host, message in messages.items():
        assert INTERNAL[host] not in message
        assert not {"loopback", "private", "link-local", "nat", "resolves"} & set(message.split())
    for host, address in INTERNAL.items():  # the operator still sees it
        shown = ipaddress.ip_address(address)
        assert f"{host} port 80: it resolves to {shown}" in caplog.text


async def test_a_refused_address_literal_still_says_what_it_is() -> None:
    with pytest.raises(FetchError, match="is a link-local address"):
        await fetch("http://169.254.169.254/latest", [])
