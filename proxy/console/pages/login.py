"""Sign in (user name and an admin token, checked by ``proxy.identity``) and sign out.

The login form has no session yet, so its CSRF token is a double submit: a random value
in a short-lived SameSite=Strict cookie that the form must repeat.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

from proxy.console.access import (
    Refused,
    Viewer,
    auth_mode,
    check_origin,
    checked_form,
    client_address,
    field,
    read_form,
    sessions_of,
    state_of,
)
from proxy.console.handler import console_page, redirect, refusal_page, secure_of
from proxy.console.templating import clear_session_cookie, render, set_session_cookie
from proxy.identity.authenticator import REFUSAL_TEXT, Refusal
from proxy.identity.model import AuthMode

LOGIN_COOKIE = "pipgate_login"
NOTES = {
    "signed-out": "You are signed out.",
    "token-ended": "The token of your session was revoked or expired: sign in again.",
}


def _next(value: str | None) -> str:
    """Only a console path: a login form must not redirect anywhere else."""
    if value and value.startswith("/-/ui/") and "//" not in value and "\\" not in value:
        return value
    return "/-/ui/"


def _form(request: Request, status: int = 200, error: str | None = None) -> Response:
    token = secrets.token_urlsafe(24)
    note = NOTES.get(request.query_params.get("note", ""))
    context = {
        "viewer": None,
        "active": "",
        "login_csrf": token,
        "next": _next(request.query_params.get("next")),
        "note": note,
        "error": error,
        "username": "",
    }
    response = render(request, "login.html", context, status=status)
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=1800,
        path="/-/ui/login",
        httponly=True,
        samesite="strict",
        secure=secure_of(request),
    )
    return response


async def login_form(request: Request) -> Response:
    if auth_mode(request) is AuthMode.OFF:
        return redirect("/-/ui/")
    return _form(request)


async def login(request: Request) -> Response:
    if auth_mode(request) is AuthMode.OFF:
        return redirect("/-/ui/")
    try:
        check_origin(request)
        form = await read_form(request)
    except Refused as refused:
        return refusal_page(request, refused)
    expected = request.cookies.get(LOGIN_COOKIE, "")
    sent = field(form, "csrf")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return _form(request, 403, "The form expired or was not sent from this page: try again.")
    state = state_of(request)
    username, password = field(form, "username").strip(), field(form, "password").strip()
    outcome = await state.identity.verify_password(client_address(request), username, password)
    if outcome.refusal is Refusal.LIMITED:
        return _form(request, 429, REFUSAL_TEXT[Refusal.LIMITED] + ": wait and try again.")
    if outcome.refusal is not None or outcome.identity is None:
        refusal = outcome.refusal or Refusal.INVALID
        return _form(request, 401, REFUSAL_TEXT[refusal].capitalize() + ".")
    identity = outcome.identity
    if not identity.is_admin:
        return _form(
            request,
            403,
            f"User {identity.user!r} does not have the admin role; the console is for admins.",
        )
    now = dt.datetime.now(dt.UTC)
    _, cookie = await sessions_of(request).open(
        identity.user, identity.role.value, identity.via, identity.token_id, now
    )
    response = redirect(_next(field(form, "next")))
    set_session_cookie(response, cookie, secure_of(request))
    response.delete_cookie(LOGIN_COOKIE, path="/-/ui/login")
    return response


@console_page
async def logout(request: Request, viewer: Viewer) -> Response:
    await checked_form(request, viewer)
    await sessions_of(request).close(viewer.session)
    target = "/-/ui/" if auth_mode(request) is AuthMode.OFF else "/-/ui/login?note=signed-out"
    response = redirect(target)
    clear_session_cookie(response, secure_of(request))
    return response


__all__ = ["login", "login_form", "logout"]
