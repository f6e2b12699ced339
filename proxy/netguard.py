"""The SSRF guard: pipgate only ever connects to public addresses, or to hosts it was told to trust.

An upstream page is untrusted input: its file, metadata and provenance URLs (PEP 503/691/658/740)
could point at a cloud metadata service, at localhost or at the company network. Every request
the upstream session makes is checked twice:

1. ``guard_middleware`` checks each URL, redirect hops included: http/https only, and a literal
   IP address must be public.
2. ``GuardedResolver`` checks every address a host name resolves to, so a name that resolves
   (or re-binds) to 127.0.0.1 is refused at connect time.

The configured upstreams' own hosts and ``settings.trusted_hosts`` are exempt from both address
checks (a private index on the company network is a normal set-up). Violations raise
``ForbiddenTarget`` naming the URL or host and the reason.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from proxy.errors import ForbiddenTarget

if TYPE_CHECKING:
    from aiohttp.client_middlewares import ClientHandlerType

    from proxy.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_ALLOWED_SCHEMES = frozenset({"http", "https"})
# IPv6 prefixes that carry an IPv4 address a gateway will connect to on our behalf.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def forbidden_reason(address: IPAddress) -> str | None:
    """Why pipgate must not connect to ``address``, or ``None`` if it is a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            reason = forbidden_reason(embedded)
            return f"{reason} (embedded in {address})" if reason else None
    for label, flagged in (
        ("an unspecified", address.is_unspecified),
        ("a loopback", address.is_loopback),
        ("a link-local", address.is_link_local),
        ("a multicast", address.is_multicast),
        ("a reserved", address.is_reserved),
        ("a private", address.is_private),
        ("a site-local", isinstance(address, ipaddress.IPv6Address) and address.is_site_local),
    ):
        if flagged:
            return f"{address} is {label} address"
    if not address.is_global:
        return f"{address} is not a globally routable address"
    return None


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


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


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


class NetGuard:
    """The allow-list and the checks; shared by the middleware and the resolver."""

    def __init__(self, allowed_hosts: Iterable[str]) -> None:
        self.allowed_hosts = frozenset(normalize_host(h) for h in allowed_hosts if h.strip())

    def is_allowed_host(self, host: str) -> bool:
        return normalize_host(host) in self.allowed_hosts

    def check_url(self, url: str) -> None:
        """Raise ``ForbiddenTarget`` unless ``url`` is http(s) to an allowed or public host."""
        host = check_scheme(url)
        if host in self.allowed_hosts:
            return
        address = _literal_ip(host)
        reason = forbidden_reason(address) if address is not None else None
        if reason:
            raise ForbiddenTarget(f"refusing to fetch {url!r}: {reason}")

    def check_resolved(self, host: str, addresses: Iterable[str]) -> None:
        """Raise ``ForbiddenTarget`` if a non-allowed ``host`` resolved to a forbidden address."""
        if self.is_allowed_host(host):
            return
        for text in addresses:
            address = _literal_ip(normalize_host(text))
            reason = "it is not an IP address" if address is None else forbidden_reason(address)
            if reason:
                raise ForbiddenTarget(f"host {host!r} resolves to {text}: {reason}")


class GuardedResolver(AbstractResolver):
    """Resolves with ``inner`` and refuses any result that ``guard`` forbids (DNS rebinding)."""

    def __init__(self, guard: NetGuard, inner: AbstractResolver | None = None) -> None:
        self._guard = guard
        self._inner = inner if inner is not None else DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        self._guard.check_resolved(host, (result["host"] for result in results))
        return results

    async def close(self) -> None:
        await self._inner.close()


def guard_middleware(guard: NetGuard) -> aiohttp.ClientMiddlewareType:
    """A client middleware: aiohttp runs it for the first request and for every redirect hop."""

    async def check(
        request: aiohttp.ClientRequest, handler: ClientHandlerType
    ) -> aiohttp.ClientResponse:
        url = str(request.url)
        guard.check_url(url)
        try:
            return await handler(request)
        except ForbiddenTarget as error:
            # The resolver only knows the host; say which URL it was for.
            raise ForbiddenTarget(f"refusing to fetch {url!r}: {error}") from error

    return check


def allowed_hosts(settings: Settings) -> frozenset[str]:
    """The hosts exempt from the address checks: every configured upstream's and the trusted."""
    urls = [settings.upstream, *(upstream.url for upstream in settings.upstreams)]
    hosts = {normalize_host(urlsplit(url).hostname or "") for url in urls}
    hosts.update(normalize_host(host) for host in settings.trusted_hosts)
    hosts.discard("")
    return frozenset(hosts)


def user_agent() -> str:
    try:
        return f"pipgate/{version('pipgate')}"
    except PackageNotFoundError:
        # Running from a source checkout that was never installed.
        return "pipgate/0+unknown"


def create_session(
    settings: Settings,
    allowed: Iterable[str],
    *,
    resolver: AbstractResolver | None = None,
) -> aiohttp.ClientSession:
    """The one upstream session; create it in the app's lifespan (it needs a running loop).

    ``resolver`` replaces the system resolver under the guard (tests use it for DNS rebinding).
    """
    guard = NetGuard(allowed)
    connector = aiohttp.TCPConnector(
        resolver=GuardedResolver(guard, resolver),
        limit=100,
        limit_per_host=32,
        ttl_dns_cache=60,
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(
            total=None,
            sock_connect=settings.connect_timeout,
            sock_read=settings.upstream_timeout,
        ),
        headers={"User-Agent": user_agent()},
        middlewares=(guard_middleware(guard),),
        auto_decompress=True,
        # An environment proxy would do the connecting for us and bypass the resolver check.
        trust_env=False,
    )


__all__ = [
    "GuardedResolver",
    "NetGuard",
    "allowed_hosts",
    "check_scheme",
    "create_session",
    "forbidden_reason",
    "guard_middleware",
    "normalize_host",
    "user_agent",
]
