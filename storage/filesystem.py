"""Embedded stores on the local filesystem: artifacts (``BlobStore``) and a durable
``KeyValueStore`` for data that must outlive a restart (cached pages, policy generation).

Nothing half-written is ever visible: blobs are published with ``os.replace`` from a spool
directory on the same filesystem, and key-value files are replaced whole. Each process
spools into its own directory (``storage.spool``), so the workers of ``serve --workers N``
share one root without deleting each other's downloads. Every file operation runs in a
worker thread or through aiofiles, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import aiofiles

from proxy.errors import InvalidName
from storage.base import StorageError
from storage.spool import ProcessSpool

CHUNK_SIZE = 256 * 1024


def _fsync(path: Path, *, directory: bool = False) -> None:
    """Flush a file's data, or a directory's entries: POSIX persists a rename only then."""
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


def _probe_writable(directory: Path, what: str) -> None:
    try:
        fd, name = tempfile.mkstemp(prefix=".probe-", dir=directory)
        os.close(fd)
        os.unlink(name)
    except OSError as error:
        raise StorageError(f"{what} {str(directory)!r} is not writable: {error}") from error


@dataclass(frozen=True, slots=True)
class FilesystemBlob:
    """A committed artifact; ``path`` lets the HTTP layer use sendfile."""

    path: Path
    size: int

    async def iter_range(self, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Bytes ``[start, end)`` in chunks of at most 256 KiB."""
        stop = self.size if end is None else min(end, self.size)
        if start < 0 or stop < start:
            raise ValueError(f"invalid byte range [{start}, {end}) for a {self.size}-byte blob")
        try:
            async with aiofiles.open(self.path, "rb") as handle:
                await handle.seek(start)
                remaining = stop - start
                while remaining > 0:
                    chunk = await handle.read(min(CHUNK_SIZE, remaining))
                    if not chunk:
                        raise StorageError(f"blob {str(self.path)!r} shrank while being read")
                    remaining -= len(chunk)
                    yield chunk
        except FileNotFoundError as error:
            raise StorageError(f"blob {str(self.path)!r} vanished before it was read") from error


def split_blob_key(key: str) -> list[str]:
    """The segments of a blob key; refuses empty, dotted or separator-smuggling ones."""
    parts = key.split("/")
    if not key or any(not p or p.startswith(".") or "\\" in p or "\x00" in p for p in parts):
        raise InvalidName(f"invalid blob key {key!r}: expected '/'-separated names, none dotted")
    return parts


class FilesystemBlobStore:
    """Artifacts as files under ``root/<key>``; in-flight downloads in
    ``root/.spool/<process id>/`` (see ``storage.spool``)."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root).absolute()
        self._process_spool = ProcessSpool(self._root / ".spool")
        self._real_root: str | None = None
        """``realpath(root)``, resolved once: it is on every request's path."""

    @property
    def root(self) -> Path:
        return self._root

    @property
    def spool_dir(self) -> Path:
        """This process's spool; other processes' spools under the same root are left alone."""
        return self._process_spool.directory

    async def start(self) -> None:
        """Create the layout, claim this process's spool and delete dead processes' spools."""
        await asyncio.to_thread(self._start)

    def _start(self) -> None:
        try:
            self._root.mkdir(parents=True, exist_ok=True)
            self._process_spool.start()
        except OSError as error:
            raise StorageError(
                f"blob store {str(self._root)!r} cannot be prepared: {error}"
            ) from error

    def _path_for(self, key: str) -> Path:
        """The file for ``key``; refuses keys that could leave ``root`` (also via symlinks)."""
        parts = split_blob_key(key)
        if self._real_root is None:
            self._real_root = os.path.realpath(self._root)
        root = self._real_root
        candidate = os.path.realpath(os.path.join(root, *parts))
        if os.path.commonpath([root, candidate]) != root or candidate == root:
            raise InvalidName(f"invalid blob key {key!r}: resolves outside {root!r}")
        return Path(candidate)

    async def open(self, key: str) -> FilesystemBlob | None:
        return await asyncio.to_thread(self._open, key)

    def _open(self, key: str) -> FilesystemBlob | None:
        path = self._path_for(key)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise StorageError(f"blob {key!r} cannot be read: {error}") from error
        return FilesystemBlob(path=path, size=stat.st_size) if path.is_file() else None

    async def commit(self, key: str, verified_file: Path) -> None:
        await asyncio.to_thread(self._commit, key, Path(verified_file))

    def _commit(self, key: str, source: Path) -> None:
        try:
            target = self._path_for(key)
            _fsync(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            self._replace(source, target)
            _fsync(target.parent, directory=True)
        except OSError as error:
            raise StorageError(f"blob {key!r} cannot be committed: {error}") from error
        finally:
            # We own the spool file: after a failure nothing else will clean it up.
            source.unlink(missing_ok=True)

    def _replace(self, source: Path, target: Path) -> None:
        try:
            os.replace(source, target)
        except OSError as error:
            if error.errno != errno.EXDEV:
                raise
            # The file was spooled elsewhere: copy it next to us first so the publish stays atomic.
            fd, staged = tempfile.mkstemp(prefix="commit-", dir=self.spool_dir)
            os.close(fd)
            shutil.copyfile(source, staged)
            _fsync(Path(staged))
            os.replace(staged, target)
            source.unlink()

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._delete, key)

    def _delete(self, key: str) -> None:
        try:
            self._path_for(key).unlink(missing_ok=True)
        except OSError as error:
            raise StorageError(f"blob {key!r} cannot be deleted: {error}") from error

    async def check(self) -> None:
        await asyncio.to_thread(self._check)

    def _check(self) -> None:
        if not self._root.is_dir():
            raise StorageError(f"blob store root {str(self._root)!r} is not a directory")
        _probe_writable(self._root, "blob store root")
        _probe_writable(self.spool_dir, "blob store spool")

    async def aclose(self) -> None:
        """Remove this process's spool and release its lock (downloads must be over)."""
        await asyncio.to_thread(self._process_spool.close)


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
        _probe_writable(self._tmp, "key-value store")

    async def aclose(self) -> None:
        """Nothing to release: every operation opens and closes its own files."""


__all__ = [
    "CHUNK_SIZE",
    "FilesystemBlob",
    "FilesystemBlobStore",
    "FilesystemKeyValueStore",
    "split_blob_key",
]
