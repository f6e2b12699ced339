"""Trusted origins, not hosts (issue 15, item 7): the entry forms, and how the guard applies
them to URLs and to resolved addresses."""

from __future__ import annotations

import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from proxy.errors import ForbiddenTarget
from proxy.model import DistFile, ProjectPage
from proxy.netguard import GuardedResolver, NetGuard
from proxy.trusted_origins import TrustedOrigin, TrustedOrigins, parse_entry, url_origin
from proxy.unhashed import without_unverifiable_metadata


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("Files.Internal.", ["files.internal:80", "files.internal:443"]),
        ("files.internal:8443", ["files.internal:8443"]),
        ("10.0.0.5", ["10.0.0.5:80", "10.0.0.5:443"]),
        ("[fd00::5]:3141", ["[fd00::5]:3141"]),
        ("fd00::5", ["[fd00::5]:80", "[fd00::5]:443"]),
        ("https://mirror.test", ["https://mirror.test:443"]),
        ("http://mirror.test:3141/", ["http://mirror.test:3141"]),
    ],
)
def test_entry_forms(entry: str, expected: list[str]) -> None:
    assert sorted(str(origin) for origin in parse_entry(entry)) == sorted(expected)


def test_an_upstream_url_is_exactly_its_origin() -> None:
    assert url_origin("https://Index.Test/simple/") == TrustedOrigin("index.test", 443, "https")
    assert url_origin("http://127.0.0.1:3141/root/") == TrustedOrigin("127.0.0.1", 3141, "http")


def test_origins_match_scheme_host_and_port() -> None:
    origins = TrustedOrigins.from_entries([url_origin("http://127.0.0.1:3141/"), "mirror:8443"])
    assert origins.trusts("http", "127.0.0.1", 3141)
    assert not origins.trusts("https", "127.0.0.1", 3141)
    assert not origins.trusts("http", "127.0.0.1", 8080)
    assert origins.trusts("https", "MIRROR", 8443)
    assert origins.trusts("http", "mirror", 8443)


def test_check_url__another_port_of_a_trusted_host_is_judged_as_untrusted() -> None:
    guard = NetGuard([url_origin("http://127.0.0.1:3141/simple/")])
    guard.check_url("http://127.0.0.1:3141/files/x.whl")
    with pytest.raises(ForbiddenTarget, match=r"loopback address \(port 8080\)"):
        guard.check_url("http://127.0.0.1:8080/metrics")
    with pytest.raises(ForbiddenTarget, match="trusted for another scheme than https"):
        guard.check_url("https://127.0.0.1:3141/files/x.whl")


class _Table(AbstractResolver):
    def __init__(self, table: dict[str, str]) -> None:
        self.table = table

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        address = self.table[host]
        return [
            ResolveResult(hostname=host, host=address, port=port, family=family, proto=0, flags=0)
        ]

    async def close(self) -> None:
        pass


async def test_resolver__a_trusted_name_on_another_port_gets_no_trust() -> None:
    guard = NetGuard(["mirror.internal:3141"], trust_upstream_network=False)
    resolver = GuardedResolver(guard, _Table({"mirror.internal": "10.0.0.5"}))
    assert await resolver.resolve("mirror.internal", 3141)
    with pytest.raises(ForbiddenTarget, match=r"'mirror\.internal:9000' to trusted_hosts"):
        await resolver.resolve("mirror.internal", 9000)


async def test_resolver__network_trust_only_on_the_ports_files_are_served_from() -> None:
    guard = NetGuard([url_origin("https://index.test/simple/")], ["https://index.test"])
    table = {"index.test": "203.0.113.80", "files.test": "203.0.113.7"}
    resolver = GuardedResolver(guard, _Table(table))
    assert await resolver.resolve("files.test", 443)
    assert await resolver.resolve("files.test", 80)
    with pytest.raises(ForbiddenTarget, match=r"on a port its files are served from \(80, 443\)"):
        await resolver.resolve("files.test", 6379)


def test_unhashed_metadata_claims_are_dropped_hashed_ones_kept() -> None:
    page = ProjectPage(
        "demo",  # type: ignore[arg-type]
        files=(
            DistFile("demo-1.0-py3-none-any.whl", "u1", {"sha256": "a" * 64}, core_metadata=True),
            DistFile(
                "demo-2.0-py3-none-any.whl",
                "u2",
                {"sha256": "b" * 64},
                core_metadata={"sha256": "c" * 64},
            ),
        ),
    )
    cleaned = without_unverifiable_metadata(page)
    assert [f.has_metadata for f in cleaned.files] == [False, True]
    assert without_unverifiable_metadata(cleaned) is cleaned
