"""The caching stage: page TTL, revalidation, stale-on-error, persistence, and artifact
single-flight with hash verification and held-back final bytes."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from packaging.utils import NormalizedName

from proxy.caching import CachingRepository
from proxy.downloads import DownloadManager
from proxy.errors import (
    FileNotFound,
    IntegrityError,
    ProjectNotFound,
    UpstreamProtocolError,
    UpstreamUnavailable,
)
from proxy.repository import RequestContext, ResourceKind
from proxy.upstream_base import ListFetch, PageFetch, Validators
from storage.filesystem import FilesystemBlobStore
from storage.filesystem_kv import FilesystemKeyValueStore
from storage.locks import FileLockManager, MemoryLockManager
from tests.support.memory_upstream import MemoryUpstream

NAME = NormalizedName("demo")
WHEEL = "demo-1.0-py3-none-any.whl"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def blobs(tmp_path: Path) -> FilesystemBlobStore:
    store = FilesystemBlobStore(tmp_path / "blobs")
    await store.start()
    return store


@pytest.fixture
async def pages(tmp_path: Path) -> FilesystemKeyValueStore:
    store = FilesystemKeyValueStore(tmp_path / "pages")
    await store.start()
    return store


def make_repo(
    upstream: MemoryUpstream,
    blobs: FilesystemBlobStore,
    pages: FilesystemKeyValueStore,
    clock: Clock | None = None,
) -> tuple[CachingRepository, DownloadManager]:
    downloads = DownloadManager(upstream, blobs, MemoryLockManager())
    repo = CachingRepository(
        upstream,
        pages,
        downloads,
        blobs,
        page_ttl=60,
        revalidate_timeout=0.5,
        clock=clock or Clock(),
    )
    return repo, downloads


async def read_all(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


async def test_page__cached_then_revalidated_with_etag(
    blobs: FilesystemBlobStore, pages: FilesystemKeyValueStore
) -> None:
    upstream, clock = MemoryUpstream(), Clock()
    upstream.add("demo", WHEEL, b"x" * 10)
    repo, _ = make_repo(upstream, blobs, pages, clock)
    ctx = RequestContext()
    await repo.get_project_page(NAME, ctx)
    assert ctx.cache == "miss"
    await repo.get_project_page(NAME, ctx)
    assert ctx.cache == "hit"
    assert upstream.page_calls[NAME] == 1
    clock.now += 61
    page = await repo.get_project_page(NAME, ctx)
    assert ctx.cache == "revalidated"
    assert upstream.etag_matches == 1
    assert page.file(WHEEL) is not None


async def test_page__stale_when_upstream_down_and_backs_off(
    blobs: FilesystemBlobStore, pages: FilesystemKeyValueStore
) -> None:
    upstream, clock = MemoryUpstream(), Clock()
    upstream.add("demo", WHEEL, b"x" * 10)
    repo, _ = make_repo(upstream, blobs, pages, clock)
    await repo.get_project_page(NAME, RequestContext())
    upstream.down = True
    clock.now += 61
    ctx = RequestContext()
    page = await repo.get_project_page(NAME, ctx)
    assert ctx.cache == "stale"
    assert page.file(WHEEL) is not None
    calls = upstream.page_calls[NAME]
    await repo.get_project_page(NAME, RequestContext())
    assert upstream.page_calls[NAME] == calls, "a failed upstream is not asked again at once"


async def test_page__slow_upstream_served_stale_after_revalidate_timeout(
    blobs: FilesystemBlobStore, pages: FilesystemKeyValueStore
) -> None:
    upstream, clock = MemoryUpstream(), Clock()
    upstream.add("demo", WHEEL, b"x" * 10)
    repo, _ = make_repo(upstream, blobs, pages, clock)
    await repo.get_project_page(NAME, RequestContext())
    upstream.delay, clock.now = 5.0, clock.now + 61
    ctx = RequestContext()
    await asyncio.wait_for(repo.get_project_page(NAME, ctx), 3)
    assert ctx.cache == "stale"


async def test_page__survives_restart_with_upstream_down(
    blobs: FilesystemBlobStore, pages: FilesystemKeyValueStore
) -> None:
    upstream = MemoryUpstream()
    upstream.add("demo", WHEEL, b"x" * 10)
    first, _ = make_repo(upstream, blobs, pages)
    await first.get_project_page(NAME, RequestContext())
    upstream.down = True
    restarted, _ = make_repo(upstream, blobs, pages)
    page = await restarted.get_project_page(NAME, RequestContext())
    assert [f.filename for f in page.files] == [WHEEL]


async def test_page__not_found_and_unavailable_without_cache(
    blobs: FilesystemBlobStore, pages: FilesystemKeyValueStore
) -> None:
    upstream = MemoryUpstream()
    repo, _ = make_repo(upstream, blobs, pages)
    with pytest.raises(ProjectNotFound):
        await repo.get_project_page(NAME, RequestContext())
    upstream.down = True
    with pytest.raises(UpstreamUnavailable):
        await repo.get_project_page(NAME, RequestContext())


async def test_page__concurrent_misses_share_one_request(
    blobs: FilesystemBlobStore, pages: FilesystemKeyValueStore
) -> None:
    upstream = MemoryUpstream(delay=0.05)
    upstream.add("demo", WHEEL, b"x")
    repo, _ = make_repo(upstream, blobs, pages)
    await asyncio.gather(*(repo.get_project_page(NAME, RequestContext()) for _ in range(20)))
    assert upstream.page_calls[NAME] == 1


async def test_artifact__fifty_concurrent_cold_reads_one_download(
    blobs: FilesystemBlobStore, pages: FilesystemKeyValueStore
) -> None:
    data = bytes(range(256)) * 400
    upstream = MemoryUpstream()
    dist = upstream.add("demo", WHEEL, data)
    repo, _ = make_repo(upstream, blobs, pages)

    async def fetch() -> bytes:
        resource = await repo.get_resource(NAME, WHEEL, ResourceKind.DIST, RequestContext())
        return await read_all(resource.body.iter_range())

    bodies = await asyncio.gather(*(fetch() for _ in range(50)))
    assert all(body == data for body in bodies)
    assert upstream.opens[dist.url] == 1
    stored = await blobs.open(f"dist/demo/{WHEEL}")
    assert stored is not None
    assert stored.size == len(data)
    ctx = RequestContext()
    warm = await repo.get_resource(NAME, WHEEL, ResourceKind.DIST, ctx)
    assert ctx.cache == "hit"
    assert warm.body.path is not None


async def test_artifact__hash_mismatch_aborts_every_reader_and_keeps_nothing(
    blobs: FilesystemBlobStore, pages: FilesystemKeyValueStore
) -> None:
    upstream = MemoryUpstream()
    upstream.add("demo", WHEEL, b"tampered" * 500, sha256=hashlib.sha256(b"genuine").hexdigest())
    repo, _ = make_repo(upstream, blobs, pages)

    async def fetch() -> bytes:
        resource = await repo.get_resource(NAME, WHEEL, ResourceKind.DIST, RequestContext())
        return await read_all(resource.body.iter_range())

    results = await asyncio.gather(*(fetch() for _ in range(5)), return_exceptions=True)
    assert all(isinstance(result, IntegrityError) for result in results)
    assert await blobs.open(f"dist/demo/{WHEEL}") is None
    assert list(blobs.spool_dir.iterdir()) == []


async def test_artifact__final_byte_held_until_verified(
    blobs: FilesystemBlobStore, pages: FilesystemKeyValueStore
) -> None:
    data = b"a" * 5000
    upstream = MemoryUpstream(gate=asyncio.Event())
    upstream.add("demo", WHEEL, data)
    repo, _ = make_repo(upstream, blobs, pages)
    resource = await repo.get_resource(NAME, WHEEL, ResourceKind.DIST, RequestContext())
    received = bytearray()

    async def reader() -> None:
        async for chunk in resource.body.iter_range():
            received.extend(chunk)

    task = asyncio.create_task(reader())
    await asyncio.sleep(0.2)
    assert 0 < len(received) < len(data), "bytes stream before the end, but not the end"
    assert upstream.gate is not None
    upstream.gate.set()
    await asyncio.wait_for(task, 5)
    assert bytes(received) == data


async def test_artifact__reset_mid_body_fails_readers_and_retry_succeeds(
    blobs: FilesystemBlobStore, pages: FilesystemKeyValueStore
) -> None:
    data = b"b" * 8000
    upstream = MemoryUpstream(fail_after=3000)
    upstream.add("demo", WHEEL, data)
    repo, _ = make_repo(upstream, blobs, pages)
    resource = await repo.get_resource(NAME, WHEEL, ResourceKind.DIST, RequestContext())
    with pytest.raises(UpstreamUnavailable):
        await read_all(resource.body.iter_range())
    assert await blobs.open(f"dist/demo/{WHEEL}") is None
    upstream.fail_after = None
    retry = await repo.get_resource(NAME, WHEEL, ResourceKind.DIST, RequestContext())
    assert await read_all(retry.body.iter_range()) == data


async def test_artifact__range_of_live_download(
    blobs: FilesystemBlobStore, pages: FilesystemKeyValueStore
) -> None:
    data = bytes(range(256)) * 40
    upstream = MemoryUpstream()
    upstream.add("demo", WHEEL, data)
    repo, _ = make_repo(upstream, blobs, pages)
    resource = await repo.get_resource(NAME, WHEEL, ResourceKind.DIST, RequestContext())
    assert await read_all(resource.body.iter_range(100, 2000)) == data[100:2000]


async def test_artifact__unlisted_file_and_missing_metadata_are_not_found(
    blobs: FilesystemBlobStore, pages: FilesystemKeyValueStore
) -> None:
    upstream = MemoryUpstream()
    upstream.add("demo", WHEEL, b"c")
    repo, _ = make_repo(upstream, blobs, pages)
    with pytest.raises(FileNotFound):
        await repo.get_resource(NAME, "demo-2.0.tar.gz", ResourceKind.DIST, RequestContext())
    with pytest.raises(FileNotFound):
        await repo.get_resource(NAME, WHEEL, ResourceKind.METADATA, RequestContext())


class CrashingUpstream(MemoryUpstream):
    """An upstream stage that fails in a way no one foresaw (a bug, an odd page)."""

    crash: bool = False

    async def fetch_page(self, name: NormalizedName, validators: Validators | None) -> PageFetch:
        if self.crash:
            raise ZeroDivisionError("unforeseen")
        return await super().fetch_page(name, validators)

    async def fetch_project_list(self, validators: Validators | None) -> ListFetch:
        if self.crash:
            raise ZeroDivisionError("unforeseen")
        return await super().fetch_project_list(validators)


async def test_any_upstream_failure_serves_stale_or_is_a_protocol_error(
    blobs: FilesystemBlobStore, pages: FilesystemKeyValueStore, tmp_path: Path
) -> None:
    upstream, clock = CrashingUpstream(), Clock()
    upstream.add("demo", WHEEL, b"x" * 10)
    repo, _ = make_repo(upstream, blobs, pages, clock)
    await repo.get_project_page(NAME, RequestContext())
    await repo.get_project_list(RequestContext())
    upstream.crash = True
    clock.now += 3600
    ctx = RequestContext()
    assert (await repo.get_project_page(NAME, ctx)).file(WHEEL) is not None
    assert ctx.cache == "stale"
    list_ctx = RequestContext()
    await repo.get_project_list(list_ctx)
    assert list_ctx.cache == "stale"
    empty = FilesystemKeyValueStore(tmp_path / "empty")
    await empty.start()
    fresh, _ = make_repo(upstream, blobs, empty, clock)
    with pytest.raises(UpstreamProtocolError, match="unforeseen"):
        await fresh.get_project_page(NAME, RequestContext())
    with pytest.raises(UpstreamProtocolError, match="unforeseen"):
        await fresh.get_project_list(RequestContext())


async def test_pages_are_single_flight_across_processes(tmp_path: Path) -> None:
    """Two caching stages that share only the stores (as workers and replicas do) make one
    upstream request for one page, and the second answers from the first one's fetch."""
    upstream = MemoryUpstream(delay=0.2)
    upstream.add("demo", WHEEL, b"x" * 10)
    shared_pages = FilesystemKeyValueStore(tmp_path / "pages")
    await shared_pages.start()
    repos = []
    for worker in ("a", "b"):
        blobs = FilesystemBlobStore(tmp_path / f"blobs-{worker}")
        await blobs.start()
        locks = FileLockManager(tmp_path / "locks")  # each process opens its own
        downloads = DownloadManager(upstream, blobs, locks)
        repos.append(CachingRepository(upstream, shared_pages, downloads, blobs, 60, locks=locks))
    contexts = [RequestContext() for _ in range(6)]
    pages = await asyncio.gather(
        *(repos[i % 2].get_project_page(NAME, ctx) for i, ctx in enumerate(contexts))
    )
    assert upstream.page_calls[NAME] == 1
    assert all(page.file(WHEEL) is not None for page in pages)
    assert [ctx.cache for ctx in contexts].count("miss") == 1
