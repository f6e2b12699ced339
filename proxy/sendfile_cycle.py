"""Zero-copy file bodies: the ``pipgate.sendfile`` ASGI extension, served by ``loop.sendfile``.

uvicorn sends a file as the chunks the application reads into memory: 1 MiB read, 1 MiB in
the transport's buffer, per connection, so 1,000 clients of a warm file held gigabytes. With
this extension the application sends ``{"type": "pipgate.sendfile", "file", "offset",
"count", "more_body"}`` after ``http.response.start`` (``file``: an open binary file, which
the application keeps and closes) and the kernel copies the bytes from
the page cache to the socket (``os.sendfile`` through ``loop.sendfile``): no buffer in
Python, whatever the file size or the number of clients.

``loop.sendfile`` is native on the asyncio event loop only (uvloop raises
``NotImplementedError``), so ``pipgate serve`` runs uvicorn on asyncio; on a loop or transport
without it (TLS) asyncio falls back to reading and writing in small pieces, still bounded.
The extension is offered in ``scope["extensions"]`` by ``proxy.connection_guard``; the same
scope key is absent under any other server, and ``proxy.responses`` then reads chunks.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

SENDFILE = "pipgate.sendfile"


class SendfileCycle(RequestResponseCycle):
    """uvicorn's request/response cycle plus ``pipgate.sendfile`` messages."""

    async def send(self, message: Any) -> None:
        if message["type"] != SENDFILE:
            await super().send(message)
            return
        if not self.response_started or self.response_complete or self.chunked_encoding:
            raise RuntimeError(f"{SENDFILE} needs a started response with a Content-Length")
        offset, count = int(message["offset"]), int(message["count"])
        if count > self.expected_content_length:
            raise RuntimeError("Response content longer than Content-Length")
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        if self.scope["method"] != "HEAD" and count:
            await asyncio.get_running_loop().sendfile(
                self.transport, message["file"], offset, count
            )
        self.expected_content_length -= count
        if message.get("more_body", False):
            return
        if self.expected_content_length != 0:
            raise RuntimeError("Response content shorter than Content-Length")
        self.response_complete = True
        self.message_event.set()
        if not self.keep_alive:
            self.transport.close()
        self.on_response()


__all__ = ["SENDFILE", "SendfileCycle"]
