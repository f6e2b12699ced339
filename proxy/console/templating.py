"""The console's Jinja2 environment (through Starlette's ``Jinja2Templates``), its filters,
and the one function that turns a template into a response with the console's headers.

Autoescaping is on for every template and undefined names fail loudly. Responses are
``no-store`` with a strict Content-Security-Policy: only pipgate's own stylesheet and
script, no inline script, no framing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from proxy.console.sessions import COOKIE, COOKIE_PATH

HERE = Path(__file__).parent
NAV = (
    ("overview", "Overview", "/-/ui/"),
    ("decisions", "Decisions", "/-/ui/decisions"),
    ("quarantine", "Quarantine", "/-/ui/quarantine"),
    ("waivers", "Waivers", "/-/ui/waivers"),
    ("log", "Fetch log", "/-/ui/log"),
    ("who", "Who pulled this?", "/-/ui/who"),
    ("builds", "Builds", "/-/ui/builds"),
    ("policies", "Policies", "/-/ui/policies"),
)
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def when(moment: dt.datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def size(value: float | None) -> str:
    if value is None:
        return "-"
    amount = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if amount < 1000 or unit == "GB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1000
    return f"{amount:.1f} TB"  # pragma: no cover (the loop returns at GB)


def query(**params: object) -> str:
    """A query string of the non-empty ``params`` (filters carried into links)."""
    return urlencode({k: str(v) for k, v in params.items() if v not in (None, "")})


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters["size"] = size
    env.globals["query"] = query
    env.globals["nav"] = NAV
    return env


templates = Jinja2Templates(env=_environment())


def secure_cookies(request: Request, public_url: str | None) -> bool:
    return request.url.scheme == "https" or (public_url or "").startswith("https://")


def set_session_cookie(response: Response, value: str, secure: bool) -> None:
    response.set_cookie(
        COOKIE, value, path=COOKIE_PATH, httponly=True, samesite="strict", secure=secure
    )


def clear_session_cookie(response: Response, secure: bool) -> None:
    response.delete_cookie(
        COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=secure
    )


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    cookie: str | None = None,
    secure: bool = False,
) -> Response:
    response = templates.TemplateResponse(
        request, template, context, status_code=status, headers=HEADERS
    )
    if cookie is not None:
        set_session_cookie(response, cookie, secure)
    return response


__all__ = [
    "HEADERS",
    "NAV",
    "clear_session_cookie",
    "query",
    "render",
    "secure_cookies",
    "set_session_cookie",
    "size",
    "templates",
    "when",
]
