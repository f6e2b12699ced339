"""The HTTP edge: translate requests into calls on the stage chain and back.

Each endpoint canonicalises (301 to the PEP 503 form), negotiates the format, calls the
chain, rewrites file URLs to pipgate's own, renders, and records the fetch. The same
routes are mounted under ``/builds/<label>/`` so a CI job's fetches carry its label.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Sequence

from packaging.utils import NormalizedName
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from proxy.access_log import CONTEXT_KEY, USER_KEY
from proxy.errors import InvalidName
from proxy.fetchlog import PendingFetch, record_fetch
from proxy.http_errors import status_for
from proxy.negotiation import Format, negotiate
from proxy.render_cache import (
    INLINE_BYTES,
    ROOT_TOKEN,
    Escape,
    Rendered,
    RenderKey,
    make_rendered,
    off_loop,
    render_key,
    variant_of,
)
from proxy.rendering import localize, render_project_list, render_project_page
from proxy.repository import RequestContext, ResourceKind
from proxy.responses import ArtifactResponse
from proxy.state import AppState
from storage.keys import validate_filename, validate_project

INLINE_FILES = 500
"""Pages with more files are rendered in a worker thread, never on the event loop."""
_LABEL = re.compile(r"[A-Za-z0-9._-]{1,128}\Z")
_PROVENANCE_TYPE = "application/vnd.pypi.integrity.v1+json"
_SUFFIXES = ((".metadata", ResourceKind.METADATA), (".provenance", ResourceKind.PROVENANCE))


def state_of(request: Request) -> AppState:
    state: AppState = request.app.state.pipgate
    return state


def context_of(
    request: Request, kind: str, project: str | None, filename: str | None = None
) -> RequestContext:
    """The request's context; also noted on the request so that errors are logged too."""
    label = request.path_params.get("label")
    if label is not None and not _LABEL.match(label):
        raise InvalidName(f"build label {label!r} may only use letters, digits, '.', '_', '-'")
    client = request.client.host if request.client else ""
    ctx = RequestContext(client=client, build=label, user=request.scope.get(USER_KEY))
    request.state.pending_fetch = PendingFetch(ctx, kind, project, filename)
    request.scope[CONTEXT_KEY] = ctx  # for the access log
    return ctx


async def project_list(request: Request) -> Response:
    state, ctx = state_of(request), context_of(request, "index", None)
    fmt, content_type = negotiate(request.headers.get("accept"), request.query_params.get("format"))

    async def produce() -> Rendered:
        projects = await state.chain.get_project_list(ctx)
        fresh = time.time() + min(state.settings.page_ttl, 60.0)
        heavy = len(projects.names) > INLINE_FILES
        return await off_loop(
            heavy,
            lambda: make_rendered(
                render_project_list(projects, fmt), content_type, fresh, (), ctx.upstream
            ),
        )

    rendered = await serve_rendered(request, render_key("", content_type, _gen(state)), produce)
    response = page_response(request, rendered)
    await record_fetch(state, ctx, "index", None, response.status_code)
    return response


async def project_page(request: Request) -> Response:
    state, raw = state_of(request), request.path_params["project"]
    name = validate_project(raw)
    if raw != name:
        return _redirect(request, raw, name)
    ctx = context_of(request, "page", name)
    fmt, content_type = negotiate(request.headers.get("accept"), request.query_params.get("format"))

    async def produce() -> Rendered:
        page = await state.chain.get_project_page(name, ctx)
        fresh = state.caching.fresh_until(name) or 0.0
        verdicts, upstream = tuple(ctx.verdicts), ctx.upstream

        def render() -> Rendered:
            # File links are relative (a build prefix survives); provenance links are
            # absolute (PEP 740), so they carry the root token, put in per request.
            served = localize(page, f"../../files/{name}/", f"{ROOT_TOKEN}files/{name}/")
            body = render_project_page(served, fmt)
            escape: Escape = "json" if fmt is Format.JSON else "html"
            return make_rendered(body, content_type, fresh, verdicts, upstream, escape)

        return await off_loop(len(page.files) > INLINE_FILES, render)

    key = render_key(name, content_type, _gen(state))
    rendered = await serve_rendered(request, key, produce)
    response = page_response(request, rendered)
    await record_fetch(state, ctx, "page", name, response.status_code)
    return response


def _gen(state: AppState) -> int:
    return state.engine.generation


async def serve_rendered(
    request: Request, key: RenderKey, produce: Callable[[], Awaitable[Rendered]]
) -> Rendered:
    """The bytes to send for ``key``: cached, or made once (``produce``, single-flight),
    then with this request's root put in if the page has absolute links."""
    state = state_of(request)
    pending: PendingFetch = request.state.pending_fetch
    ctx = pending.ctx
    template = state.renders.get(key, time.time())
    if template is None:
        made = False

        async def counted() -> Rendered:
            nonlocal made
            made = True
            return await produce()

        template = await state.renders.make(key, counted)
        if not made:  # another request's render was shared
            ctx.cache, ctx.upstream = "hit", template.upstream
            ctx.verdicts = list(template.verdicts)
    else:
        ctx.cache, ctx.upstream, ctx.verdicts = "hit", template.upstream, list(template.verdicts)
    if template.rooted is None:
        return template
    root = index_root(request)
    variant = state.renders.variant(key, root, time.time())
    if variant is None:
        since = state.renders.epoch  # an invalidation meanwhile: serve it, do not keep it
        heavy = len(template.body) > INLINE_BYTES
        variant = await off_loop(heavy, lambda: variant_of(template, root))
        state.renders.put_variant(key, root, variant, since)
    return variant


async def add_slash(request: Request) -> Response:
    raw = request.path_params["project"]
    return _redirect(request, raw, validate_project(raw))


def _redirect(request: Request, raw: str, name: NormalizedName) -> Response:
    path = request.url.path
    target = path[: path.rindex(raw)] + name + "/"
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(target + query, status_code=301)


def public_root(request: Request) -> str:
    """pipgate's absolute root URL, ending in ``/``: ``public_url``, else the request's."""
    public = state_of(request).settings.public_url
    return public + "/" if public else str(request.base_url)


def index_root(request: Request) -> str:
    """pipgate's absolute URL of this index's root (``.../`` or ``.../builds/<label>/``)."""
    label = request.path_params.get("label")
    return public_root(request) + (f"builds/{label}/" if label else "")


def page_response(request: Request, rendered: Rendered) -> Response:
    headers = {
        "ETag": rendered.etag,
        "Vary": "Accept, Accept-Encoding",
        "Cache-Control": "max-age=60",
    }
    if request.headers.get("if-none-match") == rendered.etag:
        return Response(status_code=304, headers=headers)
    body = rendered.body
    if rendered.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        body, headers["Content-Encoding"] = rendered.gzipped, "gzip"
    headers["Content-Type"] = rendered.content_type_header.decode()
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        return Response(status_code=200, headers=headers)
    return Response(body, headers=headers)


async def artifact(request: Request) -> Response | ArtifactResponse:
    state = state_of(request)
    name = validate_project(request.path_params["project"])
    filename, kind = _split_kind(request.path_params["filename"])
    # HEAD and range probes are logged apart from whole downloads, which alone make an SBOM.
    log_kind = kind.value if request.method == "GET" else f"{kind.value}-head"
    ctx = context_of(request, log_kind, name, filename)
    resource = await state.chain.get_resource(name, validate_filename(filename), kind, ctx)

    async def on_done(status: int, sent: int) -> None:
        sha256 = resource.sha256 or getattr(resource.body, "sha256", None)
        await record_fetch(
            state,
            ctx,
            log_kind,
            name,
            status,
            file=resource.file,
            sha256=sha256,
            size=resource.body.size,
            durable=kind is ResourceKind.DIST,
        )

    async def on_abort(error: Exception, sent: int) -> None:
        await record_fetch(
            state, ctx, log_kind, name, status_for(error), file=resource.file, size=sent
        )

    headers = {"Cache-Control": "max-age=31536000, immutable"}
    if resource.sha256:
        headers["ETag"] = f'"{resource.sha256}"'
    media_type = _PROVENANCE_TYPE if kind is ResourceKind.PROVENANCE else "application/octet-stream"
    return ArtifactResponse(resource.body, media_type, headers, on_done, on_abort)


def _split_kind(filename: str) -> tuple[str, ResourceKind]:
    for suffix, kind in (
        (".metadata", ResourceKind.METADATA),
        (".provenance", ResourceKind.PROVENANCE),
    ):
        if filename.endswith(suffix):
            return filename[: -len(suffix)], kind
    return filename, ResourceKind.DIST


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok\n")


async def readyz(request: Request) -> Response:
    state = state_of(request)
    problems = []
    for label, check in (
        ("blob store", state.stores.blobs.check),
        ("page store", state.stores.pages.check),
        ("state store", state.stores.state.check),
        ("fetch log", state.fetchlog.check),
    ):
        try:
            await check()
        except Exception as error:
            problems.append(f"{label}: {error}")
    problems.extend(await state.disk.problems())
    if problems:
        return PlainTextResponse("not ready: " + "; ".join(problems) + "\n", status_code=503)
    return PlainTextResponse("ready\n")


def index_routes(index_extra: Sequence[BaseRoute] = ()) -> list[BaseRoute]:
    return [
        Route("/simple/", project_list, methods=["GET", "HEAD"]),
        Route("/simple/{project}/", project_page, methods=["GET", "HEAD"]),
        Route("/simple/{project}", add_slash, methods=["GET", "HEAD"]),
        Route("/files/{project}/{filename}", artifact, methods=["GET", "HEAD"]),
        *index_extra,
    ]


def all_routes(extra: list[BaseRoute], index_extra: Sequence[BaseRoute] = ()) -> list[BaseRoute]:
    """``index_extra``: more routes of the index, also mounted under ``/builds/<label>/``."""
    return [
        *index_routes(index_extra),
        Mount("/builds/{label}", routes=index_routes(index_extra)),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        *extra,
    ]
