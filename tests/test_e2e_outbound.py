"""Field conditions over real sockets: an outbound proxy, upstream credentials that never
leak, and hostile file links refused with a message that says what would allow them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.support.builders import build_wheel
from tests.support.fake_upstream import FakeUpstream
from tests.support.forward_proxy import ForwardProxy
from tests.support.pipgate_server import PipgateServer
from tests.test_e2e_core import get, settings_for

FILE = "/files/lib-core/lib_core-1.0-py3-none-any.whl"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("w"), "lib-core", "1.0")


def test_pages_and_files_go_through_the_configured_proxy(wheel: Path, tmp_path: Path) -> None:
    with FakeUpstream() as fake, ForwardProxy() as proxy:
        fake.add_file("lib-core", wheel)
        settings = settings_for(fake, tmp_path / "data", outbound_proxy=proxy.url)
        with PipgateServer(settings) as running:
            assert get(running.url + "/simple/lib-core/")[0] == 200
            status, _, body = get(running.url + FILE)
            assert status == 200
            assert body == wheel.read_bytes()
        assert fake.page_url("lib-core") in proxy.targets
        assert fake.file_url(wheel.name) in proxy.targets


def test_no_proxy_reaches_the_upstream_directly(wheel: Path, tmp_path: Path) -> None:
    with FakeUpstream() as fake, ForwardProxy() as proxy:
        fake.add_file("lib-core", wheel)
        settings = settings_for(
            fake, tmp_path / "data", outbound_proxy=proxy.url, no_proxy="127.0.0.1"
        )
        with PipgateServer(settings) as running:
            assert get(running.url + FILE)[0] == 200
        assert proxy.targets == []


def test_upstream_credentials_are_sent_to_its_origin_and_never_shown(
    wheel: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeUpstream() as fake:
        fake.add_file("lib-core", wheel)
        fake.add_file("lib-gone", wheel, url="http://127.0.0.2:9/lib_core-1.0-py3-none-any.whl")
        url = fake.url.replace("http://", "http://alice:s3cret-token@")
        settings = dataclasses.replace(settings_for(fake, tmp_path / "data"), upstream=url)
        with PipgateServer(settings) as running:
            assert get(running.url + FILE)[0] == 200
            status, _, body = get(running.url + "/files/lib-gone/lib_core-1.0-py3-none-any.whl")
            assert status == 502
        authorizations = {r.headers.get("Authorization") for r in fake.requests}
        assert authorizations == {"Basic YWxpY2U6czNjcmV0LXRva2Vu"}
        assert b"s3cret" not in body
        assert "s3cret" not in caplog.text


@pytest.mark.parametrize(
    ("link", "address"),
    [
        ("http://127.0.0.2:9/steal.whl", "127.0.0.2"),
        ("http://169.254.169.254/latest/meta-data/x.whl", "169.254.169.254"),
        ("http://[::1]:9/steal.whl", "::1"),
        ("http://localhost:9/steal.whl", "127.0.0.1"),
    ],
)
def test_hostile_links_are_refused_saying_which_setting_allows_them(
    wheel: Path, tmp_path: Path, link: str, address: str
) -> None:
    with FakeUpstream() as fake:
        fake.add_file("lib-core", wheel, url=link)
        with PipgateServer(settings_for(fake, tmp_path / "data")) as running:
            status, _, body = get(running.url + FILE)
        assert status == 502
        message = body.decode()
        assert address in message
        assert "trusted_hosts" in message
        assert fake.hits("/steal.whl") == 0
