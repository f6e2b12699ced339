"""How much one upstream download may cost: bytes, wall-clock time, and time nobody waits.

- ``max_bytes`` (``max_artifact_bytes``): a file listed, announced (Content-Length) or
  streamed beyond it is refused before or as soon as it crosses the limit; the spool file
  is deleted.
- ``deadline`` (``download_deadline``): seconds from the first upstream byte requested to
  the last; a trickling upstream cannot hold a download (and its disk space) open forever.
- ``abandoned_grace`` (``abandoned_download_seconds``): when the last client reading a
  download has gone (or none ever came, as after a HEAD), the download gets this long to
  finish; then it is stopped and its spool deleted. Finishing within a budget rather than
  stopping at once, because clients retry: pip and uv repeat a failed download, and a retry
  within the grace joins the same download instead of starting over. Stopping eventually,
  because a download nobody waits for must not keep filling the disk.

``ReaderWatch`` counts the readers of one download and says when it has been abandoned.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from proxy.errors import UpstreamProtocolError, UpstreamUnavailable

GIB = 1024**3


@dataclass(frozen=True, slots=True)
class DownloadLimits:
    max_bytes: int = 4 * GIB
    deadline: float = 3600.0
    abandoned_grace: float = 30.0


class ArtifactTooLarge(UpstreamProtocolError):
    def __init__(self, filename: str, size: int, limit: int, how: str) -> None:
        super().__init__(
            f"{filename!r} is {how} {size} bytes, over the {limit}-byte limit (max_artifact_bytes)"
        )
        self.filename = filename


class DownloadAbandoned(UpstreamUnavailable):
    """Every client left and the download did not finish within the grace period."""


class DownloadTooSlow(UpstreamUnavailable):
    """The download did not finish within ``download_deadline``."""


class ReaderWatch:
    """``abandoned`` is set once no reader has been attached for ``grace`` seconds."""

    def __init__(self, grace: float) -> None:
        self._grace = grace
        self._readers = 0
        self._timer: asyncio.TimerHandle | None = None
        self.abandoned = asyncio.Event()

    @property
    def readers(self) -> int:
        return self._readers

    def start(self) -> None:
        """Begin watching (call on the event loop); a download starts without readers."""
        if self._readers == 0:
            self._arm()

    def attach(self) -> None:
        self._readers += 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def detach(self) -> None:
        self._readers -= 1
        if self._readers == 0:
            self._arm()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self) -> None:
        self.stop()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._grace, self.abandoned.set)


__all__ = [
    "ArtifactTooLarge",
    "DownloadAbandoned",
    "DownloadLimits",
    "DownloadTooSlow",
    "ReaderWatch",
]
