"""``fetch.allow`` entries: the networks and host names whose private addresses may be fetched
from, each for any port or for one port only.

    10.20.0.0/16        10.20.0.0/16:8080       a network (any port; port 8080 only)
    10.20.0.5           10.20.0.5:443           one address
    assets.internal     assets.internal:8443    a host name, whatever it resolves to
    *.assets.internal   *.assets.internal:443   every name under a domain
    fd00::/8            [fd00::/8]:443          IPv6: brackets when a port follows
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_HOST = re.compile(r"^(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*$")


@dataclass(frozen=True)
class AllowRule:
    """One entry: a network or a host name pattern, and the one port it admits (None: any)."""

    network: IPNetwork | None
    host: str | None
    port: int | None

    def admits_host(self, host: str, port: int) -> bool:
        if self.host is None or self.port not in (None, port):
            return False
        if self.host.startswith("*."):
            return host.endswith(self.host[1:])
        return host == self.host

    def admits_address(self, address: IPAddress, port: int) -> bool:
        return self.network is not None and self.port in (None, port) and address in self.network


def parse_allow_entry(entry: str) -> AllowRule:
    """The rule an entry stands for; ValueError with a message fit for a config error."""
    text = entry.strip().lower()
    target, port = _split_port(text)
    network = _network(target)
    if network is not None:
        return AllowRule(network, None, port)
    if _HOST.match(target):
        return AllowRule(None, target, port)
    raise ValueError(
        f"'{entry}' is neither a CIDR, an IP address nor a host name, optionally followed by "
        "':port' (IPv6 with a port in brackets: '[fd00::/8]:443')"
    )


def _split_port(text: str) -> tuple[str, int | None]:
    if text.startswith("["):
        inner, closed, rest = text[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            raise ValueError(f"'{text}' is not '[IPv6 address or network]' or '[...]:port'")
        return inner, _port(rest[1:], text) if rest else None
    if text.count(":") == 1:  # host:port or IPv4[/n]:port; bare IPv6 has two colons or more
        target, _, port = text.partition(":")
        return target, _port(port, text)
    return text, None


def _port(value: str, entry: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise ValueError(f"'{entry}' has no valid port after ':' (1 to 65535)")
    return int(value)


def _network(entry: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return None
