"""The warm-page fast path: a rendered page answered straight from ASGI.

Profiling a warm small page showed two thirds of the time in the framework (middleware
stack, routing, Request and Response objects), not in pipgate. A GET for a canonical
project URL whose rendered bytes are cached is answered here with two ``send`` calls and
the same headers, ETag/304 and fetch-log row as ``routes.project_page``; everything else
(misses, redirects, errors, queries, HEAD) goes to the Starlette app unchanged.
"""

from __future__ import annotations

import re
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from proxy.access_log import CONTEXT_KEY
from proxy.errors import NotAcceptable
from proxy.fetchlog import record_fetch
from proxy.negotiation import negotiate
from proxy.render_cache import Rendered, render_key
from proxy.repository import RequestContext
from proxy.state import AppState

# Only already-canonical names (PEP 503 normal form) and valid build labels qualify.
_PAGE = re.compile(
    r"(?:/builds/(?P<label>[A-Za-z0-9._-]{1,128}))?/simple/(?P<name>[a-z0-9]+(?:-[a-z0-9]+)*)/\Z"
)


class WarmPages:
    def __init__(self, app: ASGIApp, state_holder: object) -> None:
        self.app = app
        self._holder = state_holder
        """The Starlette app, whose ``state.pipgate`` the lifespan sets."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope["query_string"]:
            match = _PAGE.match(scope["path"])
            if match is not None and await self._answer(scope, send, match):
                return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, send: Send, match: re.Match[str]) -> bool:
        state: AppState | None = getattr(self._holder.state, "pipgate", None)  # type: ignore[attr-defined]
        if state is None:
            return False
        headers = _request_headers(scope)
        try:
            _, content_type = negotiate(headers.get(b"accept"), None)
        except NotAcceptable:
            return False
        name, label = match["name"], match["label"]
        key = render_key(name, content_type, state.engine.generation)
        now = time.time()
        rendered = state.renders.get(key, now)
        if rendered is None:
            return False
        if rendered.rooted is not None:  # absolute links: this request's root, if rendered
            root = _index_root(state, scope, headers.get(b"host", ""), label)
            rendered = state.renders.variant(key, root, now) if root is not None else None
            if rendered is None:
                return False
        status = await _send(send, rendered, headers)
        client = scope.get("client")
        user = scope.get("pipgate.user")  # set by the AuthGate outside this middleware
        ctx = RequestContext(client=client[0] if client else "", build=label, user=user)
        ctx.cache, ctx.upstream, ctx.verdicts = "hit", rendered.upstream, list(rendered.verdicts)
        scope[CONTEXT_KEY] = ctx
        await record_fetch(state, ctx, "page", name, status)
        return True


_WANTED = (b"accept", b"accept-encoding", b"if-none-match", b"host")


def _index_root(state: AppState, scope: Scope, host: str, label: str | None) -> str | None:
    """What ``routes.index_root`` makes of this request (``None``: leave it to the app)."""
    public = state.settings.public_url
    if public:
        base = public + "/"
    elif host:
        base = f"{scope['scheme']}://{host}{scope.get('root_path', '')}/"
    else:
        return None
    return base + (f"builds/{label}/" if label else "")


def _request_headers(scope: Scope) -> dict[bytes, str]:
    found: dict[bytes, str] = {}
    for raw_name, value in scope["headers"]:
        name = raw_name.lower()
        if name in _WANTED:
            found[name] = value.decode("latin-1")
    return found


async def _send(send: Send, rendered: Rendered, headers: dict[bytes, str]) -> int:
    response = [
        (b"etag", rendered.etag.encode()),
        (b"vary", b"Accept, Accept-Encoding"),
        (b"cache-control", b"max-age=60"),
    ]
    if headers.get(b"if-none-match") == rendered.etag:
        await send({"type": "http.response.start", "status": 304, "headers": response})
        await send({"type": "http.response.body", "body": b""})
        return 304
    body = rendered.body
    if rendered.gzipped is not None and "gzip" in headers.get(b"accept-encoding", ""):
        body = rendered.gzipped
        response.append((b"content-encoding", b"gzip"))
    response.append((b"content-type", rendered.content_type_header))
    response.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": 200, "headers": response})
    await send({"type": "http.response.body", "body": body})
    return 200
