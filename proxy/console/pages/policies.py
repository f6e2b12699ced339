"""Policies: the active set (mode, exemptions, waivable, every effective option) and a
reload button, the same reload as ``POST /-/reload`` and SIGHUP (all replicas follow)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from proxy import admin
from proxy.console.access import Viewer, checked_form, state_of
from proxy.console.handler import console_page, show
from proxy.settings import SettingsError


def _page(request: Request, viewer: Viewer, **outcome: object) -> Response:
    state = state_of(request)
    return show(
        request,
        viewer,
        "policies.html",
        "policies",
        policies=state.engine.describe(),
        generation=state.engine.generation,
        config_file=str(state.settings.config_file) if state.settings.config_file else None,
        **({"message": None, "failure": None} | outcome),
    )


@console_page
async def policies(request: Request, viewer: Viewer) -> Response:
    return _page(request, viewer)


@console_page
async def reload(request: Request, viewer: Viewer) -> Response:
    await checked_form(request, viewer)
    try:
        message = await admin.reload_policies(state_of(request))
    except (SettingsError, ValueError) as error:
        response = _page(request, viewer, failure=f"reload failed, policies unchanged: {error}")
        response.status_code = 400
        return response
    return _page(request, viewer, message=message)


__all__ = ["policies", "reload"]
