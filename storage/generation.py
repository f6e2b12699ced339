"""A counter shared by every replica so that a policy reload on one is applied by all.

The replica that reloads bumps the counter (``KeyValueStore.incr``: ``INCR`` on Redis,
``flock`` on the embedded store); every replica polls it and reloads when it changes. Polling
one small key per second is cheaper and simpler than pub/sub, and cannot miss a change
made while this replica was disconnected: the value is still different when it reconnects.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from storage.base import KeyValueStore, StorageError

logger = logging.getLogger(__name__)

POLICY_GENERATION_KEY = "policy-generation"
DEFAULT_INTERVAL = 1.0


class SharedGeneration:
    """``bump`` after a successful local change; ``watch`` to follow the others' changes."""

    def __init__(
        self,
        kv: KeyValueStore,
        key: str = POLICY_GENERATION_KEY,
        interval: float = DEFAULT_INTERVAL,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be a positive number of seconds, got {interval!r}")
        self._kv = kv
        self._key = key
        self._interval = interval
        self._seen: int | None = None

    @property
    def seen(self) -> int | None:
        """The last value read or written by this replica (``None`` before the first)."""
        return self._seen

    async def read(self) -> int:
        """The shared value (0 before anyone bumped it); ``StorageError`` if unreadable."""
        raw = await self._kv.get(self._key)
        if raw is None:
            return 0
        try:
            return int(raw)
        except ValueError as error:
            raise StorageError(
                f"shared generation {self._key!r} holds {raw[:40]!r}, not an integer"
            ) from error

    async def bump(self) -> int:
        """Tell the other replicas to reload; this replica does not see its own bump."""
        self._seen = await self._kv.incr(self._key)
        return self._seen

    async def start(self) -> None:
        """Take the current value as already applied (this replica just loaded its config)."""
        try:
            self._seen = await self.read()
        except StorageError as error:
            logger.warning("%s; policy reloads of other replicas follow once it answers", error)

    async def poll(self) -> int | None:
        """The new value if it changed since last seen, else ``None`` (errors are logged)."""
        try:
            current = await self.read()
        except StorageError as error:
            logger.warning("%s; keeping the policies in force", error)
            return None
        if current == self._seen:
            return None
        # Unknown before (the store was down at start): a reload is harmless, a missed one not.
        self._seen = current
        return current

    async def watch(self, on_change: Callable[[int], Awaitable[None]]) -> None:
        """Call ``on_change(value)`` after each change made elsewhere; runs until cancelled.

        A failing ``on_change`` is logged and not retried until the next change.
        """
        while True:
            await asyncio.sleep(self._interval)
            changed = await self.poll()
            if changed is None:
                continue
            try:
                await on_change(changed)
            except Exception:
                logger.exception("applying shared generation %d failed", changed)


__all__ = ["DEFAULT_INTERVAL", "POLICY_GENERATION_KEY", "SharedGeneration"]
