"""A feed of input changes shared by every worker and replica, on the shared state store.

A change made on one process (e.g. an operator invalidating a project) must reach every
other within one poll interval. The store offers only ``get``/``set``/``incr``, which is
enough: the publisher takes the next sequence number with ``incr`` and writes the entry
under it (with a TTL); followers poll the counter and read the entries they have not seen.

Reading can race the publisher (counter bumped, entry not yet written): a missing entry is
retried for a few polls, then taken as "every project changed". Dropping too much costs a
re-render; dropping too little would serve a page the change should have removed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from storage.base import KeyValueStore, StorageError

logger = logging.getLogger(__name__)

FEED_KEY = "change-feed"
DEFAULT_INTERVAL = 1.0
ENTRY_TTL = 3600.0
"""Entries outlive any sane poll gap; a follower further behind takes "everything"."""
MISSING_POLLS = 3
MAX_PROJECTS = 10_000
"""A bigger change is shared as "every project": the entry stays a small value."""


@dataclass(frozen=True, slots=True)
class FeedEntry:
    source: str
    projects: frozenset[str] | None
    """``None``: every project (also what an unreadable or lost entry becomes)."""


def encode_entry(entry: FeedEntry) -> bytes:
    projects = sorted(entry.projects) if entry.projects is not None else None
    if projects is not None and len(projects) > MAX_PROJECTS:
        projects = None
    return json.dumps({"source": entry.source, "projects": projects}).encode()


def decode_entry(raw: bytes) -> FeedEntry:
    """The entry in ``raw``; ``ValueError`` when it is not one."""
    document = json.loads(raw)
    if not isinstance(document, dict) or not isinstance(document.get("source"), str):
        raise ValueError("a change-feed entry is an object with a string 'source'")
    projects = document.get("projects")
    if projects is None:
        return FeedEntry(document["source"], None)
    if not isinstance(projects, list) or not all(isinstance(p, str) for p in projects):
        raise ValueError("a change-feed entry's 'projects' is null or a list of names")
    return FeedEntry(document["source"], frozenset(projects))


class ChangeFeed:
    """``publish`` a change; ``watch`` calls back for every change published elsewhere."""

    def __init__(
        self, kv: KeyValueStore, key: str = FEED_KEY, interval: float = DEFAULT_INTERVAL
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be a positive number of seconds, got {interval!r}")
        self._kv = kv
        self._key = key
        self.interval = interval
        self._seen: int | None = None
        self._own: set[int] = set()
        self._missing: dict[int, int] = {}

    async def _counter(self) -> int:
        raw = await self._kv.get(self._key)
        if raw is None:
            return 0
        try:
            return int(raw)
        except ValueError as error:
            raise StorageError(f"change feed {self._key!r} holds {raw[:40]!r}") from error

    async def start(self) -> None:
        """What was published before this process started is already in what it loads."""
        try:
            self._seen = await self._counter()
        except StorageError as error:
            logger.warning("%s; shared changes are followed once the store answers", error)

    async def publish(self, entry: FeedEntry) -> int:
        number = await self._kv.incr(self._key)
        self._own.add(number)
        await self._kv.set(f"{self._key}/{number}", encode_entry(entry), ttl=ENTRY_TTL)
        return number

    async def poll(self) -> list[FeedEntry]:
        """Entries published elsewhere since the last poll, oldest first."""
        try:
            current = await self._counter()
        except StorageError as error:
            logger.warning("change feed unreadable, retrying: %s", error)
            return []
        if self._seen is None:  # the store was down at start: anything may have changed
            self._seen = current
            return [FeedEntry("change-feed", None)]
        found: list[FeedEntry] = []
        number = self._seen
        while number < current:
            if number + 1 in self._own:  # applied here when it was published
                self._own.discard(number + 1)
                number += 1
                continue
            entry = await self._entry(number + 1)
            if entry is None:  # not written yet: try again at the next poll
                break
            number += 1
            found.append(entry)
        self._seen = number
        return found

    async def _entry(self, number: int) -> FeedEntry | None:
        try:
            raw = await self._kv.get(f"{self._key}/{number}")
        except StorageError as error:
            logger.warning("change feed entry %d unreadable: %s", number, error)
            raw = None
        if raw is None:
            polls = self._missing.get(number, 0) + 1
            if polls < MISSING_POLLS:
                self._missing[number] = polls
                return None
            self._missing.pop(number, None)
            return FeedEntry("change-feed", None)  # lost: assume the worst
        self._missing.pop(number, None)
        try:
            return decode_entry(raw)
        except ValueError as error:
            logger.warning(
                "change feed entry %d is invalid (%s): every page dropped", number, error
            )
            return FeedEntry("change-feed", None)

    async def watch(self, on_entry: Callable[[FeedEntry], Awaitable[None]]) -> None:
        """Poll every ``interval`` seconds until cancelled; a failing callback is logged."""
        while True:
            await asyncio.sleep(self.interval)
            for entry in await self.poll():
                try:
                    await on_entry(entry)
                except Exception:
                    logger.exception("applying a shared change (%s) failed", entry.source)


__all__ = ["ChangeFeed", "FeedEntry", "decode_entry", "encode_entry"]
