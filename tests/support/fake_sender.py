"""How ``FakeUpstream`` writes a body: faithfully, or with an injected fault.

Faults: "500"/"503" (an error answer), "timeout" (stall past the client's timeout), "reset"
(TCP RST after some body bytes), "truncate" (a Content-Length larger than what is sent, then a
clean close), "wrong-hash" (bytes that differ from the listed sha256) and "slow" (throttled).
Files also get HEAD and single-range ``Range`` support (RFC 9110 14), as uv relies on it.
"""

from __future__ import annotations

import asyncio
import gzip
import re
import socket
import struct
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

FaultKind = Literal["500", "503", "timeout", "reset", "truncate", "wrong-hash", "slow"]
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_SLOW_TICK = 0.05


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    times: int | None = None
    delay: float = 30.0
    after: int | None = None
    rate: int = 64 * 1024


async def send_body(
    request: web.Request,
    body: bytes,
    headers: dict[str, str],
    fault: Fault | None,
    *,
    ranges: bool = False,
    gzip_body: bool = False,
) -> web.StreamResponse:
    kind = fault.kind if fault is not None else None
    if kind == "wrong-hash" and body:
        body = bytes([body[0] ^ 0xFF]) + body[1:]
    if gzip_body:
        body = gzip.compress(body, mtime=0)
        headers = {**headers, "Content-Encoding": "gzip"}
    status = 200
    if ranges and "Range" in request.headers:
        status, body, headers = _apply_range(request.headers["Range"], body, headers)
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = len(body)
    await response.prepare(request)
    if request.method == "HEAD" or status == 416:
        return response
    if fault is not None and fault.kind in {"reset", "truncate"}:
        await _break_off(request, response, body, fault)
    elif fault is not None and fault.kind == "slow":
        await _trickle(response, body, fault.rate)
    else:
        await response.write(body)
    return response


def _apply_range(
    header: str, body: bytes, headers: dict[str, str]
) -> tuple[int, bytes, dict[str, str]]:
    total = len(body)
    span = _parse_range(header, total)
    if span is None:
        return 416, b"", {**headers, "Content-Range": f"bytes */{total}"}
    start, end = span
    return 206, body[start : end + 1], {**headers, "Content-Range": f"bytes {start}-{end}/{total}"}


def _parse_range(header: str, total: int) -> tuple[int, int] | None:
    match = _RANGE.fullmatch(header.strip())
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":
        length = int(last)
        return (max(total - length, 0), total - 1) if length and total else None
    start = int(first)
    end = min(int(last), total - 1) if last else total - 1
    return (start, end) if start <= end else None


async def _break_off(
    request: web.Request, response: web.StreamResponse, body: bytes, fault: Fault
) -> None:
    cut = fault.after if fault.after is not None else len(body) // 2
    await response.write(body[:cut])
    await asyncio.sleep(0.05)  # let the partial body reach the client before the cut
    transport = request.transport
    if transport is None:
        return
    if fault.kind == "reset":
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # SO_LINGER with a zero timeout turns close() into a TCP RST.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()


async def _trickle(response: web.StreamResponse, body: bytes, rate: int) -> None:
    # Below 1/_SLOW_TICK bytes per second the pause grows, so a low rate is an idle stall.
    step = max(1, int(rate * _SLOW_TICK))
    for offset in range(0, len(body), step):
        await response.write(body[offset : offset + step])
        await asyncio.sleep(step / rate)
