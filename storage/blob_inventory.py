"""What the filesystem blob store holds, and when each blob was last served: what eviction
(``proxy.cache_eviction``) and ``pipgate cache`` need.

"Last served" is the blob file's mtime. A commit sets it (``os.replace`` keeps the spool
file's last write), and serving a blob moves it forward (``touch_if_stale``, at most once
per ``TOUCH_INTERVAL``, so a hot file costs one ``utime`` a minute, not one per request).
Being the file's own metadata, it is shared by every worker and every replica that mounts
the same store, with nothing to keep in step.

Deleting goes through ``delete_if_unserved_since``: it re-reads the mtime right before the
unlink, so a blob served after the eviction pass looked at it survives. A reader that has
already opened the file keeps reading it after an unlink (POSIX), and a reader whose touch
finds the file gone treats it as a cache miss.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from storage.base import StorageError

TOUCH_INTERVAL = 60.0
"""Seconds a served blob's mtime may lag behind its last serve."""


@dataclass(frozen=True, slots=True)
class BlobEntry:
    key: str
    size: int
    served_at: float
    """Wall-clock time of the commit or of the last serve (to within ``TOUCH_INTERVAL``)."""


def walk_blobs(root: Path) -> Iterator[BlobEntry]:
    """Every committed blob under ``root``; spools and other dot-directories are skipped.

    Runs in a worker thread; a file that disappears while walking is simply not listed.
    """
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = [d for d in subdirectories if not d.startswith(".")]
        relative = os.path.relpath(directory, root)
        prefix = "" if relative == "." else relative.replace(os.sep, "/") + "/"
        for name in files:
            if name.startswith("."):
                continue
            try:
                stat = os.stat(os.path.join(directory, name), follow_symlinks=False)
            except FileNotFoundError:
                continue
            yield BlobEntry(prefix + name, stat.st_size, stat.st_mtime)


def touch_if_stale(path: Path, mtime: float, now: float | None = None) -> bool:
    """Mark ``path`` as served now if its mark is older than ``TOUCH_INTERVAL``.

    ``False`` if the file vanished (evicted meanwhile): the caller has a cache miss.
    """
    now = time.time() if now is None else now
    if now - mtime < TOUCH_INTERVAL:
        return True
    try:
        os.utime(path, (now, now))
    except FileNotFoundError:
        return False
    except OSError as error:  # a read-only store still serves; it just cannot rank
        raise StorageError(f"blob {str(path)!r} cannot be marked as served: {error}") from error
    return True


def delete_if_unserved_since(path: Path, cutoff: float) -> int | None:
    """Unlink ``path`` unless it was committed or served at or after ``cutoff``; returns the
    bytes freed, or ``None`` if it was kept (or is already gone)."""
    try:
        stat = os.stat(path, follow_symlinks=False)
        if stat.st_mtime >= cutoff:
            return None
        os.unlink(path)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise StorageError(f"blob {str(path)!r} cannot be evicted: {error}") from error
    return stat.st_size


__all__ = [
    "TOUCH_INTERVAL",
    "BlobEntry",
    "delete_if_unserved_since",
    "touch_if_stale",
    "walk_blobs",
]
