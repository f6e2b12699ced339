"""The SSRF guard: which addresses pipgate may connect to, and for which hosts.

An upstream page is untrusted input: its file, metadata and provenance URLs (PEP 503/691/658/740)
could point at a cloud metadata service, at localhost or at the company network. Every request
the upstream session makes is checked twice:

1. ``guard_middleware`` checks each URL, redirect hops included: http/https only, and a literal
   IP address must be public (or its host trusted).
2. ``GuardedResolver`` checks every address a host name resolves to, so a name that resolves
   (or re-binds) to 127.0.0.1 is refused at connect time.

Three kinds of target pass the address checks (``docs/security.md`` has the threat model):

- the configured upstreams' own origins and ``trusted_hosts`` (``proxy.trusted_origins``:
  scheme, host and port, never a whole host): any address;
- a host the upstreams' pages link to (every URL pipgate fetches comes from such a page) that
  resolves into the network of a configured upstream (the same /24, or /64 for IPv6), on
  port 80, 443 or an upstream's own port: behind a corporate resolver or an egress gateway,
  the public index and its file host both resolve to the gateway's non-global address, and
  the file host must not need configuring by name;
- anything that resolves to public addresses only.

Loopback, link-local (cloud metadata included), unspecified and multicast addresses are never
reached through the second rule. Every refusal names the URL, the host, the address, why, and
the setting that would allow it.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from proxy.address_kinds import (
    AddressVerdict,
    IPAddress,
    IPNetwork,
    classify,
    forbidden_reason,
    literal_ip,
    network_of,
)
from proxy.errors import ForbiddenTarget
from proxy.trusted_origins import DEFAULT_PORTS, TrustedOrigin, TrustedOrigins, normalize_host

if TYPE_CHECKING:
    from aiohttp.client_middlewares import ClientHandlerType

_log = logging.getLogger("pipgate.netguard")
_ALLOWED_SCHEMES = frozenset({"http", "https"})
_UPSTREAM_ADDRESSES_TTL = 60.0
TRUSTED_HOSTS_HINT = "trusted_hosts ([server] trusted_hosts, or PIPGATE_TRUSTED_HOSTS)"


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


def _entry(host: str, port: int) -> str:
    """The ``trusted_hosts`` entry that would trust ``host:port``."""
    shown = f"[{host}]" if ":" in host else host
    return shown if port in DEFAULT_PORTS.values() else f"{shown}:{port}"


def _refusal(host: str, port: int, shown: str, verdict: AddressVerdict, upstream_note: str) -> str:
    if verdict.never:
        why = "pipgate connects there only for a configured upstream or a trusted host"
    else:
        why = f"and it is not in the network of a configured upstream{upstream_note}"
    return f"host {host!r} resolves to {shown} (port {port}): {verdict.reason}; {why}. " + (
        f"To allow it, add {_entry(host, port)!r} to {TRUSTED_HOSTS_HINT}"
    )


class NetGuard:
    """The trust rules; shared by the middleware and the resolver.

    ``trusted`` origins pass every check (``proxy.trusted_origins``; plain strings are read
    as ``trusted_hosts`` entries). ``upstreams`` are the configured upstreams' origins: a
    linked host may share their resolved networks (``trust_upstream_network``), on the ports
    files are served from (80, 443 and the upstreams' own), never on another port.
    """

    def __init__(
        self,
        trusted: TrustedOrigins | Iterable[str | TrustedOrigin],
        upstreams: TrustedOrigins | Iterable[str | TrustedOrigin] = (),
        *,
        trust_upstream_network: bool = True,
    ) -> None:
        self.trusted = _origins(trusted)
        upstream_origins = _origins(upstreams)
        self.upstream_hosts = tuple(sorted(upstream_origins.hosts()))
        self.network_ports = frozenset(DEFAULT_PORTS.values()) | upstream_origins.ports()
        self.trust_upstream_network = trust_upstream_network

    def is_trusted(self, host: str, port: int) -> bool:
        return self.trusted.trusts_endpoint(host, port)

    def check_url(self, url: str) -> None:
        """Raise ``ForbiddenTarget`` unless ``url`` is http(s) to a trusted origin or a host
        that is not a literal non-public address."""
        host = check_scheme(url)
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = _port_of(url)
        if self.trusted.trusts(scheme, host, port):
            return
        if self.trusted.trusts_endpoint(host, port):
            raise ForbiddenTarget(
                f"refusing to fetch {url!r}: {_entry(host, port)} is trusted for another "
                f"scheme than {scheme}"
            )
        address = literal_ip(host)
        verdict = classify(address) if address is not None else None
        if verdict is not None:
            raise ForbiddenTarget(
                f"refusing to fetch {url!r}: {verdict.reason} (port {port}). To allow it, "
                f"add {_entry(host, port)!r} to {TRUSTED_HOSTS_HINT}"
            )

    def refused(
        self,
        host: str,
        port: int,
        addresses: Iterable[str],
        upstream_networks: Iterable[IPNetwork] = (),
    ) -> str | None:
        """Why ``host:port`` may not be reached at ``addresses``, or ``None`` if it may."""
        if self.is_trusted(host, port):
            return None
        networks = tuple(upstream_networks) if self._network_applies(port) else ()
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
            if self.trust_upstream_network and not self._network_applies(port):
                note = f" on a port its files are served from ({self._ports_text()})"
            return _refusal(host, port, text, verdict, note)
        return None

    def needs_upstream_networks(self, host: str, port: int, addresses: Iterable[str]) -> bool:
        """Whether the answer could change once the upstreams' networks are known."""
        if not self._network_applies(port) or self.is_trusted(host, port):
            return False
        for text in addresses:
            address = literal_ip(normalize_host(text))
            verdict = classify(address) if address is not None else None
            if verdict is not None and not verdict.never:
                return True
        return False

    def _network_applies(self, port: int) -> bool:
        return self.trust_upstream_network and port in self.network_ports

    def _ports_text(self) -> str:
        return ", ".join(map(str, sorted(self.network_ports)))


def _origins(value: TrustedOrigins | Iterable[str | TrustedOrigin]) -> TrustedOrigins:
    return value if isinstance(value, TrustedOrigins) else TrustedOrigins.from_entries(value)


def _port_of(url: str) -> int:
    parts = urlsplit(url)
    try:
        explicit = parts.port
    except ValueError as error:
        raise ForbiddenTarget(f"refusing to fetch {url!r}: {error}") from error
    return explicit or DEFAULT_PORTS[parts.scheme.lower()]


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
        if self._guard.needs_upstream_networks(host, port, addresses):
            networks = await self._upstream_networks()
        reason = self._guard.refused(host, port, addresses, networks)
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
                port = request.url.port or DEFAULT_PORTS.get(request.url.scheme, 0)
                await resolver.resolve(host, port, socket.AF_UNSPEC)
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
