"""Pick and open the storage backends the settings name; close them all on exit.

Embedded (the default, nothing to install): blobs, pages and state under ``data_dir``,
``flock`` locks shared by every worker process on this machine, and the SQLite fetch log.
Scale-out backends are chosen by URL (``redis://`` cache, ``s3://`` blobs, ``postgresql://``
fetch log) and imported only when configured. A scale-out backend that does not answer at
start-up is logged, not fatal: requests degrade to the upstream until it is back, and the
readiness probe reports it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from proxy.settings import Settings
from storage.base import BlobStore, KeyValueStore, LockManager, StorageError
from storage.fetchlog_sql import ManagedFetchLog, open_fetch_log, sqlite_path
from storage.filesystem import FilesystemBlobStore
from storage.filesystem_kv import FilesystemKeyValueStore
from storage.locks import FileLockManager

logger = logging.getLogger(__name__)

REDIS_PREFIX = "pipgate:"
"""Every Redis key pipgate writes starts with this: ``pipgate:pages:``, ``:state:``, ``:lock:``."""


@dataclass(frozen=True, slots=True)
class Stores:
    blobs: BlobStore
    pages: KeyValueStore
    """Cached upstream project pages; must survive a restart so stale pages can be served."""
    state: KeyValueStore
    """Small shared state: policy generation, verdicts."""
    locks: LockManager
    """Single-flight downloads across every process sharing this backend."""


def blob_root(settings: Settings) -> Path:
    """``<data_dir>/blobs``, or the directory of a ``file://`` ``blob_url``."""
    if not settings.blob_url:
        return settings.data_dir / "blobs"
    parts = urlsplit(settings.blob_url)
    if parts.netloc not in ("", "localhost") or not parts.path:
        raise StorageError(
            f"blob_url = {settings.blob_url!r}: expected file:///absolute/path on this machine"
        )
    return Path(url2pathname(parts.path))


def s3_location(blob_url: str) -> tuple[str, str]:
    """``(bucket, prefix)`` of ``s3://bucket/prefix``; the prefix may be empty."""
    parts = urlsplit(blob_url)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise StorageError(f"blob_url = {blob_url!r}: expected s3://bucket or s3://bucket/prefix")
    return parts.netloc, parts.path.strip("/")


@dataclass(frozen=True, slots=True)
class BackendInfo:
    """Which backend serves one role, for the start-up report and ``pipgate doctor``.

    ``location`` is a path or the URL as configured: mask credentials before printing it.
    """

    role: str
    """``blobs``, ``pages``, ``state``, ``locks`` or ``fetch log``."""
    kind: str
    location: str


def uses_redis(settings: Settings) -> bool:
    return urlsplit(settings.cache_url).scheme in ("redis", "rediss")


def describe_backends(settings: Settings) -> list[BackendInfo]:
    """The backends ``open_stores`` and ``open_fetchlog`` open for ``settings``, unopened."""
    if urlsplit(settings.blob_url).scheme == "s3":
        bucket, prefix = s3_location(settings.blob_url)
        where = f"s3://{bucket}/{prefix}" + (
            f" at {settings.s3_endpoint}" if settings.s3_endpoint else ""
        )
        blobs = BackendInfo("blobs", "s3", where)
    else:
        blobs = BackendInfo("blobs", "filesystem", str(blob_root(settings)))
    if uses_redis(settings):
        url = settings.cache_url
        shared = [
            BackendInfo("pages", "redis", url),
            BackendInfo("state", "redis", url),
            BackendInfo("locks", "redis", url),
        ]
    else:
        shared = [
            BackendInfo("pages", "filesystem", str(settings.data_dir / "pages")),
            BackendInfo("state", "filesystem", str(settings.data_dir / "state")),
            BackendInfo("locks", "flock", str(settings.data_dir / "locks")),
        ]
    path = sqlite_path(settings.fetchlog_url, settings.data_dir)
    log = (
        BackendInfo("fetch log", "sqlite", str(path))
        if path is not None
        else BackendInfo("fetch log", "postgresql", settings.fetchlog_url)
    )
    return [blobs, *shared, log]


async def _warn_if_down(store: BlobStore | KeyValueStore, consequence: str) -> None:
    try:
        await store.check()
    except StorageError as error:
        logger.warning("%s; starting anyway: %s", error, consequence)


async def _open_s3(settings: Settings, stack: AsyncExitStack) -> BlobStore:
    from storage.s3 import S3BlobStore  # aiobotocore is loaded only when S3 is configured

    bucket, prefix = s3_location(settings.blob_url)
    store = S3BlobStore(
        bucket=bucket,
        prefix=prefix,
        endpoint=settings.s3_endpoint,
        region=settings.s3_region,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key,
        spool_root=settings.spool_dir,
    )
    await store.start()
    stack.push_async_callback(store.aclose)
    await _warn_if_down(store, "file requests answer 503 until the object store is back")
    return store


async def _open_blobs(settings: Settings, stack: AsyncExitStack) -> BlobStore:
    if urlsplit(settings.blob_url).scheme == "s3":
        return await _open_s3(settings, stack)
    store = FilesystemBlobStore(blob_root(settings))
    await store.start()
    stack.push_async_callback(store.aclose)
    return store


async def _open_kv(root: Path, stack: AsyncExitStack) -> KeyValueStore:
    store = FilesystemKeyValueStore(root)
    await store.start()
    stack.push_async_callback(store.aclose)
    return store


async def _open_redis(
    url: str, stack: AsyncExitStack
) -> tuple[KeyValueStore, KeyValueStore, LockManager]:
    from storage.redis import RedisKeyValueStore, RedisLockManager  # only when configured

    pages = RedisKeyValueStore(url, prefix=f"{REDIS_PREFIX}pages:")
    stack.push_async_callback(pages.aclose)
    state = RedisKeyValueStore(url, prefix=f"{REDIS_PREFIX}state:")
    stack.push_async_callback(state.aclose)
    locks = RedisLockManager(url, prefix=f"{REDIS_PREFIX}lock:")
    stack.push_async_callback(locks.aclose)
    await _warn_if_down(state, "pages come from the upstream and downloads run unlocked")
    return pages, state, locks


async def _open_embedded(
    data_dir: Path, stack: AsyncExitStack
) -> tuple[KeyValueStore, KeyValueStore, LockManager]:
    pages = await _open_kv(data_dir / "pages", stack)
    state = await _open_kv(data_dir / "state", stack)
    locks = FileLockManager(data_dir / "locks")
    stack.push_async_callback(locks.aclose)
    return pages, state, locks


@asynccontextmanager
async def open_stores(settings: Settings) -> AsyncIterator[Stores]:
    """Open every store for the lifespan of the app; a failure closes what was opened.

    ``cache_url = redis://...`` puts pages, state and locks in Redis; blobs stay local
    unless ``blob_url`` is ``s3://``.
    """
    async with AsyncExitStack() as stack:
        blobs = await _open_blobs(settings, stack)
        if uses_redis(settings):
            pages, state, locks = await _open_redis(settings.cache_url, stack)
        else:
            pages, state, locks = await _open_embedded(settings.data_dir, stack)
        yield Stores(blobs=blobs, pages=pages, state=state, locks=locks)


@asynccontextmanager
async def open_blob_store(settings: Settings) -> AsyncIterator[BlobStore]:
    """The blob store alone, as ``open_stores`` opens it (``pipgate doctor`` probes it)."""
    async with AsyncExitStack() as stack:
        yield await _open_blobs(settings, stack)


@asynccontextmanager
async def open_shared_stores(
    settings: Settings,
) -> AsyncIterator[tuple[KeyValueStore, KeyValueStore, LockManager]]:
    """Pages, state and locks alone, as ``open_stores`` opens them."""
    async with AsyncExitStack() as stack:
        if uses_redis(settings):
            yield await _open_redis(settings.cache_url, stack)
        else:
            yield await _open_embedded(settings.data_dir, stack)


@asynccontextmanager
async def open_fetchlog(settings: Settings) -> AsyncIterator[ManagedFetchLog]:
    """The fetch log ``fetchlog_url`` names, started; queued rows are committed on exit."""
    log = open_fetch_log(settings.fetchlog_url, settings.data_dir)
    await log.start()
    try:
        yield log
    finally:
        await log.aclose()


__all__ = [
    "REDIS_PREFIX",
    "BackendInfo",
    "Stores",
    "blob_root",
    "describe_backends",
    "open_blob_store",
    "open_fetchlog",
    "open_shared_stores",
    "open_stores",
    "s3_location",
    "uses_redis",
]
