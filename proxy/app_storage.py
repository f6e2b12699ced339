"""Part of ``proxy.app``: the storage-side services it wires from ``Settings``: the data
disks ``/readyz`` watches, and least-recently-served eviction of the blob store."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack
from pathlib import Path
from urllib.parse import urlsplit

from proxy.cache_eviction import CacheEvictor
from proxy.downloads import DownloadManager
from proxy.metrics import Metrics
from proxy.settings import Settings
from storage.factory import Stores, blob_root
from storage.filesystem import FilesystemBlobStore

logger = logging.getLogger("proxy.app")


def start_eviction(
    settings: Settings,
    stores: Stores,
    downloads: DownloadManager,
    metrics: Metrics,
    stack: AsyncExitStack,
) -> CacheEvictor | None:
    """Least-recently-served eviction (and the cache-size metrics) for a filesystem store."""
    if not isinstance(stores.blobs, FilesystemBlobStore):
        if settings.cache_max_bytes:
            logger.warning(
                "cache_max_bytes is enforced on the filesystem blob store only; bound an "
                "S3 bucket with a lifecycle rule"
            )
        return None
    evictor = CacheEvictor(
        stores.blobs,
        stores.locks,
        settings.cache_max_bytes,
        observe=metrics.observe_eviction,
        on_stats=lambda stats: metrics.observe_cache(stats.blobs, stats.bytes),
    )
    downloads.committed = evictor.note_commit
    task = asyncio.create_task(evictor.run(), name="cache eviction")
    stack.callback(task.cancel)
    return evictor


def data_disks(settings: Settings, stores: Stores) -> list[Path]:
    """Where pipgate writes: the data dir, the blob root (unless on S3) and the spool."""
    paths = [settings.data_dir, stores.blobs.spool_dir]
    if urlsplit(settings.blob_url).scheme != "s3":
        paths.insert(1, blob_root(settings))
    return paths


__all__ = ["data_disks", "start_eviction"]
