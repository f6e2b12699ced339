"""Storage contracts: blobs (artifacts), a key-value store (pages, verdicts, state),
cross-process locks (single-flight) and the fetch log.

Embedded defaults live in ``filesystem``, ``memory`` and ``sqlite``; scale-out backends in
``redis``, ``postgres`` and ``s3``, imported only when their URL is configured.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


class StorageError(Exception):
    """A backend failed; the message names the backend and what it was doing."""


class StoredBlob(Protocol):
    """A complete, verified artifact in a blob store (satisfies ``proxy.repository.Body``)."""

    @property
    def size(self) -> int | None: ...

    @property
    def path(self) -> Path | None: ...

    def iter_range(self, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]: ...


class BlobStore(Protocol):
    """Artifacts by key. Nothing becomes visible before its hash was checked."""

    @property
    def spool_dir(self) -> Path:
        """Local directory for in-flight downloads; emptied at start-up (kill -9 leftovers)."""
        ...

    async def open(self, key: str) -> StoredBlob | None: ...

    async def commit(self, key: str, verified_file: Path) -> None:
        """Publish a fully downloaded, hash-checked spool file under ``key`` (takes ownership)."""
        ...

    async def delete(self, key: str) -> None: ...

    async def check(self) -> None:
        """Raise ``StorageError`` if the store cannot be used (readiness probe)."""
        ...

    async def aclose(self) -> None: ...


class KeyValueStore(Protocol):
    """Bytes by key with an optional TTL: cached pages, verdicts, policy generation, TOFU."""

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def incr(self, key: str) -> int:
        """Atomically increment an integer counter (policy generation) and return it."""
        ...

    async def check(self) -> None: ...

    async def aclose(self) -> None: ...


class LockManager(Protocol):
    """Mutual exclusion by key across every process sharing the same backend."""

    def lock(self, key: str, timeout: float) -> AbstractAsyncContextManager[None]:
        """Hold the lock for ``key``; raise ``TimeoutError`` after ``timeout`` seconds."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class FetchRecord:
    """One served page, metadata file, provenance object or artifact."""

    time: dt.datetime
    client: str
    kind: str
    """``index``, ``page``, ``dist``, ``metadata`` or ``provenance``."""
    project: str | None
    status: int
    user: str | None = None
    build: str | None = None
    version: str | None = None
    filename: str | None = None
    sha256: str | None = None
    size: int | None = None
    cache: str | None = None
    upstream: str | None = None
    url: str | None = None
    """Where the artifact came from upstream (the SBOM's download location)."""
    verdicts: Sequence[dict[str, str]] = field(default_factory=tuple)
    """Every non-allow verdict: ``{"policy", "decision", "reason"}``."""
    attestation: str | None = None
    upload_time: str | None = None
    """The index's PEP 700 ``upload-time`` of the file, as the index wrote it."""


@dataclass(frozen=True, slots=True)
class FetchQuery:
    build: str | None = None
    project: str | None = None
    client: str | None = None
    user: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    kinds: tuple[str, ...] | None = None
    limit: int | None = None
    sha256: str | None = None


class FetchLogStore(Protocol):
    async def append(self, record: FetchRecord) -> None:
        """Queue a row; returns fast and never drops it (durable once ``flush`` returns)."""
        ...

    async def append_durable(self, record: FetchRecord) -> None:
        """Write a row and return only once it survives a crash of this process."""
        ...

    async def flush(self) -> None: ...

    async def query(self, query: FetchQuery) -> list[FetchRecord]: ...

    async def prune(self, older_than: dt.datetime) -> int: ...

    async def check(self) -> None: ...

    async def aclose(self) -> None: ...
