"""The HTTP edge of the legacy JSON API: ``/pypi/<name>/json`` and
``/pypi/<name>/<version>/json``, rendered by ``proxy.json_api`` from the same enforced,
cached project page as ``/simple/<name>/`` (a denied project is the same 403, a hidden file
is absent, a non-canonical name a 301).

Clients derive the JSON URL from the index URL, in more than one way, so the project
document answers at three paths, each also under ``/builds/<label>/``:

- ``/pypi/<name>/json``: the public index's own path, and what pip's ``PackageIndex``
  (``pip/_internal/models/index.py``: ``pypi_url = urljoin(url, "pypi")``) gives for an
  index URL without a trailing slash.
- ``/simple/pypi/<name>/json``: the same ``urljoin`` on an index URL that ends in ``/``
  (``.../simple/`` + ``pypi``), which pip-tools before 7.6.1 asked for
  (``piptools/repositories/pypi.py``, ``PyPIRepository._get_project``:
  ``f"{PackageIndex(url=index_url, ...).pypi_url}/{ireq.name}/json"``; pip-tools issue 1669).
- ``/<name>/json``: pip-tools 7.6.1 and later (``_get_project`` through
  ``_get_true_base_from_index_url``) strip one ``simple/`` from the index URL and
  ``urljoin`` ``f"{ireq.name}/json"`` onto what is left.

The per-release document (``<version>/json``) answers under ``/pypi/`` and ``/simple/pypi/``.
pip-tools then looks each release file's ``url`` up among the links pip found on the simple
page and hashes only the files it finds no digest for; so ``url`` must be the very URL pip
resolved, the absolute form of the page's link (``public_url`` must therefore be the URL
clients use). ``ireq.name`` is spelled as the requirement spelled it, hence the 301.
"""

from __future__ import annotations

from packaging.utils import NormalizedName
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from proxy.errors import NotFound
from proxy.fetchlog import record_fetch
from proxy.json_api import project_document, release_document, render_document
from proxy.json_vulnerabilities import vulnerability_lookup
from proxy.render_cache import ROOT_TOKEN, Rendered, make_rendered, off_loop, render_key
from proxy.rendering import localize
from proxy.routes import INLINE_FILES, context_of, page_response, serve_rendered, state_of
from storage.keys import validate_project

JSON_TYPE = "application/json"
LOG_KIND = "json"
"""Fetch-log ``kind`` of a JSON API request (pages are ``page``, files ``dist`` ...)."""
_MAX_VERSION_SHOWN = 80


class ReleaseNotFound(NotFound):
    def __init__(self, name: str, version: str | None) -> None:
        if version is None:
            what = "no release"
        elif len(version) > _MAX_VERSION_SHOWN:
            what = f"no release {version[:_MAX_VERSION_SHOWN] + '...'!r}"
        else:
            what = f"no release {version!r}"
        super().__init__(
            f"project {name!r} has {what} with files pipgate serves (none was published, "
            f"or a policy hides every file of it)"
        )


async def project_json(request: Request) -> Response:
    return await _answer(request, None)


async def release_json(request: Request) -> Response:
    return await _answer(request, request.path_params["version"])


class _CanonicalVersion(Exception):
    """The release exists under another spelling of its version: a 301 to it."""

    def __init__(self, version: str) -> None:
        super().__init__(version)
        self.version = version


async def _answer(request: Request, version: str | None) -> Response:
    state, raw = state_of(request), request.path_params["project"]
    name = validate_project(raw)
    if raw != name:
        return _redirect(request, raw, name, version)
    ctx = context_of(request, LOG_KIND, name)
    # Names never contain "/", so "<name>/<version>/json" cannot collide with a page key.
    variant = f"{name}/{version}/json" if version is not None else f"{name}/json"

    async def produce() -> Rendered:
        policies = state.engine.current
        page = await state.chain.get_project_page(name, ctx)
        lookup = vulnerability_lookup(policies, name)
        fresh = state.caching.fresh_until(name) or 0.0
        verdicts, upstream = tuple(ctx.verdicts), ctx.upstream

        def render() -> Rendered:
            # Absolute: JSON API clients fetch ``url`` as it stands, with no page to resolve
            # a relative link against; the root (build prefix included) is put in per request.
            served = localize(page, f"{ROOT_TOKEN}files/{name}/", None)
            if version is None:
                document = project_document(served, lookup)
            else:
                found = release_document(served, version, lookup)
                if found is not None and found[0] != version:
                    raise _CanonicalVersion(found[0])
                document = found[1] if found is not None else None
            if document is None:
                raise ReleaseNotFound(name, version)
            body = render_document(document)
            return make_rendered(body, JSON_TYPE, fresh, verdicts, upstream, "json")

        return await off_loop(len(page.files) > INLINE_FILES, render)

    key = render_key(variant, JSON_TYPE, state.engine.generation)
    try:
        rendered = await serve_rendered(request, key, produce)
    except _CanonicalVersion as moved:
        return _redirect(request, name, name, version, moved.version)
    response = page_response(request, rendered)
    await record_fetch(state, ctx, LOG_KIND, name, response.status_code)
    return response


def _redirect(
    request: Request,
    raw: str,
    name: NormalizedName,
    version: str | None,
    canonical_version: str | None = None,
) -> Response:
    tail = "/json" if version is None else f"/{version}/json"
    path = request.url.path
    prefix = path[: len(path) - len(tail) - len(raw)]
    new_tail = tail if canonical_version is None else f"/{canonical_version}/json"
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(prefix + name + new_tail + query, status_code=301)


def json_api_routes() -> list[BaseRoute]:
    """Mounted at the root and under ``/builds/<label>/``, like the simple index."""
    methods = ["GET", "HEAD"]
    return [
        Route("/pypi/{project}/json", project_json, methods=methods),
        Route("/pypi/{project}/{version}/json", release_json, methods=methods),
        Route("/simple/pypi/{project}/json", project_json, methods=methods),
        Route("/simple/pypi/{project}/{version}/json", release_json, methods=methods),
        Route("/{project}/json", project_json, methods=methods),
    ]
