"""A short-lived, per-process cache of verified credentials, so that a warm page does not pay
an argon2 verification per request.

Keyed by a sha256 of the whole ``Authorization`` value (the cache never holds a token's
text). An entry lives ``ttl`` seconds (default 10), and the whole cache is dropped as soon as
the shared revocation generation changes (polled every ``interval`` second): a revocation
reaches every process within about a second, and within ``ttl`` seconds even when the shared
state cannot be read. A token's expiry is checked on every hit.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from proxy.identity.model import Identity
from storage.base import StorageError

logger = logging.getLogger(__name__)

DEFAULT_TTL = 10.0
DEFAULT_INTERVAL = 1.0
MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class _Entry:
    identity: Identity
    valid_until: float
    """Monotonic: when this entry must be verified again."""
    expires: float | None
    """Wall clock: the token's own expiry."""


def cache_key(authorization: bytes) -> bytes:
    return hashlib.sha256(authorization).digest()


class VerifiedCache:
    def __init__(
        self,
        ttl: float = DEFAULT_TTL,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._ttl = ttl
        self._monotonic = monotonic
        self._wall = wall
        self._entries: dict[bytes, _Entry] = {}
        self.generation: int | None = None
        """The revocation generation the entries were verified under."""

    @property
    def ttl(self) -> float:
        return self._ttl

    def get(self, key: bytes) -> Identity | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.valid_until <= self._monotonic() or (
            entry.expires is not None and entry.expires <= self._wall()
        ):
            self._entries.pop(key, None)
            return None
        return entry.identity

    def put(self, key: bytes, identity: Identity, expires: float | None) -> None:
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.pop(next(iter(self._entries)))
        self._entries[key] = _Entry(identity, self._monotonic() + self._ttl, expires)

    def clear(self) -> None:
        self._entries.clear()

    def forget_token(self, token_id: int) -> None:
        """Drop every entry of ``token_id`` (its Basic and Bearer forms alike): once this
        process has seen it revoked, no spelling of it may pass here until the next poll."""
        stale = [k for k, e in self._entries.items() if e.identity.token_id == token_id]
        for key in stale:
            del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"VerifiedCache(entries={len(self._entries)}, ttl={self._ttl})"

    def apply_generation(self, generation: int) -> bool:
        """Drop every entry if ``generation`` differs from the one they were verified under."""
        if generation == self.generation:
            return False
        if self.generation is not None:
            logger.info("token revoked elsewhere: verified-token cache dropped")
        self.generation = generation
        self.clear()
        return True


async def follow_revocations(
    cache: VerifiedCache,
    read_generation: Callable[[], Awaitable[int]],
    interval: float = DEFAULT_INTERVAL,
) -> None:
    """Poll the shared generation and drop the cache when it moves; runs until cancelled."""
    failing = False
    while True:
        try:
            cache.apply_generation(await read_generation())
            if failing:
                logger.info("revocation generation readable again")
            failing = False
        except StorageError as error:
            if not failing:
                logger.warning(
                    "%s; verified tokens are re-checked every %.0f s until it answers",
                    error,
                    cache.ttl,
                )
            failing = True
        await asyncio.sleep(interval)


__all__ = ["DEFAULT_INTERVAL", "DEFAULT_TTL", "VerifiedCache", "cache_key", "follow_revocations"]
