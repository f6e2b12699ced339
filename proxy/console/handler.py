"""How every console page runs: find the viewer (``access``), call the page, and turn a
refusal or a storage failure into a page that says what happened."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from proxy.console.access import Refused, Viewer, state_of, viewer_of
from proxy.console.templating import HEADERS, render, secure_cookies, set_session_cookie
from storage.base import StorageError

logger = logging.getLogger(__name__)

Page = Callable[[Request, Viewer], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def console_page(page: Page) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        try:
            viewer = await viewer_of(request)
            response = await page(request, viewer)
        except Refused as refused:
            return refusal_page(request, refused)
        except StorageError as error:
            logger.error("console %s: %s", request.url.path, error)
            return message_page(request, 503, f"a store is unavailable: {error}")
        if viewer.cookie is not None:
            set_session_cookie(response, viewer.cookie, secure_of(request))
        return response

    endpoint.__name__ = page.__name__
    return endpoint


def secure_of(request: Request) -> bool:
    return secure_cookies(request, state_of(request).settings.public_url)


def show(request: Request, viewer: Viewer, template: str, active: str, **context: Any) -> Response:
    """A page of the signed-in console (navigation, user, logout form with its token)."""
    common = {"viewer": viewer.session, "csrf": viewer.session.csrf, "active": active}
    return render(request, template, common | context)


def refusal_page(request: Request, refused: Refused) -> Response:
    if refused.location is not None:
        return RedirectResponse(refused.location, status_code=303, headers=HEADERS)
    return message_page(request, refused.status, refused.message)


def message_page(request: Request, status: int, message: str) -> Response:
    context = {"viewer": None, "active": "", "status": status, "message": message}
    return render(request, "message.html", context, status=status)


def redirect(location: str) -> Response:
    """After a successful POST: see the result with a GET (no resubmission on reload)."""
    return RedirectResponse(location, status_code=303, headers=HEADERS)


__all__ = ["console_page", "message_page", "redirect", "refusal_page", "secure_of", "show"]
