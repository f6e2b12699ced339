"""Commands that print a lot (``log``, ``sbom``, ``policies``, ``check``, ``doctor``) stop
quietly when their reader goes away, as in ``pipgate log | head``.

Python ignores SIGPIPE and raises ``BrokenPipeError`` on the next write instead; uncaught,
that is a traceback, and even caught, the interpreter's final flush of stdout raises again
("Exception ignored ... BrokenPipeError"). The handler points stdout at ``/dev/null`` so
that last flush succeeds, and the command exits with the status a program killed by
SIGPIPE has (128 + 13), which shells treat as "the reader stopped", as for every other tool.
SIGPIPE itself stays ignored: restoring its default would also kill the process on a write
to a closed *socket*, which ``check NAME==VERSION`` and ``doctor`` make.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable

EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE


def quiet_on_broken_pipe(command: Callable[[], int]) -> int:
    """Run ``command``; if its stdout reader went away, exit quietly with 141."""
    try:
        status = command()
        sys.stdout.flush()  # a pipe closed after the last write shows up here
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    return status


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is not a real file (embedded, tests)
        pass


__all__ = ["EXIT_BROKEN_PIPE", "quiet_on_broken_pipe"]
