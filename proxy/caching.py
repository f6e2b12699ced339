"""The caching stage: project pages with TTL + revalidation + stale-on-error, and artifacts
through single-flight, hash-verified, streamed downloads.

Pages are kept parsed in process memory and, losslessly encoded, in the page store (on disk
by default, Redis when scaled out) so that a restarted pipgate with its upstream down still
serves every page it has seen. A page older than ``page_ttl`` is revalidated upstream with
its ETag / Last-Modified; if the upstream fails, the old page is served (``stale``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from packaging.utils import NormalizedName

from proxy import page_codec
from proxy.downloads import Download, DownloadManager, UpstreamObserver
from proxy.errors import FileNotFound, NotFound, UpstreamProtocolError
from proxy.live_body import LiveBody
from proxy.model import DistFile, ProjectList, ProjectPage
from proxy.page_codec import CachedPage
from proxy.page_locks import PageLocks
from proxy.repository import RequestContext, Resource, ResourceKind
from proxy.unhashed import UnverifiableFile, without_unverifiable_metadata
from proxy.upstream_base import Upstream, Validators
from proxy.upstream_failures import page_outcome, upstream_failure
from storage.base import BlobStore, KeyValueStore, LockManager, StorageError
from storage.keys import blob_key, page_key

logger = logging.getLogger(__name__)

T = TypeVar("T")
_LIST_KEY = "__project_list__"
STALE_RETRY_SECONDS = 30.0
_INLINE_DECODE_BYTES = 256 * 1024
_INLINE_ENCODE_FILES = 500


class CachingRepository:
    """Implements ``proxy.repository.Repository`` on top of an ``Upstream``."""

    def __init__(
        self,
        upstream: Upstream,
        pages: KeyValueStore,
        downloads: DownloadManager,
        blobs: BlobStore,
        page_ttl: float,
        revalidate_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
        observe: UpstreamObserver | None = None,
        allow_unhashed: bool = False,
        locks: LockManager | None = None,
        page_lock_wait: float = 30.0,
    ) -> None:
        self._upstream = upstream
        self._pages = pages
        self._downloads = downloads
        self._blobs = blobs
        self._ttl = page_ttl
        self._revalidate_timeout = revalidate_timeout
        self._observe = observe
        self._allow_unhashed = allow_unhashed
        """``proxy.unhashed``: serve files listed without a sha256 (unverified)."""
        self._page_locks = PageLocks(locks)
        self._page_lock_wait = page_lock_wait
        self._retry_after: dict[NormalizedName, float] = {}
        self._clock = clock
        self._memory: dict[NormalizedName, CachedPage] = {}
        self._refreshing: dict[str, asyncio.Future[Any]] = {}
        self._list: tuple[ProjectList, float] | None = None
        self._stale_before: dict[str, float] = {}

    # -- pages ---------------------------------------------------------------------------

    def expire(self, names: Iterable[str]) -> None:
        """Revalidate these pages upstream on their next request (the upstream changed them,
        e.g. a PEP 792 quarantine), whatever their TTL says; cached copies stay for
        stale-on-error."""
        now = self._clock()
        for name in names:
            self._stale_before[name] = now
            self._retry_after.pop(NormalizedName(name), None)

    def _fresh_at(self, name: str, entry: CachedPage) -> float:
        if entry.fetched_at < self._stale_before.get(name, 0.0):
            return 0.0
        return entry.fetched_at + self._ttl

    def fresh_until(self, name: NormalizedName) -> float | None:
        """Wall-clock time until which the cached page needs no revalidation."""
        entry = self._memory.get(name)
        if entry is None:
            return None
        return max(self._fresh_at(name, entry), self._retry_after.get(name, 0.0))

    async def get_project_page(self, name: NormalizedName, ctx: RequestContext) -> ProjectPage:
        entry = await self._cached(name)
        now = self._clock()
        if entry is not None and now < self._fresh_at(name, entry):
            ctx.cache, ctx.upstream = "hit", entry.upstream
            return entry.page
        if entry is not None and now < self._retry_after.get(name, 0.0):
            # The upstream failed recently: answer from the cache at once instead of making
            # every client wait for another timeout.
            ctx.cache, ctx.upstream = "stale", entry.upstream
            return entry.page
        refreshed = await self._single_flight(name, lambda: self._shared_refresh(name, entry, ctx))
        return refreshed.page

    async def _cached(self, name: NormalizedName) -> CachedPage | None:
        entry = self._memory.get(name)
        if entry is None:
            entry = await self._stored(name)
            if entry is not None:
                self._memory[name] = entry
        return entry

    async def _stored(self, name: NormalizedName) -> CachedPage | None:
        try:
            raw = await self._pages.get(page_key(self._upstream.upstream_for(name), name))
        except StorageError as error:  # a broken page store is a miss, never a failure
            logger.warning("page cache read failed for %s: %s", name, error)
            return None
        if raw is None:
            return None
        if len(raw) <= _INLINE_DECODE_BYTES:
            return page_codec.decode(raw)
        return await asyncio.to_thread(page_codec.decode, raw)  # a huge page: off the loop

    async def _shared_refresh(
        self, name: NormalizedName, entry: CachedPage | None, ctx: RequestContext
    ) -> CachedPage:
        """Refresh in turn with every other process (``proxy.page_locks``): whoever comes
        second finds the first one's page in the store and asks the upstream nothing."""
        key = page_key(self._upstream.upstream_for(name), name)
        wait = self._revalidate_timeout if entry is not None else self._page_lock_wait
        async with self._page_locks.turn(key, wait) as held:
            stored = await self._stored(name)
            fresher = stored is not None and (entry is None or stored.fetched_at > entry.fetched_at)
            if stored is not None and fresher and self._clock() < stored.fetched_at + self._ttl:
                self._memory[name] = stored
                self._retry_after.pop(name, None)
                ctx.cache, ctx.upstream = "hit", stored.upstream
                return stored
            if not held and entry is not None:
                # Another process is still refreshing it: answer from the cache meanwhile.
                ctx.cache, ctx.upstream = "stale", entry.upstream
                return entry
            return await self._refresh(name, entry, ctx)

    async def _refresh(
        self, name: NormalizedName, entry: CachedPage | None, ctx: RequestContext
    ) -> CachedPage:
        validators = entry.validators if entry is not None else None
        started = time.monotonic()
        try:
            fetch = self._upstream.fetch_page(name, validators)
            if entry is None:
                fetched = await fetch
            else:
                fetched = await asyncio.wait_for(fetch, self._revalidate_timeout)
        except Exception as caught:
            error = upstream_failure(caught)
            self._note(name, page_outcome(caught), started)
            if entry is None or isinstance(error, NotFound):
                raise error from (None if error is caught else caught)
            logger.warning("serving stale page for %s: %r", name, error)
            self._retry_after[name] = self._clock() + min(self._ttl, STALE_RETRY_SECONDS)
            ctx.cache, ctx.upstream = "stale", entry.upstream
            return entry
        self._retry_after.pop(name, None)
        self._note(name, "page-ok" if fetched.page is not None else "page-not-modified", started)
        if fetched.page is None and entry is not None:
            ctx.cache = "revalidated"
            page, fetched_validators = entry.page, _merge(entry.validators, fetched.validators)
        elif fetched.page is not None:
            ctx.cache = "miss"
            page, fetched_validators = fetched.page, fetched.validators
            if not self._allow_unhashed:
                page = without_unverifiable_metadata(page)
        else:  # a 304 to an unconditional request: the upstream is broken
            raise UpstreamProtocolError(f"upstream answered 304 for {name!r} without validators")
        ctx.upstream = fetched.upstream
        new = CachedPage(page, fetched_validators, self._clock(), fetched.upstream)
        self._memory[name] = new
        try:
            await self._pages.set(page_key(fetched.upstream, name), await _encoded(new))
        except StorageError as error:
            logger.warning("page cache write failed for %s: %s", name, error)
        return new

    def _note(self, name: NormalizedName, outcome: str, started: float) -> None:
        if self._observe is not None:
            upstream = self._upstream.upstream_for(name)
            self._observe(upstream, outcome, time.monotonic() - started)

    async def _single_flight(self, key: str, work: Callable[[], Awaitable[T]]) -> T:
        # Concurrent misses for one page share one upstream request.
        pending = self._refreshing.get(key)
        if pending is not None:
            result: T = await asyncio.shield(pending)
            return result
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._refreshing[key] = future
        try:
            result = await work()
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        else:
            future.set_result(result)
            return result
        finally:
            self._refreshing.pop(key, None)

    async def get_project_list(self, ctx: RequestContext) -> ProjectList:
        if self._list is not None and self._clock() < self._list[1] + self._ttl:
            ctx.cache = "hit"
            return self._list[0]
        return await self._single_flight(_LIST_KEY, lambda: self._refresh_list(ctx))

    async def _refresh_list(self, ctx: RequestContext) -> ProjectList:
        try:
            fetched = await self._upstream.fetch_project_list(None)
        except Exception as caught:
            error = upstream_failure(caught)
            if self._list is None:
                raise error from (None if error is caught else caught)
            logger.warning("serving the stale project list: %r", error)
            ctx.cache = "stale"
            return self._list[0]
        if fetched.projects is None:
            raise UpstreamProtocolError("upstream answered 304 to an unconditional request")
        ctx.cache, ctx.upstream = "miss", fetched.upstream
        self._list = (fetched.projects, self._clock())
        return fetched.projects

    # -- files ---------------------------------------------------------------------------

    async def get_resource(
        self, name: NormalizedName, filename: str, kind: ResourceKind, ctx: RequestContext
    ) -> Resource:
        page_ctx = RequestContext()
        page = await self.get_project_page(name, page_ctx)
        dist = page.file(filename)
        if dist is None:
            raise FileNotFound(name, filename)
        url, sha256, size = _source_of(name, dist, kind)
        if sha256 is None and kind is ResourceKind.DIST and not self._allow_unhashed:
            raise UnverifiableFile(filename)
        key = blob_key(name, filename, kind.value)
        ctx.upstream = page_ctx.upstream
        stored = await self._blobs.open(key)
        if stored is not None:
            ctx.cache = "hit"
            return Resource(dist, kind, stored, sha256)
        ctx.cache = "miss"
        limits = self._downloads.limits
        download = Download(key, name, filename, url, sha256, size, limits)
        download = self._downloads.get_or_start(download)
        return Resource(dist, kind, LiveBody(download), sha256)


async def _encoded(entry: CachedPage) -> bytes:
    if len(entry.page.files) <= _INLINE_ENCODE_FILES:
        return page_codec.encode(entry)
    return await asyncio.to_thread(page_codec.encode, entry)  # a huge page: off the loop


def _source_of(
    name: NormalizedName, dist: DistFile, kind: ResourceKind
) -> tuple[str, str | None, int | None]:
    """Upstream URL, expected sha256 and expected size of one resource of a listed file."""
    base = dist.url.split("#", 1)[0]
    if kind is ResourceKind.DIST:
        return base, dist.sha256, dist.size
    if kind is ResourceKind.METADATA:
        if not dist.has_metadata:
            raise FileNotFound(name, f"{dist.filename}.metadata")
        return base + ".metadata", dist.metadata_sha256, None
    if dist.provenance is None:
        raise FileNotFound(name, f"{dist.filename}.provenance")
    return dist.provenance, None, None


def _merge(old: Validators, new: Validators) -> Validators:
    return Validators(new.etag or old.etag, new.last_modified or old.last_modified)
