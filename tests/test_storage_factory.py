"""open_stores: which backends the settings select, and their lifecycle."""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from proxy.settings import Settings
from storage.base import FetchQuery, FetchRecord, StorageError
from storage.factory import (
    REDIS_PREFIX,
    Stores,
    blob_root,
    open_fetchlog,
    open_stores,
    s3_location,
)
from storage.filesystem import FilesystemBlobStore
from storage.filesystem_kv import FilesystemKeyValueStore
from storage.locks import FileLockManager
from storage.redis import RedisKeyValueStore, RedisLockManager
from storage.s3 import S3BlobStore
from tests.support.s3_server import S3Server, isolate_from_aws_config, running_s3_server, s3_client

REPO = Path(__file__).resolve().parents[1]
REDIS_URL = "redis://127.0.0.1:6379/0"


async def test_embedded_defaults(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    async with open_stores(settings) as stores:
        assert isinstance(stores.blobs, FilesystemBlobStore)
        assert isinstance(stores.pages, FilesystemKeyValueStore)
        assert isinstance(stores.state, FilesystemKeyValueStore)
        assert isinstance(stores.locks, FileLockManager)
        assert stores.blobs.spool_dir.parent == tmp_path / "blobs" / ".spool"
        assert stores.blobs.spool_dir.is_dir()
        await stores.blobs.check()
        await stores.pages.set("page", b"p")
        await stores.state.set("page", b"s")
        async with stores.locks.lock("k", timeout=1):
            pass
        assert await stores.pages.get("page") == b"p", "pages and state are separate stores"
    async with open_stores(settings) as reopened:
        assert await reopened.pages.get("page") == b"p", "pages survive a restart"


async def test_stores_are_closed_on_exit(tmp_path: Path) -> None:
    async with open_stores(Settings(data_dir=tmp_path)) as stores:
        locks = stores.locks
    with pytest.raises(StorageError, match="closed"):
        async with locks.lock("k", timeout=1):
            pass


async def test_file_blob_url_places_blobs_elsewhere(tmp_path: Path) -> None:
    elsewhere = tmp_path / "artifact store"
    settings = Settings(data_dir=tmp_path / "data", blob_url=elsewhere.as_uri())
    assert blob_root(settings) == elsewhere
    async with open_stores(settings) as stores:
        assert stores.blobs.spool_dir.parent == elsewhere / ".spool"
        assert stores.blobs.spool_dir.is_dir()


def test_blob_root_default_and_bad_file_urls(tmp_path: Path) -> None:
    assert blob_root(Settings(data_dir=tmp_path)) == tmp_path / "blobs"
    with_host = Settings(blob_url=f"file://localhost{(tmp_path / 'b').as_posix()}")
    assert blob_root(with_host) == tmp_path / "b"
    with pytest.raises(StorageError, match="expected file:///absolute/path"):
        blob_root(Settings(blob_url="file://fileserver/share"))


def test_scale_out_backends_are_imported_only_when_configured() -> None:
    lazy = ("storage.redis", "storage.s3", "aiobotocore")
    probe = f"import sys, storage.factory; print([m for m in {lazy!r} if m in sys.modules])"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert result.stdout.strip() == "[]"


@pytest.mark.redis
async def test_redis_cache_url_puts_pages_state_and_locks_in_redis(tmp_path: Path) -> None:
    raw = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await raw.ping()
    except Exception as error:
        await raw.aclose()
        pytest.skip(f"Redis is not reachable at {REDIS_URL} ({error!r}); .ci/services starts it")
    key = f"factory-test-{uuid.uuid4().hex}"
    try:
        async with open_stores(Settings(data_dir=tmp_path, cache_url=REDIS_URL)) as stores:
            assert isinstance(stores.pages, RedisKeyValueStore)
            assert isinstance(stores.state, RedisKeyValueStore)
            assert isinstance(stores.locks, RedisLockManager)
            assert isinstance(stores.blobs, FilesystemBlobStore), "blobs stay local"
            await stores.pages.set(key, b"page")
            await stores.state.set(key, b"state")
            async with stores.locks.lock(key, timeout=1):
                assert await raw.exists(f"{REDIS_PREFIX}lock:{key}") == 1
            assert await raw.get(f"{REDIS_PREFIX}pages:{key}") == b"page"
            assert await raw.get(f"{REDIS_PREFIX}state:{key}") == b"state"
        assert not (tmp_path / "pages").exists(), "nothing of the cache on local disk"
    finally:
        await raw.delete(f"{REDIS_PREFIX}pages:{key}", f"{REDIS_PREFIX}state:{key}")
        await raw.aclose()


async def test_redis_down_at_start_is_logged_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(data_dir=tmp_path, cache_url=f"redis://127.0.0.1:{port}/0")
    with caplog.at_level(logging.WARNING, logger="storage.factory"):
        async with open_stores(settings) as stores:
            with pytest.raises(StorageError, match=rf"redis at 127\.0\.0\.1:{port}: GET"):
                await stores.pages.get("page")
    assert f"redis at 127.0.0.1:{port}: PING failed" in caplog.text


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with running_s3_server(tmp_path_factory.mktemp("s3-home")) as server:
        yield server


async def test_s3_blob_url_puts_blobs_in_the_bucket(
    tmp_path: Path, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_from_aws_config(monkeypatch)
    bucket = f"factory-{uuid.uuid4().hex[:12]}"
    async with s3_client(s3_server) as client:
        await client.create_bucket(Bucket=bucket)
    settings = Settings(
        data_dir=tmp_path,
        blob_url=f"s3://{bucket}/pipgate/blobs/",
        s3_endpoint=s3_server.endpoint,
        s3_region=s3_server.region,
        s3_access_key=s3_server.access_key,
        s3_secret_key=s3_server.secret_key,
    )
    key = "dist/foo/foo-1.0.tar.gz"
    async with open_stores(settings) as stores:
        assert isinstance(stores.blobs, S3BlobStore)
        assert isinstance(stores.pages, FilesystemKeyValueStore), "the cache stays embedded"
        assert stores.blobs.spool_dir.parent == settings.spool_dir, "the spool stays local"
        await stores.blobs.check()
        download = stores.blobs.spool_dir / "download.part"
        download.write_bytes(b"sdist")
        await stores.blobs.commit(key, download)
    async with s3_client(s3_server) as client:
        listing = await client.list_objects_v2(Bucket=bucket)
    assert [item["Key"] for item in listing.get("Contents", [])] == [f"pipgate/blobs/{key}"]


def test_s3_location() -> None:
    assert s3_location("s3://bucket") == ("bucket", "")
    assert s3_location("s3://bucket/a/b/") == ("bucket", "a/b")
    for bad in ("s3:///prefix", "s3://bucket/p?versioning=1", "file:///x"):
        with pytest.raises(StorageError, match="expected s3://bucket"):
            s3_location(bad)


async def test_a_store_that_cannot_start_fails_the_whole_open(tmp_path: Path) -> None:
    (tmp_path / "pages").write_bytes(b"a file where the page store must go")
    with pytest.raises(StorageError, match="cannot be prepared"):
        async with open_stores(Settings(data_dir=tmp_path)):
            pytest.fail("opened with a broken page store")


def test_stores_is_frozen(tmp_path: Path) -> None:
    stores = Stores(
        blobs=FilesystemBlobStore(tmp_path),
        pages=FilesystemKeyValueStore(tmp_path),
        state=FilesystemKeyValueStore(tmp_path),
        locks=FileLockManager(tmp_path),
    )
    with pytest.raises(AttributeError):
        stores.blobs = FilesystemBlobStore(tmp_path)  # type: ignore[misc]


async def test_fetchlog_defaults_to_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    record = FetchRecord(
        time=dt.datetime(2025, 1, 2, tzinfo=dt.UTC), client="127.0.0.1", kind="page",
        project="foo", status=200,
    )  # fmt: skip
    async with open_fetchlog(settings) as log:
        await log.append(record)
    assert (tmp_path / "fetchlog.sqlite3").is_file()
    async with open_fetchlog(settings) as reopened:
        assert await reopened.query(FetchQuery(project="foo")) == [record]
