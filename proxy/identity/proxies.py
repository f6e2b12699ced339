"""Single sign-on behind a reverse proxy: the user named in ``trusted_proxy_header``
(``X-Forwarded-User``, say), believed only when the connection comes from an address in
``trusted_proxies``. From any other address the header is ignored, whoever sends it.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable

from proxy.identity.model import valid_user_name

logger = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """Addresses and networks (``10.0.0.5``, ``10.1.0.0/16``, ``::1``); ``ValueError`` names
    the first bad entry."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as error:
            raise ValueError(f"{entry!r} is not an IP address or network") from error
    return tuple(networks)


class TrustedProxies:
    def __init__(self, header: str | None, networks: Iterable[Network]) -> None:
        self.header = header.lower().encode("latin-1") if header else None
        self._networks = tuple(networks)
        self._warned: set[str] = set()

    @property
    def enabled(self) -> bool:
        return self.header is not None and bool(self._networks)

    def trusts(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._networks)

    def user(self, address: str, value: bytes | None) -> str | None:
        """The user the proxy at ``address`` vouches for, if it is trusted and said one."""
        if self.header is None or value is None:
            return None
        if not self.trusts(address):
            if address not in self._warned and len(self._warned) < 100:
                self._warned.add(address)
                logger.warning(
                    "ignoring %s from %s: not in trusted_proxies",
                    self.header.decode("latin-1"),
                    address,
                )
            return None
        name = value.decode("latin-1").strip()
        if not valid_user_name(name):
            logger.warning("trusted proxy %s sent an invalid user name; ignored", address)
            return None
        return name


__all__ = ["Network", "TrustedProxies", "parse_networks"]
