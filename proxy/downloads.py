"""Single-flight artifact downloads, streamed to every waiting client while they are verified.

One ``Download`` per blob key however many clients ask. It runs as its own task (a client
that disconnects does not cancel it; once the last one has gone it gets a grace period to
finish, see ``proxy.download_limits``), writes the upstream bytes into a spool file while
hashing them, and publishes the file into the blob store only if the sha256 matches the
index. Readers (``proxy.live_body``) tail the spool file as it grows, so memory stays flat
for any file size.

Integrity rule: a reader never sends the last byte of a file before the download is
verified. On a mismatch or an upstream failure the reader raises mid-stream, the client's
response is cut short (never completed normally) and the spool file is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import aiofiles
import aiofiles.os
from packaging.utils import NormalizedName

from proxy.download_limits import (
    ArtifactTooLarge,
    DownloadAbandoned,
    DownloadLimits,
    DownloadTooSlow,
    ReaderWatch,
)
from proxy.errors import IntegrityError, NotFound, ProxyError, UpstreamUnavailable
from proxy.upstream_base import Upstream
from storage.base import BlobStore, LockManager, StorageError, StoredBlob

logger = logging.getLogger(__name__)

# Waiting this long for another process's download of the same file is unusual; after it we
# download ourselves rather than fail the client (a duplicate fetch beats an error).
LOCK_TIMEOUT = 600.0


class Download:
    """One upstream download of one file into the blob store."""

    def __init__(
        self,
        key: str,
        name: NormalizedName,
        filename: str,
        url: str,
        expected_sha256: str | None,
        expected_size: int | None,
        limits: DownloadLimits | None = None,
    ) -> None:
        self.key = key
        self.name = name
        self.filename = filename
        self.url = url
        self.expected_sha256 = expected_sha256
        self.expected_size = expected_size
        self.spool: Path | None = None
        self.written = 0
        self.size: int | None = expected_size
        self.sha256: str | None = None
        self.error: BaseException | None = None
        self.done = False
        self.blob: StoredBlob | None = None
        """Set when another process completed the same file while we waited for the lock."""
        self.blobs: BlobStore | None = None
        self.limits = limits if limits is not None else DownloadLimits()
        self.watch = ReaderWatch(self.limits.abandoned_grace)
        """Who is reading; the download stops once nobody has been for the grace period."""
        self._changed = asyncio.Condition()
        self._started = asyncio.Event()

    async def run(self, upstream: Upstream, blobs: BlobStore, locks: LockManager) -> None:
        self.blobs = blobs
        try:
            await self._locked_fetch(upstream, blobs, locks)
        except BaseException as error:  # every failure must reach the readers
            self.error = error if isinstance(error, ProxyError) else _unavailable(self, error)
            await self._discard_spool()
            if not isinstance(error, Exception):
                raise
        finally:
            self.done = True
            self._started.set()
            await self._notify()

    async def _locked_fetch(self, upstream: Upstream, blobs: BlobStore, locks: LockManager) -> None:
        async with contextlib.AsyncExitStack() as stack:
            try:
                await stack.enter_async_context(locks.lock(self.key, LOCK_TIMEOUT))
            except (TimeoutError, StorageError) as error:
                # Losing the lock backend costs at most a duplicate download, never an error.
                logger.warning("no lock for %s (%s); downloading without it", self.key, error)
            # Another process may have stored the file while we waited for the lock.
            self.blob = await blobs.open(self.key)
            if self.blob is None:
                await self._fetch(upstream, blobs)

    async def _fetch(self, upstream: Upstream, blobs: BlobStore) -> None:
        limits = self.limits
        if self.expected_size is not None and self.expected_size > limits.max_bytes:
            raise ArtifactTooLarge(self.filename, self.expected_size, limits.max_bytes, "listed at")
        self.spool = blobs.spool_dir / f"{uuid.uuid4().hex}.part"
        hasher = hashlib.sha256()
        self.watch.start()
        try:
            async with asyncio.timeout(limits.deadline) as deadline:
                await _unless_abandoned(self.watch, self._stream(upstream, hasher))
        except TimeoutError as error:
            if not deadline.expired():
                raise
            raise DownloadTooSlow(
                f"download of {self.filename!r} did not finish within {limits.deadline:g} s "
                f"(download_deadline); {self.written} bytes received"
            ) from error
        finally:
            self.watch.stop()
        self._check_size(self.written)
        self.size = self.written
        self.sha256 = hasher.hexdigest()
        if self.expected_sha256 is not None and self.sha256 != self.expected_sha256.lower():
            raise IntegrityError(self.filename, self.expected_sha256, self.sha256)
        await blobs.commit(self.key, self.spool)
        self.spool = None  # owned by the store now

    async def _stream(self, upstream: Upstream, hasher: hashlib._Hash) -> None:
        assert self.spool is not None
        limit = self.limits.max_bytes
        async with upstream.open(self.name, self.url) as stream:
            if stream.size is not None:
                if stream.size > limit:
                    raise ArtifactTooLarge(self.filename, stream.size, limit, "announced at")
                self._check_size(stream.size)
                self.size = stream.size
            async with aiofiles.open(self.spool, "wb") as out:
                self._started.set()
                async for chunk in stream.chunks():
                    if self.written + len(chunk) > limit:
                        raise ArtifactTooLarge(
                            self.filename, self.written + len(chunk), limit, "at least"
                        )
                    hasher.update(chunk)
                    await out.write(chunk)
                    await out.flush()
                    self.written += len(chunk)
                    await self._notify()

    def _check_size(self, size: int) -> None:
        if self.expected_size is not None and size != self.expected_size:
            raise IntegrityError(
                self.filename,
                f"{self.expected_size} bytes (index size)",
                f"{size} bytes",
            )

    async def _discard_spool(self) -> None:
        if self.spool is not None:
            with contextlib.suppress(FileNotFoundError):
                await aiofiles.os.remove(self.spool)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_started(self) -> None:
        """Until the spool file exists (headers can then be sent) or the download ended."""
        await self._started.wait()

    async def wait_done(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.done)

    async def wait_for_more(self, seen: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.done or self.written > seen)


async def _unless_abandoned(watch: ReaderWatch, work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` unless every reader has left for the grace period; then stop it."""
    task = asyncio.ensure_future(work)
    abandoned = asyncio.ensure_future(watch.abandoned.wait())
    try:
        await asyncio.wait({task, abandoned}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        abandoned.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if task.cancelled():
        raise DownloadAbandoned("every client left and the download did not finish in time")
    task.result()


def _unavailable(download: Download, error: BaseException) -> ProxyError:
    logger.warning("download of %s failed: %r", download.url, error)
    return UpstreamUnavailable(f"download of {download.filename!r} failed: {error!r}")


UpstreamObserver = Callable[[str, str, float], None]


def _outcome(error: BaseException | None) -> str:
    if error is None:
        return "ok"
    if isinstance(error, IntegrityError):
        return "integrity-error"
    return "not-found" if isinstance(error, NotFound) else "error"


class DownloadManager:
    """Process-wide registry of in-flight downloads: the in-process half of single-flight."""

    def __init__(
        self,
        upstream: Upstream,
        blobs: BlobStore,
        locks: LockManager,
        limits: DownloadLimits | None = None,
    ) -> None:
        self.limits = limits if limits is not None else DownloadLimits()
        self._upstream = upstream
        self._blobs = blobs
        self._locks = locks
        self._inflight: dict[str, Download] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.observe: UpstreamObserver | None = None
        """Called with (upstream, outcome, seconds) when a download ends (metrics)."""
        self.committed: Callable[[int], None] | None = None
        """Called with the size of each blob this process committed (cache eviction)."""

    def get_or_start(self, download: Download) -> Download:
        current = self._inflight.get(download.key)
        if current is not None:
            return current
        self._inflight[download.key] = download
        task = asyncio.create_task(self._run(download), name=f"download {download.key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return download

    async def _run(self, download: Download) -> None:
        started = time.monotonic()
        try:
            await download.run(self._upstream, self._blobs, self._locks)
        finally:
            self._inflight.pop(download.key, None)
            stored_here = download.error is None and download.blob is None
            if stored_here and self.committed is not None and download.size is not None:
                self.committed(download.size)
            if self.observe is not None:
                outcome = "file-" + _outcome(download.error)
                upstream = self._upstream.upstream_for(download.name)
                self.observe(upstream, outcome, time.monotonic() - started)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
