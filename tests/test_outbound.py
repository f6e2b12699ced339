"""Corporate networks: proxy choice, NO_PROXY, credentials from URLs and .netrc, redaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.outbound import (
    Credentials,
    Outbound,
    origin_of,
    outbound_from,
    split_credentials,
    tls_context,
    trusted_origins,
)
from proxy.settings import Settings, UpstreamConfig


def test_split_credentials__takes_them_out_of_the_url() -> None:
    clean, auth = split_credentials("https://alice:s%40cret@index.test:8443/simple/")
    assert clean == "https://index.test:8443/simple/"
    assert auth == Credentials("alice", "s@cret")
    assert split_credentials("https://index.test/simple/") == ("https://index.test/simple/", None)


def test_proxy_from_the_environment_and_no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", "internal.corp, .lan,mirror:8080")
    outbound = outbound_from(Settings())
    assert outbound.proxy_for("https://index.test/simple/") == "http://proxy.corp:3128"
    assert outbound.proxy_for("http://index.test/simple/") is None  # no HTTP_PROXY
    assert outbound.proxy_for("https://internal.corp/x") is None
    assert outbound.proxy_for("https://a.b.internal.corp/x") is None
    assert outbound.proxy_for("https://host.lan/x") is None
    assert outbound.proxy_for("https://mirror:8080/x") is None
    assert outbound.proxy_for("https://mirror:8443/x") == "http://proxy.corp:3128"
    assert trusted_origins(Settings()).trusts_endpoint("proxy.corp", 3128)
    assert not trusted_origins(Settings()).trusts_endpoint("proxy.corp", 80)


def test_proxy_setting_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://env-proxy:1")
    settings = Settings(outbound_proxy="http://set-proxy:2", no_proxy=("*",))
    assert outbound_from(settings).proxy_for("https://index.test/") is None
    settings = Settings(outbound_proxy="http://set-proxy:2", no_proxy=())
    assert outbound_from(settings).proxy_for("https://index.test/") == "http://set-proxy:2"


def test_credentials_go_to_their_origin_only(tmp_path: Path) -> None:
    settings = Settings(
        upstream="https://alice:tok@index.test/simple/",
        upstreams=(UpstreamConfig("corp", "http://bob:pw@corp.test:8080/simple/", ("c-*",)),),
    )
    outbound = outbound_from(settings)
    assert outbound.auth_for("https://index.test/files/x.whl") == Credentials("alice", "tok")
    assert outbound.auth_for("http://corp.test:8080/x") == Credentials("bob", "pw")
    assert outbound.auth_for("http://corp.test:9090/x") is None
    assert outbound.auth_for("https://files.test/x.whl") is None
    assert origin_of("HTTPS://Index.Test/x") == ("https", "index.test", 443)


def test_netrc_supplies_credentials_for_hosts_without_them(tmp_path: Path) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine files.test login carol password p4ss\n")
    netrc.chmod(0o600)
    outbound = Outbound(netrc_file=netrc)
    assert outbound.auth_for("https://files.test/x.whl") == Credentials("carol", "p4ss")
    assert outbound.auth_for("https://other.test/x.whl") is None
    assert Outbound(netrc_file=tmp_path / "missing").auth_for("https://files.test/") is None


def test_credentials_never_show_their_password() -> None:
    credentials = Credentials("alice", "s3cret-token")
    assert "s3cret" not in repr(credentials)
    assert credentials.authorization == "Basic YWxpY2U6czNjcmV0LXRva2Vu"


def test_ca_bundle_builds_a_context(tmp_path: Path) -> None:
    assert tls_context(Settings()) is True
    with pytest.raises(FileNotFoundError):  # an error at start, not a silent default
        tls_context(Settings(ca_bundle=tmp_path / "missing.pem"))
