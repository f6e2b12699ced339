"""The core proxy over real sockets: a fake upstream on 127.0.0.1, pipgate in uvicorn,
real pip and uv installs, and plain HTTP clients for the protocol details."""

from __future__ import annotations

import concurrent.futures
import hashlib
import http.client
import json
import random
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

import pytest

from proxy.settings import Settings, load_settings
from storage.base import FetchQuery
from tests.support.builders import build_sdist, build_wheel, wheel_metadata
from tests.support.clients import make_venv, pip_install, run_in_venv, uv_install
from tests.support.fake_upstream import FakeUpstream
from tests.support.pipgate_server import PipgateProcess, PipgateServer

JSON = "application/vnd.pypi.simple.v1+json"
PIP_ACCEPT = f"{JSON}, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"


def settings_for(upstream: FakeUpstream, data_dir: Path, **extra: Any) -> Settings:
    config = data_dir.parent / "pipgate.toml"
    config.write_text("policies = []\n")  # no policy at all
    overrides = {"upstream": upstream.url, "data_dir": str(data_dir), **extra}
    return load_settings(config, environ={}, overrides=overrides)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, _lower(response.headers.items()), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, _lower(error.headers.items()), error.read()


def _lower(items: Any) -> dict[str, str]:
    return {key.lower(): value for key, value in items}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("artifacts")
    return {
        "app": build_wheel(out, "app-main", "1.0", requires=["lib-core>=1", "lib-util"]),
        "core1": build_wheel(out, "lib-core", "1.0"),
        "core2": build_wheel(out, "lib-core", "2.0", requires_python=">=3.8"),
        "util": build_sdist(out, "lib-util", "0.5"),
        # Random bytes: the wheel stays ~3 MB after deflate, so downloads take real time.
        "big": build_wheel(
            out, "big-pkg", "1.0", files={"big_pkg/blob.bin": random.Random(0).randbytes(3_000_000)}
        ),
    }


@pytest.fixture
def upstream(artifacts: dict[str, Path]) -> Iterator[FakeUpstream]:
    with FakeUpstream() as fake:
        fake.add_file("app-main", artifacts["app"])
        fake.add_file("lib-core", artifacts["core1"])
        fake.add_file("lib-core", artifacts["core2"], yanked="broken build")
        fake.add_file("lib-util", artifacts["util"])
        fake.add_file("big-pkg", artifacts["big"])
        yield fake


@pytest.fixture
def server(upstream: FakeUpstream, tmp_path: Path) -> Iterator[PipgateServer]:
    with PipgateServer(settings_for(upstream, tmp_path / "data")) as running:
        yield running


@pytest.mark.clients
def test_pip_then_uv_install_and_reinstall_with_upstream_down(
    upstream: FakeUpstream, server: PipgateServer, tmp_path: Path
) -> None:
    first = pip_install(make_venv(tmp_path, name="pip-venv"), server.index_url, "app-main")
    assert first.returncode == 0, first.stderr
    assert "lib-core-1.0" in first.stdout, "the yanked 2.0 is skipped (PEP 592)"
    uv_venv = make_venv(tmp_path, name="uv-venv")
    second = uv_install(uv_venv, server.index_url, "app-main")
    assert second.returncode == 0, second.stderr
    assert run_in_venv(uv_venv, "-c", "import app_main, lib_core, lib_util").returncode == 0
    upstream.stop()
    for name, install in (("pip-offline", pip_install), ("uv-offline", uv_install)):
        again = install(make_venv(tmp_path, name=name), server.index_url, "app-main")
        assert again.returncode == 0, f"{name}: {again.stderr}"


@pytest.mark.clients
def test_html_only_upstream_with_relative_links(artifacts: dict[str, Path], tmp_path: Path) -> None:
    with FakeUpstream(mode="html-only") as fake:
        fake.add_file("lib-core", artifacts["core1"])
        with PipgateServer(settings_for(fake, tmp_path / "data")) as running:
            status, headers, body = get(running.url + "/simple/lib-core/", {"Accept": JSON})
            assert status == 200
            assert headers["content-type"] == JSON
            files = json.loads(body)["files"]
            assert files[0]["url"] == "../../files/lib-core/lib_core-1.0-py3-none-any.whl"
            result = pip_install(make_venv(tmp_path), running.index_url, "lib-core")
            assert result.returncode == 0, result.stderr


def test_json_only_upstream_served_as_html_too(artifacts: dict[str, Path], tmp_path: Path) -> None:
    with FakeUpstream(mode="json-only") as fake:
        fake.add_file("lib-core", artifacts["core1"])
        with PipgateServer(settings_for(fake, tmp_path / "data")) as running:
            status, headers, body = get(running.url + "/simple/lib-core/")
            assert status == 200
            assert headers["content-type"].startswith("text/html")
            assert b"lib_core-1.0-py3-none-any.whl#sha256=" in body


def test_page_fields_pass_through(upstream: FakeUpstream, server: PipgateServer) -> None:
    status, _, body = get(server.url + "/simple/lib-core/", {"Accept": PIP_ACCEPT})
    assert status == 200
    page = json.loads(body)
    # Sizes and versions, no provenance or project status: exactly api-version 1.1.
    assert page["meta"]["api-version"] == "1.1"
    assert page["versions"] == ["1.0", "2.0"]
    by_name = {f["filename"]: f for f in page["files"]}
    yanked = by_name["lib_core-2.0-py3-none-any.whl"]
    assert yanked["yanked"] == "broken build"
    assert yanked["requires-python"] == ">=3.8"
    assert yanked["size"] > 0
    assert yanked["upload-time"].endswith("Z")
    assert "sha256" in yanked["core-metadata"]
    assert "dist-info-metadata" not in yanked, "pip crashes on the JSON key (PEP 714)"
    _, _, html = get(server.url + "/simple/lib-core/")
    assert b'data-yanked="broken build"' in html
    assert b'data-requires-python="&gt;=3.8"' in html
    assert b"data-dist-info-metadata=" in html
    assert b"data-core-metadata=" in html


def test_metadata_is_byte_for_byte(
    artifacts: dict[str, Path], upstream: FakeUpstream, server: PipgateServer
) -> None:
    url = server.url + "/files/lib-core/lib_core-1.0-py3-none-any.whl.metadata"
    status, _, body = get(url)
    assert status == 200
    assert body == wheel_metadata(artifacts["core1"])
    _, _, page = get(server.url + "/simple/lib-core/", {"Accept": JSON})
    listed = json.loads(page)["files"][0]["core-metadata"]["sha256"]
    assert hashlib.sha256(body).hexdigest() == listed


def test_negotiation_redirects_and_errors(upstream: FakeUpstream, server: PipgateServer) -> None:
    opener = urllib.request.build_opener(_NoRedirect)
    for path, target in (
        ("/simple/Lib_Core/", "/simple/lib-core/"),
        ("/simple/lib-core", "/simple/lib-core/"),
    ):
        with pytest.raises(urllib.error.HTTPError) as redirect:
            opener.open(server.url + path, timeout=10)
        with redirect.value as answer:
            assert answer.code == 301
            assert answer.headers["Location"].endswith(target)
    status, headers, _ = get(server.url + "/simple/lib-core/?format=" + quote(JSON, safe=""))
    assert status == 200
    assert headers["content-type"] == JSON
    status, _, body = get(server.url + "/simple/lib-core/", {"Accept": "image/png"})
    assert status == 406
    assert body.strip()
    status, _, body = get(server.url + "/simple/no-such-project/")
    assert status == 404
    assert b"no-such-project" in body
    status, headers, _ = get(server.url + "/simple/", {"Accept": JSON})
    assert status == 200
    assert headers["content-type"] == JSON


def test_page_etag_and_gzip(upstream: FakeUpstream, server: PipgateServer) -> None:
    status, headers, _ = get(server.url + "/simple/lib-core/", {"Accept": PIP_ACCEPT})
    assert status == 200
    assert headers["vary"] == "Accept, Accept-Encoding"
    status, _, _ = get(
        server.url + "/simple/lib-core/", {"Accept": PIP_ACCEPT, "If-None-Match": headers["etag"]}
    )
    assert status == 304
    status, headers, body = get(
        server.url + "/simple/lib-core/", {"Accept": PIP_ACCEPT, "Accept-Encoding": "gzip"}
    )
    assert headers.get("content-encoding") == "gzip"
    assert body[:2] == b"\x1f\x8b"


def test_file_head_range_and_build_prefix(
    artifacts: dict[str, Path], upstream: FakeUpstream, server: PipgateServer
) -> None:
    data = artifacts["big"].read_bytes()
    path = "/files/big-pkg/" + artifacts["big"].name
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.request("HEAD", path)
    head = connection.getresponse()
    head.read()
    connection.close()
    assert head.status == 200
    assert int(head.getheader("Content-Length") or 0) == len(data)
    status, headers, body = get(server.url + path, {"Range": "bytes=-1000"})
    assert status == 206
    assert body == data[-1000:]
    assert headers["content-range"] == f"bytes {len(data) - 1000}-{len(data) - 1}/{len(data)}"
    status, _, body = get(server.url + path, {"Range": f"bytes={len(data)}-"})
    assert status == 416
    status, _, body = get(server.url + "/builds/ci-7/simple/big-pkg/", {"Accept": JSON})
    link = json.loads(body)["files"][0]["url"]
    status, _, body = get(urljoin(server.url + "/builds/ci-7/simple/big-pkg/", link))
    assert status == 200
    assert body == data
    server.call(server.state.fetchlog.flush())
    rows = server.call(server.state.fetchlog.query(FetchQuery(build="ci-7")))
    assert {(r.kind, r.status) for r in rows} >= {("page", 200), ("dist", 200)}
    status, _, _ = get(server.url + "/builds/bad%20label/simple/big-pkg/")
    assert status == 404


def test_fifty_concurrent_cold_requests_one_upstream_get(
    artifacts: dict[str, Path], upstream: FakeUpstream, server: PipgateServer
) -> None:
    data = artifacts["big"].read_bytes()
    get(server.url + "/simple/big-pkg/")  # page cached; the file is still cold
    upstream.set_fault("slow", "/files/" + artifacts["big"].name, rate=20_000_000)
    url = server.url + "/files/big-pkg/" + artifacts["big"].name
    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        results = list(pool.map(lambda _: get(url), range(50)))
    assert all(status == 200 and body == data for status, _, body in results)
    assert upstream.hits("/files/" + artifacts["big"].name) == 1


@pytest.mark.parametrize("fault", ["reset", "truncate", "wrong-hash"])
def test_broken_download_is_never_completed_nor_cached(
    artifacts: dict[str, Path], upstream: FakeUpstream, server: PipgateServer, fault: str
) -> None:
    name = artifacts["big"].name
    upstream.set_fault(fault, "/files/" + name, times=1)  # type: ignore[arg-type]
    url = server.url + "/files/big-pkg/" + name
    broken = (http.client.IncompleteRead, urllib.error.HTTPError, ConnectionError)
    with pytest.raises(broken), urllib.request.urlopen(url, timeout=30) as response:
        response.read()
    assert not list((server.settings.data_dir / "blobs").rglob(name))
    server.call(server.state.fetchlog.flush())
    rows = server.call(server.state.fetchlog.query(FetchQuery(project="big-pkg")))
    assert [(r.kind, r.status) for r in rows if r.filename == name] in (
        [("dist", 502)],  # integrity failure
        [("dist", 503)],  # upstream failure
    ), "the failed serve is logged, never as a 200"
    status, _, body = get(url)  # the fault is gone: a fresh download succeeds
    assert status == 200
    assert body == artifacts["big"].read_bytes()


def test_upstream_errors_map_to_clear_statuses(
    upstream: FakeUpstream, server: PipgateServer
) -> None:
    upstream.set_fault("500", "/simple/lib-util/")
    status, _, body = get(server.url + "/simple/lib-util/")
    assert status == 503
    assert b"lib-util" in body
    upstream.stop()
    status, _, body = get(server.url + "/simple/lib-core/")
    assert status == 503
    assert body.count(b"\n") == 1


def test_ssrf_file_url_to_loopback_is_refused(artifacts: dict[str, Path], tmp_path: Path) -> None:
    with FakeUpstream() as fake:
        fake.add_file("lib-core", artifacts["core1"], url="http://127.0.0.2:9/steal.whl")
        with PipgateServer(settings_for(fake, tmp_path / "data")) as running:
            status, _, body = get(running.url + "/files/lib-core/lib_core-1.0-py3-none-any.whl")
            assert status == 502
            assert b"127.0.0.2" in body


def test_health_and_readiness(server: PipgateServer) -> None:
    assert get(server.url + "/healthz")[0] == 200
    assert get(server.url + "/readyz")[0] == 200


def test_kill_9_mid_download_leaves_nothing_partial(
    artifacts: dict[str, Path], upstream: FakeUpstream, tmp_path: Path
) -> None:
    name = artifacts["big"].name
    data_dir = tmp_path / "data"
    config = tmp_path / "pipgate.toml"
    config.write_text("policies = []\n")
    upstream.set_fault("slow", "/files/" + name, rate=500_000)
    with PipgateProcess(data_dir, upstream.url, "--config", str(config)) as first:
        url = first.url + "/files/big-pkg/" + name
        connection = http.client.HTTPConnection("127.0.0.1", first.port, timeout=30)
        connection.request("GET", "/files/big-pkg/" + name)
        response = connection.getresponse()
        assert len(response.read(200_000)) == 200_000  # mid-download
        first.kill()
        connection.close()
    assert [p.name for p in (data_dir / "blobs").rglob(name)] == []
    upstream.clear_faults()
    with PipgateProcess(data_dir, upstream.url, "--config", str(config)) as second:
        leftovers = [p for p in (data_dir / "blobs" / ".spool").rglob("*.part")]
        assert leftovers == [], "the restart removed the killed process's spool"
        status, _, body = get(second.url + "/files/big-pkg/" + name)
        assert status == 200
        assert body == artifacts["big"].read_bytes()
        assert url != second.url
    assert [p.read_bytes() for p in (data_dir / "blobs").rglob(name)] == [body]


@pytest.mark.parametrize("accept", [PIP_ACCEPT, "text/html", ""])
def test_warm_fast_path_answers_like_the_full_stack(
    upstream: FakeUpstream, server: PipgateServer, accept: str
) -> None:
    headers = {"Accept": accept, "Accept-Encoding": "gzip"} if accept else {}
    url = server.url + "/builds/warm-1/simple/lib-core/"
    cold = get(url, headers)
    warm = get(url, headers)
    assert cold[0] == warm[0] == 200
    assert cold[2] == warm[2]
    for header in ("content-type", "etag", "vary", "cache-control", "content-encoding"):
        assert cold[1].get(header) == warm[1].get(header), header
    server.call(server.state.fetchlog.flush())
    rows = server.call(server.state.fetchlog.query(FetchQuery(build="warm-1")))
    assert [(r.kind, r.cache) for r in rows][-2:] == [("page", "miss"), ("page", "hit")]
