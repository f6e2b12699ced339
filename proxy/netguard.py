"""The SSRF guard: which addresses pipgate may connect to, and for which hosts.

An upstream page is untrusted input: its file, metadata and provenance URLs (PEP 503/691/658/740)
could point at a cloud metadata service, at localhost or at the company network. Every request
the upstream session makes is checked twice:

1. ``guard_middleware`` checks each URL, redirect hops included: http/https only, and a literal
   IP address must be public (or its host trusted).
2. ``GuardedResolver`` checks every address a host name resolves to, so a name that resolves
   (or re-binds) to 127.0.0.1 is refused at connect time.

Three kinds of host pass the address checks (``docs/security.md`` has the threat model):

- the configured upstreams' own hosts and ``trusted_hosts``: any address;
- a host the upstreams' pages link to (every URL pipgate fetches comes from such a page) that
  resolves into the network of a configured upstream (the same /24, or /64 for IPv6): behind a
  corporate resolver or an egress gateway, the public index and its file host both resolve to
  the gateway's non-global address, and the file host must not need configuring by name;
- anything that resolves to public addresses only.

Loopback, link-local (cloud metadata included), unspecified and multicast addresses are never
reached through the second rule. Every refusal names the URL, the host, the address, why, and
the setting that would allow it.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from proxy.errors import ForbiddenTarget

if TYPE_CHECKING:
    from aiohttp.client_middlewares import ClientHandlerType

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_log = logging.getLogger("pipgate.netguard")
_ALLOWED_SCHEMES = frozenset({"http", "https"})
# IPv6 prefixes that carry an IPv4 address a gateway will connect to on our behalf.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Metadata services at addresses that are not link-local (AWS over IPv6, Alibaba Cloud).
_METADATA = frozenset(ipaddress.ip_address(a) for a in ("fd00:ec2::254", "100.100.100.200"))
_UPSTREAM_PREFIX = {4: 24, 6: 64}
_UPSTREAM_ADDRESSES_TTL = 60.0
TRUSTED_HOSTS_HINT = "trusted_hosts ([server] trusted_hosts, or PIPGATE_TRUSTED_HOSTS)"


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


def normalize_host(host: str) -> str:
    """Lower-case, no IPv6 brackets, no zone id, no trailing dot: the form hosts are compared in."""
    host = host.strip().lower().removeprefix("[").removesuffix("]")
    return host.split("%", 1)[0].rstrip(".")


def literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def network_of(address: IPAddress) -> IPNetwork:
    """The network an upstream at ``address`` is taken to share with its own file hosts."""
    prefix = _UPSTREAM_PREFIX[address.version]
    return ipaddress.ip_network(f"{address}/{prefix}", strict=False)


def check_scheme(url: str) -> str:
    """Raise ``ForbiddenTarget`` unless ``url`` is an http(s) URL with a host; return the host."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in _ALLOWED_SCHEMES:
        raise ForbiddenTarget(
            f"refusing to fetch {url!r}: scheme {parts.scheme!r} is not http or https"
        )
    host = normalize_host(parts.hostname or "")
    if not host:
        raise ForbiddenTarget(f"refusing to fetch {url!r}: it has no host")
    return host


def _refusal(host: str, shown: str, verdict: AddressVerdict, upstream_note: str) -> str:
    if verdict.never:
        why = "pipgate connects there only for a configured upstream or a trusted host"
    else:
        why = f"and it is not in the network of a configured upstream{upstream_note}"
    return f"host {host!r} resolves to {shown}: {verdict.reason}; {why}. " + (
        f"To allow it, add {host!r} to {TRUSTED_HOSTS_HINT}"
    )


class NetGuard:
    """The trust rules; shared by the middleware and the resolver.

    ``allowed_hosts`` pass every check; ``upstream_hosts`` are the configured upstreams', whose
    resolved networks a linked host may share (``trust_upstream_network``).
    """

    def __init__(
        self,
        allowed_hosts: Iterable[str],
        upstream_hosts: Iterable[str] = (),
        *,
        trust_upstream_network: bool = True,
    ) -> None:
        self.allowed_hosts = frozenset(normalize_host(h) for h in allowed_hosts if h.strip())
        self.upstream_hosts = tuple(
            sorted({normalize_host(h) for h in upstream_hosts if h.strip()})
        )
        self.trust_upstream_network = trust_upstream_network

    def is_allowed_host(self, host: str) -> bool:
        return normalize_host(host) in self.allowed_hosts

    def check_url(self, url: str) -> None:
        """Raise ``ForbiddenTarget`` unless ``url`` is http(s) to an allowed or public host."""
        host = check_scheme(url)
        if host in self.allowed_hosts:
            return
        address = literal_ip(host)
        verdict = classify(address) if address is not None else None
        if verdict is not None:
            raise ForbiddenTarget(
                f"refusing to fetch {url!r}: {verdict.reason}. To allow it, add {host!r} to "
                f"{TRUSTED_HOSTS_HINT}"
            )

    def refused(
        self, host: str, addresses: Iterable[str], upstream_networks: Iterable[IPNetwork] = ()
    ) -> str | None:
        """Why ``host`` may not be reached at ``addresses``, or ``None`` if it may."""
        if self.is_allowed_host(host):
            return None
        networks = tuple(upstream_networks) if self.trust_upstream_network else ()
        for text in addresses:
            address = literal_ip(normalize_host(text))
            if address is None:
                return f"host {host!r} resolves to {text!r}, which is not an IP address"
            verdict = classify(address)
            if verdict is None:
                continue
            if not verdict.never and any(address in network for network in networks):
                continue
            note = f" ({', '.join(map(str, networks))})" if networks else ""
            return _refusal(host, text, verdict, note)
        return None

    def needs_upstream_networks(self, host: str, addresses: Iterable[str]) -> bool:
        """Whether the answer could change once the upstreams' networks are known."""
        if not self.trust_upstream_network or self.is_allowed_host(host):
            return False
        for text in addresses:
            address = literal_ip(normalize_host(text))
            verdict = classify(address) if address is not None else None
            if verdict is not None and not verdict.never:
                return True
        return False


class GuardedResolver(AbstractResolver):
    """Resolves with ``inner`` and refuses any result that ``guard`` forbids (DNS rebinding)."""

    def __init__(self, guard: NetGuard, inner: AbstractResolver | None = None) -> None:
        self._guard = guard
        self._inner = inner if inner is not None else DefaultResolver()
        self._networks: tuple[IPNetwork, ...] = ()
        self._networks_at = -_UPSTREAM_ADDRESSES_TTL
        self._trusted_seen: set[str] = set()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        addresses = [result["host"] for result in results]
        networks: tuple[IPNetwork, ...] = ()
        if self._guard.needs_upstream_networks(host, addresses):
            networks = await self._upstream_networks()
        reason = self._guard.refused(host, addresses, networks)
        if reason is not None:
            raise ForbiddenTarget(reason)
        if networks and host not in self._trusted_seen:
            self._trusted_seen.add(host)
            _log.info(
                "trusting %s at %s: linked from a configured upstream and in its network (%s)",
                host,
                ", ".join(addresses),
                ", ".join(map(str, networks)),
            )
        return results

    async def _upstream_networks(self) -> tuple[IPNetwork, ...]:
        now = time.monotonic()
        if now - self._networks_at < _UPSTREAM_ADDRESSES_TTL:
            return self._networks
        networks: set[IPNetwork] = set()
        for host in self._guard.upstream_hosts:
            for address in await self._addresses_of(host):
                verdict = classify(address)
                # An upstream on loopback lends no trust: that rule is never derived.
                if verdict is None or not verdict.never:
                    networks.add(network_of(address))
        self._networks = tuple(sorted(networks, key=str))
        self._networks_at = now
        return self._networks

    async def _addresses_of(self, host: str) -> list[IPAddress]:
        literal = literal_ip(host)
        if literal is not None:
            return [literal]
        try:
            results = await self._inner.resolve(host, 0, socket.AF_UNSPEC)
        except OSError as error:
            _log.warning("cannot resolve upstream host %s: %s", host, error)
            return []
        return [a for r in results if (a := literal_ip(normalize_host(r["host"]))) is not None]

    async def close(self) -> None:
        await self._inner.close()


def guard_middleware(guard: NetGuard, resolver: GuardedResolver) -> aiohttp.ClientMiddlewareType:
    """A client middleware: aiohttp runs it for the first request and for every redirect hop.

    Through an outbound proxy the connector resolves only the proxy's name, so the target's
    name is resolved here and judged the same way. A name that does not resolve here (usual
    behind a proxy) is left to the proxy: only the proxy knows where it leads.
    """

    async def check(
        request: aiohttp.ClientRequest, handler: ClientHandlerType
    ) -> aiohttp.ClientResponse:
        url = str(request.url)
        guard.check_url(url)
        host = normalize_host(request.url.host or "")
        if request.proxy is not None and literal_ip(host) is None:
            try:
                await resolver.resolve(host, request.url.port or 0, socket.AF_UNSPEC)
            except ForbiddenTarget as error:
                raise ForbiddenTarget(f"refusing to fetch {url!r}: {error}") from error
            except OSError:
                pass
        try:
            return await handler(request)
        except ForbiddenTarget as error:
            # The resolver only knows the host; say which URL it was for.
            raise ForbiddenTarget(f"refusing to fetch {url!r}: {error}") from error

    return check


__all__ = [
    "TRUSTED_HOSTS_HINT",
    "AddressVerdict",
    "GuardedResolver",
    "NetGuard",
    "check_scheme",
    "classify",
    "forbidden_reason",
    "guard_middleware",
    "literal_ip",
    "network_of",
    "normalize_host",
]
