"""Kinds of IP address: which ones pipgate may connect to for an untrusted host, and which
never (loopback, link-local, cloud metadata), seeing through the IPv6 forms that embed an
IPv4 address. Pure functions; ``proxy.netguard`` applies them."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# IPv6 prefixes that carry an IPv4 address a gateway will connect to on our behalf.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Metadata services at addresses that are not link-local (AWS over IPv6, Alibaba Cloud).
_METADATA = frozenset(ipaddress.ip_address(a) for a in ("fd00:ec2::254", "100.100.100.200"))
_UPSTREAM_PREFIX = {4: 24, 6: 64}


@dataclass(frozen=True, slots=True)
class AddressVerdict:
    """Why an address is not public; ``never``: not even a host in the upstream's network."""

    reason: str
    never: bool


def classify(address: IPAddress) -> AddressVerdict | None:
    """What stands against connecting to ``address``, or ``None`` if it is a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            inner = classify(embedded)
            if inner is None:
                return None
            return AddressVerdict(f"{inner.reason} (embedded in {address})", inner.never)
    if address in _METADATA:
        return AddressVerdict(f"{address} is a cloud metadata address", never=True)
    for label, flagged, never in (
        ("an unspecified", address.is_unspecified, True),
        ("a loopback", address.is_loopback, True),
        ("a link-local", address.is_link_local, True),
        ("a multicast", address.is_multicast, True),
        ("a reserved", address.is_reserved, False),
        ("a private", address.is_private, False),
        (
            "a site-local",
            isinstance(address, ipaddress.IPv6Address) and address.is_site_local,
            False,
        ),
    ):
        if flagged:
            return AddressVerdict(f"{address} is {label} address", never)
    if not address.is_global:
        return AddressVerdict(f"{address} is not a globally routable address", never=False)
    return None


def forbidden_reason(address: IPAddress) -> str | None:
    """Why pipgate must not connect to ``address`` for an untrusted host, or ``None``."""
    verdict = classify(address)
    return verdict.reason if verdict is not None else None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    # Each of these forms makes the kernel or a gateway reach the embedded IPv4 address,
    # so ::ffff:127.0.0.1 must be judged as 127.0.0.1.
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def network_of(address: IPAddress) -> IPNetwork:
    """The network an upstream at ``address`` is taken to share with its own file hosts."""
    prefix = _UPSTREAM_PREFIX[address.version]
    return ipaddress.ip_network(f"{address}/{prefix}", strict=False)


__all__ = [
    "AddressVerdict",
    "IPAddress",
    "IPNetwork",
    "classify",
    "forbidden_reason",
    "literal_ip",
    "network_of",
]
