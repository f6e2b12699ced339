"""An in-memory ``Repository`` that records every call, for tests of the stages above it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import NormalizedName

from proxy.errors import FileNotFound, ProjectNotFound, ProxyError
from proxy.model import DistFile, ProjectList, ProjectPage, ProjectStatus
from proxy.repository import RequestContext, Resource, ResourceKind


def dist(filename: str, **fields: object) -> DistFile:
    """A listed file with a fake URL and sha256 (override any field by keyword)."""
    values: dict[str, object] = {
        "url": f"https://files.invalid/{filename}",
        "hashes": {"sha256": "ab" * 32},
        "size": 1000,
        "upload_time": "2020-01-01T00:00:00Z",
    }
    values.update(fields)
    return DistFile(filename, **values)  # type: ignore[arg-type]


def page(name: str, *files: DistFile, status: str | None = None) -> ProjectPage:
    project_status = ProjectStatus(status) if status is not None else None
    return ProjectPage(NormalizedName(name), tuple(files), status=project_status)


@dataclass
class BytesBody:
    data: bytes

    @property
    def size(self) -> int | None:
        return len(self.data)

    @property
    def path(self) -> Path | None:
        return None

    async def iter_range(self, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        yield self.data[start:end]


@dataclass
class FakeRepository:
    pages: dict[str, ProjectPage] = field(default_factory=dict)
    bodies: dict[tuple[str, ResourceKind], bytes] = field(default_factory=dict)
    """Resource bodies by (filename, kind)."""
    fail: dict[tuple[str, ResourceKind], ProxyError] = field(default_factory=dict)
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def add(self, project: ProjectPage) -> None:
        self.pages[project.name] = project

    async def get_project_list(self, ctx: RequestContext) -> ProjectList:
        self.calls.append(("list",))
        return ProjectList(tuple(self.pages))

    async def get_project_page(self, name: NormalizedName, ctx: RequestContext) -> ProjectPage:
        self.calls.append(("page", name))
        if name not in self.pages:
            raise ProjectNotFound(name)
        return self.pages[name]

    async def get_resource(
        self, name: NormalizedName, filename: str, kind: ResourceKind, ctx: RequestContext
    ) -> Resource:
        self.calls.append(("resource", name, filename, kind.value))
        project = self.pages.get(name)
        file = project.file(filename) if project is not None else None
        if file is None:
            raise FileNotFound(name, filename)
        if (filename, kind) in self.fail:
            raise self.fail[filename, kind]
        data = self.bodies.get((filename, kind), b"dist bytes of " + filename.encode())
        return Resource(file, kind, BytesBody(data), file.sha256)
