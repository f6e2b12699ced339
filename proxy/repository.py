"""The one interface every stage implements, and the delegating base stage.

``routes -> Enforcing -> Caching -> Routing -> Upstream(s)``: each stage wraps the one
below and overrides only what it changes. ``app.build_chain`` composes them.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from packaging.utils import NormalizedName

from proxy.model import DistFile, ProjectList, ProjectPage

if TYPE_CHECKING:
    from policies.base import Verdict


class ResourceKind(enum.Enum):
    """What a file URL served by pipgate can point at."""

    DIST = "dist"
    METADATA = "metadata"  # PEP 658: <file>.metadata
    PROVENANCE = "provenance"  # PEP 740: the provenance object


@dataclass(slots=True)
class RequestContext:
    """Who asked, and what the stages learnt while answering; becomes a fetch-log row."""

    client: str = ""
    build: str | None = None
    user: str | None = None
    verdicts: list[Verdict] = field(default_factory=list)
    cache: str | None = None
    """``hit``, ``miss``, ``stale`` (upstream failed, cached copy served) or ``revalidated``."""
    upstream: str | None = None
    attestation: str | None = None
    """``verified:<publisher>``, ``absent``, ``failed:<reason>``; set by the attestation policy."""


class Body(Protocol):
    """Bytes of a resource; either a verified local file or a live download."""

    @property
    def size(self) -> int | None: ...

    @property
    def path(self) -> Path | None:
        """A complete, verified local file, if there is one (lets routes use sendfile)."""
        ...

    def iter_range(self, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Bytes ``[start, end)``; raises ``IntegrityError`` mid-stream on a bad download."""
        ...


@dataclass(frozen=True, slots=True)
class Resource:
    file: DistFile
    kind: ResourceKind
    body: Body
    sha256: str | None
    """The sha256 the body is checked against (the index's, or the metadata's)."""


class Repository(Protocol):
    async def get_project_list(self, ctx: RequestContext) -> ProjectList: ...

    async def get_project_page(self, name: NormalizedName, ctx: RequestContext) -> ProjectPage: ...

    async def get_resource(
        self, name: NormalizedName, filename: str, kind: ResourceKind, ctx: RequestContext
    ) -> Resource: ...


class RepositoryWrapper:
    """Delegates everything to ``source``; subclasses override what their stage changes."""

    def __init__(self, source: Repository) -> None:
        self.source = source

    async def get_project_list(self, ctx: RequestContext) -> ProjectList:
        return await self.source.get_project_list(ctx)

    async def get_project_page(self, name: NormalizedName, ctx: RequestContext) -> ProjectPage:
        return await self.source.get_project_page(name, ctx)

    async def get_resource(
        self, name: NormalizedName, filename: str, kind: ResourceKind, ctx: RequestContext
    ) -> Resource:
        return await self.source.get_resource(name, filename, kind, ctx)
