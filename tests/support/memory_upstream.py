"""An in-memory ``Upstream`` with switchable failures, for stage-level tests."""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from packaging.utils import NormalizedName

from proxy.errors import FileNotFound, ProjectNotFound, UpstreamUnavailable
from proxy.model import DistFile, ProjectList, ProjectPage
from proxy.upstream_base import ListFetch, PageFetch, Validators


@dataclass
class MemoryStream:
    data: bytes
    chunk: int
    gate: asyncio.Event | None
    fail_after: int | None

    @property
    def size(self) -> int | None:
        return len(self.data)

    async def chunks(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.data), self.chunk):
            if self.fail_after is not None and start >= self.fail_after:
                raise UpstreamUnavailable("connection reset by fake upstream")
            if self.gate is not None and start + self.chunk >= len(self.data):
                await self.gate.wait()  # hold the last chunk until the test releases it
            await asyncio.sleep(0)
            yield self.data[start : start + self.chunk]


@dataclass
class MemoryUpstream:
    pages: dict[str, ProjectPage] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    down: bool = False
    page_calls: Counter[str] = field(default_factory=Counter)
    opens: Counter[str] = field(default_factory=Counter)
    etag_matches: int = 0
    chunk: int = 1000
    gate: asyncio.Event | None = None
    fail_after: int | None = None
    delay: float = 0.0

    def add(self, name: str, filename: str, data: bytes, sha256: str | None = None) -> DistFile:
        url = f"https://files.invalid/{filename}"
        self.blobs[url] = data
        dist = DistFile(
            filename=filename,
            url=url,
            hashes={"sha256": sha256 or hashlib.sha256(data).hexdigest()},
            size=len(data),
        )
        page = self.pages.get(name, ProjectPage(NormalizedName(name)))
        self.pages[name] = page.with_files((*page.files, dist))
        return dist

    def _etag(self, name: str) -> str:
        return '"' + hashlib.sha256(repr(self.pages[name]).encode()).hexdigest()[:16] + '"'

    async def fetch_page(self, name: NormalizedName, validators: Validators | None) -> PageFetch:
        self.page_calls[name] += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.down:
            raise UpstreamUnavailable("fake upstream is down")
        if name not in self.pages:
            raise ProjectNotFound(name)
        etag = self._etag(name)
        if validators is not None and validators.etag == etag:
            self.etag_matches += 1
            return PageFetch(None, Validators(etag), "memory")
        return PageFetch(self.pages[name], Validators(etag), "memory")

    async def fetch_project_list(self, validators: Validators | None) -> ListFetch:
        if self.down:
            raise UpstreamUnavailable("fake upstream is down")
        return ListFetch(ProjectList(tuple(self.pages)), Validators(), "memory")

    @asynccontextmanager
    async def open(self, name: NormalizedName, url: str) -> AsyncIterator[MemoryStream]:
        self.opens[url] += 1
        if self.down:
            raise UpstreamUnavailable("fake upstream is down")
        if url not in self.blobs:
            raise FileNotFound(name, url)
        yield MemoryStream(self.blobs[url], self.chunk, self.gate, self.fail_after)

    def upstream_for(self, name: NormalizedName) -> str:
        return "memory"
