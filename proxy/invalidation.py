"""One mechanism for every input change: announce it, and whoever depends on it reacts.

``Invalidations`` receives ``InputChange``s from their owners (the OSV policy after a
refresh, the reload path, the admin endpoint) and hands each to its listeners: the render
cache drops the pages of the named projects; the alerts and the malicious-blob sweep look
at OSV changes. ``announce`` is local to this process (every process refreshes its own
OSV data, so each applies its own refresh); ``publish`` also writes the change to the
shared ``ChangeFeed``, which every other worker and replica applies within one poll.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable

from policies.changes import InputChange
from proxy.render_cache import RenderCache
from storage.base import StorageError
from storage.change_feed import ChangeFeed, FeedEntry

logger = logging.getLogger(__name__)

Listener = Callable[[InputChange], Awaitable[object] | None]


class Invalidations:
    def __init__(self, feed: ChangeFeed | None = None) -> None:
        self._feed = feed
        self._listeners: list[Listener] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def interval(self) -> float:
        """Seconds within which other processes apply what ``publish`` shares."""
        return self._feed.interval if self._feed is not None else 0.0

    def listen(self, listener: Listener) -> None:
        """Plain listeners run inside ``announce``; coroutine ones as background tasks."""
        self._listeners.append(listener)

    def announce(self, change: InputChange) -> None:
        logger.info("input change: %s", change.describe())
        for listener in self._listeners:
            try:
                result = listener(change)
            except Exception:
                logger.exception("a listener failed on %s", change.describe())
                continue
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(self._guard(result, change))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _guard(self, work: Awaitable[object], change: InputChange) -> None:
        try:
            await work
        except Exception:
            logger.exception("a listener failed on %s", change.describe())

    async def publish(self, change: InputChange) -> None:
        """Apply here now, and on every other process sharing the state store."""
        self.announce(change)
        if self._feed is None:
            return
        try:
            await self._feed.publish(FeedEntry(change.source, change.projects))
        except StorageError as error:
            logger.warning("other replicas were not told of %s: %s", change.describe(), error)

    async def start(self) -> None:
        """Take what was published before this process started as already applied."""
        if self._feed is not None:
            await self._feed.start()

    async def follow(self) -> None:
        """Apply the changes other processes publish; runs until cancelled."""
        if self._feed is None:
            return

        async def apply(entry: FeedEntry) -> None:
            self.announce(InputChange(entry.source, entry.projects))

        await self._feed.watch(apply)

    async def settle(self) -> None:
        """Wait for the background listeners started so far (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)


def drop_rendered(renders: RenderCache) -> Listener:
    """The render cache's listener: drop exactly the pages of the changed projects."""

    def listener(change: InputChange) -> None:
        dropped = renders.invalidate(change.projects)
        logger.info("dropped %d rendered page(s) after %s", dropped, change.describe())

    return listener


__all__ = ["Invalidations", "Listener", "drop_rendered"]
