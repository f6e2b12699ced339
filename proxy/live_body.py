"""The reading side of an in-flight download: ``LiveBody`` tails the spool file as it grows,
then reads the committed blob.

Integrity rule (see ``proxy.downloads``): the final byte is held back until the download is
verified, so a client never receives a complete body that later turns out to be corrupt.
Each reader is counted (``Download.watch``) while it reads, so a download nobody reads any
more is stopped after its grace period.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import aiofiles
from aiofiles.threadpool.binary import AsyncBufferedReader

from proxy.errors import UpstreamUnavailable

if TYPE_CHECKING:
    from proxy.downloads import Download

READ_CHUNK = 256 * 1024


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
        watch = self._download.watch
        watch.attach()
        try:
            async for chunk in self._iter_range(start, end):
                yield chunk
        finally:
            watch.detach()

    async def _iter_range(self, start: int, end: int | None) -> AsyncIterator[bytes]:
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


__all__ = ["READ_CHUNK", "LiveBody"]
