"""Limits on client connections, enforced in the HTTP protocol before a request reaches the app.

uvicorn's httptools protocol buffers request headers of any size until the blank line that
ends them, gives a request's headers all the time in the world, and accepts connections until
the process runs out of file descriptors (then every accept fails, ``/healthz`` included).
``GuardedHttpToolsProtocol`` adds the three limits a front server such as nginx has:

- ``max_header_bytes``: bytes a request may send before its headers are complete (request
  line included); more is answered ``431`` and the connection closed.
- ``header_timeout``: seconds from a connection's start, or from the first byte of a further
  request on it, until the headers are complete; then ``408`` and close (slowloris).
- ``max_connections``: open connections per worker process; one more is answered ``503`` and
  closed at once, so file descriptors stay free for pipgate's own work. Loopback clients get
  a small reserve above the cap, so a health probe on the machine still sees the process.

It also offers the ``pipgate.sendfile`` extension (``proxy.sendfile_cycle``): file bodies
copied by the kernel, not through Python buffers. Idle keep-alive connections are closed by
uvicorn's own ``timeout_keep_alive``. httptools is
kept (not h11, which has a header-size limit of its own) because it parses about twice as
fast; ``docs/benchmarks.md`` has the figures.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from dataclasses import dataclass
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from proxy.sendfile_cycle import SENDFILE, SendfileCycle

logger = logging.getLogger("pipgate.connections")

LOOPBACK_RESERVE = 16
"""Connections loopback clients may open beyond ``max_connections`` (probes, admin)."""
_LOG_EVERY = 60.0


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    max_header_bytes: int = 32 * 1024
    header_timeout: float = 10.0
    max_connections: int = 2048


class _RefusalLog:
    """One warning per reason per minute, with a count: a flood must not flood the log."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._last: dict[str, float] = {}

    def note(self, reason: str) -> None:
        self._counts[reason] = self._counts.get(reason, 0) + 1
        now = time.monotonic()
        if now - self._last.get(reason, -_LOG_EVERY) >= _LOG_EVERY:
            logger.warning(
                "refused %d connection(s) in the last minute: %s", self._counts[reason], reason
            )
            self._counts[reason] = 0
            self._last[reason] = now


_refusals = _RefusalLog()


def _is_loopback(client: tuple[str, int] | None) -> bool:
    if client is None:
        return False
    try:
        return ipaddress.ip_address(client[0]).is_loopback
    except ValueError:
        return False


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, limits: ConnectionLimits, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._limits = limits
        self._awaiting_headers = True
        """No request, or only part of a request's headers, has arrived since the last one."""
        self._header_bytes = 0
        self._header_deadline: float | None = None
        """Loop time by which the headers being received must be complete; ``None``: no
        headers are being waited for."""
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self._over_capacity():
            self._refuse(503, "too many connections", "the connection limit (max_connections)")
            return
        self._expect_headers()

    def _over_capacity(self) -> bool:
        open_now = len(self.connections)
        cap = self._limits.max_connections
        if open_now <= cap:
            return False
        return not (_is_loopback(self.client) and open_now <= cap + LOOPBACK_RESERVE)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._awaiting_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        if (
            self._awaiting_headers
            and self._header_bytes > self._limits.max_header_bytes
            and not self.transport.is_closing()
        ):
            self._refuse(
                431,
                f"request headers exceed {self._limits.max_header_bytes} bytes",
                "headers over max_header_bytes",
            )

    # httptools callbacks ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = {SENDFILE: {}}
        self._expect_headers()

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._header_bytes = 0
        self._header_deadline = None  # the timer, if armed, finds nothing to do
        previous = self.cycle
        super().on_headers_complete()
        cycle: RequestResponseCycle | None = self.cycle
        if cycle is not None and cycle is not previous and type(cycle) is RequestResponseCycle:
            # uvicorn builds its own cycle class here; its task has not run yet, so the
            # cycle can still become one that also speaks pipgate.sendfile.
            cycle.__class__ = SendfileCycle

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # Whatever arrives from now on belongs to the next request's headers.
        self._awaiting_headers = True
        self._header_bytes = 0

    # the header timer -------------------------------------------------------------------
    # One timer per connection, re-armed only when it fires: a request costs a clock read,
    # not a timer created and cancelled (that was 15 % of the CPU of a tiny response).

    def _expect_headers(self) -> None:
        self._header_deadline = self.loop.time() + self._limits.header_timeout
        if self._header_timer is None:
            self._header_timer = self.loop.call_at(self._header_deadline, self._on_header_timer)

    def _cancel_header_timer(self) -> None:
        self._header_deadline = None
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _on_header_timer(self) -> None:
        self._header_timer = None
        deadline = self._header_deadline
        if deadline is None or self.transport.is_closing():
            return
        if self.loop.time() < deadline or self._responding():
            # Headers of a later request; or a pipelined request waiting behind a response
            # that is still being sent: judge it after that.
            later = max(deadline, self.loop.time() + 0.1)
            self._header_timer = self.loop.call_at(later, self._on_header_timer)
            return
        self._refuse(
            408,
            f"request headers not complete within {self._limits.header_timeout:g} s",
            "headers slower than header_timeout",
        )

    def _responding(self) -> bool:
        """Whether a response is being sent on this connection right now."""
        cycle: RequestResponseCycle | None = self.cycle  # None until the first request
        return cycle is not None and not cycle.response_complete

    def _refuse(self, status: int, message: str, reason: str) -> None:
        _refusals.note(reason)
        self._cancel_header_timer()
        if not self._responding():
            body = (message + "\n").encode()
            phrase = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}.get(
                status, b"Service Unavailable"
            )
            self.transport.write(
                b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                % (status, phrase, len(body), body)
            )
        # Mid-response (pipelining) nothing may be written: the connection is just cut.
        self.transport.close()


class GuardedProtocolFactory:
    """What uvicorn's ``http`` option takes; a plain picklable object, because uvicorn hands
    its ``Config`` to spawned worker processes."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits

    def __call__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> GuardedHttpToolsProtocol:
        return GuardedHttpToolsProtocol(
            self.limits,
            config=config,
            server_state=server_state,
            app_state=app_state,
            _loop=_loop,
        )


__all__ = [
    "LOOPBACK_RESERVE",
    "ConnectionLimits",
    "GuardedHttpToolsProtocol",
    "GuardedProtocolFactory",
]
