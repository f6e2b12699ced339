"""A cheap writer of log lines for the event loop: lines are buffered and written in a batch
a fraction of a second later, instead of one ``write`` system call per request.

A batch is written in pieces of at most ``PIPE_BUF`` bytes that end at a line break: POSIX
makes such writes to a pipe atomic, so the lines of ``--workers N`` processes sharing one
stdout never interleave mid-line. A process killed with ``kill -9`` loses at most the last
``interval`` of lines; the fetch log, not this, is the durable record.
"""

from __future__ import annotations

import asyncio
import select
import sys
from collections.abc import Callable

FLUSH_INTERVAL = 0.25
"""Seconds a line may wait in the buffer."""
MAX_BUFFERED = 512
"""Lines that force a write at once (bounds memory under load)."""
PIPE_BUF = getattr(select, "PIPE_BUF", 512)


def write_stdout(text: str) -> None:
    # Looked up on every write so that a replaced sys.stdout (tests, embedding) is honoured.
    sys.stdout.write(text)
    sys.stdout.flush()


class LineSink:
    """``write(line)`` from the event loop; ``flush()`` at shutdown (and on demand)."""

    def __init__(
        self,
        out: Callable[[str], None] = write_stdout,
        *,
        interval: float = FLUSH_INTERVAL,
        max_buffered: int = MAX_BUFFERED,
    ) -> None:
        self._out = out
        self._interval = interval
        self._max = max_buffered
        self._lines: list[str] = []
        self._timer: asyncio.TimerHandle | None = None
        self.broken: str | None = None
        """Why writing stopped (e.g. stdout closed); lines are then dropped, never raised."""

    def write(self, line: str) -> None:
        """Queue one line (ending in a newline)."""
        lines = self._lines
        lines.append(line)
        if len(lines) >= self._max:
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # not on an event loop: nothing would flush later
                self.flush()
                return
            self._timer = loop.call_later(self._interval, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        lines, self._lines = self._lines, []
        if not lines or self.broken is not None:
            return
        try:
            for piece in pieces(lines):
                self._out(piece)
        except (OSError, ValueError) as error:  # closed or full stdout must not stop serving
            self.broken = f"{type(error).__name__}: {error}"
            print(f"pipgate: access log stopped: {self.broken}", file=sys.stderr)


def pieces(lines: list[str], limit: int = PIPE_BUF) -> list[str]:
    """``lines`` joined into strings of at most ``limit`` bytes each, split only between
    lines (a longer line goes alone)."""
    out: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        length = len(line.encode()) if not line.isascii() else len(line)
        if current and size + length > limit:
            out.append("".join(current))
            current, size = [], 0
        current.append(line)
        size += length
    if current:
        out.append("".join(current))
    return out


__all__ = ["FLUSH_INTERVAL", "LineSink", "pieces", "write_stdout"]
