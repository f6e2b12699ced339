"""Rendered (and pre-compressed) page bytes, so a warm page request is a dictionary lookup.

Keyed by everything that changes the bytes: project, content type, the provenance URL base
and the policy generation (a reload makes every entry unreachable). An entry lives until
the cached upstream page it was rendered from needs revalidation.
"""

from __future__ import annotations

import gzip
import hashlib
from collections import OrderedDict
from dataclasses import dataclass

from policies.base import Verdict

GZIP_MIN_BYTES = 256


@dataclass(frozen=True, slots=True)
class Rendered:
    body: bytes
    gzipped: bytes | None
    etag: str
    content_type: str
    fresh_until: float
    verdicts: tuple[Verdict, ...]
    upstream: str | None

    @property
    def content_type_header(self) -> bytes:
        # Text types carry their charset; the PEP 691 types are defined as UTF-8.
        suffix = "; charset=utf-8" if self.content_type.startswith("text/") else ""
        return (self.content_type + suffix).encode()


RenderKey = tuple[str, str, str, str, str | None, int]


def render_key(
    name: str, content_type: str, scheme: str, host: str, label: str | None, generation: int
) -> RenderKey:
    """Everything that changes a page's bytes: absolute provenance URLs depend on the
    scheme, host and build label the client used; denials on the policy generation."""
    return (name, content_type, scheme, host, label, generation)


def make_rendered(
    body: bytes,
    content_type: str,
    fresh_until: float,
    verdicts: tuple[Verdict, ...],
    upstream: str | None,
) -> Rendered:
    # mtime=0 keeps the gzip bytes deterministic, so replicas agree on them.
    gzipped = gzip.compress(body, compresslevel=6, mtime=0) if len(body) >= GZIP_MIN_BYTES else None
    etag = 'W/"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return Rendered(body, gzipped, etag, content_type, fresh_until, verdicts, upstream)


class RenderCache:
    """An LRU bounded by total bytes held."""

    def __init__(self, max_bytes: int = 256 * 1024 * 1024) -> None:
        self._entries: OrderedDict[RenderKey, Rendered] = OrderedDict()
        self._bytes = 0
        self._max_bytes = max_bytes

    def get(self, key: RenderKey, now: float) -> Rendered | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now >= entry.fresh_until:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: RenderKey, entry: Rendered) -> None:
        if key in self._entries:
            self._drop(key)
        self._entries[key] = entry
        self._bytes += _weight(entry)
        while self._bytes > self._max_bytes and self._entries:
            self._drop(next(iter(self._entries)))

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0

    def _drop(self, key: RenderKey) -> None:
        entry = self._entries.pop(key)
        self._bytes -= _weight(entry)


def _weight(entry: Rendered) -> int:
    return len(entry.body) + (len(entry.gzipped) if entry.gzipped else 0)
