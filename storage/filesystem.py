"""The embedded artifact store (``BlobStore``) on the local filesystem.

Nothing half-written is ever visible: blobs are published with ``os.replace`` from a spool
directory on the same filesystem (the key-value store is in ``filesystem_kv``). Each process
spools into its own directory (``storage.spool``), so the workers of ``serve --workers N``
share one root without deleting each other's downloads. Every file operation runs in a
worker thread or through aiofiles, never on the event loop.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiofiles

from proxy.errors import InvalidName
from storage.base import StorageError
from storage.blob_inventory import touch_if_stale
from storage.spool import ProcessSpool

CHUNK_SIZE = 256 * 1024


def fsync_path(path: Path, *, directory: bool = False) -> None:
    """Flush a file's data, or a directory's entries: POSIX persists a rename only then."""
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def probe_writable(directory: Path, what: str) -> None:
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
        if not path.is_file():
            return None
        # Opening is serving: keep least-recently-served eviction informed (blob_inventory).
        if not touch_if_stale(path, stat.st_mtime):
            return None  # evicted between the stat and now: a miss
        return FilesystemBlob(path=path, size=stat.st_size)

    def path_for(self, key: str) -> Path:
        """The file of ``key`` (which may not exist); for eviction and ``pipgate cache``."""
        return self._path_for(key)

    async def commit(self, key: str, verified_file: Path) -> None:
        await asyncio.to_thread(self._commit, key, Path(verified_file))

    def _commit(self, key: str, source: Path) -> None:
        try:
            target = self._path_for(key)
            fsync_path(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            self._replace(source, target)
            fsync_path(target.parent, directory=True)
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
            fsync_path(Path(staged))
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
        probe_writable(self._root, "blob store root")
        probe_writable(self.spool_dir, "blob store spool")

    async def aclose(self) -> None:
        """Remove this process's spool and release its lock (downloads must be over)."""
        await asyncio.to_thread(self._process_spool.close)


__all__ = [
    "CHUNK_SIZE",
    "FilesystemBlob",
    "FilesystemBlobStore",
    "split_blob_key",
]
