"""Cached copies of newly malicious files leave the blob store (or go to forensics).

On an ``osv`` input change, every file of the changed projects that pipgate ever logged
(and every logged file with a newly listed malicious hash) is judged with the new data;
one that a ``MAL-`` advisory now names has its cached artifact, metadata and provenance
removed from the blob store. With ``move`` (the default) the bytes are first copied to
``<data_dir>/quarantine/<advisory>/<key>`` for forensics. The policies already refuse the
file; this makes sure the bytes cannot be served by any later mistake either.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiofiles
import aiofiles.os

from policies.changes import InputChange
from policies.osv_changes import OsvUpdate
from proxy.errors import InvalidName
from proxy.model import filename_version
from storage.base import BlobStore, FetchLogStore, FetchQuery, StoredBlob
from storage.keys import blob_key

__all__ = ["MODES", "MaliciousBlobSweeper"]

logger = logging.getLogger("pipgate.alerts")

MODES = ("move", "delete")
_KINDS = ("dist", "metadata", "provenance")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class MaliciousBlobSweeper:
    def __init__(
        self,
        blobs: BlobStore,
        fetchlog: FetchLogStore,
        *,
        mode: str,
        quarantine_dir: Path,
        observe: Callable[[str], None] = lambda _: None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"malicious_blobs {mode!r}: expected one of {MODES}")
        self._blobs = blobs
        self._fetchlog = fetchlog
        self._mode = mode
        self._quarantine = quarantine_dir
        self._observe = observe

    def listener(self, change: InputChange) -> Awaitable[object] | None:
        if not isinstance(change.detail, OsvUpdate) or change.projects is None:
            return None
        return self.sweep(change.detail, change.projects)

    async def sweep(self, update: OsvUpdate, projects: frozenset[str]) -> list[str]:
        """The blob keys taken out of the store."""
        await self._fetchlog.flush()
        rows = []
        for name in sorted(projects):
            rows += await self._fetchlog.query(FetchQuery(project=name))
        new_hashes = set(update.new.malicious_hashes()) - set(update.old.malicious_hashes())
        for bad_hash in sorted(new_hashes):
            rows += await self._fetchlog.query(FetchQuery(sha256=bad_hash))
        files: set[tuple[str, str, str | None]] = set()
        for row in rows:
            if row.project and row.filename:
                files.add((row.project, row.filename, row.sha256))
        removed: list[str] = []
        judged: set[tuple[str, str]] = set()
        for project, filename, sha256 in sorted(files, key=str):
            version = filename_version(filename)
            evil = [
                a
                for a in update.newly_denying(project, str(version) if version else None, sha256)
                if a.malicious
            ]
            if not evil or (project, filename) in judged:
                continue
            judged.add((project, filename))
            removed += await self._remove(project, filename, evil[0].id)
        return removed

    async def _remove(self, project: str, filename: str, advisory: str) -> list[str]:
        removed: list[str] = []
        for kind in _KINDS:
            try:
                key = blob_key(project, filename, kind)
            except InvalidName:
                return removed
            blob = await self._blobs.open(key)
            if blob is None:
                continue
            if self._mode == "move":
                target = await self._copy_aside(blob, key, advisory)
                logger.warning("moved cached %s aside to %s (%s)", key, target, advisory)
            else:
                logger.warning("deleted cached %s (%s)", key, advisory)
            await self._blobs.delete(key)
            self._observe(self._mode)
            removed.append(key)
        return removed

    async def _copy_aside(self, blob: StoredBlob, key: str, advisory: str) -> Path:
        # ``key`` went through blob_key's validation; the advisory id is made path-safe.
        target = self._quarantine / _UNSAFE.sub("_", advisory) / key
        await aiofiles.os.makedirs(target.parent, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        try:
            async with aiofiles.open(partial, "wb") as out:
                async for chunk in blob.iter_range():
                    await out.write(chunk)
            await aiofiles.os.replace(partial, target)
        finally:
            if await aiofiles.os.path.exists(partial):
                await aiofiles.os.remove(partial)
        return target
