"""Content negotiation for the simple API: which format to answer, with which Content-Type.

Implements PEP 691 "Version + Format Selection" as kept in the living simple repository API
spec: the ``?format=`` URL parameter (one exact media type) takes precedence over ``Accept``;
``Accept`` entries carry RFC 9110 q-values (0 to 1, up to three decimals, ``q=0`` meaning
"not acceptable"), their order is meaningless, and ``latest`` means ``v1``.

Ties go to JSON when the client named it; a tie reached only through ``*/*`` (what
``requests`` sends by default) goes to ``text/html``, as does a missing ``Accept``, because
clients that name nothing are the legacy ones that can only read HTML (PyPI does the same).
"""

from __future__ import annotations

import enum
import functools
import re

from proxy.errors import NotAcceptable


class Format(enum.Enum):
    """The two representations of every simple API page; the value is its v1 media type."""

    JSON = "application/vnd.pypi.simple.v1+json"
    HTML = "application/vnd.pypi.simple.v1+html"

    @property
    def content_type(self) -> str:
        return self.value


TEXT_HTML = "text/html"

# Every media type pipgate answers to, most preferred first, with what it is answered with.
_OFFERS: dict[str, tuple[Format, str]] = {
    "application/vnd.pypi.simple.v1+json": (Format.JSON, Format.JSON.content_type),
    "application/vnd.pypi.simple.latest+json": (Format.JSON, Format.JSON.content_type),
    "application/vnd.pypi.simple.v1+html": (Format.HTML, Format.HTML.content_type),
    "application/vnd.pypi.simple.latest+html": (Format.HTML, Format.HTML.content_type),
    TEXT_HTML: (Format.HTML, TEXT_HTML),
}
_DEFAULT = (Format.HTML, TEXT_HTML)
_OFFERED = ", ".join(_OFFERS)

# RFC 9110 qvalue: "0" to "1" with at most three decimals.
_QVALUE = re.compile(r"(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)\Z")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+\Z")

_AcceptRange = tuple[str, str, float]
"""``(type, subtype, q)``; either part may be ``*``."""


def negotiate(accept: str | None, format_param: str | None) -> tuple[Format, str]:
    """The format to render and the exact Content-Type header to send with it.

    Raises ``NotAcceptable`` for an unknown ``?format=`` value or an ``Accept`` header that
    rules out every representation.
    """
    if format_param:
        # PEP 691's own examples write ?format=application/vnd.pypi.simple.v1+json, whose
        # unescaped "+" decodes as a space; a media type never contains one.
        offer = _OFFERS.get(format_param.strip().lower().replace(" ", "+"))
        if offer is None:
            raise NotAcceptable(
                f"unsupported format {format_param!r}; expected exactly one of: {_OFFERED}"
            )
        return offer
    if accept is None or not accept.strip():
        return _DEFAULT
    chosen = _negotiate_accept(accept)
    if chosen is None:
        raise NotAcceptable(f"nothing acceptable in Accept {accept[:200]!r}; offered: {_OFFERED}")
    return chosen


@functools.lru_cache(maxsize=256)
def _negotiate_accept(accept: str) -> tuple[Format, str] | None:
    ranges = _parse_accept(accept)
    if not ranges:
        # Nothing in the header could be understood: behave as if it was not sent.
        return _DEFAULT
    best: tuple[float, int, int] | None = None
    chosen: tuple[Format, str] | None = None
    for preference, (media_type, offer) in enumerate(_OFFERS.items()):
        q, specificity = _quality(media_type, ranges)
        if q <= 0:
            continue
        # Only "*/*" matched: rank text/html first, as for a missing Accept header.
        rank = -preference if specificity > 0 else preference
        key = (q, specificity, rank)
        if best is None or key > best:
            best, chosen = key, offer
    return chosen


def _quality(media_type: str, ranges: list[_AcceptRange]) -> tuple[float, int]:
    """The q of the most specific range matching ``media_type`` (RFC 9110 section 12.5.1)."""
    main, sub = media_type.split("/")
    q, specificity = 0.0, -1
    for range_main, range_sub, range_q in ranges:
        if range_main == main and range_sub == sub:
            level = 2
        elif range_main == main and range_sub == "*":
            level = 1
        elif range_main == "*" and range_sub == "*":
            level = 0
        else:
            continue
        if level > specificity:
            q, specificity = range_q, level
    return q, specificity


def _parse_accept(accept: str) -> list[_AcceptRange]:
    """Parse ``Accept``; entries that are not ``type/subtype[;params]`` are skipped."""
    ranges = []
    for entry in accept.lower().split(","):
        parsed = _parse_range(entry)
        if parsed is not None:
            ranges.append(parsed)
    return ranges


def _parse_range(entry: str) -> _AcceptRange | None:
    media_range, *params = entry.split(";")
    main, slash, sub = media_range.strip().partition("/")
    if not slash or not _TOKEN.match(main) or not _TOKEN.match(sub):
        return None
    if main == "*" and sub != "*":
        return None
    q = 1.0
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() == "q":
            value = value.strip()
            if not _QVALUE.match(value):
                return None
            q = float(value)
    return main, sub, q
