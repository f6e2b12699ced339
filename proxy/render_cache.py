"""Rendered (and pre-compressed) page bytes, so a warm page request is a dictionary lookup.

A page is rendered once per (project, content type, policy generation): the key holds
nothing a client controls. The only part of a page that depends on the request, pipgate's
own absolute URL (PEP 740 provenance links, the JSON API's file URLs; it comes from
``public_url`` or the Host header and build label), is rendered as ``ROOT_TOKEN`` and put in
per root by ``variant_of``: a byte replace and a gzip, never a render. A page without
absolute links (most pages) is the same bytes for every root and needs no variant.

An entry lives until the cached upstream page it was rendered from needs revalidation, or
until an input change (``invalidate``) names its project (its variants go with it); a reload
changes the generation, so older entries are never looked up again. Entries and variants
share one LRU bounded by bytes. ``make`` is single-flight: concurrent misses for one key
share one render.

A render that started before an invalidation of its project must not be stored after it
(it may hold the old verdicts): ``make`` takes ``epoch`` before it starts and ``put``
refuses the entry then (the request that made it still gets it).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import html
import json
import secrets
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, replace
from typing import Literal

from policies.base import Verdict

GZIP_MIN_BYTES = 256
INLINE_BYTES = 256 * 1024
"""Bigger bodies are compressed (and hashed) in a worker thread, never on the event loop."""
ROOT_TOKEN = f"pipgate-root-{secrets.token_hex(16)}/"
"""Stands for pipgate's absolute root URL in a rendered page: random per process, so no
upstream can put it in a page; plain ASCII that no HTML or JSON escape alters."""

Escape = Literal["html", "json"]


@dataclass(frozen=True, slots=True)
class Rendered:
    body: bytes
    gzipped: bytes | None
    etag: str
    content_type: str
    fresh_until: float
    verdicts: tuple[Verdict, ...]
    upstream: str | None
    rooted: Escape | None = None
    """``body`` contains ``ROOT_TOKEN`` (to be escaped this way): serve a ``variant_of`` it."""

    @property
    def content_type_header(self) -> bytes:
        # Text types carry their charset; the PEP 691 types are defined as UTF-8.
        suffix = "; charset=utf-8" if self.content_type.startswith("text/") else ""
        return (self.content_type + suffix).encode()


RenderKey = tuple[str, str, int]
"""(project or variant name, content type, policy generation)."""


def render_key(name: str, content_type: str, generation: int) -> RenderKey:
    return (name, content_type, generation)


def make_rendered(
    body: bytes,
    content_type: str,
    fresh_until: float,
    verdicts: tuple[Verdict, ...],
    upstream: str | None,
    escape: Escape = "html",
) -> Rendered:
    """Pure and thread-safe: call it in a worker thread for a big body."""
    if ROOT_TOKEN.encode() in body:
        etag = _etag(body)
        return Rendered(body, None, etag, content_type, fresh_until, verdicts, upstream, escape)
    return Rendered(body, _gzip(body), _etag(body), content_type, fresh_until, verdicts, upstream)


def variant_of(template: Rendered, root: str) -> Rendered:
    """``template`` with ``root`` (escaped for its format) in place of ``ROOT_TOKEN``."""
    # JSON: ASCII escapes, as the renderer writes strings; HTML: an attribute value.
    json_root = template.rooted == "json"
    shown = json.dumps(root)[1:-1] if json_root else html.escape(root, quote=True)
    body = template.body.replace(ROOT_TOKEN.encode(), shown.encode("ascii", "xmlcharrefreplace"))
    etag = 'W/"' + hashlib.sha256(f"{template.etag}{root}".encode()).hexdigest()[:32] + '"'
    return replace(template, body=body, gzipped=_gzip(body), etag=etag, rooted=None)


async def off_loop(heavy: bool, work: Callable[[], Rendered]) -> Rendered:
    """``work()`` inline for a small page, in a worker thread for a big one (a thread hop
    costs more than rendering a small page, and nothing next to rendering a huge one)."""
    if not heavy:
        return work()
    return await asyncio.to_thread(work)


def _gzip(body: bytes) -> bytes | None:
    # mtime=0 keeps the gzip bytes deterministic, so replicas agree on them.
    return gzip.compress(body, compresslevel=6, mtime=0) if len(body) >= GZIP_MIN_BYTES else None


def _etag(body: bytes) -> str:
    return 'W/"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def project_of(key: RenderKey) -> str:
    """The project a key renders (JSON API keys are ``<name>/json``, ``<name>/<v>/json``)."""
    return key[0].split("/", 1)[0]


_Slot = RenderKey | tuple[RenderKey, str]
"""A rendered page, or one of its variants: (key, root)."""
_RECENT_INVALIDATIONS = 256
"""Invalidations remembered for ``put``'s check; an older ``since`` refuses every entry."""


def _project(slot: _Slot) -> str:
    key = slot[0] if isinstance(slot[0], tuple) else slot
    return project_of(key)


class RenderCache:
    """An LRU of rendered pages and their per-root variants, bounded by total bytes, with
    entries findable by project."""

    def __init__(self, max_bytes: int = 256 * 1024 * 1024) -> None:
        self._entries: OrderedDict[_Slot, Rendered] = OrderedDict()
        self._by_project: dict[str, set[_Slot]] = {}
        self._bytes = 0
        self._max_bytes = max_bytes
        self._making: dict[RenderKey, asyncio.Future[Rendered]] = {}
        self.epoch = 0
        """Bumped by every invalidation; pass the value read before rendering to ``put``."""
        self._recent: deque[tuple[int, frozenset[str] | None]] = deque(maxlen=_RECENT_INVALIDATIONS)

    def __len__(self) -> int:
        return len(self._entries)

    def invalidate(self, projects: Collection[str] | None) -> int:
        """Drop the entries of ``projects`` (``None``: all); returns how many were dropped."""
        self.epoch += 1
        names = None if projects is None else frozenset(projects)
        self._recent.append((self.epoch, names))
        if names is None:
            dropped = len(self._entries)
            self.clear()
            return dropped
        slots = [slot for name in names for slot in self._by_project.get(name, ())]
        for slot in slots:
            self._drop(slot)
        return len(slots)

    def _invalidated_since(self, since: int, name: str) -> bool:
        if since >= self.epoch:
            return False
        if not self._recent or self._recent[0][0] > since + 1:
            return True  # older than what is remembered: assume it was
        return any(
            epoch > since and (names is None or name in names) for epoch, names in self._recent
        )

    def get(self, key: RenderKey, now: float) -> Rendered | None:
        return self._get(key, now)

    def variant(self, key: RenderKey, root: str, now: float) -> Rendered | None:
        return self._get((key, root), now)

    def put(self, key: RenderKey, entry: Rendered, since: int | None = None) -> bool:
        """Store ``entry`` unless its project was invalidated after ``since`` (an epoch)."""
        return self._put(key, entry, since)

    def put_variant(
        self, key: RenderKey, root: str, entry: Rendered, since: int | None = None
    ) -> bool:
        return self._put((key, root), entry, since)

    async def make(self, key: RenderKey, produce: Callable[[], Awaitable[Rendered]]) -> Rendered:
        """``produce()`` once for every concurrent miss of ``key``; the result is cached
        (unless an invalidation of its project came while it was made)."""
        pending = self._making.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Rendered] = asyncio.get_running_loop().create_future()
        self._making[key] = future
        since = self.epoch
        try:
            entry = await produce()
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: the waiters re-raise it themselves
            raise
        else:
            self._put(key, entry, since)
            future.set_result(entry)
            return entry
        finally:
            self._making.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()
        self._by_project.clear()
        self._bytes = 0

    def _get(self, slot: _Slot, now: float) -> Rendered | None:
        entry = self._entries.get(slot)
        if entry is None:
            return None
        if now >= entry.fresh_until:
            self._drop(slot)
            return None
        self._entries.move_to_end(slot)
        return entry

    def _put(self, slot: _Slot, entry: Rendered, since: int | None) -> bool:
        if since is not None and self._invalidated_since(since, _project(slot)):
            return False
        if slot in self._entries:
            self._drop(slot)
        self._entries[slot] = entry
        self._by_project.setdefault(_project(slot), set()).add(slot)
        self._bytes += _weight(entry)
        while self._bytes > self._max_bytes and self._entries:
            self._drop(next(iter(self._entries)))
        return True

    def _drop(self, slot: _Slot) -> None:
        entry = self._entries.pop(slot)
        self._bytes -= _weight(entry)
        slots = self._by_project.get(_project(slot))
        if slots is not None:
            slots.discard(slot)
            if not slots:
                del self._by_project[_project(slot)]


def _weight(entry: Rendered) -> int:
    return len(entry.body) + (len(entry.gzipped) if entry.gzipped else 0)


__all__ = [
    "ROOT_TOKEN",
    "Escape",
    "RenderCache",
    "RenderKey",
    "Rendered",
    "make_rendered",
    "off_loop",
    "project_of",
    "render_key",
    "variant_of",
]
