"""The contract between the caching stage and whatever fetches from upstream indexes.

``upstream.HttpUpstream`` talks to one index; ``routing.RoutedUpstream`` picks one of several
by project name. Neither caches: that is the caching stage's job.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from packaging.utils import NormalizedName

from proxy.model import ProjectList, ProjectPage


@dataclass(frozen=True, slots=True)
class Validators:
    """HTTP cache validators of a fetched page, sent back on revalidation."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class PageFetch:
    """Result of a (conditional) page request; ``page is None`` means 304 Not Modified."""

    page: ProjectPage | None
    validators: Validators
    upstream: str
    """Name of the upstream that answered (for the fetch log)."""


@dataclass(frozen=True, slots=True)
class ListFetch:
    projects: ProjectList | None
    validators: Validators
    upstream: str


class UpstreamStream(Protocol):
    """An open upstream response body."""

    @property
    def size(self) -> int | None:
        """Content-Length, when the upstream sent one."""
        ...

    def chunks(self) -> AsyncIterator[bytes]: ...


class Upstream(Protocol):
    async def fetch_page(self, name: NormalizedName, validators: Validators | None) -> PageFetch:
        """Raises ``ProjectNotFound`` (404), ``UpstreamUnavailable``, ``UpstreamProtocolError``."""
        ...

    async def fetch_project_list(self, validators: Validators | None) -> ListFetch: ...

    def open(self, name: NormalizedName, url: str) -> AbstractAsyncContextManager[UpstreamStream]:
        """Stream ``url`` (a file, metadata or provenance URL listed for project ``name``).

        Raises ``NotFound`` on 404, ``UpstreamUnavailable`` on any other failure and
        ``ForbiddenTarget`` when the URL points somewhere pipgate must never fetch.
        """
        ...

    def upstream_for(self, name: NormalizedName) -> str:
        """Name of the upstream that serves ``name``."""
        ...
