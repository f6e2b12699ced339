"""The test infrastructure checks itself: builders make valid artifacts, FakeUpstream behaves
like an index (and breaks on request), and real pip/uv install from it in isolation."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.client
import json
import os
import tarfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.builders import (
    build_sdist,
    build_wheel,
    sdist_metadata,
    sha256_file,
    wheel_metadata,
)
from tests.support.clients import (
    isolated_env,
    make_venv,
    pip_install,
    run_in_venv,
    uv_install,
)
from tests.support.fake_upstream import FakeUpstream

JSON = "application/vnd.pypi.simple.v1+json"
PIP_ACCEPT = f"{JSON}, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"

Answer = tuple[int, http.client.HTTPMessage, bytes]


def _request(
    up: FakeUpstream, path: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> Answer:
    connection = http.client.HTTPConnection(up.host, up.port, timeout=10)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


@pytest.fixture
def up() -> Iterator[FakeUpstream]:
    with FakeUpstream() as server:
        yield server


@pytest.fixture
def wheel(tmp_path: Path) -> Path:
    return build_wheel(tmp_path / "dist", "Demo.Pkg", "1.0", requires=["dep>=1"])


# -- builders ---------------------------------------------------------------------------


def test_build_wheel__valid_record_and_metadata(wheel: Path) -> None:
    assert wheel.name == "demo_pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        record = archive.read("demo_pkg-1.0.dist-info/RECORD").decode().splitlines()
        for line in record:
            path, digest, size = line.rsplit(",", 2)
            assert path in names
            if path.endswith("RECORD"):
                continue
            data = archive.read(path)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == f"sha256={expected.decode()}"
            assert int(size) == len(data)
        assert "demo_pkg/__init__.py" in names
    metadata = wheel_metadata(wheel).decode()
    assert metadata.startswith("Metadata-Version: 2.1\nName: Demo.Pkg\nVersion: 1.0\n")
    assert "Requires-Dist: dep>=1\n" in metadata


def test_builders__are_reproducible(tmp_path: Path) -> None:
    first = [build_wheel(tmp_path / "a", "x", "1"), build_sdist(tmp_path / "a", "x", "1")]
    second = [build_wheel(tmp_path / "b", "x", "1"), build_sdist(tmp_path / "b", "x", "1")]
    assert [sha256_file(p) for p in first] == [sha256_file(p) for p in second]


def test_build_sdist__pep_625_layout(tmp_path: Path) -> None:
    sdist = build_sdist(tmp_path, "My-Lib", "2.0", requires=["dep"], requires_python=">=3.8")
    assert sdist.name == "my_lib-2.0.tar.gz"
    with tarfile.open(sdist) as archive:
        names = set(archive.getnames())
        pyproject = archive.extractfile("my_lib-2.0/pyproject.toml")
        assert pyproject is not None
        assert 'build-backend = "backend"' in pyproject.read().decode()
    assert {
        "my_lib-2.0/PKG-INFO",
        "my_lib-2.0/backend.py",
        "my_lib-2.0/my_lib/__init__.py",
    } <= names
    assert b"Requires-Python: >=3.8\n" in sdist_metadata(sdist)


# -- FakeUpstream: pages ----------------------------------------------------------------


def test_fake__json_page_by_accept(up: FakeUpstream, wheel: Path) -> None:
    added = up.add_file("demo.pkg", wheel, provenance_bytes=b'{"attestation_bundles": []}')
    status, headers, body = _request(up, "/simple/demo-pkg/", {"Accept": PIP_ACCEPT})
    assert status == 200
    assert headers["Content-Type"] == JSON
    page = json.loads(body)
    (entry,) = page["files"]
    assert page["meta"]["api-version"] == "1.4"
    assert page["versions"] == ["1.0"]
    assert entry["url"] == up.file_url(wheel.name)
    assert entry["hashes"] == {"sha256": sha256_file(wheel)}
    assert entry["size"] == wheel.stat().st_size
    assert entry["upload-time"].endswith("Z")
    assert entry["core-metadata"] == {"sha256": added.metadata_sha256}
    assert entry["provenance"] == up.provenance_url(added)
    assert entry["provenance"].startswith(f"{up.base}integrity/demo-pkg/1.0/{wheel.name}/")


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "text/html"),
        ("*/*", "text/html"),
        ("application/vnd.pypi.simple.v1+html", "application/vnd.pypi.simple.v1+html"),
        (f"{JSON};q=0.5, text/html", "text/html"),
        (f"text/html;q=0.1, {JSON}", JSON),
        ("application/*", "application/vnd.pypi.simple.v1+html"),
        ("image/png", "text/html"),
    ],
)
def test_fake__negotiation(up: FakeUpstream, accept: str | None, expected: str) -> None:
    up.add_project("demo")
    headers = {"Accept": accept} if accept is not None else {}
    assert _request(up, "/simple/demo/", headers)[1]["Content-Type"] == expected


def test_fake__html_only_mode_uses_relative_links(up: FakeUpstream, wheel: Path) -> None:
    up.mode = "html-only"
    up.add_file("demo-pkg", wheel, yanked="bad build", provenance_bytes=b"{}")
    _, headers, body = _request(up, "/simple/demo-pkg/", {"Accept": JSON})
    html = body.decode()
    assert headers["Content-Type"] == "text/html"
    assert f'href="../../files/{wheel.name}#sha256={sha256_file(wheel)}"' in html
    assert 'data-yanked="bad build"' in html
    assert f'data-provenance="{up.base}integrity/' in html
    assert 'data-core-metadata="sha256=' in html


def test_fake__json_only_mode_answers_json_to_html_clients(up: FakeUpstream) -> None:
    up.mode = "json-only"
    up.add_project("demo")
    assert _request(up, "/simple/demo/", {"Accept": "text/html"})[1]["Content-Type"] == JSON


def test_fake__project_status_and_root_list(up: FakeUpstream) -> None:
    up.add_project("Old.Thing", status="archived", reason="moved")
    page = json.loads(_request(up, "/simple/old-thing/", {"Accept": JSON})[2])
    assert page["project-status"] == {"status": "archived", "reason": "moved"}
    html = _request(up, "/simple/old-thing/")[2].decode()
    assert '<meta name="pypi:project-status" content="archived">' in html
    root = json.loads(_request(up, "/simple/", {"Accept": JSON})[2])
    assert root["projects"] == [{"name": "Old.Thing"}]


def test_fake__redirects_unnormalized_names_and_404s(up: FakeUpstream) -> None:
    up.add_project("demo")
    status, headers, _ = _request(up, "/simple/Demo/")
    assert (status, headers["Location"]) == (301, "/simple/demo/")
    assert _request(up, "/simple/nope/")[0] == 404
    assert up.hits("/simple/Demo/") == 1
    assert [r.path for r in up.requests] == ["/simple/Demo/", "/simple/nope/"]


def test_fake__etag_and_last_modified_give_304(up: FakeUpstream, wheel: Path) -> None:
    up.add_project("demo")
    _, headers, _ = _request(up, "/simple/demo/")
    assert _request(up, "/simple/demo/", {"If-None-Match": headers["ETag"]})[0] == 304
    since = {"If-Modified-Since": headers["Last-Modified"]}
    assert _request(up, "/simple/demo/", since)[0] == 304
    up.add_file("demo", wheel)
    assert _request(up, "/simple/demo/", since)[0] == 200


def test_fake__hash_override_and_missing_upload_time(up: FakeUpstream, wheel: Path) -> None:
    up.add_file("demo-pkg", wheel, hash_override="0" * 64, upload_time=None, metadata=False)
    (entry,) = json.loads(_request(up, "/simple/demo-pkg/", {"Accept": JSON})[2])["files"]
    assert entry["hashes"] == {"sha256": "0" * 64}
    assert "upload-time" not in entry
    assert entry["core-metadata"] is False
    assert _request(up, f"/files/{wheel.name}.metadata")[0] == 404


# -- FakeUpstream: files ----------------------------------------------------------------


def test_fake__files_metadata_provenance_head_and_range(up: FakeUpstream, wheel: Path) -> None:
    added = up.add_file("demo-pkg", wheel, provenance_bytes=b'{"v": 1}')
    data = wheel.read_bytes()
    assert _request(up, f"/files/{wheel.name}")[2] == data
    metadata = _request(up, f"/files/{wheel.name}.metadata")[2]
    assert metadata == wheel_metadata(wheel)
    assert hashlib.sha256(metadata).hexdigest() == added.metadata_sha256
    provenance = up.provenance_url(added).removeprefix(up.base.rstrip("/"))
    assert _request(up, provenance)[2] == b'{"v": 1}'
    status, headers, body = _request(up, f"/files/{wheel.name}", method="HEAD")
    assert (status, int(headers["Content-Length"]), body) == (200, len(data), b"")
    status, headers, body = _request(up, f"/files/{wheel.name}", {"Range": "bytes=10-19"})
    assert (status, body, headers["Content-Range"]) == (
        206,
        data[10:20],
        f"bytes 10-19/{len(data)}",
    )
    assert _request(up, f"/files/{wheel.name}", {"Range": "bytes=-5"})[2] == data[-5:]
    assert _request(up, f"/files/{wheel.name}", {"Range": f"bytes={len(data)}-"})[0] == 416


# -- FakeUpstream: faults ---------------------------------------------------------------


def test_fake__status_faults_global_per_path_and_counted(up: FakeUpstream, wheel: Path) -> None:
    up.add_file("demo-pkg", wheel)
    up.set_fault("503", times=2)
    up.set_fault("500", f"/files/{wheel.name}")
    assert _request(up, f"/files/{wheel.name}")[0] == 500  # the per-path fault wins
    assert [_request(up, "/simple/")[0] for _ in range(3)] == [503, 503, 200]
    up.clear_faults()
    assert _request(up, f"/files/{wheel.name}")[0] == 200


def test_fake__wrong_hash_serves_other_bytes(up: FakeUpstream, wheel: Path) -> None:
    up.add_file("demo-pkg", wheel)
    up.set_fault("wrong-hash", f"/files/{wheel.name}")
    body = _request(up, f"/files/{wheel.name}")[2]
    assert len(body) == wheel.stat().st_size
    assert hashlib.sha256(body).hexdigest() != sha256_file(wheel)


@pytest.mark.parametrize("fault", ["truncate", "reset"])
def test_fake__broken_bodies(up: FakeUpstream, wheel: Path, fault: str) -> None:
    up.add_file("demo-pkg", wheel)
    up.set_fault("truncate" if fault == "truncate" else "reset", after=100)
    with pytest.raises((http.client.IncompleteRead, ConnectionResetError)):
        _request(up, f"/files/{wheel.name}")


def test_fake__slow_and_timeout(up: FakeUpstream, wheel: Path) -> None:
    up.add_file("demo-pkg", wheel)
    size = wheel.stat().st_size
    up.set_fault("slow", f"/files/{wheel.name}", rate=size * 2)  # about half a second
    started = time.monotonic()
    assert _request(up, f"/files/{wheel.name}")[2] == wheel.read_bytes()
    assert time.monotonic() - started >= 0.4
    up.set_fault("timeout", "/simple/", delay=0.5)
    started = time.monotonic()
    assert _request(up, "/simple/")[0] == 200
    assert time.monotonic() - started >= 0.5


def test_fake__stop_refuses_and_start_reuses_the_port(up: FakeUpstream) -> None:
    port = up.port
    up.stop()
    with pytest.raises(ConnectionRefusedError):
        _request(up, "/simple/")
    up.start()
    assert up.port == port
    assert _request(up, "/simple/")[0] == 200


async def test_fake__serves_60_concurrent_connections(tmp_path: Path) -> None:
    async with FakeUpstream() as up:
        up.add_project("demo")
        connector = aiohttp.TCPConnector(limit=0, force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def fetch() -> int:
                async with session.get(up.page_url("demo")) as response:
                    await response.read()
                    return response.status

            statuses = await asyncio.gather(*(fetch() for _ in range(60)))
        assert statuses == [200] * 60
        assert up.hits("/simple/demo/") == 60


# -- clients ----------------------------------------------------------------------------


def test_isolated_env__drops_pip_uv_and_proxy_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "http://elsewhere.invalid/simple/")
    monkeypatch.setenv("UV_EXTRA_INDEX_URL", "http://elsewhere.invalid/simple/")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    env = isolated_env(tmp_path)
    assert "PIP_INDEX_URL" not in env
    assert "UV_EXTRA_INDEX_URL" not in env
    assert "HTTPS_PROXY" not in env
    assert env["PIP_CONFIG_FILE"] == os.devnull
    assert env["UV_NO_CONFIG"] == "1"
    assert Path(env["HOME"]).is_relative_to(tmp_path)
    assert Path(env["UV_CACHE_DIR"]).is_relative_to(tmp_path)


@pytest.mark.clients
@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_clients__install_wheel_and_sdist_from_the_fake(
    up: FakeUpstream, tmp_path: Path, wheel: Path, installer: str
) -> None:
    up.add_file("Demo.Pkg", wheel)
    up.add_file("dep", build_wheel(tmp_path / "dist", "dep", "1.2"))
    up.add_file("from-sdist", build_sdist(tmp_path / "dist", "from-sdist", "0.3"))
    venv = make_venv(tmp_path)
    install = pip_install if installer == "pip" else uv_install
    result = install(venv, up.url, "demo.pkg", "from-sdist")
    assert result.returncode == 0, result.stdout + result.stderr
    check = run_in_venv(
        venv, "-c", "import demo_pkg, dep, from_sdist; print(from_sdist.__version__)"
    )
    assert check.stdout.strip() == "0.3", check.stderr
    # uv with --no-cache fetches the sdist once to resolve and once to install.
    assert up.hits("/files/from_sdist-0.3.tar.gz") >= 1
    assert up.hits("/simple/dep/") == 1


@pytest.mark.clients
def test_clients__pip_never_reaches_another_index(up: FakeUpstream, tmp_path: Path) -> None:
    venv = make_venv(tmp_path)
    result = pip_install(venv, up.url, "not-on-the-fake")
    assert result.returncode != 0
    assert "No matching distribution found for not-on-the-fake" in result.stderr
    assert [r.path for r in up.requests] == ["/simple/not-on-the-fake/"]
