"""Named locks for single-flight downloads: in one process, or across the processes of
``pipgate serve --workers N`` on one machine.

``FileLockManager`` takes ``flock`` on ``<dir>/<sha256(key)>.lock`` in a worker thread that
polls with a non-blocking attempt, so the event loop never waits on the kernel and the
timeout is honoured. Coroutines of one process first queue on an asyncio lock per key, so
only one of them at a time occupies a thread for that key.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from storage.base import StorageError
from storage.spool import try_lock_file

MAX_POLL_INTERVAL = 0.05
"""Longest pause between two attempts at a busy file lock (backs off from 1 ms)."""


@dataclass(slots=True)
class _Entry:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0
    """Coroutines holding or waiting for ``lock``; the entry is dropped when it reaches 0."""


class _KeyedLocks:
    """One asyncio lock per key, kept only while some coroutine holds or awaits it."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    @asynccontextmanager
    async def hold(self, key: str, seconds: float) -> AsyncIterator[None]:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
        entry.users += 1
        try:
            try:
                async with asyncio.timeout(seconds):
                    await entry.lock.acquire()
            except TimeoutError as error:
                raise TimeoutError(f"lock {key!r} was not acquired within {seconds} s") from error
            try:
                yield
            finally:
                entry.lock.release()
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._entries[key]


class MemoryLockManager:
    """Locks that only exclude coroutines of this process."""

    def __init__(self) -> None:
        self._locks = _KeyedLocks()
        self._closed = False

    def __len__(self) -> int:
        """Keys currently held or awaited (unused ones are forgotten)."""
        return len(self._locks)

    def lock(self, key: str, timeout: float) -> AbstractAsyncContextManager[None]:
        return self._held(key, timeout)

    @asynccontextmanager
    async def _held(self, key: str, seconds: float) -> AsyncIterator[None]:
        if self._closed:
            raise StorageError(f"memory lock manager is closed; cannot lock {key!r}")
        async with self._locks.hold(key, seconds):
            yield

    async def aclose(self) -> None:
        self._closed = True


def _flock_until(path: Path, deadline: float, stop: threading.Event) -> int | None:
    """Poll for the lock until ``deadline`` (monotonic) or ``stop``; runs in a worker thread."""
    path.parent.mkdir(parents=True, exist_ok=True)
    delay = 0.001
    while True:
        fd = try_lock_file(path, create=True)
        if fd is not None:
            return fd
        remaining = deadline - time.monotonic()
        if remaining <= 0 or stop.wait(min(delay, remaining)):
            return None
        delay = min(delay * 2, MAX_POLL_INTERVAL)


def _release(path: Path, fd: int) -> None:
    # Unlink while still holding the lock so the directory does not grow with every key ever
    # locked; waiters notice the inode change in try_lock_file.
    try:
        path.unlink(missing_ok=True)
    finally:
        os.close(fd)


def _close_if_acquired(future: asyncio.Future[int | None]) -> None:
    if not future.cancelled() and future.exception() is None:
        fd = future.result()
        if fd is not None:
            os.close(fd)


async def _acquire_file(path: Path, deadline: float) -> int | None:
    stop = threading.Event()
    future = asyncio.ensure_future(asyncio.to_thread(_flock_until, path, deadline, stop))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        # The thread cannot be interrupted: tell it to give up, and drop what it may still get.
        stop.set()
        future.add_done_callback(_close_if_acquired)
        raise


class FileLockManager:
    """Locks that exclude every process using the same ``directory`` (``flock``, local only)."""

    def __init__(self, directory: Path) -> None:
        self._dir = Path(directory).absolute()
        self._local = _KeyedLocks()
        self._closed = False

    def path_for(self, key: str) -> Path:
        return self._dir / f"{hashlib.sha256(key.encode()).hexdigest()}.lock"

    def lock(self, key: str, timeout: float) -> AbstractAsyncContextManager[None]:
        return self._held(key, timeout)

    @asynccontextmanager
    async def _held(self, key: str, seconds: float) -> AsyncIterator[None]:
        if self._closed:
            raise StorageError(
                f"file lock manager {str(self._dir)!r} is closed; cannot lock {key!r}"
            )
        deadline = time.monotonic() + seconds
        async with self._local.hold(key, seconds):
            path = self.path_for(key)
            fd = await _acquire_file(path, deadline)
            if fd is None:
                raise TimeoutError(
                    f"lock {key!r} ({str(path)!r}) is held by another process; "
                    f"not acquired within {seconds} s"
                )
            try:
                yield
            finally:
                # Shielded: a holder cancelled right now must still release, or every worker
                # would wait on this key until the process exits.
                await asyncio.shield(asyncio.to_thread(_release, path, fd))

    async def aclose(self) -> None:
        self._closed = True


__all__ = ["MAX_POLL_INTERVAL", "FileLockManager", "MemoryLockManager"]
