"""Builds: every build label in the fetch log with its SBOM (CycloneDX, SPDX) to download,
made by the same code as ``GET /-/sbom`` and ``pipgate sbom``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from proxy import admin
from proxy.console.access import Viewer, state_of
from proxy.console.handler import console_page, message_page, show
from proxy.console.reports import reports_of

LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
EXTENSIONS = {"cyclonedx": "cdx.json", "spdx": "spdx.json"}


@console_page
async def builds(request: Request, viewer: Viewer) -> Response:
    state = state_of(request)
    await state.fetchlog.flush()
    found = await reports_of(state).builds()
    return show(request, viewer, "builds.html", "builds", builds=found, formats=EXTENSIONS)


@console_page
async def build_sbom(request: Request, viewer: Viewer) -> Response:
    label = request.path_params["label"]
    fmt = request.query_params.get("format", "cyclonedx")
    if not label or len(label) > 128 or not set(label) <= LABEL_CHARS or fmt not in EXTENSIONS:
        return message_page(request, 400, "a build label and format=cyclonedx or format=spdx")
    # The console session stands for the admin role that /-/sbom checks.
    request.scope["pipgate.admin"] = True
    scope_query = f"build={label}&format={fmt}".encode()
    request.scope["query_string"] = scope_query
    sbom = Request(request.scope, request.receive)
    response = await admin.sbom_endpoint(sbom)
    if response.status_code == 200:
        name = f"{label}.{EXTENSIONS[fmt]}"
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
        response.headers["Cache-Control"] = "no-store"
    return response


__all__ = ["build_sbom", "builds"]
