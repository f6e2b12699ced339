"""The HTTP edge of identity: an ASGI middleware, outside the warm-page fast path, that
authenticates every request (``proxy.identity.Authenticator``), puts the caller in the
scope (``pipgate.user``, ``pipgate.identity``, ``pipgate.admin``) and enforces ``auth``:

- ``/healthz`` and ``/readyz`` are always open (load balancers and orchestrators);
- the console (``/-/ui/``) signs its users in itself, with a session cookie
  (``proxy.console``): browsers do not send Basic credentials to it;
- ``/-/...`` and ``/metrics`` need the admin role; with ``auth = "off"`` loopback clients
  are admins too, as before identities existed;
- the index needs valid credentials with ``auth = "required"``, takes them when given with
  ``"optional"``, and ignores them with ``"off"``.

A 401 carries ``WWW-Authenticate: Basic realm="pipgate"`` so that pip, uv, poetry and pdm
fall back to ``.netrc`` or keyring; too many failures from one address get a 429 with
``Retry-After``; a state store that cannot be read gets a 503. Bodies say what was wrong,
never what was sent.
"""

from __future__ import annotations

import ipaddress
import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from proxy.identity.authenticator import REFUSAL_TEXT, Outcome, Refusal
from proxy.identity.model import AuthMode, Identity
from proxy.state import AppState
from storage.base import StorageError

logger = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/healthz", "/readyz"})
CONSOLE_PREFIX = "/-/ui"
CHALLENGE = b'Basic realm="pipgate"'
_AUTHORIZATION = b"authorization"


def is_admin_path(path: str) -> bool:
    return path.startswith("/-/") or path == "/metrics"


def is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def exposure_warning(host: str, mode: AuthMode) -> str | None:
    """The start-up warning for an index open to a network with nobody asked who they are."""
    if mode is not AuthMode.OFF or host == "localhost" or is_loopback(host):
        return None
    return (
        f'listening on {host}, not a loopback address, with auth = "off": anyone who can '
        'reach this port can use the index; set auth = "required" (docs/auth.md)'
    )


class AuthGate:
    def __init__(self, app: ASGIApp, state_holder: object, mode: AuthMode) -> None:
        self.app = app
        self._holder = state_holder
        """The Starlette app, whose ``state.pipgate`` the lifespan sets."""
        self.mode = mode

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or _console(scope["path"]):
            await self.app(scope, receive, send)
            return
        admin_path = is_admin_path(scope["path"])
        if not admin_path and self.mode is AuthMode.OFF:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = client[0] if client else ""
        if admin_path and self.mode is AuthMode.OFF and is_loopback(address):
            scope["pipgate.admin"] = True
            await self.app(scope, receive, send)
            return
        state: AppState | None = getattr(self._holder.state, "pipgate", None)  # type: ignore[attr-defined]
        if state is None:
            await _answer(send, 503, "pipgate is starting\n")
            return
        authorization, proxied = self._credentials(scope, state)
        if authorization is not None and not admin_path:
            known = state.identity.cached(authorization)
            if known is not None:
                state.metrics.observe_auth(known.via)
                _enter(scope, known)
                await self.app(scope, receive, send)
                return
        try:
            outcome = await state.identity.authenticate(address, authorization, proxied)
        except StorageError as error:
            logger.error("authentication impossible: %s", error)
            await _answer(send, 503, "the token store is unavailable; try again shortly\n")
            return
        state.metrics.observe_auth(_outcome_label(outcome))
        if outcome.refusal is Refusal.LIMITED:
            await _too_many(send, outcome.retry_after or 1)
            return
        if admin_path:
            await self._admin(scope, receive, send, outcome)
            return
        if outcome.refusal is not None:
            await _challenge(send, _refusal_text(outcome))
            return
        if outcome.identity is None and self.mode is AuthMode.REQUIRED:
            await _challenge(send, "authentication required: user name and pipgate token\n")
            return
        _enter(scope, outcome.identity)
        await self.app(scope, receive, send)

    @staticmethod
    def _credentials(scope: Scope, state: AppState) -> tuple[bytes | None, bytes | None]:
        proxy_header = state.identity.proxies.header
        authorization = proxied = None
        for name, value in scope["headers"]:
            lowered = name.lower()
            if lowered == _AUTHORIZATION:
                authorization = value
            elif lowered == proxy_header:
                proxied = value
        return authorization, proxied

    async def _admin(self, scope: Scope, receive: Receive, send: Send, outcome: Outcome) -> None:
        identity = outcome.identity
        if identity is not None and identity.is_admin:
            _enter(scope, identity)
            await self.app(scope, receive, send)
        elif identity is not None:
            await _answer(send, 403, f"user {identity.user!r} does not have the admin role\n")
        elif self.mode is AuthMode.OFF:
            await _answer(
                send,
                403,
                "admin endpoints answer loopback clients, or admin credentials (the admin "
                "token or an admin-role token)\n",
            )
        elif outcome.refusal is not None:
            await _challenge(send, _refusal_text(outcome))
        else:
            await _challenge(send, "admin credentials required\n")


def _console(path: str) -> bool:
    return path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/")


def _enter(scope: Scope, identity: Identity | None) -> None:
    if identity is not None:
        scope["pipgate.user"] = identity.user
        scope["pipgate.identity"] = identity
        scope["pipgate.admin"] = identity.is_admin


def _outcome_label(outcome: Outcome) -> str:
    if outcome.refusal is not None:
        return outcome.refusal.value
    return "anonymous" if outcome.identity is None else outcome.identity.via


def _refusal_text(outcome: Outcome) -> str:
    assert outcome.refusal is not None
    text = REFUSAL_TEXT[outcome.refusal]
    return f"{text}: {outcome.detail}\n" if outcome.detail else f"{text}\n"


async def _challenge(send: Send, text: str) -> None:
    await _answer(send, 401, text, [(b"www-authenticate", CHALLENGE)])


async def _too_many(send: Send, retry_after: int) -> None:
    text = (
        f"{REFUSAL_TEXT[Refusal.LIMITED]}; retry in {retry_after} s "
        "(requests with credentials verified before are still served)\n"
    )
    await _answer(send, 429, text, [(b"retry-after", str(retry_after).encode())])


async def _answer(
    send: Send, status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = text.encode()
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


__all__ = [
    "CHALLENGE",
    "OPEN_PATHS",
    "AuthGate",
    "exposure_warning",
    "is_admin_path",
    "is_loopback",
]
