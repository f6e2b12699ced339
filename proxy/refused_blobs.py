"""Cached blobs of files a policy now refuses: they are never served again, so they go.

Not at once: a while after the refusal (``grace``, 5 minutes). A refusal often comes from
new OSV data, and for a file a ``MAL-`` record names, ``proxy.malicious_blobs`` first moves
the bytes to ``<data_dir>/quarantine/`` for forensics; deleting them on the first refused
request would destroy that evidence. After the grace, whatever is still in the store is
deleted (a file already quarantined is simply not found). A restart before then leaves the
blob to least-recently-served eviction, which takes it first, as it is never served.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from packaging.utils import NormalizedName

from proxy.repository import ResourceKind
from storage.base import BlobStore, StorageError
from storage.keys import blob_key

logger = logging.getLogger(__name__)

REFUSED_GRACE = 300.0


class RefusedBlobs:
    def __init__(
        self,
        blobs: BlobStore,
        grace: float = REFUSED_GRACE,
        observe: Callable[[str, int, int], None] | None = None,
    ) -> None:
        self.grace = grace
        self._blobs = blobs
        self._observe = observe
        """Called with ("refused", blobs, bytes) when something was deleted (metrics)."""
        self._pending: dict[tuple[str, str], asyncio.Task[None]] = {}

    async def forget(self, name: NormalizedName, filename: str) -> None:
        """Schedule the deletion of every blob of ``filename`` (dist, metadata, provenance)."""
        if (name, filename) in self._pending:
            return
        task = asyncio.create_task(self._delete_later(name, filename))
        self._pending[(name, filename)] = task
        task.add_done_callback(lambda _: self._pending.pop((name, filename), None))

    async def _delete_later(self, name: NormalizedName, filename: str) -> None:
        await asyncio.sleep(self.grace)
        deleted = freed = 0
        for kind in ResourceKind:
            key = blob_key(name, filename, kind)
            try:
                stored = await self._blobs.open(key)
                if stored is not None:
                    await self._blobs.delete(key)
                    deleted, freed = deleted + 1, freed + (stored.size or 0)
            except StorageError as error:
                logger.warning("refused blob %s was not deleted: %s", key, error)
        if deleted:
            logger.info("deleted %d cached blob(s) of refused file %s", deleted, filename)
            if self._observe is not None:
                self._observe("refused", deleted, freed)

    async def aclose(self) -> None:
        for task in list(self._pending.values()):
            task.cancel()
        await asyncio.gather(*self._pending.values(), return_exceptions=True)


__all__ = ["REFUSED_GRACE", "RefusedBlobs"]
