"""ASGI responses for artifacts: GET, HEAD and single ``Range`` requests (uv probes wheels
with HEAD + Range when there is no metadata file), with a completion callback for the
fetch log.

A body that fails before its first byte raises before the response starts, so the error
table answers with a proper status. A body that fails later raises mid-stream: the
connection is cut and the client never sees a complete response. A client that disconnects
stops the reading at once (uvicorn drops what is sent after a disconnect, so without this
a departed client would keep a live download "read" to its end) and is logged as 499.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import BinaryIO

from starlette.types import Receive, Scope, Send

from proxy.repository import Body
from proxy.sendfile_cycle import SENDFILE
from storage.base import StorageError

FILE_CHUNK = 1024 * 1024
_RANGE = re.compile(r"bytes=(\d*)-(\d*)\Z")

OnDone = Callable[[int, int], Awaitable[None]]
"""Called with (status, bytes sent) just before the final chunk of a complete response."""
OnAbort = Callable[[Exception, int], Awaitable[None]]
"""Called with (error, bytes sent) when a started response had to be cut short."""

logger = logging.getLogger(__name__)


class ClientDisconnected(Exception):
    """The client went away before the whole body was sent (fetch-log status 499)."""


async def _client_gone(receive: Receive) -> None:
    """Return once the server reports the client's disconnect (the request body, if any,
    is read and ignored: artifact requests have none)."""
    complete = False
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        if complete:
            # A server that repeats the request instead of waiting (some test harnesses)
            # can never report a disconnect: stop asking, until cancelled.
            await asyncio.Event().wait()
        complete = not message.get("more_body", False)


class RangeNotSatisfiable(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(f"requested range not satisfiable (size {size})")
        self.size = size


def parse_range(header: str | None, size: int | None) -> tuple[int, int] | None:
    """``(start, end_exclusive)`` for a single satisfiable byte range, else ``None`` (200).

    Multiple ranges and unknown sizes get the whole body, as RFC 9110 allows.
    """
    if header is None or size is None:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix range: the last N bytes
        start, end = max(0, size - _position(last)), size
    else:
        start = _position(first)
        end = min(size, _position(last) + 1) if last else size
    if start >= size or start >= end:
        raise RangeNotSatisfiable(size)
    return start, end


def _position(digits: str) -> int:
    # Past 19 digits a position is beyond any file, and int() of 4,300+ digits raises.
    return int(digits) if len(digits) <= 19 else 2**63


class ArtifactResponse:
    def __init__(
        self,
        body: Body,
        media_type: str,
        headers: dict[str, str],
        on_done: OnDone | None = None,
        on_abort: OnAbort | None = None,
    ) -> None:
        self.body = body
        self.media_type = media_type
        self.headers = headers
        self.on_done = on_done
        self.on_abort = on_abort
        self._sent = 0
        self._zero_copy = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_headers = dict(scope["headers"])
        range_header = request_headers.get(b"range")
        size = self.body.size
        span = parse_range(range_header.decode("latin-1") if range_header else None, size)
        start, end = span if span is not None else (0, size)
        status = 206 if span is not None else 200
        if scope["method"] == "HEAD":
            await self._start(send, status, start, end, size)
            await send({"type": "http.response.body", "body": b""})
            if self.on_done is not None:
                await self.on_done(status, 0)
            return
        self._sent = 0
        self._zero_copy = SENDFILE in scope.get("extensions", {})
        body = asyncio.ensure_future(self._body(send, status, start, end, size))
        gone = asyncio.ensure_future(_client_gone(receive))
        try:
            await asyncio.wait({body, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            if not body.done():
                # The client left: stop reading (a live download then loses this reader).
                body.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await body
        if body.cancelled():
            await self._abort(ClientDisconnected("the client disconnected"), self._sent)
            return
        body.result()  # errors before the first byte become proper statuses

    async def _body(
        self, send: Send, status: int, start: int, end: int | None, size: int | None
    ) -> None:
        path = self.body.path
        if path is not None and end is not None and self._zero_copy:
            await self._send_file(send, path, status, start, end, size)
            return
        chunks = self._chunks(start, end).__aiter__()
        first = await anext(chunks, b"")  # errors before any byte become proper statuses
        size = self.body.size if size is None else size
        await self._start(send, status, start, end if end is not None else size, size)
        await self._stream(send, first, chunks, status)

    async def _send_file(
        self, send: Send, path: Path, status: int, start: int, end: int, size: int | None
    ) -> None:
        """A verified blob through ``pipgate.sendfile``: all but its last byte copied by the
        kernel, then (once the fetch log has the row) the last byte."""
        file = await asyncio.to_thread(_open_blob, path, end)  # errors: before any byte
        try:
            await self._start(send, status, start, end, size)
            try:
                count = end - start
                if count > 1:
                    message = {"file": file, "offset": start, "count": count - 1}
                    await send({"type": SENDFILE, **message, "more_body": True})
                    self._sent = count - 1
                last = (
                    await asyncio.to_thread(os.pread, file.fileno(), 1, end - 1) if count else b""
                )
                if self.on_done is not None:
                    await asyncio.shield(self.on_done(status, count))
            except Exception as error:
                await self._abort(error, self._sent)
                return
            await send({"type": "http.response.body", "body": last, "more_body": False})
        finally:
            file.close()

    def _chunks(self, start: int, end: int | None) -> AsyncIterator[bytes]:
        path = self.body.path
        if path is not None:
            return _read_file(path, start, end)
        return self.body.iter_range(start, end)

    async def _start(
        self, send: Send, status: int, start: int, end: int | None, size: int | None
    ) -> None:
        headers = [(b"content-type", self.media_type.encode())]
        headers += [(k.encode(), v.encode()) for k, v in self.headers.items()]
        headers.append((b"accept-ranges", b"bytes"))
        if end is not None:
            headers.append((b"content-length", str(end - start).encode()))
        if status == 206:
            headers.append((b"content-range", f"bytes {start}-{end - 1}/{size}".encode()))  # type: ignore[operator]
        await send({"type": "http.response.start", "status": status, "headers": headers})

    async def _stream(
        self, send: Send, first: bytes, chunks: AsyncIterator[bytes], status: int
    ) -> None:
        pending = first
        try:
            async for chunk in chunks:
                if pending:
                    await send({"type": "http.response.body", "body": pending, "more_body": True})
                    self._sent += len(pending)
                pending = chunk
            # The final chunk goes out only after the fetch log has the row: a client that
            # got the whole artifact always has its entry, even if pipgate is killed now.
            if self.on_done is not None:
                await asyncio.shield(self.on_done(status, self._sent + len(pending)))
        except Exception as error:
            await self._abort(error, self._sent)
            return
        await send({"type": "http.response.body", "body": pending, "more_body": False})

    async def _abort(self, error: Exception, sent: int) -> None:
        """Leave the response incomplete (the server then closes the connection, so the
        client sees a short body, never a complete one) and record why."""
        logger.warning("response cut short after %d bytes: %s", sent, error)
        if self.on_abort is not None:
            try:
                await self.on_abort(error, sent)
            except Exception as log_error:
                logger.warning("the cut-short response was not logged: %s", log_error)


def _open_blob(path: Path, end: int) -> BinaryIO:
    try:
        file = path.open("rb")
    except FileNotFoundError as error:  # evicted since it was looked up: the client may retry
        raise StorageError(
            f"{path.name} vanished from the blob store before it was sent"
        ) from error
    if os.fstat(file.fileno()).st_size < end:
        file.close()
        raise StorageError(f"{path.name} is shorter than its listed size")
    return file


async def _read_file(path: Path, start: int, end: int | None) -> AsyncIterator[bytes]:
    # One worker-thread hop per MiB (the first also opens the file): far fewer hops than
    # 64 KiB reads, and memory stays flat whatever the file size.
    fd, stop, chunk = await asyncio.to_thread(_open_and_read, path, start, end)
    try:
        position = start + len(chunk)
        yield chunk
        while position < stop:
            want = min(FILE_CHUNK, stop - position)
            chunk = await asyncio.to_thread(os.pread, fd, want, position)
            if not chunk:
                raise OSError(f"{path.name} is shorter than expected ({position} < {stop})")
            position += len(chunk)
            yield chunk
    finally:
        os.close(fd)


def _open_and_read(path: Path, start: int, end: int | None) -> tuple[int, int, bytes]:
    fd = os.open(path, os.O_RDONLY)
    try:
        stop = end if end is not None else os.fstat(fd).st_size
        return fd, stop, os.pread(fd, min(FILE_CHUNK, max(0, stop - start)), start)
    except BaseException:
        os.close(fd)
        raise
