"""The embedded ``KeyValueStore``: data that must outlive a restart (cached pages, policy
generation, trust-on-first-use records), one file per key, each replaced whole.

Every file operation runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from storage.base import StorageError
from storage.filesystem import probe_writable

# A value is written and renamed in milliseconds: a temp file this old was left by a killed
# process. Younger ones may belong to another worker sharing the data dir, so they stay.
STALE_TEMP_SECONDS = 300.0


def _clear_stale(directory: Path, older_than: float) -> None:
    for entry in os.scandir(directory):
        try:
            if entry.stat(follow_symlinks=False).st_mtime < older_than:
                Path(entry.path).unlink(missing_ok=True)
        except FileNotFoundError:
            continue


_MAGIC = b"pipgate-kv1"


class FilesystemKeyValueStore:
    """One file per key, named by the key's sha256; an expiry header implements the TTL."""

    def __init__(self, root: Path, clock: Callable[[], float] = time.time) -> None:
        # Wall-clock time: expiries are written to disk and must mean the same after a restart.
        self._root = Path(root).absolute()
        self._tmp = self._root / ".tmp"
        self._clock = clock
        self._incr_lock = asyncio.Lock()

    async def start(self) -> None:
        """Create the layout and delete temp files a killed process left behind."""
        await asyncio.to_thread(self._start)

    def _start(self) -> None:
        try:
            self._tmp.mkdir(parents=True, exist_ok=True)
            _clear_stale(self._tmp, self._clock() - STALE_TEMP_SECONDS)
        except OSError as error:
            raise StorageError(
                f"key-value store {str(self._root)!r} cannot be prepared: {error}"
            ) from error

    def _path_for(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self._root / digest[:2] / digest

    async def get(self, key: str) -> bytes | None:
        return await asyncio.to_thread(self._get, key)

    def _get(self, key: str) -> bytes | None:
        path = self._path_for(key)
        try:
            with path.open("rb") as handle:
                expires, value = self._decode(key, handle.read())
                if expires is not None and expires <= self._clock():
                    self._unlink_if_same(path, os.fstat(handle.fileno()).st_ino)
                    return None
        except FileNotFoundError:
            return None
        except OSError as error:
            raise StorageError(f"key {key!r} cannot be read: {error}") from error
        return value

    @staticmethod
    def _unlink_if_same(path: Path, inode: int) -> None:
        """Lazily delete an expired entry, unless a writer has just replaced it."""
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_ino == inode:
                path.unlink()

    @staticmethod
    def _decode(key: str, data: bytes) -> tuple[float | None, bytes]:
        header, newline, value = data.partition(b"\n")
        magic, _, expires = header.partition(b" ")
        if magic != _MAGIC or not newline:
            raise StorageError(f"key {key!r}: stored file is not in the {_MAGIC.decode()} format")
        try:
            return (float(expires) if expires != b"-" else None), value
        except ValueError as error:
            raise StorageError(f"key {key!r}: bad expiry {expires!r} in its header") from error

    def _encode(self, value: bytes, expires: float | None) -> bytes:
        stamp = b"-" if expires is None else repr(expires).encode()
        return _MAGIC + b" " + stamp + b"\n" + value

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        if ttl is not None and ttl <= 0:
            raise ValueError(f"ttl must be a positive number of seconds or None, got {ttl!r}")
        expires = None if ttl is None else self._clock() + ttl
        await asyncio.to_thread(self._write, key, self._encode(value, expires))

    def _write(self, key: str, data: bytes) -> None:
        path = self._path_for(key)
        try:
            self._tmp.mkdir(parents=True, exist_ok=True)
            fd, staged = tempfile.mkstemp(prefix="set-", dir=self._tmp)
        except OSError as error:
            raise StorageError(f"key {key!r} cannot be written: {error}") from error
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            path.parent.mkdir(exist_ok=True)
            os.replace(staged, path)
        except OSError as error:
            Path(staged).unlink(missing_ok=True)
            raise StorageError(f"key {key!r} cannot be written: {error}") from error

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._delete, key)

    def _delete(self, key: str) -> None:
        try:
            self._path_for(key).unlink(missing_ok=True)
        except OSError as error:
            raise StorageError(f"key {key!r} cannot be deleted: {error}") from error

    async def incr(self, key: str) -> int:
        # The asyncio lock queues this process's callers cheaply; flock excludes other processes.
        async with self._incr_lock:
            return await asyncio.to_thread(self._incr_locked, key)

    def _incr_locked(self, key: str) -> int:
        self._root.mkdir(parents=True, exist_ok=True)
        with (self._root / ".incr.lock").open("a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                return self._incr(key)
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _incr(self, key: str) -> int:
        path = self._path_for(key)
        try:
            expires, value = self._decode(key, path.read_bytes())
        except FileNotFoundError:
            expires, value = None, b"0"
        except OSError as error:
            raise StorageError(f"key {key!r} cannot be read: {error}") from error
        if expires is not None and expires <= self._clock():
            expires, value = None, b"0"
        try:
            number = int(value) + 1
        except ValueError as error:
            raise StorageError(f"key {key!r} holds {value[:40]!r}, not an integer") from error
        self._write(key, self._encode(str(number).encode(), expires))
        return number

    async def check(self) -> None:
        await asyncio.to_thread(self._check)

    def _check(self) -> None:
        if not self._root.is_dir():
            raise StorageError(f"key-value store root {str(self._root)!r} is not a directory")
        probe_writable(self._tmp, "key-value store")

    async def aclose(self) -> None:
        """Nothing to release: every operation opens and closes its own files."""


__all__ = ["STALE_TEMP_SECONDS", "FilesystemKeyValueStore"]
