"""An in-process ``KeyValueStore`` with TTLs and an LRU bound.

For single-process use where nothing must survive a restart, and the fake that tests of
other components use. Every method finishes without awaiting anything, so each one is
atomic under asyncio (``incr`` included).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from storage.base import StorageError


class MemoryKeyValueStore:
    """At most ``max_entries`` keys; the least recently used one goes first."""

    def __init__(
        self, max_entries: int = 10000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries!r}")
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()
        self._closed = False

    def __len__(self) -> int:
        return len(self._entries)

    def _ensure_open(self) -> None:
        if self._closed:
            raise StorageError("memory key-value store is closed")

    def _live(self, key: str) -> tuple[bytes, float | None] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] is not None and entry[1] <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def _store(self, key: str, value: bytes, expires: float | None) -> None:
        self._entries[key] = (value, expires)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    async def get(self, key: str) -> bytes | None:
        self._ensure_open()
        entry = self._live(key)
        return None if entry is None else entry[0]

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self._ensure_open()
        if ttl is not None and ttl <= 0:
            raise ValueError(f"ttl must be a positive number of seconds or None, got {ttl!r}")
        self._store(key, bytes(value), None if ttl is None else self._clock() + ttl)

    async def delete(self, key: str) -> None:
        self._ensure_open()
        self._entries.pop(key, None)

    async def incr(self, key: str) -> int:
        """Like Redis INCR: a missing key counts as 0 and an existing TTL is kept."""
        self._ensure_open()
        value, expires = self._live(key) or (b"0", None)
        try:
            number = int(value) + 1
        except ValueError as error:
            raise StorageError(f"key {key!r} holds {value[:40]!r}, not an integer") from error
        self._store(key, str(number).encode(), expires)
        return number

    async def check(self) -> None:
        self._ensure_open()

    async def aclose(self) -> None:
        self._closed = True
        self._entries.clear()


__all__ = ["MemoryKeyValueStore"]
