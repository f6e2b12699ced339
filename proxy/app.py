"""``create_app(settings)``: the routes, the error table, and a lifespan that owns every
resource (HTTP session, stores, policy engine, fetch log) and composes the stage chain::

    routes -> Enforcing -> Caching -> Routing -> HttpUpstream(s)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

from starlette.applications import Starlette

from policies.engine import PolicyEngine
from proxy import admin
from proxy.access_log import AccessLog
from proxy.attestations import shared_verifier
from proxy.cache_eviction import CacheEvictor
from proxy.caching import CachingRepository
from proxy.disk_space import DiskWatch
from proxy.download_limits import DownloadLimits
from proxy.downloads import DownloadManager
from proxy.enforcement import EnforcingRepository
from proxy.fastpath import WarmPages
from proxy.http_errors import EXCEPTION_HANDLERS
from proxy.json_routes import json_api_routes
from proxy.line_sink import LineSink
from proxy.metrics import Metrics
from proxy.outbound import create_session, trusted_origins
from proxy.render_cache import RenderCache
from proxy.routes import all_routes
from proxy.routing import build_upstream
from proxy.settings import Settings
from proxy.state import AppState
from storage.factory import Stores, blob_root, open_fetchlog, open_stores
from storage.fetchlog_sql import enforce_retention
from storage.filesystem import FilesystemBlobStore
from storage.generation import SharedGeneration

logger = logging.getLogger(__name__)


def create_app(settings: Settings, *, access_sink: LineSink | None = None) -> Starlette:
    """``access_sink``: where access-log lines go (default: stdout, in batches)."""
    app = Starlette(
        routes=all_routes(admin.routes(), index_extra=json_api_routes()),
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    # Warm pages skip the framework; everything else goes through Starlette's stack.
    app.add_middleware(WarmPages, state_holder=app)
    if settings.access_log != "off":
        # Added last, so outermost: the fast path's answers are logged too.
        app.add_middleware(AccessLog, fmt=settings.access_log, sink=access_sink or LineSink())
    return app


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    async with AsyncExitStack() as stack:
        stores = await stack.enter_async_context(open_stores(settings))
        fetchlog = await stack.enter_async_context(open_fetchlog(settings))
        retention = asyncio.create_task(enforce_retention(fetchlog, settings.log_retention_days))
        stack.callback(retention.cancel)
        session = create_session(settings, trusted_origins(settings))
        stack.push_async_callback(session.close)
        upstream = build_upstream(settings, session)
        metrics = Metrics()
        limits = DownloadLimits(
            max_bytes=settings.max_artifact_bytes,
            deadline=settings.download_deadline,
            abandoned_grace=settings.abandoned_download_seconds,
        )
        downloads = DownloadManager(upstream, stores.blobs, stores.locks, limits)
        downloads.observe = metrics.observe_upstream
        stack.push_async_callback(downloads.aclose)
        caching = CachingRepository(
            upstream,
            stores.pages,
            downloads,
            stores.blobs,
            settings.page_ttl,
            revalidate_timeout=settings.revalidate_timeout,
            observe=metrics.observe_upstream,
            allow_unhashed=settings.allow_unhashed_files,
            locks=stores.locks,
            page_lock_wait=settings.upstream_timeout,
        )
        verifier = await shared_verifier(settings)
        engine = await stack.enter_async_context(
            PolicyEngine.running(settings, stores.state, session)
        )
        state = AppState(
            settings=settings,
            session=session,
            stores=stores,
            engine=engine,
            caching=caching,
            downloads=downloads,
            chain=EnforcingRepository(caching, engine, verifier, on_refused=caching.forget_file),
            renders=RenderCache(),
            fetchlog=fetchlog,
            metrics=metrics,
            generation=SharedGeneration(stores.state),
            disk=DiskWatch(data_disks(settings, stores), settings.min_free_bytes),
        )
        app.state.pipgate = state
        caching.on_forget = metrics.observe_eviction
        state.evictor = start_eviction(settings, stores, downloads, metrics, stack)
        await state.generation.start()
        follower = asyncio.create_task(admin.follow_other_replicas(state))
        stack.callback(follower.cancel)
        stack.enter_context(_reload_on_sighup(state))
        yield


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


@contextlib.contextmanager
def _reload_on_sighup(state: AppState) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    async def reload() -> None:
        with contextlib.suppress(ValueError):  # logged by reload_policies; old policies stay
            await admin.reload_policies(state)

    def schedule() -> None:
        task = loop.create_task(reload())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    try:
        loop.add_signal_handler(signal.SIGHUP, schedule)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no SIGHUP
        logger.debug("SIGHUP reload unavailable in this process")
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGHUP)


def app_from_environment() -> Starlette:
    """uvicorn factory for ``pipgate serve``: every worker loads the same settings."""
    from proxy.settings import load_settings

    return create_app(load_settings())
