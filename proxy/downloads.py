"""Single-flight artifact downloads, streamed to every waiting client while they are verified.

One ``Download`` per blob key however many clients ask. It runs as its own task (a client
that disconnects does not cancel it), writes the upstream bytes into a spool file while
hashing them, and publishes the file into the blob store only if the sha256 matches the
index. Readers tail the spool file as it grows, so memory stays flat for any file size.

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
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiofiles
import aiofiles.os
from aiofiles.threadpool.binary import AsyncBufferedReader
from packaging.utils import NormalizedName

from proxy.errors import IntegrityError, NotFound, ProxyError, UpstreamUnavailable
from proxy.upstream_base import Upstream
from storage.base import BlobStore, LockManager, StorageError, StoredBlob

logger = logging.getLogger(__name__)

READ_CHUNK = 256 * 1024
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
        self.spool = blobs.spool_dir / f"{uuid.uuid4().hex}.part"
        hasher = hashlib.sha256()
        async with upstream.open(self.name, self.url) as stream:
            if stream.size is not None:
                self._check_size(stream.size)
                self.size = stream.size
            async with aiofiles.open(self.spool, "wb") as out:
                self._started.set()
                async for chunk in stream.chunks():
                    hasher.update(chunk)
                    await out.write(chunk)
                    await out.flush()
                    self.written += len(chunk)
                    await self._notify()
        self._check_size(self.written)
        self.size = self.written
        self.sha256 = hasher.hexdigest()
        if self.expected_sha256 is not None and self.sha256 != self.expected_sha256.lower():
            raise IntegrityError(self.filename, self.expected_sha256, self.sha256)
        await blobs.commit(self.key, self.spool)
        self.spool = None  # owned by the store now

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


def _unavailable(download: Download, error: BaseException) -> ProxyError:
    logger.warning("download of %s failed: %r", download.url, error)
    return UpstreamUnavailable(f"download of {download.filename!r} failed: {error!r}")


class LiveBody:
    """A reader of an in-flight download (satisfies ``proxy.repository.Body``)."""

    def __init__(self, download: Download) -> None:
        self._download = download

    @property
    def size(self) -> int | None:
        return self._download.size

    @property
    def path(self) -> Path | None:
        return None

    @property
    def sha256(self) -> str | None:
        """The verified sha256, once the download completed."""
        return self._download.sha256 if self._download.done else None

    async def iter_range(self, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        download = self._download
        await download.wait_started()
        if download.blob is not None:
            async for chunk in download.blob.iter_range(start, end):
                yield chunk
            return
        source = await _open_spool(download)
        if source is None:  # committed (or failed) before this reader attached
            await download.wait_done()
            if download.error is not None:
                raise download.error
            async for chunk in _from_store(download, start, end):
                yield chunk
            return
        try:
            async for chunk in _tail(download, source, start, end):
                yield chunk
        finally:
            await source.close()


async def _open_spool(download: Download) -> AsyncBufferedReader | None:
    spool = download.spool
    if spool is None or download.error is not None:
        return None
    try:
        return await aiofiles.open(spool, "rb")
    except FileNotFoundError:  # renamed into the store between the check and the open
        return None


async def _tail(
    download: Download, source: AsyncBufferedReader, start: int, end: int | None
) -> AsyncIterator[bytes]:
    position = start
    await source.seek(start)
    while True:
        limit = _sendable(download, end)
        if download.error is not None:
            raise download.error
        if position < limit:
            chunk = await source.read(min(READ_CHUNK, limit - position))
            position += len(chunk)
            yield chunk
            continue
        if download.done:
            return
        await download.wait_for_more(download.written)


def _sendable(download: Download, end: int | None) -> int:
    # Hold back the final byte until the hash was checked: a client must never receive a
    # complete body that later turns out to be corrupt.
    limit = download.written if download.done and download.error is None else download.written - 1
    return max(0, min(limit, end) if end is not None else limit)


async def _from_store(download: Download, start: int, end: int | None) -> AsyncIterator[bytes]:
    blob = await download.blobs.open(download.key) if download.blobs is not None else None
    if blob is None:
        raise UpstreamUnavailable(f"{download.filename!r} vanished from the store after download")
    async for chunk in blob.iter_range(start, end):
        yield chunk


UpstreamObserver = Callable[[str, str, float], None]


def _outcome(error: BaseException | None) -> str:
    if error is None:
        return "ok"
    if isinstance(error, IntegrityError):
        return "integrity-error"
    return "not-found" if isinstance(error, NotFound) else "error"


class DownloadManager:
    """Process-wide registry of in-flight downloads: the in-process half of single-flight."""

    def __init__(self, upstream: Upstream, blobs: BlobStore, locks: LockManager) -> None:
        self._upstream = upstream
        self._blobs = blobs
        self._locks = locks
        self._inflight: dict[str, Download] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.observe: UpstreamObserver | None = None
        """Called with (upstream, outcome, seconds) when a download ends (metrics)."""

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
            if self.observe is not None:
                outcome = "file-" + _outcome(download.error)
                upstream = self._upstream.upstream_for(download.name)
                self.observe(upstream, outcome, time.monotonic() - started)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
