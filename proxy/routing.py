"""Multi-upstream routing: each project is served by exactly one upstream, chosen by name.

A name matching a private upstream's ``projects`` globs is served ONLY by that upstream
(the first matching one, in configuration order): a 404 there is a 404, never a fall back
to the public index, where anyone could register the name (dependency confusion). Files
of one project never come from two upstreams. The project list merges every upstream's
names, each kept only where it would be routed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName, canonicalize_name

from policies.globs import GlobSet
from proxy.model import ProjectList
from proxy.outbound import outbound_from
from proxy.settings import Settings, UpstreamConfig
from proxy.upstream import HttpUpstream
from proxy.upstream_base import ListFetch, PageFetch, Upstream, UpstreamStream, Validators

if TYPE_CHECKING:
    import aiohttp

PUBLIC_UPSTREAM = "public"
"""Name of the default upstream in the fetch log."""


def build_upstream(settings: Settings, session: aiohttp.ClientSession) -> Upstream:
    """The configured upstreams: the public one alone, or routed with the private ones."""
    retries = settings.upstream_retries
    outbound = outbound_from(settings)
    public = HttpUpstream(
        session, settings.upstream, PUBLIC_UPSTREAM, retries=retries, outbound=outbound
    )
    private = [
        (config, HttpUpstream(session, config.url, config.name, retries=retries, outbound=outbound))
        for config in settings.upstreams
    ]
    return RoutedUpstream(public, private) if private else public


class RoutedUpstream:
    """The ``Upstream`` protocol over a default (public) upstream and private ones."""

    def __init__(
        self, default: Upstream, private: Sequence[tuple[UpstreamConfig, Upstream]]
    ) -> None:
        self._default = default
        self._private = tuple((GlobSet(config.projects), upstream) for config, upstream in private)

    def route(self, name: NormalizedName) -> Upstream:
        """The one upstream allowed to serve ``name``."""
        for globs, upstream in self._private:
            if globs.matches(name):
                return upstream
        return self._default

    async def fetch_page(self, name: NormalizedName, validators: Validators | None) -> PageFetch:
        return await self.route(name).fetch_page(name, validators)

    def open(self, name: NormalizedName, url: str) -> AbstractAsyncContextManager[UpstreamStream]:
        return self.route(name).open(name, url)

    def upstream_for(self, name: NormalizedName) -> str:
        return self.route(name).upstream_for(name)

    async def fetch_project_list(self, validators: Validators | None) -> ListFetch:
        """Every upstream's names, each kept only where it is routed.

        Validators are not used: one set of validators cannot describe several upstreams,
        so the merged list is always fetched in full (pip and uv never ask for it).
        """
        upstreams = [self._default, *(upstream for _, upstream in self._private)]
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(u.fetch_project_list(None)) for u in upstreams]
        except ExceptionGroup as failed:
            # Callers handle UpstreamUnavailable (serve stale), not a group of them.
            raise failed.exceptions[0] from failed
        fetches = [task.result() for task in tasks]
        names = await asyncio.to_thread(self._merge, upstreams, fetches)
        answered = ",".join(dict.fromkeys(fetch.upstream for fetch in fetches))
        return ListFetch(ProjectList(names), Validators(), answered)

    def _merge(self, upstreams: list[Upstream], fetches: list[ListFetch]) -> tuple[str, ...]:
        # Runs in a worker thread: the public list has hundreds of thousands of names.
        merged: dict[NormalizedName, str] = {}
        for upstream, fetch in zip(upstreams, fetches, strict=True):
            for name in fetch.projects.names if fetch.projects is not None else ():
                normalized = canonicalize_name(name)
                if normalized not in merged and self.route(normalized) is upstream:
                    merged[normalized] = name
        return tuple(merged.values())
