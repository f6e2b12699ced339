"""Multi-upstream routing: a private name is served by its private upstream only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
from packaging.utils import NormalizedName

from proxy.errors import ProjectNotFound, UpstreamUnavailable
from proxy.model import ProjectList, ProjectPage
from proxy.outbound import create_session
from proxy.routing import RoutedUpstream, build_upstream
from proxy.settings import Settings, UpstreamConfig
from proxy.upstream import HttpUpstream
from proxy.upstream_base import ListFetch, PageFetch, Validators
from tests.support.fake_repository import dist


@dataclass
class Stream:
    data: bytes

    @property
    def size(self) -> int | None:
        return len(self.data)

    async def chunks(self) -> AsyncIterator[bytes]:
        yield self.data


@dataclass
class NamedUpstream:
    name: str
    projects: tuple[str, ...] = ()
    listed: tuple[str, ...] | None = None
    down: bool = False
    asked: list[str] = field(default_factory=list)

    async def fetch_page(self, name: NormalizedName, validators: Validators | None) -> PageFetch:
        self.asked.append(f"page {name}")
        if name not in self.projects:
            raise ProjectNotFound(name)
        files = (dist(f"{name}-1.0.tar.gz", url=f"https://{self.name}.invalid/{name}-1.0.tar.gz"),)
        return PageFetch(ProjectPage(name, files), Validators(), self.name)

    async def fetch_project_list(self, validators: Validators | None) -> ListFetch:
        self.asked.append(f"list {validators}")
        if self.down:
            raise UpstreamUnavailable(f"{self.name} is down")
        names = self.listed if self.listed is not None else self.projects
        return ListFetch(ProjectList(names), Validators(etag='"x"'), self.name)

    @asynccontextmanager
    async def open(self, name: NormalizedName, url: str) -> AsyncIterator[Stream]:
        self.asked.append(f"open {url}")
        yield Stream(self.name.encode())

    def upstream_for(self, name: NormalizedName) -> str:
        return self.name


def config(name: str, *globs: str) -> UpstreamConfig:
    return UpstreamConfig(name, f"https://{name}.invalid/simple/", globs)


def routed() -> tuple[RoutedUpstream, NamedUpstream, NamedUpstream, NamedUpstream]:
    public = NamedUpstream("public", ("requests", "acme-tools", "corp-auth"))
    acme = NamedUpstream("acme", ("acme-auth",))
    corp = NamedUpstream("corp", ("corp-auth", "acme-web"))
    upstream = RoutedUpstream(
        public, [(config("acme", "Acme_*"), acme), (config("corp", "corp-*", "acme-web"), corp)]
    )
    return upstream, public, acme, corp


async def test_private_name_is_served_by_its_private_upstream() -> None:
    upstream, public, _, _ = routed()
    fetched = await upstream.fetch_page(NormalizedName("acme-auth"), None)
    assert fetched.upstream == "acme"
    assert fetched.page is not None
    assert fetched.page.files[0].url.startswith("https://acme.invalid/")
    assert upstream.upstream_for(NormalizedName("acme-auth")) == "acme"
    assert public.asked == []


async def test_a_private_404_never_falls_back_to_the_public_upstream() -> None:
    upstream, public, acme, _ = routed()
    with pytest.raises(ProjectNotFound):
        await upstream.fetch_page(NormalizedName("acme-tools"), None)
    assert acme.asked == ["page acme-tools"]
    assert public.asked == []


async def test_the_first_matching_private_upstream_wins() -> None:
    upstream, _, acme, corp = routed()
    with pytest.raises(ProjectNotFound):
        await upstream.fetch_page(NormalizedName("acme-web"), None)
    assert acme.asked == ["page acme-web"]
    assert corp.asked == []


async def test_other_names_go_to_the_public_upstream() -> None:
    upstream, _, acme, corp = routed()
    fetched = await upstream.fetch_page(NormalizedName("requests"), None)
    assert fetched.upstream == "public"
    assert upstream.upstream_for(NormalizedName("requests")) == "public"
    assert acme.asked == corp.asked == []


async def test_files_are_opened_through_the_upstream_that_owns_the_name() -> None:
    upstream, public, acme, _ = routed()
    async with upstream.open(
        NormalizedName("acme-auth"), "https://acme.invalid/x.tar.gz"
    ) as stream:
        assert [chunk async for chunk in stream.chunks()] == [b"acme"]
    assert acme.asked == ["open https://acme.invalid/x.tar.gz"]
    assert public.asked == []


async def test_project_list_keeps_each_name_where_it_is_routed() -> None:
    upstream, public, acme, corp = routed()
    acme.listed = ("Acme_Auth", "requests")
    fetched = await upstream.fetch_project_list(Validators(etag='"old"'))
    assert fetched.projects is not None
    # public's squatted "acme-tools" and "corp-auth" are dropped; acme's copy of requests too.
    assert sorted(fetched.projects.names) == ["Acme_Auth", "corp-auth", "requests"]
    assert fetched.upstream == "public,acme,corp"
    assert fetched.validators == Validators()
    assert public.asked == acme.asked == corp.asked == ["list None"]


async def test_project_list_fails_when_an_upstream_fails() -> None:
    upstream, _, acme, _ = routed()
    acme.down = True
    with pytest.raises(UpstreamUnavailable, match="acme is down"):
        await upstream.fetch_project_list(None)


async def test_build_upstream() -> None:
    settings = Settings(upstreams=(config("acme", "acme-*"),))
    session = create_session(settings, ["acme.invalid"])
    try:
        assert isinstance(build_upstream(Settings(), session), HttpUpstream)
        routed_upstream = build_upstream(settings, session)
        assert isinstance(routed_upstream, RoutedUpstream)
        assert routed_upstream.upstream_for(NormalizedName("acme-x")) == "acme"
        assert routed_upstream.upstream_for(NormalizedName("requests")) == "public"
    finally:
        await session.close()
