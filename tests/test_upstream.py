"""``HttpUpstream`` against a real ``FakeUpstream``: pages, 304s, streaming, faults and SSRF."""

from __future__ import annotations

import hashlib
import random
import re
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import NamedTuple

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from packaging.utils import NormalizedName

from proxy.errors import (
    FileNotFound,
    ForbiddenTarget,
    ProjectNotFound,
    UpstreamProtocolError,
    UpstreamUnavailable,
)
from proxy.outbound import create_session, trusted_origins
from proxy.settings import Settings
from proxy.upstream import PAGE_ACCEPT, HttpUpstream
from proxy.upstream_base import UpstreamStream, Validators
from tests.support.builders import build_wheel, wheel_metadata
from tests.support.fake_upstream import FakeUpstream, FaultKind

DEMO = NormalizedName("demo")
TIMEOUT = 0.5


@pytest.fixture
def up() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        yield server


class Built(NamedTuple):
    """A built artifact and its bytes, read up front so async tests need no file I/O."""

    path: Path
    data: bytes

    @property
    def name(self) -> str:
        return self.path.name


def _built(path: Path) -> Built:
    return Built(path, path.read_bytes())


@pytest.fixture
def wheel(tmp_path: Path) -> Built:
    return _built(build_wheel(tmp_path / "dist", "demo", "1.0", requires_python=">=3.9"))


@pytest.fixture
def big_wheel(tmp_path: Path) -> Built:
    blob = random.Random(7).randbytes(1 << 20)  # incompressible, so the wheel stays ~1 MiB
    return _built(build_wheel(tmp_path / "dist", "demo", "2.0", files={"demo/blob.bin": blob}))


def _settings(up: FakeUpstream) -> Settings:
    return Settings(upstream=up.url, upstream_timeout=TIMEOUT, connect_timeout=TIMEOUT)


@pytest.fixture
async def session(up: FakeUpstream) -> AsyncIterator[aiohttp.ClientSession]:
    settings = _settings(up)
    async with create_session(settings, trusted_origins(settings)) as client:
        yield client


@pytest.fixture
def upstream(session: aiohttp.ClientSession, up: FakeUpstream) -> HttpUpstream:
    return HttpUpstream(session, up.url, "fake", retries=1, backoff=0.01)


async def _download(upstream: HttpUpstream, url: str) -> bytes:
    async with upstream.open(DEMO, url) as stream:
        return b"".join([chunk async for chunk in stream.chunks()])


async def _consume(stream: UpstreamStream, sink: list[bytes]) -> None:
    async for chunk in stream.chunks():
        sink.append(chunk)


# -- pages ------------------------------------------------------------------------------


async def test_fetch_page__json(up: FakeUpstream, upstream: HttpUpstream, wheel: Built) -> None:
    up.add_project("demo", status="deprecated", reason="use demo2")
    added = up.add_file("demo", wheel.path, yanked="broken", provenance_bytes=b"{}")

    fetch = await upstream.fetch_page(DEMO, None)

    assert fetch.upstream == "fake"
    assert fetch.page is not None
    assert fetch.validators.etag
    assert fetch.validators.last_modified
    (dist,) = fetch.page.files
    assert dist.url == up.file_url(wheel.name)
    assert dist.sha256 == hashlib.sha256(wheel.data).hexdigest()
    assert dist.size == len(wheel.data)
    assert dist.requires_python == ">=3.9"
    assert dist.yanked == "broken"
    assert dist.metadata_sha256 == added.metadata_sha256
    assert dist.provenance == up.provenance_url(added)
    assert fetch.page.versions == ("1.0",)
    assert fetch.page.status is not None
    assert fetch.page.status.status == "deprecated"
    (request,) = up.requests
    assert request.headers["Accept"] == PAGE_ACCEPT
    assert request.headers["User-Agent"].startswith("pipgate/")


async def test_fetch_page__html_only_resolves_relative_links(
    up: FakeUpstream, upstream: HttpUpstream, wheel: Built
) -> None:
    up.mode = "html-only"
    up.add_file("demo", wheel.path)

    fetch = await upstream.fetch_page(DEMO, None)

    assert fetch.page is not None
    (dist,) = fetch.page.files
    assert dist.url == up.file_url(wheel.name)  # from ../../files/<name>
    assert dist.sha256 == hashlib.sha256(wheel.data).hexdigest()
    assert dist.has_metadata
    assert up.requests[0].path == "/simple/demo/"


async def test_fetch_page__relative_links_resolve_against_the_redirect_target(
    up: FakeUpstream, session: aiohttp.ClientSession, wheel: Built
) -> None:
    up.mode = "html-only"
    up.add_file("demo", wheel.path)
    up.redirect("/old/simple/demo/", "/simple/demo/", status=301)
    upstream = HttpUpstream(session, f"{up.base}old/simple/", "fake")

    fetch = await upstream.fetch_page(DEMO, None)

    assert fetch.page is not None
    assert fetch.page.files[0].url == up.file_url(wheel.name)
    assert await _download(upstream, fetch.page.files[0].url) == wheel.data


async def test_fetch_page__gzip_page_is_decompressed(
    up: FakeUpstream, upstream: HttpUpstream, wheel: Built
) -> None:
    up.compress_pages = True
    up.add_file("demo", wheel.path)
    fetch = await upstream.fetch_page(DEMO, None)
    assert fetch.page is not None
    assert fetch.page.files[0].filename == wheel.name


async def test_fetch_page__revalidation_with_etag_and_last_modified(
    up: FakeUpstream, upstream: HttpUpstream, wheel: Built, tmp_path: Path
) -> None:
    up.add_file("demo", wheel.path)
    first = await upstream.fetch_page(DEMO, None)

    unchanged = await upstream.fetch_page(DEMO, first.validators)
    by_date = await upstream.fetch_page(
        DEMO, Validators(last_modified=first.validators.last_modified)
    )
    assert unchanged.page is None
    assert unchanged.validators == first.validators
    assert by_date.page is None
    assert up.requests[1].headers["If-None-Match"] == first.validators.etag
    assert up.requests[2].headers["If-Modified-Since"] == first.validators.last_modified

    up.add_file("demo", build_wheel(tmp_path / "v2", "demo", "1.1"))
    changed = await upstream.fetch_page(DEMO, first.validators)
    assert changed.page is not None
    assert len(changed.page.files) == 2
    assert changed.validators.etag != first.validators.etag


async def test_fetch_page__404_is_project_not_found(upstream: HttpUpstream) -> None:
    with pytest.raises(ProjectNotFound, match="'nothing-here'"):
        await upstream.fetch_page(NormalizedName("nothing-here"), None)


async def test_fetch_page__500_is_retried_then_unavailable(
    up: FakeUpstream, upstream: HttpUpstream
) -> None:
    up.add_project("demo")
    up.set_fault("500", "/simple/demo/")
    with pytest.raises(UpstreamUnavailable, match=r"/simple/demo/: upstream answered 500"):
        await upstream.fetch_page(DEMO, None)
    assert up.hits("/simple/demo/") == 2  # one retry


async def test_fetch_page__transient_503_is_retried(
    up: FakeUpstream, upstream: HttpUpstream, wheel: Built
) -> None:
    up.add_file("demo", wheel.path)
    up.set_fault("503", "/simple/demo/", times=1)
    fetch = await upstream.fetch_page(DEMO, None)
    assert fetch.page is not None
    assert up.hits("/simple/demo/") == 2


async def test_fetch_page__other_status_is_unavailable_without_retry(
    up: FakeUpstream, upstream: HttpUpstream
) -> None:
    up.redirect("/simple/demo/", "/simple/demo/", status=303)  # a redirect loop
    with pytest.raises(UpstreamUnavailable, match="TooManyRedirects"):
        await upstream.fetch_page(DEMO, None)


async def test_fetch_page__timeout_is_unavailable_and_not_retried(
    up: FakeUpstream, upstream: HttpUpstream
) -> None:
    up.add_project("demo")
    up.set_fault("timeout", "/simple/demo/", delay=10)
    started = time.monotonic()
    with pytest.raises(UpstreamUnavailable, match="timed out"):
        await upstream.fetch_page(DEMO, None)
    assert time.monotonic() - started < 5 * TIMEOUT
    assert up.hits("/simple/demo/") == 1


async def test_fetch_page__refused_then_back(
    up: FakeUpstream, upstream: HttpUpstream, wheel: Built
) -> None:
    up.add_file("demo", wheel.path)
    up.stop()
    with pytest.raises(UpstreamUnavailable, match=r"127\.0\.0\.1.*after 2 attempt"):
        await upstream.fetch_page(DEMO, None)
    up.start()
    assert (await upstream.fetch_page(DEMO, None)).page is not None


async def test_fetch_page__reset_mid_page_is_unavailable(
    up: FakeUpstream, upstream: HttpUpstream, wheel: Built
) -> None:
    up.add_file("demo", wheel.path)
    up.set_fault("reset", "/simple/demo/", after=20)
    with pytest.raises(UpstreamUnavailable, match="/simple/demo/"):
        await upstream.fetch_page(DEMO, None)
    assert up.hits("/simple/demo/") == 2


async def test_fetch_page__non_simple_content_type_is_protocol_error(
    up: FakeUpstream, upstream: HttpUpstream, wheel: Built
) -> None:
    up.add_file("demo", wheel.path)
    up.redirect("/simple/demo/", up.file_url(wheel.name))  # answers application/octet-stream
    with pytest.raises(UpstreamProtocolError, match="application/octet-stream"):
        await upstream.fetch_page(DEMO, None)


async def test_fetch_page__size_cap(
    up: FakeUpstream, session: aiohttp.ClientSession, wheel: Built
) -> None:
    up.add_file("demo", wheel.path)
    upstream = HttpUpstream(session, up.url, "fake", max_page_bytes=200)
    with pytest.raises(UpstreamProtocolError, match="200-byte limit"):
        await upstream.fetch_page(DEMO, None)


async def test_fetch_project_list(up: FakeUpstream, upstream: HttpUpstream) -> None:
    up.add_project("Zope.Interface")
    up.add_project("demo")
    listed = await upstream.fetch_project_list(None)
    assert listed.projects is not None
    assert set(listed.projects.names) == {"Zope.Interface", "demo"}
    again = await upstream.fetch_project_list(listed.validators)
    assert again.projects is None


async def test_upstream_for_is_the_name(upstream: HttpUpstream) -> None:
    assert upstream.upstream_for(DEMO) == "fake"


# -- files ------------------------------------------------------------------------------


async def test_open__streams_the_exact_bytes(
    up: FakeUpstream, upstream: HttpUpstream, big_wheel: Built
) -> None:
    up.add_file("demo", big_wheel.path)
    async with upstream.open(DEMO, up.file_url(big_wheel.name)) as stream:
        assert stream.size == len(big_wheel.data)
        pieces = [chunk async for chunk in stream.chunks()]
    assert b"".join(pieces) == big_wheel.data
    assert max(len(p) for p in pieces) <= 64 * 1024
    assert len(pieces) >= 16
    assert up.requests[-1].headers["Accept-Encoding"] == "identity"


async def test_open__metadata_file(up: FakeUpstream, upstream: HttpUpstream, wheel: Built) -> None:
    up.add_file("demo", wheel.path)
    body = await _download(upstream, up.file_url(wheel.name) + ".metadata")
    assert body == wheel_metadata(wheel.path)


async def test_open__404_is_file_not_found(upstream: HttpUpstream, up: FakeUpstream) -> None:
    with pytest.raises(FileNotFound, match=r"missing-1\.0\.tar\.gz"):
        await _download(upstream, up.file_url("missing-1.0.tar.gz"))


async def test_open__500_is_unavailable(
    up: FakeUpstream, upstream: HttpUpstream, wheel: Built
) -> None:
    up.add_file("demo", wheel.path)
    up.set_fault("500")
    with pytest.raises(UpstreamUnavailable, match="500"):
        await _download(upstream, up.file_url(wheel.name))


@pytest.mark.parametrize("fault", ["reset", "truncate"])
async def test_open__broken_body_raises_from_chunks(
    up: FakeUpstream, upstream: HttpUpstream, big_wheel: Built, fault: FaultKind
) -> None:
    up.add_file("demo", big_wheel.path)
    up.set_fault(fault, f"/files/{big_wheel.name}")
    received: list[bytes] = []
    async with upstream.open(DEMO, up.file_url(big_wheel.name)) as stream:
        assert stream.size == len(big_wheel.data)
        with pytest.raises(UpstreamUnavailable, match=re.escape(big_wheel.name)):
            await _consume(stream, received)
    assert 0 < sum(map(len, received)) < len(big_wheel.data)


async def test_open__read_timeout_mid_body(
    up: FakeUpstream, upstream: HttpUpstream, big_wheel: Built
) -> None:
    up.add_file("demo", big_wheel.path)
    up.set_fault("slow", f"/files/{big_wheel.name}", rate=1)  # 1 byte a second: reads stall
    received: list[bytes] = []
    async with upstream.open(DEMO, up.file_url(big_wheel.name)) as stream:
        with pytest.raises(UpstreamUnavailable, match="timed out"):
            await _consume(stream, received)
    assert received  # the stall came after the body had started


# -- SSRF -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["127.0.0.2", "169.254.169.254", "[::1]", "localhost", "[::ffff:127.0.0.1]"]
)
async def test_open__refuses_file_urls_on_forbidden_hosts(
    up: FakeUpstream, upstream: HttpUpstream, wheel: Built, host: str
) -> None:
    foreign = f"http://{host}:{up.port}/files/{wheel.name}"
    up.add_file("demo", wheel.path, url=foreign)
    fetch = await upstream.fetch_page(DEMO, None)  # the upstream's own loopback host: fine
    assert fetch.page is not None
    assert fetch.page.files[0].url == foreign
    with pytest.raises(ForbiddenTarget, match="refusing to fetch"):
        await _download(upstream, foreign)
    assert up.hits(f"/files/{wheel.name}") == 0


async def test_open__refuses_a_redirect_to_a_forbidden_host(
    up: FakeUpstream, upstream: HttpUpstream, wheel: Built
) -> None:
    up.add_file("demo", wheel.path)
    up.redirect("/files/evil.whl", f"http://localhost:{up.port}/files/{wheel.name}")
    with pytest.raises(ForbiddenTarget, match="localhost"):
        await _download(upstream, up.file_url("evil.whl"))
    assert up.hits(f"/files/{wheel.name}") == 0


async def test_open__refuses_non_http_schemes(upstream: HttpUpstream) -> None:
    with pytest.raises(ForbiddenTarget, match="scheme 'file'"):
        await _download(upstream, "file:///etc/passwd")


class _Rebinding(AbstractResolver):
    """Resolves every name to the fake upstream's address, like a DNS rebinding attack."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host, host="127.0.0.1", port=port, family=socket.AF_INET, proto=0, flags=0
            )
        ]

    async def close(self) -> None:
        pass


@pytest.mark.parametrize("trusted", [False, True])
async def test_open__dns_rebinding_to_loopback(
    up: FakeUpstream, wheel: Built, trusted: bool
) -> None:
    up.add_file("demo", wheel.path)
    settings = _settings(up)
    if trusted:
        settings = Settings(upstream=up.url, trusted_hosts=(f"files.rebind.test:{up.port}",))
    session = create_session(settings, trusted_origins(settings), resolver=_Rebinding())
    async with session:
        upstream = HttpUpstream(session, up.url, "fake")
        url = f"http://files.rebind.test:{up.port}/files/{wheel.name}"
        if trusted:
            assert await _download(upstream, url) == wheel.data
        else:
            with pytest.raises(ForbiddenTarget, match=r"files\.rebind\.test.*127\.0\.0\.1"):
                await _download(upstream, url)


async def test_fetch_page__a_page_the_parser_chokes_on_is_a_protocol_error(
    up: FakeUpstream, upstream: HttpUpstream, wheel: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    up.add_file(DEMO, wheel.path)

    def choke(*args: object) -> None:
        raise ValueError("Exceeds the limit (4300 digits) for integer string conversion")

    monkeypatch.setattr("proxy.parsing.parse_project_page", choke)
    with pytest.raises(UpstreamProtocolError, match="unreadable page: ValueError"):
        await upstream.fetch_page(DEMO, None)
