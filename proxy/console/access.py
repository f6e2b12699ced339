"""Who may use the console in this request, and the CSRF check of its forms.

- ``auth = "off"``: loopback clients only, each given an admin session without signing in
  (as the ``/-/`` endpoints are), so that forms still carry a CSRF token; other clients get
  a 403 page.
- ``auth = "optional"`` or ``"required"``: a session opened by signing in with an admin
  token (the login form); a reader's token is refused at sign-in.

Every POST must carry the session's CSRF token in its ``csrf`` field, and an ``Origin``
header, when the browser sends one, must be this server's.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlsplit

from starlette.requests import Request

from proxy.auth_gate import is_loopback
from proxy.console.sessions import COOKIE, Session, SessionStore
from proxy.identity.model import AuthMode
from proxy.identity.tokens import TokenStatus
from proxy.state import AppState

LOOPBACK_USER = "loopback"
MAX_FORM_FIELDS = 50
MAX_FORM_BYTES = 64 * 1024
Form = dict[str, str]
"""A URL-encoded form: the last value of each field."""


class Refused(Exception):
    """The request cannot go on; ``status`` and ``message`` say why, ``location`` where to."""

    def __init__(self, status: int, message: str, location: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.location = location


@dataclass(frozen=True, slots=True)
class Viewer:
    session: Session
    cookie: str | None = None
    """A cookie to set: the session was opened by this request."""


def state_of(request: Request) -> AppState:
    state: AppState = request.app.state.pipgate
    return state


def sessions_of(request: Request) -> SessionStore:
    """The app's session store, made on first use (nothing is built at import time)."""
    store: SessionStore | None = getattr(request.app.state, "console_sessions", None)
    if store is None:
        store = SessionStore(state_of(request).stores.state)
        request.app.state.console_sessions = store
    return store


def auth_mode(request: Request) -> AuthMode:
    return AuthMode(state_of(request).settings.auth)


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def login_location(request: Request, note: str | None = None) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = f"/-/ui/login?next={quote(target, safe='')}"
    return location + (f"&note={note}" if note else "")


async def viewer_of(request: Request) -> Viewer:
    """The signed-in admin of this request, or ``Refused``."""
    now = dt.datetime.now(dt.UTC)
    sessions = sessions_of(request)
    session = await sessions.find(request.cookies.get(COOKIE), now)
    if auth_mode(request) is AuthMode.OFF:
        if not is_loopback(client_address(request)):
            raise Refused(
                403,
                'with auth = "off" the console answers loopback clients only; set auth = '
                '"optional" or "required" to sign in from elsewhere (docs/console.md)',
            )
        if session is None:
            session, cookie = await sessions.open(LOOPBACK_USER, "admin", "loopback", None, now)
            return Viewer(session, cookie)
        return Viewer(session)
    if session is None or session.via == "loopback":
        raise Refused(303, "sign in", login_location(request))
    if session.token_id is not None:
        record = await state_of(request).identity.store.get(session.token_id)
        if record is None or record.status(now) is not TokenStatus.ACTIVE:
            await sessions.close(session)
            raise Refused(303, "the token ended", login_location(request, "token-ended"))
    if not session.is_admin:
        raise Refused(403, f"user {session.user!r} does not have the admin role")
    return Viewer(session)


async def read_form(request: Request) -> Form:
    """A URL-encoded form (every console form is one): at most ``MAX_FORM_BYTES``."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise Refused(415, "expected a form (application/x-www-form-urlencoded)")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise Refused(413, f"the form is larger than {MAX_FORM_BYTES} bytes")
    try:
        pairs = parse_qsl(body.decode(), max_num_fields=MAX_FORM_FIELDS, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as error:
        raise Refused(400, f"the form cannot be read: {error}") from error
    return dict(pairs)


async def checked_form(request: Request, viewer: Viewer) -> Form:
    """The POSTed form, once its CSRF token and origin are this session's."""
    check_origin(request)
    form = await read_form(request)
    sent = form.get("csrf", "")
    if not hmac.compare_digest(sent.encode(), viewer.session.csrf.encode()):
        raise Refused(403, "the form's CSRF token is missing or stale: reload the page and retry")
    return form


def check_origin(request: Request) -> None:
    origin = request.headers.get("origin")
    if origin is None:  # not sent by every browser for same-origin posts
        return
    theirs = urlsplit(origin)
    ours = [str(request.base_url), state_of(request).settings.public_url or ""]
    if not any((theirs.scheme, theirs.netloc) == _origin(url) for url in ours if url):
        raise Refused(403, f"cross-origin form post from {origin!r} refused")


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def field(form: Form, name: str) -> str:
    return form.get(name, "")


__all__ = [
    "LOOPBACK_USER",
    "Refused",
    "Viewer",
    "auth_mode",
    "checked_form",
    "client_address",
    "field",
    "login_location",
    "read_form",
    "sessions_of",
    "state_of",
    "viewer_of",
]
