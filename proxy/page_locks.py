"""Cross-process turn-taking for page refreshes: the lock store's half of single-flight.

In one process, concurrent misses for a page already share one upstream request
(``CachingRepository._single_flight``). Across the workers of ``serve --workers N`` (flock
on the data dir) and across replicas (Redis), the page's lock in the lock store makes them
take turns: the first refreshes and writes the page store; the others, once it is their
turn, find the fresh page there and make no request of their own. Files are single-flight
the same way (``proxy.downloads``).

A turn that does not come within the wait is not an error: with a cached page the caller
answers stale, without one it fetches itself (a duplicate request beats a failed install).
A lock store that fails is logged and treated as "no lock".
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from storage.base import LockManager, StorageError

logger = logging.getLogger(__name__)


class PageLocks:
    def __init__(self, locks: LockManager | None) -> None:
        self._locks = locks

    @contextlib.asynccontextmanager
    async def turn(self, page_key: str, wait: float) -> AsyncIterator[bool]:
        """Hold the page's lock for the block; yields ``False`` if it was not had in time."""
        if self._locks is None:
            yield True
            return
        async with contextlib.AsyncExitStack() as stack:
            try:
                await stack.enter_async_context(self._locks.lock(f"page:{page_key}", wait))
                held = True
            except TimeoutError:
                held = False
            except StorageError as error:
                logger.warning("no lock for page %s (%s); refreshing without it", page_key, error)
                held = True
            yield held


__all__ = ["PageLocks"]
