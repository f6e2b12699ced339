"""S3BlobStore against a real S3-compatible server (moto, in a child process on loopback):
publication only on commit, multipart uploads, ranged reads, flat memory, failures."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from proxy.errors import InvalidName
from storage.base import BlobStore, StorageError
from storage.filesystem import CHUNK_SIZE
from storage.s3 import S3BlobStore
from tests.support.s3_server import S3Server, isolate_from_aws_config, running_s3_server, s3_client

KEY = "dist/foo/foo-1.0-py3-none-any.whl"
PART = 5 * 1024 * 1024  # S3's smallest part: multipart tests stay small
MiB = 1024 * 1024


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with running_s3_server(tmp_path_factory.mktemp("s3-home")) as server:
        yield server


@pytest.fixture(autouse=True)
def _no_aws_config(monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_from_aws_config(monkeypatch)


@pytest.fixture
async def bucket(s3_server: S3Server) -> str:
    name = f"pipgate-test-{uuid.uuid4().hex[:12]}"
    async with s3_client(s3_server) as client:
        await client.create_bucket(Bucket=name)
    return name


def make_store(
    server: S3Server, bucket: str, spool_root: Path, prefix: str = "mirror"
) -> S3BlobStore:
    return S3BlobStore(
        bucket=bucket,
        prefix=prefix,
        endpoint=server.endpoint,
        region=server.region,
        access_key=server.access_key,
        secret_key=server.secret_key,
        spool_root=spool_root,
        part_size=PART,
    )


@pytest.fixture
async def store(s3_server: S3Server, bucket: str, tmp_path: Path) -> AsyncIterator[S3BlobStore]:
    blobs = make_store(s3_server, bucket, tmp_path / "spool")
    await blobs.start()
    yield blobs
    await blobs.aclose()


def spool(store: S3BlobStore, data: bytes, name: str = "download.part") -> Path:
    path = store.spool_dir / name
    path.write_bytes(data)
    return path


async def read_all(store: S3BlobStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    blob = await store.open(key)
    assert blob is not None
    return b"".join([chunk async for chunk in blob.iter_range(start, end)])


async def keys_in(server: S3Server, bucket: str) -> list[str]:
    async with s3_client(server) as client:
        listing = await client.list_objects_v2(Bucket=bucket)
    return [item["Key"] for item in listing.get("Contents", [])]


async def uploads_in(server: S3Server, bucket: str) -> int:
    async with s3_client(server) as client:
        listing = await client.list_multipart_uploads(Bucket=bucket)
    return len(listing.get("Uploads", []))


def pause_after_first_part(
    store: S3BlobStore, monkeypatch: pytest.MonkeyPatch, then: Callable[[], Awaitable[None]]
) -> None:
    """Run ``then`` inside the commit, once its first part is uploaded."""
    upload_part = store._upload_part

    async def hooked(
        name: str, upload_id: str, number: int, source: Path, offset: int, length: int
    ) -> str:
        if number == 2:
            await then()
        return await upload_part(name, upload_id, number, source, offset, length)

    monkeypatch.setattr(store, "_upload_part", hooked)


async def test_satisfies_the_protocol_with_a_local_per_process_spool(
    store: S3BlobStore, tmp_path: Path
) -> None:
    blobs: BlobStore = store
    assert blobs.spool_dir.parent == tmp_path / "spool"
    assert blobs.spool_dir.is_dir()
    await store.check()


async def test_commit_publishes_under_the_prefix(
    store: S3BlobStore, s3_server: S3Server, bucket: str
) -> None:
    download = spool(store, b"wheel bytes")
    assert await store.open(KEY) is None
    await store.commit(KEY, download)

    blob = await store.open(KEY)
    assert blob is not None
    assert (blob.size, blob.path) == (len(b"wheel bytes"), None)
    assert await read_all(store, KEY) == b"wheel bytes"
    assert await keys_in(s3_server, bucket) == [f"mirror/{KEY}"]
    assert not download.exists()
    assert list(store.spool_dir.iterdir()) == []


async def test_nothing_is_visible_before_a_multipart_upload_completes(
    store: S3BlobStore, s3_server: S3Server, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(2 * PART + 12345)
    seen_mid_upload: list[object] = []

    async def look() -> None:
        seen_mid_upload.append(await store.open(KEY))
        seen_mid_upload.append(await keys_in(s3_server, bucket))
        seen_mid_upload.append(await uploads_in(s3_server, bucket))

    pause_after_first_part(store, monkeypatch, look)
    await store.commit(KEY, spool(store, data))

    assert seen_mid_upload == [None, [], 1], "a part uploaded, nothing visible under the key"
    blob = await store.open(KEY)
    assert blob is not None
    assert blob.etag.strip('"').endswith("-3"), "uploaded as three parts"
    assert await read_all(store, KEY) == data
    assert await uploads_in(s3_server, bucket) == 0


async def test_a_failed_multipart_upload_is_aborted_and_publishes_nothing(
    store: S3BlobStore, s3_server: S3Server, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    download = spool(store, os.urandom(2 * PART + 1))

    async def truncate() -> None:
        with download.open("r+b") as handle:
            handle.truncate(PART + 10)

    pause_after_first_part(store, monkeypatch, truncate)
    with pytest.raises(StorageError, match=r"upload of 'dist/foo/.*' failed: .*shrank"):
        await store.commit(KEY, download)
    assert await store.open(KEY) is None
    assert await uploads_in(s3_server, bucket) == 0
    assert not download.exists(), "commit takes ownership of the spool file even on failure"


async def test_a_cancelled_commit_aborts_its_upload(
    store: S3BlobStore, s3_server: S3Server, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    download = spool(store, os.urandom(2 * PART + 1))
    paused = asyncio.Event()

    async def hang() -> None:
        paused.set()
        await asyncio.sleep(3600)

    pause_after_first_part(store, monkeypatch, hang)
    commit = asyncio.create_task(store.commit(KEY, download))
    await paused.wait()
    commit.cancel()
    with pytest.raises(asyncio.CancelledError):
        await commit
    assert await uploads_in(s3_server, bucket) == 0
    assert await store.open(KEY) is None
    assert not download.exists()


async def test_ranged_reads(store: S3BlobStore) -> None:
    data = os.urandom(2 * CHUNK_SIZE + 1234)
    await store.commit(KEY, spool(store, data))
    blob = await store.open(KEY)
    assert blob is not None
    chunks = [chunk async for chunk in blob.iter_range()]
    assert b"".join(chunks) == data
    assert max(len(c) for c in chunks) <= CHUNK_SIZE
    for start, end in [
        (0, 1),
        (10, 20),
        (CHUNK_SIZE - 1, CHUNK_SIZE + 1),
        (CHUNK_SIZE, None),
        (len(data) - 1, None),
        (len(data), None),
        (5, len(data) + 100),
        (7, 7),
    ]:
        assert await read_all(store, KEY, start, end) == data[start:end], (start, end)
    for start, bad_end in [(-1, None), (10, 5)]:
        with pytest.raises(ValueError, match="invalid byte range"):
            await read_all(store, KEY, start, bad_end)


async def test_a_blob_deleted_or_replaced_after_open_is_a_storage_error(
    store: S3BlobStore,
) -> None:
    await store.commit(KEY, spool(store, b"first version"))
    blob = await store.open(KEY)
    assert blob is not None
    await store.commit(KEY, spool(store, b"second version, longer"))
    with pytest.raises(StorageError, match="vanished or was replaced"):
        await anext(aiter(blob.iter_range()))
    await store.delete(KEY)
    with pytest.raises(StorageError, match="vanished or was replaced"):
        await anext(aiter(blob.iter_range()))


async def test_delete(store: S3BlobStore) -> None:
    await store.commit(KEY, spool(store, b"data"))
    await store.delete(KEY)
    assert await store.open(KEY) is None
    await store.delete(KEY)  # deleting a missing blob is not an error


@pytest.mark.parametrize("key", ["", "../x", "dist/../x", "dist//x", "dist/foo/.hidden", "a\\b"])
async def test_invalid_keys_are_refused(store: S3BlobStore, key: str) -> None:
    download = spool(store, b"data")
    with pytest.raises(InvalidName, match="invalid blob key"):
        await store.open(key)
    with pytest.raises(InvalidName, match="invalid blob key"):
        await store.commit(key, download)
    assert not download.exists()


async def test_no_prefix_stores_keys_as_they_are(
    s3_server: S3Server, bucket: str, tmp_path: Path
) -> None:
    blobs = make_store(s3_server, bucket, tmp_path, prefix="/")
    await blobs.start()
    try:
        await blobs.commit(KEY, spool(blobs, b"x"))
    finally:
        await blobs.aclose()
    assert await keys_in(s3_server, bucket) == [KEY]
    assert await asyncio.to_thread(os.listdir, tmp_path) == [], "aclose removes our spool"


async def test_failures_name_the_bucket_and_the_operation(
    s3_server: S3Server, tmp_path: Path
) -> None:
    missing = make_store(s3_server, "no-such-bucket", tmp_path / "a")
    await missing.start()
    try:
        with pytest.raises(
            StorageError, match=r"s3 bucket 'no-such-bucket' at http://127.*: HEAD bucket"
        ):
            await missing.check()
        with pytest.raises(StorageError, match=r"upload of 'dist/foo/.*' failed: NoSuchBucket"):
            await missing.commit(KEY, spool(missing, b"x"))
    finally:
        await missing.aclose()

    with pytest.raises(StorageError, match="not started"):
        await make_store(s3_server, "b", tmp_path / "b").open(KEY)


async def test_an_unreachable_server_is_a_storage_error(tmp_path: Path) -> None:
    down = make_store(S3Server(endpoint="http://127.0.0.1:9"), "bucket", tmp_path)
    await down.start()
    try:
        with pytest.raises(StorageError, match=r"at http://127\.0\.0\.1:9: HEAD '.*' failed"):
            await down.open(KEY)
    finally:
        await down.aclose()


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRss:
    """Samples this process's resident memory every few milliseconds in a thread."""

    def __init__(self) -> None:
        self.baseline = _rss()
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, _rss())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return self.peak - self.baseline


def _write_random_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as handle:
        for _ in range(size // MiB):
            block = os.urandom(MiB)
            digest.update(block)
            handle.write(block)
    return digest.hexdigest()


async def test_a_50_mb_object_moves_with_bounded_memory(store: S3BlobStore) -> None:
    size = 50 * MiB
    download = store.spool_dir / "big.part"
    expected = await asyncio.to_thread(_write_random_file, download, size)
    await store.commit("dist/warmup/warmup-1.0.tar.gz", spool(store, os.urandom(PART + 1), "w"))

    with PeakRss() as upload:
        await store.commit(KEY, download)
    blob = await store.open(KEY)
    assert blob is not None
    assert blob.size == size
    digest = hashlib.sha256()
    with PeakRss() as read:
        async for chunk in blob.iter_range():
            digest.update(chunk)
    assert digest.hexdigest() == expected

    # Holding the object would cost 50 MiB; a part in flight (with its copies) costs far less.
    assert upload.growth < 30 * MiB, f"upload grew RSS by {upload.growth / MiB:.1f} MiB"
    assert read.growth < 10 * MiB, f"download grew RSS by {read.growth / MiB:.1f} MiB"
