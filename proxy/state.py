"""Everything the lifespan builds and the routes use, in one typed object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import aiohttp

    from policies.engine import PolicyEngine
    from proxy.cache_eviction import CacheEvictor
    from proxy.caching import CachingRepository
    from proxy.disk_space import DiskWatch
    from proxy.downloads import DownloadManager
    from proxy.identity.authenticator import Authenticator
    from proxy.invalidation import Invalidations
    from proxy.metrics import Metrics
    from proxy.refused_blobs import RefusedBlobs
    from proxy.render_cache import RenderCache
    from proxy.repository import Repository
    from proxy.settings import Settings
    from proxy.workflow.runtime import Workflow
    from storage.base import FetchLogStore
    from storage.factory import Stores
    from storage.generation import SharedGeneration


@dataclass(slots=True)
class AppState:
    settings: Settings
    session: aiohttp.ClientSession
    stores: Stores
    engine: PolicyEngine
    caching: CachingRepository
    downloads: DownloadManager
    chain: Repository
    renders: RenderCache
    fetchlog: FetchLogStore
    metrics: Metrics
    generation: SharedGeneration
    """The policy generation shared by every replica: a reload on one reaches all."""
    identity: Authenticator
    """Tokens in the shared state, verified-token cache, failure limiter (docs/auth.md)."""
    changes: Invalidations
    """Where every input change is announced; drops the affected rendered pages."""
    disk: DiskWatch
    """Free space on the data disks (``/readyz``, metrics)."""
    workflow: Workflow | None = None
    """Waivers and the quarantine queue in the shared state (``proxy.workflow``)."""
    evictor: CacheEvictor | None = None
    """Least-recently-served eviction of blobs (filesystem store only)."""
    refused: RefusedBlobs | None = None
    """Deletes the blobs of files a policy refuses, a grace period after the refusal."""
