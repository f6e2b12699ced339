"""The SSRF guard: which addresses are refused, URL checks, and the resolver (DNS rebinding)."""

from __future__ import annotations

import ipaddress
import socket

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from proxy.errors import ForbiddenTarget
from proxy.netguard import GuardedResolver, NetGuard, forbidden_reason
from proxy.outbound import create_session, trusted_origins, user_agent
from proxy.settings import Settings, UpstreamConfig

FORBIDDEN = [
    ("127.0.0.1", "loopback"),
    ("127.0.0.2", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),
    ("0.0.0.0", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("100.64.0.1", "not a globally routable"),
    ("::1", "loopback"),
    ("::", "unspecified"),
    ("fe80::1", "link-local"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:169.254.169.254", "link-local"),
    ("::ffff:10.0.0.1", "private"),
    ("64:ff9b::7f00:1", "loopback"),
    ("2002:7f00:1::1", "loopback"),
    ("::7f00:1", "reserved"),
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "151.101.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize(("address", "kind"), FORBIDDEN)
def test_forbidden_reason__refuses_non_public_addresses(address: str, kind: str) -> None:
    reason = forbidden_reason(ipaddress.ip_address(address))
    assert reason is not None
    assert kind in reason


@pytest.mark.parametrize("address", PUBLIC)
def test_forbidden_reason__allows_public_addresses(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.2/files/x.whl",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/files/x.whl",
        "https://[::ffff:7f00:1]/x",
        "http://10.0.0.1./x",
        "file:///etc/passwd",
        "gopher://example.org/x",
        "ftp://example.org/x",
        "http:///no-host",
    ],
)
def test_check_url__refuses(url: str) -> None:
    with pytest.raises(ForbiddenTarget, match="refusing to fetch"):
        NetGuard(["127.0.0.1:3141"]).check_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:3141/simple/x/",  # a trusted origin, although loopback
        "http://8.8.8.8/files/x.whl",
        "https://files.example.org/packages/x.whl",  # names are checked when resolved
        "HTTPS://[2606:4700:4700::1111]/x",
    ],
)
def test_check_url__allows(url: str) -> None:
    NetGuard(["127.0.0.1:3141"]).check_url(url)


def test_allowed_host_matching_ignores_case_brackets_and_trailing_dot() -> None:
    guard = NetGuard(["Mirror.Internal.", "[::1]"])
    guard.check_url("http://mirror.internal/simple/")
    guard.check_url("http://[::1]/simple/")
    assert guard.is_trusted("MIRROR.internal.", 443)


class _StaticResolver(AbstractResolver):
    """Answers every name with fixed addresses, as a hostile DNS server would."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        return [
            ResolveResult(hostname=host, host=a, port=port, family=family, proto=0, flags=0)
            for a in self.addresses
        ]

    async def close(self) -> None:
        pass


async def test_resolver__refuses_a_name_that_resolves_to_loopback() -> None:
    resolver = GuardedResolver(NetGuard([]), _StaticResolver("93.184.215.14", "127.0.0.1"))
    with pytest.raises(ForbiddenTarget, match=r"'rebind\.test' resolves to 127\.0\.0\.1"):
        await resolver.resolve("rebind.test", 80)


async def test_resolver__passes_public_answers_through() -> None:
    resolver = GuardedResolver(NetGuard([]), _StaticResolver("93.184.215.14"))
    results = await resolver.resolve("public.test", 443)
    assert [r["host"] for r in results] == ["93.184.215.14"]


async def test_resolver__lets_allowed_hosts_resolve_anywhere() -> None:
    resolver = GuardedResolver(NetGuard(["mirror.internal"]), _StaticResolver("10.0.0.5"))
    results = await resolver.resolve("mirror.internal", 80)
    assert [r["host"] for r in results] == ["10.0.0.5"]


async def test_resolver__uses_the_system_resolver_by_default() -> None:
    resolver = GuardedResolver(NetGuard([]))
    try:
        with pytest.raises(ForbiddenTarget, match="localhost"):
            await resolver.resolve("localhost", 80)
    finally:
        await resolver.close()


def test_trusted_origins__upstreams_exactly_and_trusted_hosts() -> None:
    settings = Settings(
        upstream="https://Index.Example.org/simple/",
        upstreams=(UpstreamConfig("corp", "http://10.1.1.1:8080/simple/", ("corp-*",)),),
        trusted_hosts=("files.internal", "10.2.2.2:9000"),
    )
    assert [str(o) for o in trusted_origins(settings)] == [
        "10.2.2.2:9000",
        "files.internal:443",
        "files.internal:80",
        "http://10.1.1.1:8080",
        "https://index.example.org:443",
    ]


async def test_create_session__timeouts_user_agent_and_guard() -> None:
    settings = Settings(connect_timeout=3.0, upstream_timeout=7.0)
    async with create_session(settings, ["127.0.0.1"]) as session:
        assert session.timeout.sock_connect == 3.0
        assert session.timeout.sock_read == 7.0
        assert session.headers["User-Agent"] == user_agent()
        assert user_agent().startswith("pipgate/")
        assert session.trust_env is False
        with pytest.raises(ForbiddenTarget, match=r"169\.254\.169\.254"):
            await session.get("http://169.254.169.254/latest/meta-data/")
        with pytest.raises(ForbiddenTarget, match="localhost"):
            await session.get("http://localhost:9/")


async def test_create_session__connector_limits() -> None:
    async with create_session(Settings(), []) as session:
        connector = session.connector
        assert isinstance(connector, aiohttp.TCPConnector)
        assert 0 < connector.limit <= 200
        assert 0 < connector.limit_per_host <= connector.limit


# -- trust derived from the upstream's network --------------------------------------------


class _NamedResolver(AbstractResolver):
    """Answers each name from a table, as a corporate resolver or egress gateway would."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = table

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host, host=self.table[host], port=port, family=family, proto=0, flags=0
            )
        ]

    async def close(self) -> None:
        pass


def _gateway_resolver(files_address: str, index_address: str = "203.0.113.80") -> GuardedResolver:
    guard = NetGuard(["index.test"], ["index.test"])
    return GuardedResolver(
        guard, _NamedResolver({"index.test": index_address, "files.test": files_address})
    )


@pytest.mark.parametrize("files_address", ["203.0.113.80", "203.0.113.7"])
async def test_resolver__trusts_a_linked_host_in_the_upstream_network(files_address: str) -> None:
    results = await _gateway_resolver(files_address).resolve("files.test", 443)
    assert [r["host"] for r in results] == [files_address]


@pytest.mark.parametrize(
    ("files_address", "index_address", "reason"),
    [
        ("10.9.9.9", "203.0.113.80", "a private address"),
        ("198.51.100.7", "203.0.113.80", "198.51.100.7 is a private address"),
        ("127.0.0.1", "203.0.113.80", "a loopback address"),
        ("169.254.169.254", "169.254.169.1", "a link-local address"),
        ("127.0.0.2", "127.0.0.1", "a loopback address"),
        ("100.100.100.200", "100.100.100.1", "a cloud metadata address"),
    ],
)
async def test_resolver__refuses_outside_the_upstream_network_and_never_loopback(
    files_address: str, index_address: str, reason: str
) -> None:
    resolver = _gateway_resolver(files_address, index_address)
    with pytest.raises(ForbiddenTarget) as caught:
        await resolver.resolve("files.test", 443)
    message = str(caught.value)
    for fragment in ("'files.test'", files_address, reason, "trusted_hosts"):
        assert fragment in message


async def test_resolver__network_trust_can_be_turned_off() -> None:
    guard = NetGuard(["index.test"], ["index.test"], trust_upstream_network=False)
    table = {"index.test": "203.0.113.80", "files.test": "203.0.113.80"}
    resolver = GuardedResolver(guard, _NamedResolver(table))
    with pytest.raises(ForbiddenTarget, match="PIPGATE_TRUSTED_HOSTS"):
        await resolver.resolve("files.test", 443)


def test_check_url__refusal_names_the_setting() -> None:
    with pytest.raises(ForbiddenTarget, match=r"add '10\.0\.0\.1' to trusted_hosts"):
        NetGuard([]).check_url("http://10.0.0.1/x.whl")
