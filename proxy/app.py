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

import aiohttp
from starlette.applications import Starlette

from policies.changes import InputChange
from policies.engine import PolicyEngine
from proxy import admin, admin_audit, admin_changes
from proxy.access_log import AccessLog
from proxy.alerts.delivery import Webhook, WebhookSender
from proxy.alerts.service import AlertService
from proxy.app_storage import data_disks, start_eviction
from proxy.attestations import shared_verifier
from proxy.auth_gate import AuthGate, exposure_warning
from proxy.caching import CachingRepository
from proxy.console.routes import console_routes
from proxy.disk_space import DiskWatch
from proxy.download_limits import DownloadLimits
from proxy.downloads import DownloadManager
from proxy.enforcement import EnforcingRepository
from proxy.fastpath import WarmPages
from proxy.http_errors import EXCEPTION_HANDLERS
from proxy.identity.authenticator import Authenticator, IdentityConfig
from proxy.identity.model import AuthMode
from proxy.identity.proxies import parse_networks
from proxy.identity.store import TokenStore
from proxy.invalidation import Invalidations, drop_rendered
from proxy.json_routes import json_api_routes
from proxy.line_sink import LineSink
from proxy.malicious_blobs import MaliciousBlobSweeper
from proxy.metrics import Metrics
from proxy.outbound import create_session, outbound_from, trusted_origins
from proxy.refused_blobs import RefusedBlobs
from proxy.render_cache import RenderCache
from proxy.routes import all_routes
from proxy.routing import build_upstream
from proxy.settings import Settings
from proxy.state import AppState
from proxy.workflow.runtime import WORKFLOW_CHANGE, Workflow
from storage.base import FetchLogStore, KeyValueStore
from storage.change_feed import ChangeFeed
from storage.factory import Stores, open_fetchlog, open_stores
from storage.fetchlog_sql import enforce_retention
from storage.generation import SharedGeneration

logger = logging.getLogger(__name__)


def create_app(settings: Settings, *, access_sink: LineSink | None = None) -> Starlette:
    """``access_sink``: where access-log lines go (default: stdout, in batches)."""
    app = Starlette(
        routes=all_routes(
            [*admin.routes(), *admin_changes.routes(), *admin_audit.routes(), *console_routes()],
            index_extra=json_api_routes(),
        ),
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    # Warm pages skip the framework; everything else goes through Starlette's stack.
    app.add_middleware(WarmPages, state_holder=app)
    # Authentication outside the fast path: no request, warm page or not, passes without it.
    app.add_middleware(AuthGate, state_holder=app, mode=AuthMode(settings.auth))
    if settings.access_log != "off":
        # Added last, so outermost: the fast path's answers are logged too.
        app.add_middleware(AccessLog, fmt=settings.access_log, sink=access_sink or LineSink())
    return app


def identity_config(settings: Settings) -> IdentityConfig:
    return IdentityConfig(
        mode=AuthMode(settings.auth),
        admin_token=settings.admin_token,
        trusted_proxy_header=settings.trusted_proxy_header,
        trusted_proxies=parse_networks(settings.trusted_proxies),
        max_failures=settings.auth_max_failures,
        failure_window=settings.auth_failure_window,
    )


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
        metrics = Metrics(max_users=settings.metrics_users)
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
        refused = RefusedBlobs(stores.blobs, observe=metrics.observe_eviction)
        stack.push_async_callback(refused.aclose)
        renders = RenderCache()
        changes = Invalidations(ChangeFeed(stores.state))
        changes.listen(drop_rendered(renders))
        changes.listen(admin_changes.revalidate_upstream(caching))
        _listen_for_incidents(changes, settings, stores, fetchlog, session, metrics)
        stack.push_async_callback(changes.aclose)
        await changes.start()
        workflow = await start_workflow(stores.state, changes, stack)
        engine = await stack.enter_async_context(
            PolicyEngine.running(settings, stores.state, session, changes.announce)
        )
        state = AppState(
            settings=settings,
            session=session,
            stores=stores,
            engine=engine,
            caching=caching,
            downloads=downloads,
            chain=EnforcingRepository(
                caching, engine, verifier, workflow, on_refused=refused.forget
            ),
            renders=renders,
            fetchlog=fetchlog,
            metrics=metrics,
            generation=SharedGeneration(stores.state),
            identity=Authenticator(identity_config(settings), TokenStore(stores.state)),
            changes=changes,
            workflow=workflow,
            disk=DiskWatch(data_disks(settings, stores), settings.min_free_bytes),
        )
        if (warning := exposure_warning(settings.host, AuthMode(settings.auth))) is not None:
            logger.warning("%s", warning)
        revocations = asyncio.create_task(state.identity.follow_revocations())
        stack.callback(revocations.cancel)
        app.state.pipgate = state
        state.refused = refused
        state.evictor = start_eviction(settings, stores, downloads, metrics, stack)
        await state.generation.start()
        follower = asyncio.create_task(admin.follow_other_replicas(state))
        stack.callback(follower.cancel)
        shared_changes = asyncio.create_task(changes.follow())
        stack.callback(shared_changes.cancel)
        stack.enter_context(_reload_on_sighup(state))
        yield


async def start_workflow(
    kv: KeyValueStore, changes: Invalidations, stack: AsyncExitStack
) -> Workflow:
    """Waivers and holds, followed by every process through the workflow's own generation;
    a change (or a waiver's expiry) drops the rendered pages of exactly its projects, here:
    each process learns of the change itself, so nothing goes through the shared feed."""
    workflow = Workflow(kv)
    workflow.listen(lambda projects: changes.announce(InputChange.of(WORKFLOW_CHANGE, projects)))
    await workflow.start()
    follower = asyncio.create_task(workflow.follow())
    stack.callback(follower.cancel)
    return workflow


def _listen_for_incidents(
    changes: Invalidations,
    settings: Settings,
    stores: Stores,
    fetchlog: FetchLogStore,
    session: aiohttp.ClientSession,
    metrics: Metrics,
) -> None:
    """Alerts and the malicious-blob sweep follow OSV changes (docs/incident-response.md)."""
    webhooks = tuple(Webhook(url, "json") for url in settings.alert_webhooks) + tuple(
        Webhook(url, "slack") for url in settings.alert_slack_webhooks
    )
    sender = None
    if webhooks:
        sender = WebhookSender(
            session,
            webhooks,
            log_path=settings.data_dir / "alerts" / "deliveries.jsonl",
            retries=settings.alert_retries,
            backoff=settings.alert_backoff,
            proxy_for=outbound_from(settings).proxy_for,
            observe=lambda result: metrics.alert_deliveries.labels(result).inc(),
        )
    alerts = AlertService(
        fetchlog,
        stores.state,
        sender,
        retention_days=settings.log_retention_days,
        observe=lambda alert: metrics.alerts.labels(
            "malicious" if alert.advisory.malicious else "vulnerable"
        ).inc(),
    )
    sweeper = MaliciousBlobSweeper(
        stores.blobs,
        fetchlog,
        mode=settings.malicious_blobs,
        quarantine_dir=settings.data_dir / "quarantine",
        observe=lambda action: metrics.malicious_blobs.labels(action).inc(),
    )
    changes.listen(alerts.listener)
    changes.listen(sweeper.listener)


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
