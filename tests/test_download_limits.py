"""The size cap of a download when the index lists no size (issue 15, item 8): the
Content-Length, or the bytes as they stream, decide; the spool file never outlives it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.utils import NormalizedName

from proxy.download_limits import ArtifactTooLarge, DownloadLimits
from proxy.downloads import Download, DownloadManager
from storage.filesystem import FilesystemBlobStore
from storage.locks import MemoryLockManager
from tests.support.memory_upstream import MemoryStream, MemoryUpstream

NAME = NormalizedName("demo")
WHEEL = "demo-1.0-py3-none-any.whl"
URL = f"https://files.invalid/{WHEEL}"


@dataclass
class Unsized(MemoryStream):
    """A body sent without Content-Length (chunked)."""

    @property
    def size(self) -> int | None:
        return None


class UnsizedUpstream(MemoryUpstream):
    @asynccontextmanager
    async def open(self, name: NormalizedName, url: str) -> AsyncIterator[MemoryStream]:
        yield Unsized(self.blobs[url], self.chunk, None, None)


@pytest.fixture
async def blobs(tmp_path: Path) -> FilesystemBlobStore:
    store = FilesystemBlobStore(tmp_path / "blobs")
    await store.start()
    return store


@pytest.mark.parametrize(
    ("upstream", "how"), [(MemoryUpstream(), "announced at"), (UnsizedUpstream(), "at least")]
)
async def test_the_cap_holds_without_a_listed_size(
    blobs: FilesystemBlobStore, upstream: MemoryUpstream, how: str
) -> None:
    upstream.blobs[URL] = b"x" * 5000
    manager = DownloadManager(upstream, blobs, MemoryLockManager(), DownloadLimits(max_bytes=4096))
    download = manager.get_or_start(
        Download(f"dist/demo/{WHEEL}", NAME, WHEEL, URL, None, None, manager.limits)
    )
    await download.wait_done()
    assert isinstance(download.error, ArtifactTooLarge)
    assert how in str(download.error)
    assert list(blobs.spool_dir.iterdir()) == []
    assert await blobs.open(f"dist/demo/{WHEEL}") is None
    await manager.aclose()
