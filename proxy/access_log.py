"""The access log: one structured line per HTTP request, written to stdout.

``access_log = "json"`` (the default) writes one JSON object per line with a fixed set of
keys (``null`` when unknown), which every log pipeline parses without a custom pattern;
``"kv"`` writes ``key=value`` pairs (logfmt; unknown values left out), easier on a
terminal; ``"off"`` writes nothing. Fields: ``time`` (UTC, when the request arrived),
``method``, ``path`` (with the query), ``status``, ``bytes`` (body bytes sent), ``ms``,
``client``, ``user``, ``build``, ``cache`` (hit, miss, stale, revalidated) and, on a 403
refusal, ``verdict`` and ``policy``.

The middleware sits outside everything, the warm-page fast path included, so it costs two
clock reads, a wrapped ``send`` and one formatted string per request; lines are written
in batches by ``LineSink``. What the chain learnt (cache, verdicts, build) is read from
the ``RequestContext`` the route leaves in the ASGI scope under ``CONTEXT_KEY``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from json.encoder import encode_basestring_ascii as quote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from proxy.line_sink import LineSink
from proxy.repository import RequestContext

CONTEXT_KEY = "pipgate.ctx"
"""Scope key under which routes leave the request's ``RequestContext``."""
USER_KEY = "pipgate.user"
"""Scope key of the authenticated user name, when an authentication layer sets one."""
FORMATS = ("json", "kv", "off")

Entry = tuple[
    float, str, str, int, int, float, str | None, str | None, str | None, str | None, str | None
]
"""time, method, path, status, bytes, ms, client, user, build, cache, policy (refusals)."""
Formatter = Callable[[Entry], str]


class AccessLog:
    """ASGI middleware writing one line per HTTP request to ``sink``."""

    def __init__(self, app: ASGIApp, *, fmt: str, sink: LineSink) -> None:
        if fmt not in _FORMATTERS:
            raise ValueError(f"access log format {fmt!r}: expected one of json, kv")
        self.app = app
        self._format = _FORMATTERS[fmt]
        self._sink = sink

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._flushing(send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        arrived = time.time()
        started = time.perf_counter()
        sent = [0, 0]  # status, body bytes

        async def observe(message: Message) -> None:
            if message["type"] == "http.response.body":
                sent[1] += len(message.get("body", b""))
            elif message["type"] == "http.response.start":
                sent[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observe)
        except BaseException:
            if not sent[0]:
                sent[0] = 500  # what the server error middleware answers
            raise
        finally:
            elapsed = (time.perf_counter() - started) * 1000.0
            self._sink.write(self._format(_entry(scope, arrived, sent[0], sent[1], elapsed)))

    def _flushing(self, send: Send) -> Send:
        async def on_lifespan(message: Message) -> None:
            if message["type"].startswith("lifespan.shutdown"):
                self._sink.flush()
            await send(message)

        return on_lifespan


def _entry(scope: Scope, arrived: float, status: int, size: int, elapsed: float) -> Entry:
    path: str = scope["path"]
    if scope["query_string"]:
        path = f"{path}?{scope['query_string'].decode('latin-1')}"
    client = scope.get("client")
    ctx: RequestContext | None = scope.get(CONTEXT_KEY)
    user = scope.get(USER_KEY)
    build = cache = policy = None
    if ctx is not None:
        user = ctx.user or user
        build, cache = ctx.build, ctx.cache
        if status == 403:
            policy = _refusing_policy(ctx)
    return (
        arrived,
        scope["method"],
        path,
        status,
        size,
        elapsed,
        client[0] if client else None,
        user,
        build,
        cache,
        policy,
    )


def _refusing_policy(ctx: RequestContext) -> str | None:
    for verdict in ctx.verdicts:
        if verdict.denies:
            return verdict.policy
    return None


_MILLIS = tuple(f".{n:03d}Z" for n in range(1000))


class _Clock:
    """UTC timestamps with milliseconds; the part down to the second is formatted once a
    second, not once per request (strftime per line was a third of the formatting time)."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def stamp(self, moment: float) -> str:
        second = int(moment)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return self._prefix + _MILLIS[int((moment - second) * 1000)]


_clock = _Clock()


_DENY = '"deny"'


def format_json(entry: Entry) -> str:
    moment, method, path, status, size, elapsed, client, user, build, cache, policy = entry
    # Inline conditionals, not a helper per field: this runs once per request.
    return (
        f'{{"time":"{_clock.stamp(moment)}","method":{quote(method)},"path":{quote(path)},'
        f'"status":{status},"bytes":{size},"ms":{elapsed:.2f},'
        f'"client":{"null" if client is None else quote(client)},'
        f'"user":{"null" if user is None else quote(user)},'
        f'"build":{"null" if build is None else quote(build)},'
        f'"cache":{"null" if cache is None else quote(cache)},'
        f'"verdict":{"null" if policy is None else _DENY},'
        f'"policy":{"null" if policy is None else quote(policy)}}}\n'
    )


# A logfmt value needs quotes when empty or when it holds anything but printable ASCII
# other than space, '"', '=' and '\\'.
_NEEDS_QUOTES = re.compile(r"[^!#-<>-\[\]-~]|\A\Z")


def _kv_value(value: str) -> str:
    return str(quote(value)) if _NEEDS_QUOTES.search(value) else value


def format_kv(entry: Entry) -> str:
    moment, method, path, status, size, elapsed, client, user, build, cache, policy = entry
    line = (
        f"time={_clock.stamp(moment)} method={_kv_value(method)} path={_kv_value(path)} "
        f"status={status} bytes={size} ms={elapsed:.2f}"
    )
    if client is not None:
        line += f" client={_kv_value(client)}"
    if user is not None:
        line += f" user={_kv_value(user)}"
    if build is not None:
        line += f" build={_kv_value(build)}"
    if cache is not None:
        line += f" cache={_kv_value(cache)}"
    if policy is not None:
        line += f" verdict=deny policy={_kv_value(policy)}"
    return line + "\n"


_FORMATTERS: dict[str, Formatter] = {"json": format_json, "kv": format_kv}


__all__ = ["CONTEXT_KEY", "FORMATS", "USER_KEY", "AccessLog", "format_json", "format_kv"]
