"""``FakeUpstream``'s URL space: which path serves what (PEP 503/691 pages, files, PEP 658
``.metadata``, PEP 740 provenance at the Integrity API path), with ETag/Last-Modified and 304."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from packaging.utils import canonicalize_name

from tests.support import fake_index as idx
from tests.support.fake_sender import Fault, send_body

_Renderer = Callable[[str], bytes]


@dataclass(frozen=True)
class Site:
    """What a request is answered from: the content and how it is presented."""

    index: idx.FakeIndex
    base: str
    mode: idx.Mode
    compress_pages: bool


async def route(request: web.Request, site: Site, fault: Fault | None) -> web.StreamResponse:
    parts = request.path.strip("/").split("/")
    if request.path == "/simple/":
        return await _page(request, site, lambda media: idx.render_root(site.index, media), fault)
    if parts[0] == "simple" and len(parts) == 2:
        return await _project(request, site, parts[1], fault)
    if parts[0] == "files" and len(parts) == 2:
        return await _file(request, site, parts[1], fault)
    if parts[0] == "integrity" and len(parts) == 5 and parts[4] == "provenance":
        return await _provenance(request, site, parts[3], fault)
    raise web.HTTPNotFound(text=f"fake upstream: nothing at {request.path}\n")


def redirect_to(status: int, location: str) -> web.HTTPException:
    classes: dict[int, type[web.HTTPMove]] = {
        301: web.HTTPMovedPermanently,
        303: web.HTTPSeeOther,
        307: web.HTTPTemporaryRedirect,
        308: web.HTTPPermanentRedirect,
    }
    return classes.get(status, web.HTTPFound)(location)


async def _project(
    request: web.Request, site: Site, name: str, fault: Fault | None
) -> web.StreamResponse:
    canonical = canonicalize_name(name)
    if name != canonical or not request.path.endswith("/"):
        raise web.HTTPMovedPermanently(f"/simple/{canonical}/")
    with site.index.lock:
        project = site.index.projects.get(canonical)
    if project is None:
        raise web.HTTPNotFound(text=f"fake upstream: no project {name!r}\n")

    def render(media: str) -> bytes:
        with site.index.lock:
            return idx.render_page(project, media, site.base, site.mode)

    return await _page(request, site, render, fault, serial=project.serial)


async def _page(
    request: web.Request,
    site: Site,
    render: _Renderer,
    fault: Fault | None,
    serial: int | None = None,
) -> web.StreamResponse:
    serial = site.index.serial if serial is None else serial
    media = idx.negotiate(request.headers.get("Accept"), site.mode)
    body = render(media)
    tag, modified = idx.etag(body), idx.last_modified(serial)
    headers = {
        "Content-Type": media,
        "ETag": tag,
        "Last-Modified": modified,
        "Vary": "Accept, Accept-Encoding",
        "X-PyPI-Last-Serial": str(serial),
    }
    if idx.not_modified(request.headers, tag, modified):
        return web.Response(status=304, headers=headers)
    compress = site.compress_pages and "gzip" in request.headers.get("Accept-Encoding", "")
    return await send_body(request, body, headers, fault, gzip_body=compress)


async def _file(
    request: web.Request, site: Site, filename: str, fault: Fault | None
) -> web.StreamResponse:
    is_metadata = filename.endswith(".metadata")
    file = site.index.find_file(filename.removesuffix(".metadata") if is_metadata else filename)
    body = (file.metadata if is_metadata else file.data) if file is not None else None
    if body is None:
        raise web.HTTPNotFound(text=f"fake upstream: no file {filename!r}\n")
    headers = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
    return await send_body(request, body, headers, fault, ranges=True)


async def _provenance(
    request: web.Request, site: Site, filename: str, fault: Fault | None
) -> web.StreamResponse:
    file = site.index.find_file(filename)
    if file is None or file.provenance is None:
        raise web.HTTPNotFound(
            text=f'{{"message": "No provenance available for {filename}"}}',
            content_type="application/json",
        )
    headers = {"Content-Type": "application/vnd.pypi.integrity.v1+json"}
    return await send_body(request, file.provenance, headers, fault)
