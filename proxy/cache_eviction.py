"""Least-recently-served eviction of artifact blobs, down to ``cache_max_bytes``.

When the blobs add up to more than ``cache_max_bytes`` (0: no limit; the passes then only
measure, for the metrics), the ones served longest ago are
deleted until 90 % of it is left (so that the next few downloads do not each start another
pass). "Served" is the blob's mtime (``storage.blob_inventory``): a commit or a serve within
the last ``protect`` seconds (10 minutes) keeps a blob whatever its rank, which covers a file
whose download has just completed and one a client is reading right now. Downloads still in
flight live in the spool, which is never listed.

Safe across workers and replicas: a pass runs under the lock store's ``cache:prune`` lock
(flock on one machine, Redis across replicas); a process that finds it held skips its pass,
and each deletion re-checks the mtime first, so a blob served meanwhile is kept.

What is not evicted, and why: cached project pages (kilobytes each, and what lets pipgate
answer while the upstream is down) and nothing is pinned (a pinned project is one someone
installs, which keeps it recently served). Only the filesystem blob store is evicted; an S3
bucket is bounded by a lifecycle rule instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from proxy.model import filename_version
from storage.base import LockManager, StorageError
from storage.blob_inventory import BlobEntry, delete_if_unserved_since, walk_blobs
from storage.filesystem import FilesystemBlobStore
from storage.keys import validate_project

logger = logging.getLogger(__name__)

PRUNE_LOCK = "cache:prune"
LOW_WATER = 0.9
PROTECT_SECONDS = 600.0
PRUNE_INTERVAL = 300.0
"""Seconds between two passes when no commit has pushed the cache over its limit."""
KINDS = ("dist", "metadata", "provenance")

EvictionObserver = Callable[[str, int, int], None]
"""Called with (reason, blobs, bytes) for each batch deleted: lru, refused or purge."""


@dataclass(frozen=True, slots=True)
class CacheStats:
    blobs: int
    bytes: int
    by_kind: dict[str, tuple[int, int]] = field(default_factory=dict)
    """kind -> (blobs, bytes)."""
    oldest_served: float | None = None
    newest_served: float | None = None


@dataclass(frozen=True, slots=True)
class PruneResult:
    evicted: int
    freed: int
    remaining: int
    """Bytes left in the cache after the pass."""
    protected: int = 0
    """Blobs kept although over the limit: served or committed within ``protect``."""


def stats_of(entries: Iterable[BlobEntry]) -> CacheStats:
    by_kind: dict[str, tuple[int, int]] = {}
    count = total = 0
    oldest: float | None = None
    newest: float | None = None
    for entry in entries:
        kind = entry.key.split("/", 1)[0]
        blobs, size = by_kind.get(kind, (0, 0))
        by_kind[kind] = (blobs + 1, size + entry.size)
        count, total = count + 1, total + entry.size
        oldest = entry.served_at if oldest is None else min(oldest, entry.served_at)
        newest = entry.served_at if newest is None else max(newest, entry.served_at)
    return CacheStats(count, total, by_kind, oldest, newest)


class CacheEvictor:
    def __init__(
        self,
        store: FilesystemBlobStore,
        locks: LockManager,
        max_bytes: int,
        *,
        protect: float = PROTECT_SECONDS,
        clock: Callable[[], float] = time.time,
        observe: EvictionObserver | None = None,
        on_stats: Callable[[CacheStats], None] | None = None,
    ) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self._locks = locks
        self._protect = protect
        self._clock = clock
        self._observe = observe
        self._on_stats = on_stats
        self._estimate: int | None = None
        self._wake = asyncio.Event()

    async def entries(self) -> list[BlobEntry]:
        return await asyncio.to_thread(lambda: list(walk_blobs(self.store.root)))

    async def stats(self) -> CacheStats:
        return self._noted(stats_of(await self.entries()))

    async def prune(self, target: int | None = None) -> PruneResult | None:
        """One pass; ``None`` if another process is running one. ``target``: evict down to
        this many bytes whatever the limit (``pipgate cache prune --to``)."""
        held = await self._exclusive()
        if held is None:
            return None
        async with held:
            entries = await self.entries()
            total = sum(entry.size for entry in entries)
            unlimited = self.max_bytes <= 0
            if target is None and (unlimited or total <= self.max_bytes):
                self._noted(stats_of(entries))
                return PruneResult(0, 0, total)
            goal = target if target is not None else int(self.max_bytes * LOW_WATER)
            cutoff = self._clock() - self._protect
            result = await asyncio.to_thread(self._evict, entries, total, goal, cutoff)
        if result.evicted:
            logger.info(
                "evicted %d least-recently-served blob(s), %d bytes; %d bytes cached",
                result.evicted,
                result.freed,
                result.remaining,
            )
            self._note_deleted("lru", result.evicted, result.freed)
        if result.protected:
            logger.warning(
                "cache is %d bytes, over its goal of %d, but %d blob(s) were served in the "
                "last %g s and are kept",
                result.remaining,
                goal,
                result.protected,
                self._protect,
            )
        self._estimate = result.remaining
        return result

    def _evict(self, entries: list[BlobEntry], total: int, goal: int, cutoff: float) -> PruneResult:
        evicted = freed = protected = 0
        for entry in sorted(entries, key=lambda e: e.served_at):
            if total <= goal:
                break
            if entry.served_at >= cutoff:
                protected = sum(1 for e in entries if e.served_at >= cutoff)
                break
            gone = delete_if_unserved_since(self.store.path_for(entry.key), cutoff)
            if gone is not None:
                evicted, freed, total = evicted + 1, freed + gone, total - gone
        return PruneResult(evicted, freed, total, protected)

    async def purge(self, project: str, version: str | None = None) -> PruneResult:
        """Delete every blob of ``project`` (of one version, if given), however recent."""
        name = validate_project(project)
        wanted = None if version is None else filename_version(f"{name}-{version}.tar.gz")
        if version is not None and wanted is None:
            raise ValueError(f"{version!r} is not a valid version")
        entries = await self.entries()
        doomed = [e for e in entries if _belongs(e.key, name, wanted)]
        freed = 0
        for entry in doomed:
            await self.store.delete(entry.key)
            freed += entry.size
        self._note_deleted("purge", len(doomed), freed)
        remaining = sum(e.size for e in entries) - freed
        return PruneResult(len(doomed), freed, remaining)

    def note_commit(self, size: int) -> None:
        """A blob was committed: prune now if that took the cache over its limit."""
        if self._estimate is not None and self.max_bytes > 0:
            self._estimate += size
            if self._estimate > self.max_bytes:
                self._wake.set()

    async def run(self, interval: float = PRUNE_INTERVAL) -> None:
        """Prune at start, every ``interval`` and whenever a commit crosses the limit."""
        while True:
            try:
                await self.prune()
            except (StorageError, OSError) as error:
                logger.warning("cache eviction pass failed: %s", error)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)

    async def _exclusive(self) -> contextlib.AsyncExitStack | None:
        """The prune lock, held until the returned stack closes; ``None`` if it is busy."""
        stack = contextlib.AsyncExitStack()
        try:
            await stack.enter_async_context(self._locks.lock(PRUNE_LOCK, 0.2))
        except TimeoutError:
            return None  # another worker or replica is pruning right now
        except StorageError as error:
            # Without the lock backend two passes may overlap; each deletion re-checks.
            logger.warning("no lock for cache eviction (%s); pruning without it", error)
        return stack

    def _noted(self, stats: CacheStats) -> CacheStats:
        self._estimate = stats.bytes
        if self._on_stats is not None:
            self._on_stats(stats)
        return stats

    def _note_deleted(self, reason: str, blobs: int, freed: int) -> None:
        if self._observe is not None and blobs:
            self._observe(reason, blobs, freed)


def _belongs(key: str, name: str, version: object) -> bool:
    kind, _, rest = key.partition("/")
    project, _, filename = rest.partition("/")
    if kind not in KINDS or project != name:
        return False
    if version is None:
        return True
    for suffix in (".metadata", ".provenance"):
        filename = filename.removesuffix(suffix)
    return filename_version(filename) == version


__all__ = ["CacheEvictor", "CacheStats", "PruneResult", "stats_of"]
