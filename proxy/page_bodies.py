"""Reading an upstream page body within bounds: per page, and for all pages at once.

A page may be up to ``max_page_bytes`` (64 MiB); past that it is refused as it streams (or
at once, from its Content-Length). Read whole, ten oversized pages asked at the same time
held ten times that. So a body that grows past ``BIG_PAGE_BYTES`` (4 MiB) goes on only
while it holds the ``BigPageSlots`` slot: the usual small page never waits, and pages as
big as the cap are read one at a time. A slot holder waits for nothing but its own bytes,
so slots cannot deadlock. A refused body is freed at once (``read_capped``'s ``finally``).
"""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp

from proxy.errors import UpstreamProtocolError

CHUNK_SIZE = 64 * 1024
BIG_PAGE_BYTES = 4 * 1024 * 1024
BIG_PAGE_SLOTS = 1


class BigPageSlots:
    """How many page bodies above ``BIG_PAGE_BYTES`` may be read at once (per upstream)."""

    def __init__(self, slots: int = BIG_PAGE_SLOTS, threshold: int = BIG_PAGE_BYTES) -> None:
        self.threshold = threshold
        self._slots = asyncio.Semaphore(slots)

    def hold(self) -> asyncio.Semaphore:
        return self._slots


async def read_capped(
    response: aiohttp.ClientResponse, url: str, limit: int, slots: BigPageSlots
) -> bytes:
    if response.content_length is not None and response.content_length > limit:
        raise UpstreamProtocolError(
            f"{url}: page is {response.content_length} bytes, over the {limit}-byte limit"
        )
    body = bytearray()
    try:
        async with contextlib.AsyncExitStack() as stack:
            big = False
            async for chunk in response.content.iter_chunked(CHUNK_SIZE):
                body += chunk
                if len(body) > limit:
                    raise UpstreamProtocolError(f"{url}: page exceeds the {limit}-byte limit")
                if not big and len(body) > slots.threshold:
                    await stack.enter_async_context(slots.hold())
                    big = True
            return bytes(body)
    finally:
        # The error's traceback keeps this frame alive, in a reference cycle only the garbage
        # collector breaks: without this, every refused page held its 64 MiB until then.
        body.clear()


__all__ = ["BIG_PAGE_BYTES", "BigPageSlots", "read_capped"]
