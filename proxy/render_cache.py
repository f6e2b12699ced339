"""Rendered (and pre-compressed) page bytes, so a warm page request is a dictionary lookup.

Keyed by everything that changes the bytes: project, content type, the provenance URL base
and the policy generation (a reload makes every entry unreachable). An entry lives until
the cached upstream page it was rendered from needs revalidation, or until an input change
(``invalidate``) names its project.

A render that started before an invalidation of its project must not be stored after it
(it may hold the old verdicts): callers take ``epoch`` before they start and pass it to
``put``, which then refuses the entry.
"""

from __future__ import annotations

import gzip
import hashlib
from collections import OrderedDict, deque
from collections.abc import Collection
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


def project_of(key: RenderKey) -> str:
    """The project a key renders (JSON API keys are ``<name>/json``, ``<name>/<v>/json``)."""
    return key[0].split("/", 1)[0]


_RECENT_INVALIDATIONS = 256
"""Invalidations remembered for ``put``'s check; an older ``since`` refuses every entry."""


class RenderCache:
    """An LRU bounded by total bytes held, with entries findable by project."""

    def __init__(self, max_bytes: int = 256 * 1024 * 1024) -> None:
        self._entries: OrderedDict[RenderKey, Rendered] = OrderedDict()
        self._by_project: dict[str, set[RenderKey]] = {}
        self._bytes = 0
        self._max_bytes = max_bytes
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
        keys = [key for name in names for key in self._by_project.get(name, ())]
        for key in keys:
            self._drop(key)
        return len(keys)

    def _invalidated_since(self, since: int, name: str) -> bool:
        if since >= self.epoch:
            return False
        if not self._recent or self._recent[0][0] > since + 1:
            return True  # older than what is remembered: assume it was
        return any(
            epoch > since and (names is None or name in names) for epoch, names in self._recent
        )

    def get(self, key: RenderKey, now: float) -> Rendered | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now >= entry.fresh_until:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: RenderKey, entry: Rendered, since: int | None = None) -> bool:
        """Store ``entry`` unless its project was invalidated after ``since`` (an epoch)."""
        if since is not None and self._invalidated_since(since, project_of(key)):
            return False
        if key in self._entries:
            self._drop(key)
        self._entries[key] = entry
        self._by_project.setdefault(project_of(key), set()).add(key)
        self._bytes += _weight(entry)
        while self._bytes > self._max_bytes and self._entries:
            self._drop(next(iter(self._entries)))
        return True

    def clear(self) -> None:
        self._entries.clear()
        self._by_project.clear()
        self._bytes = 0

    def _drop(self, key: RenderKey) -> None:
        entry = self._entries.pop(key)
        self._bytes -= _weight(entry)
        keys = self._by_project.get(project_of(key))
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_project[project_of(key)]


def _weight(entry: Rendered) -> int:
    return len(entry.body) + (len(entry.gzipped) if entry.gzipped else 0)
