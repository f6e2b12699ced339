"""Redis backends for replicas that share state: the page cache and small state
(``KeyValueStore``), and single-flight download locks (``LockManager``), over ``redis.asyncio``.

Losing Redis degrades, it never gives wrong answers: every Redis failure is raised as
``StorageError`` naming the server and the operation (``redis at 127.0.0.1:6379: GET
'pipgate:page:...' failed: ...``). Callers treat a page-cache failure as a miss and a lock
failure as "download without the lock": artifacts are hash-checked either way. After a
connection failure the server is not contacted again for ``cooldown`` seconds, so a dead
Redis costs each request an immediate error, not a connect timeout.

The lock is the single-instance Redis lock: ``SET key token NX PX lease``, released only by
the holder of ``token`` (a Lua compare-and-delete), and its lease renewed in the background
while held, so a 2 GB download keeps it however long it takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TypeVar
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from storage.base import StorageError

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TIMEOUT = 2.0
"""Seconds to connect or to wait for one reply; a slow Redis must not stall requests."""
DEFAULT_COOLDOWN = 2.0
"""Seconds during which a Redis that just failed to answer is not contacted again."""
DEFAULT_LEASE = 30.0
"""Seconds a lock outlives a holder that stopped renewing it (crashed or partitioned)."""
POLL_MIN = 0.005
POLL_MAX = 0.25
"""Bounds of a lock waiter's pause between two attempts (doubling, with jitter)."""

# Compare-and-delete / compare-and-extend: a holder whose lease expired must not release
# or extend a lock that another replica has taken since.
_RELEASE = """
if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end
return 0
"""


def describe_url(url: str) -> str:
    """``host:port`` (or the socket path) of a Redis URL, without its credentials."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"


class _Connection:
    """One client (and connection pool) plus the cool-down after a connection failure."""

    def __init__(self, url: str, timeout: float, cooldown: float) -> None:
        self.where = describe_url(url)
        # One retry covers the common case of a pooled connection closed by a Redis restart.
        self.client = Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.1), retries=1),
        )
        self._cooldown = cooldown
        self._down_until = 0.0
        self._down_because = ""
        self._closed = False

    async def run(self, operation: str, key: str | None, call: Callable[[], Awaitable[T]]) -> T:
        what = operation if key is None else f"{operation} {key!r}"
        if self._closed:
            raise StorageError(f"redis at {self.where}: {what} refused: the client is closed")
        wait = self._down_until - time.monotonic()
        if wait > 0:
            raise StorageError(
                f"redis at {self.where}: {what} skipped: unreachable ({self._down_because}); "
                f"next attempt in {wait:.1f} s"
            )
        try:
            return await call()
        except (RedisConnectionError, RedisTimeoutError, OSError) as error:
            self._down_until = time.monotonic() + self._cooldown
            self._down_because = f"{type(error).__name__}: {error}"
            raise StorageError(f"redis at {self.where}: {what} failed: {error!r}") from error
        except RedisError as error:
            raise StorageError(f"redis at {self.where}: {what} failed: {error!r}") from error

    async def aclose(self) -> None:
        self._closed = True
        await self.client.aclose()


class RedisKeyValueStore:
    """``KeyValueStore`` on Redis: every key is stored as ``prefix + key``."""

    def __init__(
        self,
        url: str,
        prefix: str = "pipgate:",
        *,
        timeout: float = DEFAULT_TIMEOUT,
        cooldown: float = DEFAULT_COOLDOWN,
    ) -> None:
        self._connection = _Connection(url, timeout, cooldown)
        self._prefix = prefix

    @property
    def where(self) -> str:
        return self._connection.where

    async def get(self, key: str) -> bytes | None:
        name = self._prefix + key
        value = await self._connection.run("GET", name, lambda: self._connection.client.get(name))
        return value.encode() if isinstance(value, str) else value

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        if ttl is not None and ttl <= 0:
            raise ValueError(f"ttl must be a positive number of seconds or None, got {ttl!r}")
        name = self._prefix + key
        # PX is whole milliseconds; rounding up never expires an entry early.
        px = None if ttl is None else max(1, math.ceil(ttl * 1000))
        await self._connection.run(
            "SET", name, lambda: self._connection.client.set(name, value, px=px)
        )

    async def delete(self, key: str) -> None:
        name = self._prefix + key
        await self._connection.run("DEL", name, lambda: self._connection.client.delete(name))

    async def incr(self, key: str) -> int:
        """``INCR``: atomic across replicas; a missing key counts as 0, a TTL is kept."""
        name = self._prefix + key
        return await self._connection.run("INCR", name, lambda: self._connection.client.incr(name))

    async def check(self) -> None:
        await self._connection.run("PING", None, self._connection.client.ping)

    async def aclose(self) -> None:
        await self._connection.aclose()


class RedisLockManager:
    """``LockManager`` across every replica using the same Redis (key ``prefix + key``).

    ``lock`` raises ``TimeoutError`` when another holder keeps the key past ``timeout``, and
    ``StorageError`` when Redis cannot be asked (the caller then proceeds without the lock).
    A failure to renew or release is only logged: the lease expires on its own.
    """

    def __init__(
        self,
        url: str,
        prefix: str = "pipgate:lock:",
        *,
        lease: float = DEFAULT_LEASE,
        timeout: float = DEFAULT_TIMEOUT,
        cooldown: float = DEFAULT_COOLDOWN,
    ) -> None:
        if lease <= 0:
            raise ValueError(f"lease must be a positive number of seconds, got {lease!r}")
        self._connection = _Connection(url, timeout, cooldown)
        self._prefix = prefix
        self._lease_ms = max(1, math.ceil(lease * 1000))
        self._release_script = self._connection.client.register_script(_RELEASE)
        self._renew_script = self._connection.client.register_script(_RENEW)
        self._closed = False

    @property
    def where(self) -> str:
        return self._connection.where

    def lock(self, key: str, timeout: float) -> AbstractAsyncContextManager[None]:
        return self._held(key, timeout)

    @asynccontextmanager
    async def _held(self, key: str, seconds: float) -> AsyncIterator[None]:
        if self._closed:
            raise StorageError(f"redis lock manager ({self.where}) is closed; cannot lock {key!r}")
        name = self._prefix + key
        token = secrets.token_hex(16)
        try:
            await self._acquire(name, token, seconds)
        except asyncio.CancelledError:
            # The SET may have reached Redis before the cancellation: drop it if it did.
            await asyncio.shield(self._release(name, token))
            raise
        renewal = asyncio.create_task(self._keep(name, token), name=f"lease of {name}")
        try:
            yield
        finally:
            # Shielded: a holder cancelled right now must still release, or every replica
            # would wait for this key until the lease runs out.
            await asyncio.shield(self._unlock(name, token, renewal))

    async def _acquire(self, name: str, token: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        delay = POLL_MIN
        while not await self._connection.run(
            "lock SET NX",
            name,
            lambda: self._connection.client.set(name, token, nx=True, px=self._lease_ms),
        ):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"lock {name!r} (redis at {self.where}) is held by another process; "
                    f"not acquired within {seconds} s"
                )
            # Jitter spreads the waiters of one key so they do not poll in lockstep.
            jitter = 0.5 + random.random() / 2  # noqa: S311 - timing, not a secret
            await asyncio.sleep(min(delay * jitter, remaining))
            delay = min(delay * 2, POLL_MAX)

    async def _keep(self, name: str, token: str) -> None:
        """Extend the lease every third of it while the lock is held."""
        while True:
            await asyncio.sleep(self._lease_ms / 3000)
            try:
                extended = await self._connection.run(
                    "lock PEXPIRE",
                    name,
                    lambda: self._renew_script(keys=[name], args=[token, self._lease_ms]),
                )
            except StorageError as error:
                logger.warning("%s; retrying while the lease lasts", error)
                continue
            if not extended:
                logger.warning(
                    "lock %r (redis at %s) expired while held; another process may now fetch "
                    "the same file (it is hash-checked either way)",
                    name,
                    self.where,
                )
                return

    async def _unlock(self, name: str, token: str, renewal: asyncio.Task[None]) -> None:
        renewal.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewal
        await self._release(name, token)

    async def _release(self, name: str, token: str) -> None:
        try:
            await self._connection.run(
                "lock release", name, lambda: self._release_script(keys=[name], args=[token])
            )
        except StorageError as error:
            logger.warning("%s; the lock expires with its lease", error)

    async def aclose(self) -> None:
        self._closed = True
        await self._connection.aclose()


__all__ = ["RedisKeyValueStore", "RedisLockManager", "describe_url"]
