"""Loading OSV data from a directory, a zip and an http(s) URL, and noticing changes."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from policies.osv_source import OsvSource, OsvSourceError
from tests.support.osv import OSV_FIXTURES, build_zip, serve_osv


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def copy_fixtures(tmp_path: Path) -> Path:
    return Path(shutil.copytree(OSV_FIXTURES, tmp_path / "osv"))


async def test_directory__reloads_only_after_a_change(tmp_path: Path) -> None:
    tree = copy_fixtures(tmp_path)
    source = OsvSource(str(tree), data_dir=tmp_path / "data", http=None)
    first = await source.load()
    assert first is not None
    assert first.records == 8
    assert await source.load() is None
    (tree / "pypi" / "PYSEC-2099-1.json").unlink()
    second = await source.load()
    assert second is not None
    assert second.records == 7


async def test_missing_path__names_the_source(tmp_path: Path) -> None:
    source = OsvSource(str(tmp_path / "nowhere"), data_dir=tmp_path, http=None)
    with pytest.raises(OsvSourceError, match="nowhere"):
        await source.load()


def test_url_without_a_session__is_refused(tmp_path: Path) -> None:
    with pytest.raises(OsvSourceError, match="no HTTP client session"):
        OsvSource("https://osv.invalid/all.zip", data_dir=tmp_path, http=None)


async def test_url__downloads_then_revalidates_with_the_etag(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    data_dir = tmp_path / "data"
    async with serve_osv(build_zip(tmp_path / "all.zip").read_bytes()) as server:
        source = OsvSource(server.url, data_dir=data_dir, http=http)
        index = await source.load()
        assert index is not None
        assert index.records == 8
        assert "If-None-Match" not in server.requests[0]

        assert await source.load() is None
        assert server.requests[1]["If-None-Match"] == server.etag
        assert "If-Modified-Since" in server.requests[1]

        evil_only = tmp_path / "evil"
        shutil.copytree(OSV_FIXTURES / "malicious", evil_only)
        server.publish(build_zip(tmp_path / "evil.zip", evil_only).read_bytes())
        changed = await source.load()
        assert changed is not None
        assert changed.records == 2
    downloaded = sorted(p.name for p in (data_dir / "osv").iterdir())
    assert len(downloaded) == 2
    assert not [name for name in downloaded if name.endswith(".part")]


async def test_url__server_error_fails_the_load(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with serve_osv(b"") as server:
        server.fail_with = 503
        source = OsvSource(server.url, data_dir=tmp_path, http=http)
        with pytest.raises(OsvSourceError, match="HTTP 503, expected 200"):
            await source.load()
    assert list((tmp_path / "osv").iterdir()) == []


async def test_url__first_load_falls_back_to_the_earlier_download(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with serve_osv(build_zip(tmp_path / "all.zip").read_bytes()) as server:
        assert await OsvSource(server.url, data_dir=tmp_path, http=http).load() is not None
        server.fail_with = 500
        restarted = OsvSource(server.url, data_dir=tmp_path, http=http)
        index = await restarted.load()
        assert index is not None
        assert index.records == 8
        # Once something is loaded, a failure is reported instead of silently reused.
        with pytest.raises(OsvSourceError, match="HTTP 500"):
            await restarted.load()


async def test_url__a_truncated_download_is_an_error_not_an_empty_index(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    whole = build_zip(tmp_path / "all.zip").read_bytes()
    async with serve_osv(whole[: len(whole) // 2]) as server:
        source = OsvSource(server.url, data_dir=tmp_path / "data", http=http)
        with pytest.raises(OsvSourceError, match="cannot read OSV source"):
            await source.load()


async def test_url__a_corrupt_update_keeps_the_last_good_copy(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with serve_osv(build_zip(tmp_path / "all.zip").read_bytes()) as server:
        source = OsvSource(server.url, data_dir=tmp_path, http=http)
        assert await source.load() is not None
        server.publish(b"PK\x03\x04 this is not the rest of a zip")
        with pytest.raises(OsvSourceError, match="cannot read OSV source"):
            await source.load()
        restarted = await OsvSource(server.url, data_dir=tmp_path, http=http).load()
        assert restarted is not None
        assert restarted.records == 8
    assert not [p.name for p in (tmp_path / "osv").iterdir() if p.name.endswith(".part")]
