"""Which origins (scheme, host, port) pipgate trusts to reach any address.

Trust is per origin, not per host: a configured upstream at ``http://10.1.2.3:3141`` makes
that one port trusted, not every service on 10.1.2.3 (a page could otherwise link
``http://10.1.2.3:8080/metrics`` and have pipgate fetch and serve it). The sources:

- each configured upstream URL: exactly its scheme, host and port;
- each ``trusted_hosts`` entry: ``host`` means ports 80 and 443, ``host:port`` (or
  ``[v6]:port``) that port, ``scheme://host[:port]`` exactly that origin;
- the outbound proxy: its host and port.

An entry without a scheme matches http and https alike (the port is what separates
services; the scheme only decides whether TLS is spoken on it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_host(host: str) -> str:
    """Lower-case, no IPv6 brackets, no zone id, no trailing dot: the form hosts are compared in."""
    host = host.strip().lower().removeprefix("[").removesuffix("]")
    return host.split("%", 1)[0].rstrip(".")


@dataclass(frozen=True, slots=True)
class TrustedOrigin:
    host: str
    port: int
    scheme: str | None = None
    """``None``: http or https."""

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        prefix = f"{self.scheme}://" if self.scheme else ""
        return f"{prefix}{host}:{self.port}"


def url_origin(url: str) -> TrustedOrigin:
    """The exact origin of an http(s) URL (its port defaulted from the scheme)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or DEFAULT_PORTS.get(scheme, 0)
    return TrustedOrigin(normalize_host(parts.hostname or ""), port, scheme)


def parse_entry(entry: str) -> list[TrustedOrigin]:
    """The origins one ``trusted_hosts`` entry stands for; ``ValueError`` if it is malformed."""
    text = entry.strip()
    if not text:
        raise ValueError("an empty trusted_hosts entry")
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme.lower() not in DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"{entry!r}: expected http(s)://host[:port]")
        if parts.path not in ("", "/") or parts.query or parts.username:
            raise ValueError(f"{entry!r}: an origin has no path, query or credentials")
        return [url_origin(text)]
    host, port = _split_port(text)
    host = normalize_host(host)
    if not host or "/" in host or any(c.isspace() for c in host):
        raise ValueError(f"{entry!r}: expected host, host:port or [v6]:port")
    if port is None:
        return [TrustedOrigin(host, 80), TrustedOrigin(host, 443)]
    return [TrustedOrigin(host, port)]


def _split_port(text: str) -> tuple[str, int | None]:
    if text.startswith("["):
        host, _, rest = text.partition("]")
        if not rest:
            return host + "]", None
        if not rest.startswith(":"):
            raise ValueError(f"{text!r}: expected [v6]:port")
        return host + "]", _port(rest[1:], text)
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, _port(port, text)
    return text, None  # a name, an IPv4 address, or a bare IPv6 address


def _port(digits: str, entry: str) -> int:
    if not digits.isdigit() or not 0 < int(digits) < 65536:
        raise ValueError(f"{entry!r}: the port must be a number from 1 to 65535")
    return int(digits)


class TrustedOrigins:
    def __init__(self, origins: Iterable[TrustedOrigin]) -> None:
        self._origins = frozenset(origins)
        self._endpoints = {(o.host, o.port): o for o in self._origins}

    @classmethod
    def from_entries(cls, entries: Iterable[str | TrustedOrigin]) -> TrustedOrigins:
        origins: list[TrustedOrigin] = []
        for entry in entries:
            origins.extend([entry] if isinstance(entry, TrustedOrigin) else parse_entry(entry))
        return cls(origins)

    def __iter__(self) -> Iterator[TrustedOrigin]:
        return iter(sorted(self._origins, key=str))

    def trusts(self, scheme: str, host: str, port: int) -> bool:
        host = normalize_host(host)
        return any(
            o.host == host and o.port == port and o.scheme in (None, scheme.lower())
            for o in self._origins
        )

    def trusts_endpoint(self, host: str, port: int) -> bool:
        """Whether ``host:port`` is trusted under some scheme (the resolver sees no scheme)."""
        return (normalize_host(host), port) in self._endpoints

    def ports(self) -> frozenset[int]:
        return frozenset(o.port for o in self._origins)

    def hosts(self) -> frozenset[str]:
        return frozenset(o.host for o in self._origins)


__all__ = [
    "DEFAULT_PORTS",
    "TrustedOrigin",
    "TrustedOrigins",
    "normalize_host",
    "parse_entry",
    "url_origin",
]
