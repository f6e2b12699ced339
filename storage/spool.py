"""A spool directory private to one process, under a root that several processes share.

``pipgate serve --workers N`` runs N processes on one data directory, and each of them
downloads into a spool before publishing. Every process holds ``flock`` on
``<root>/<id>.lock`` for as long as it spools into ``<root>/<id>/``. The kernel drops the lock
when its process dies, however it dies, so a starting process removes exactly the spools of
dead processes (kill -9 leftovers) and never one that is still being written.

The functions here block: stores call them from a worker thread.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
import uuid
from pathlib import Path

from storage.base import StorageError

LOCK_SUFFIX = ".lock"
_CLAIM_ATTEMPTS = 100


def try_lock_file(path: Path, *, create: bool) -> int | None:
    """A descriptor holding ``path``'s lock, or ``None`` if it is held, gone or was replaced."""
    flags = os.O_RDWR | os.O_CLOEXEC | (os.O_CREAT if create else 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        on_disk = os.stat(path)
    except (BlockingIOError, FileNotFoundError):
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    # A cleaner unlinks a lock file while holding it: if that happened after our open, we
    # hold an orphaned inode that protects nothing.
    mine = os.fstat(fd)
    if (on_disk.st_dev, on_disk.st_ino) != (mine.st_dev, mine.st_ino):
        os.close(fd)
        return None
    return fd


def _remove(entry: os.DirEntry[str]) -> None:
    if entry.is_dir(follow_symlinks=False):
        shutil.rmtree(entry.path, ignore_errors=True)
    else:
        Path(entry.path).unlink(missing_ok=True)


def remove_abandoned(root: Path) -> list[str]:
    """Delete the spools under ``root`` whose owner is dead; return their ids.

    An owner creates its lock file before its directory and removes it after, so a
    directory without a lock file is an orphan too, and so is any other stray file.
    """
    removed = []
    for entry in os.scandir(root):
        if entry.name.endswith(LOCK_SUFFIX) and entry.is_file(follow_symlinks=False):
            owner = entry.name.removesuffix(LOCK_SUFFIX)
            fd = try_lock_file(Path(entry.path), create=False)
            if fd is None:
                continue  # alive (or another process is cleaning it right now)
            try:
                shutil.rmtree(root / owner, ignore_errors=True)
                Path(entry.path).unlink(missing_ok=True)
            finally:
                os.close(fd)
            removed.append(owner)
        elif not (root / f"{entry.name}{LOCK_SUFFIX}").exists():
            _remove(entry)
            removed.append(entry.name)
    return removed


class ProcessSpool:
    """``<root>/<id>/``: created by ``start``, owned until ``close``, removed by the next
    ``start`` of any process once its owner is dead."""

    def __init__(self, root: Path) -> None:
        self._root = Path(root).absolute()
        # The pid is only for people looking at the directory; uniqueness comes from the uuid.
        self._id = f"{os.getpid()}-{uuid.uuid4().hex[:16]}"
        self._fd: int | None = None

    @property
    def root(self) -> Path:
        return self._root

    @property
    def directory(self) -> Path:
        return self._root / self._id

    @property
    def lock_path(self) -> Path:
        return self._root / f"{self._id}{LOCK_SUFFIX}"

    @property
    def started(self) -> bool:
        return self._fd is not None

    def start(self) -> None:
        """Claim this process's spool, then remove the spools of dead processes."""
        if self._fd is not None:
            return
        try:
            self._root.mkdir(parents=True, exist_ok=True)
            self._fd = self._claim()
            self.directory.mkdir()
            remove_abandoned(self._root)
        except OSError as error:
            self.close()
            raise StorageError(f"spool {str(self._root)!r} cannot be prepared: {error}") from error

    def _claim(self) -> int:
        for _ in range(_CLAIM_ATTEMPTS):
            fd = try_lock_file(self.lock_path, create=True)
            if fd is not None:
                return fd
            # Another process's cleaner saw our fresh, not yet locked file and took it away.
            time.sleep(0.001)
        raise StorageError(
            f"spool lock {str(self.lock_path)!r} could not be taken in {_CLAIM_ATTEMPTS} tries"
        )

    def close(self) -> None:
        """Remove the spool and its lock (directory first: see ``remove_abandoned``)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.lock_path.unlink(missing_ok=True)
        finally:
            os.close(fd)


__all__ = ["LOCK_SUFFIX", "ProcessSpool", "remove_abandoned"]
