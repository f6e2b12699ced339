"""How pipgate reaches its upstreams on a real network: proxies, CA bundle, credentials.

- **Proxy**: the ``outbound_proxy`` setting, else the standard ``HTTPS_PROXY``/``HTTP_PROXY``
  variables; ``no_proxy`` (the setting, else ``NO_PROXY``) lists hosts reached directly.
- **CA bundle**: ``ca_bundle``, for corporate TLS inspection; else the system's store.
- **Credentials**: ``user:password@`` in an upstream URL, sent only to that URL's origin
  (aiohttp drops them on a redirect to another origin), else the ``.netrc`` entry of the host
  (``NETRC`` or ``~/.netrc``), as pip and uv read it. Credentials never appear in a URL pipgate
  logs or reports: ``proxy.redact.mask_url`` masks them, and upstreams keep their URL
  without them.

``create_session`` builds the one upstream session with the SSRF guard (``proxy.netguard``).
"""

from __future__ import annotations

import base64
import netrc
import os
import ssl
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

import aiohttp
from aiohttp.abc import AbstractResolver

from proxy.netguard import GuardedResolver, NetGuard, guard_middleware
from proxy.trusted_origins import TrustedOrigin, TrustedOrigins, normalize_host, url_origin

if TYPE_CHECKING:
    from proxy.settings import Settings

Origin = tuple[str, str, int]


@dataclass(frozen=True, slots=True)
class Credentials:
    """A user name and password (or token) for HTTP Basic; never shown by ``repr``."""

    user: str
    password: str = field(repr=False)

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value (RFC 7617)."""
        pair = f"{self.user}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")


def origin_of(url: str) -> Origin:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, normalize_host(parts.hostname or ""), port


def split_credentials(url: str) -> tuple[str, Credentials | None]:
    """``url`` without its ``user:password@`` part, and that part."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    netloc = parts.netloc.rpartition("@")[2]
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return clean, Credentials(unquote(parts.username or ""), unquote(parts.password or ""))


@dataclass(frozen=True)
class Outbound:
    """Per-request proxy and credentials for every URL pipgate fetches."""

    proxies: Mapping[str, str] = field(default_factory=dict)
    """Scheme -> proxy URL."""
    no_proxy: tuple[str, ...] = ()
    credentials: Mapping[Origin, Credentials] = field(default_factory=dict)
    netrc_file: Path | None = None

    def proxy_for(self, url: str) -> str | None:
        parts = urlsplit(url)
        proxy = self.proxies.get(parts.scheme.lower())
        if proxy is None or _bypassed(parts.hostname or "", parts.port, self.no_proxy):
            return None
        return proxy

    def auth_for(self, url: str) -> Credentials | None:
        auth = self.credentials.get(origin_of(url))
        if auth is not None:
            return auth
        return _netrc_auth(self.netrc_file, urlsplit(url).hostname or "")

    def request_options(self, url: str, headers: Mapping[str, str]) -> dict[str, Any]:
        """The keyword arguments for ``session.get(url, ...)``, ``headers`` included.

        aiohttp drops the ``Authorization`` header on a redirect to another origin.
        """
        auth = self.auth_for(url)
        if auth is not None:
            headers = {**headers, "Authorization": auth.authorization}
        return {"proxy": self.proxy_for(url), "headers": headers}

    def proxy_origins(self) -> set[TrustedOrigin]:
        """Where the proxies listen: pipgate connects there for every proxied request."""
        found = {url_origin(proxy) for proxy in self.proxies.values()}
        return {TrustedOrigin(o.host, o.port) for o in found if o.host}


def _bypassed(host: str, port: int | None, no_proxy: Iterable[str]) -> bool:
    host = normalize_host(host)
    for entry in no_proxy:
        entry = entry.strip().lower()
        if entry == "*":
            return True
        name, _, entry_port = entry.partition(":") if entry.count(":") == 1 else (entry, "", "")
        name = normalize_host(name).lstrip(".").removeprefix("*.")
        if entry_port and port is not None and entry_port != str(port):
            continue
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def _netrc_auth(path: Path | None, host: str) -> Credentials | None:
    if path is None or not host or not path.is_file():
        return None
    try:
        entry = netrc.netrc(str(path)).authenticators(host)
    except (OSError, netrc.NetrcParseError):
        return None
    if entry is None:
        return None
    login, _, password = entry
    return Credentials(login or "", password or "")


def default_netrc() -> Path | None:
    configured = os.environ.get("NETRC")
    if configured:
        return Path(configured)
    return Path.home() / ".netrc"


def outbound_from(settings: Settings) -> Outbound:
    proxies: dict[str, str] = {}
    if settings.outbound_proxy:
        proxies = {"http": settings.outbound_proxy, "https": settings.outbound_proxy}
    else:
        environment = urllib.request.getproxies_environment()
        proxies = {s: environment[s] for s in ("http", "https") if environment.get(s)}
    no_proxy = settings.no_proxy
    if no_proxy is None:
        raw = os.environ.get("NO_PROXY") or os.environ.get("no_proxy") or ""
        no_proxy = tuple(part for part in raw.replace(" ", ",").split(",") if part)
    credentials: dict[Origin, Credentials] = {}
    for url in upstream_urls(settings):
        _, auth = split_credentials(url)
        if auth is not None:
            credentials[origin_of(url)] = auth
    return Outbound(proxies, no_proxy, credentials, default_netrc())


def upstream_urls(settings: Settings) -> list[str]:
    return [settings.upstream, *(upstream.url for upstream in settings.upstreams)]


def upstream_origins(settings: Settings) -> TrustedOrigins:
    """Each configured upstream's exact origin (scheme, host, port)."""
    return TrustedOrigins(url_origin(url) for url in upstream_urls(settings))


def trusted_origins(settings: Settings) -> TrustedOrigins:
    """Origins exempt from the address checks: the upstreams', ``trusted_hosts``, the proxies'."""
    return TrustedOrigins.from_entries(
        [
            *upstream_origins(settings),
            *settings.trusted_hosts,
            *outbound_from(settings).proxy_origins(),
            # Operator-configured alert receivers, often on the internal network.
            *(
                url_origin(url)
                for url in (*settings.alert_webhooks, *settings.alert_slack_webhooks)
            ),
        ]
    )


def tls_context(settings: Settings) -> ssl.SSLContext | bool:
    if settings.ca_bundle is None:
        return True
    return ssl.create_default_context(cafile=str(settings.ca_bundle))


def user_agent() -> str:
    try:
        return f"pipgate/{version('pipgate')}"
    except PackageNotFoundError:
        # Running from a source checkout that was never installed.
        return "pipgate/0+unknown"


def create_session(
    settings: Settings,
    trusted: TrustedOrigins | Iterable[str],
    *,
    resolver: AbstractResolver | None = None,
) -> aiohttp.ClientSession:
    """The one upstream session; create it in the app's lifespan (it needs a running loop).

    ``trusted``: usually ``trusted_origins(settings)``; strings are ``trusted_hosts`` entries.
    ``resolver`` replaces the system resolver under the guard (tests use it for DNS rebinding).
    """
    guard = NetGuard(
        trusted,
        upstream_origins(settings),
        trust_upstream_network=settings.trust_upstream_network,
    )
    guarded = GuardedResolver(guard, resolver)
    connector = aiohttp.TCPConnector(
        resolver=guarded,
        limit=100,
        limit_per_host=32,
        ttl_dns_cache=60,
        ssl=tls_context(settings),
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(
            total=None,
            sock_connect=settings.connect_timeout,
            sock_read=settings.upstream_timeout,
        ),
        headers={"User-Agent": user_agent()},
        middlewares=(guard_middleware(guard, guarded),),
        auto_decompress=True,
        # Proxies and .netrc come from ``Outbound`` per request, where the guard sees them.
        trust_env=False,
    )


__all__ = [
    "Credentials",
    "Outbound",
    "create_session",
    "origin_of",
    "outbound_from",
    "split_credentials",
    "tls_context",
    "trusted_origins",
    "upstream_origins",
    "user_agent",
]
