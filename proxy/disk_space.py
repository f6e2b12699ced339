"""Free space on the disks pipgate writes to: readiness and metrics.

A full data disk fails every download (the spool cannot grow), every page write and the
fetch log, while the stores' own probes (create and delete an empty file) still pass. So
``/readyz`` also asks the filesystems themselves: below ``min_free_bytes`` free on any of
them, pipgate reports itself not ready, naming the path, what is free and the setting.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class DiskUsage:
    path: Path
    """The first of the watched paths on this filesystem."""
    total: int
    free: int
    """Bytes available to pipgate (not to root): what a write can still use."""


def _statvfs(path: Path) -> tuple[int, int, int]:
    """(device, total bytes, bytes available to unprivileged writers)."""
    stats = os.statvfs(path)
    return os.stat(path).st_dev, stats.f_blocks * stats.f_frsize, stats.f_bavail * stats.f_frsize


class DiskWatch:
    """The filesystems under ``paths`` (one entry per filesystem), checked against a floor."""

    def __init__(
        self,
        paths: Sequence[Path],
        min_free: int,
        statvfs: Callable[[Path], tuple[int, int, int]] = _statvfs,
    ) -> None:
        self.paths = tuple(paths)
        self.min_free = min_free
        self._statvfs = statvfs

    def usage_now(self) -> list[DiskUsage]:
        seen: dict[int, DiskUsage] = {}
        for path in self.paths:
            existing = _existing(path)
            if existing is None:
                continue
            device, total, free = self._statvfs(existing)
            seen.setdefault(device, DiskUsage(path, total, free))
        return list(seen.values())

    async def usage(self) -> list[DiskUsage]:
        return await asyncio.to_thread(self.usage_now)

    async def problems(self) -> list[str]:
        """One line per filesystem below the floor; empty when there is room everywhere."""
        return [
            f"data disk of {str(u.path)!r} has {u.free} bytes free of {u.total}, below "
            f"min_free_bytes ({self.min_free})"
            for u in await self.usage()
            if u.free < self.min_free
        ]


def _existing(path: Path) -> Path | None:
    """``path`` or its nearest existing parent (a store may not have created it yet)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return None


__all__ = ["DiskUsage", "DiskWatch"]
