"""Project: each file pipgate serves or hides (with the reasons), its attestation result,
whether it is cached, and who fetched it. Newest versions first, 100 files a page."""

from __future__ import annotations

from packaging.version import InvalidVersion, Version
from starlette.requests import Request
from starlette.responses import Response

from proxy.console.access import Viewer, state_of
from proxy.console.handler import console_page, message_page, redirect, show
from proxy.console.judgement import judge_project
from proxy.console.reports import reports_of
from proxy.errors import InvalidName, NotFound, ProxyError
from storage.keys import blob_key, validate_project

PAGE_FILES = 100


@console_page
async def project_search(request: Request, viewer: Viewer) -> Response:
    raw = request.query_params.get("project", "").strip()
    if not raw:
        return redirect("/-/ui/")
    try:
        return redirect(f"/-/ui/projects/{validate_project(raw)}")
    except InvalidName as error:
        return message_page(request, 400, str(error))


@console_page
async def project(request: Request, viewer: Viewer) -> Response:
    state = state_of(request)
    try:
        name = validate_project(request.path_params["project"])
    except InvalidName as error:
        return message_page(request, 400, str(error))
    try:
        judged = await judge_project(state, name)
    except NotFound:
        return message_page(request, 404, f"no project {name!r} on the upstream")
    except ProxyError as error:
        return message_page(request, 502, f"the upstream page of {name!r} is unavailable: {error}")
    offset = _offset(request.query_params.get("offset", "0"))
    files = sorted(judged.files, key=lambda f: f.file.filename, reverse=True)
    files = sorted(files, key=lambda f: _sortable(f.version), reverse=True)
    shown = files[offset : offset + PAGE_FILES]
    history = await reports_of(state).project_files(name)
    cached = {}
    for judgement in shown:
        filename = judgement.file.filename
        cached[filename] = await state.stores.blobs.open(blob_key(name, filename)) is not None
    return show(
        request,
        viewer,
        "project.html",
        "",
        name=name,
        judged=judged,
        files=shown,
        total=len(files),
        hidden=sum(1 for f in files if not f.served),
        offset=offset,
        page_files=PAGE_FILES,
        history=history,
        cached=cached,
    )


def _offset(raw: str) -> int:
    return int(raw) if raw.isdigit() and len(raw) < 9 else 0


def _sortable(version: str) -> tuple[int, object]:
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


__all__ = ["project", "project_search"]
