"""Pull what a PEP 503 page says out of its HTML: anchors, ``<meta>`` tags, ``<base>``.

Two tokenizers feed one collector. ``html.parser`` is the reference, but it needs about
110 ms of CPU just to tokenize a 6,000-file page (3.5 MB) on a small machine, against about
45 ms for the regular-expression tokenizer. Ordinary index pages therefore go through the
latter, which follows the reference's rules for tags, comments, quoted/unquoted/valueless
attributes and character references. It only claims the plain attribute syntax that every
index emits (ASCII-whitespace separated ``name``, ``name="v"``, ``name='v'``, ``name=v``):
on stray ``=`` signs, quotes in names, unquoted values with ``/`` and the like, the
reference's tolerant rules differ from HTML5's and from any regular expression, so a page
with one such tag goes through ``html.parser`` whole, as do pages with raw-text elements
(``<script>``, ``<style>``) or marked sections, whose contents are not markup. A property
test checks that both agree on every input.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

Attributes = dict[str, str | None]
"""Lower-cased attribute names; ``None`` for a valueless attribute (``data-yanked``)."""

_NEEDS_REFERENCE = re.compile(r"<(?:script|style)|<!\[", re.IGNORECASE)
# Attribute text of a start tag: anything up to ">" that is not inside quotes.
_ATTRS = r"([^>\"']*(?:(?:\"[^\"]*\"|'[^']*')[^>\"']*)*)"
_TOKEN = re.compile(
    r"<!--(.*?)(?:--!?>|\Z)"  # 1: comment
    # 2, 3: <a ...>text</a> and the <br> after it: the bulk of every page, in one match.
    rf"|<[aA](?=[\s/>]){_ATTRS}>([^<]*)</[aA]\s*>(?:\s*<br\s*/?>)?"
    rf"|<(/?)([a-zA-Z][^\t\n\r\f />\x00]*){_ATTRS}>"  # 4: end slash, 5: tag name, 6: attrs
    r"|<[!?][^>]*>",  # doctype, processing instruction, bogus comment
    re.DOTALL,
)
_COMMENT, _ANCHOR, _TAG = 1, 3, 6
# name, "=" (only when a value follows), then the value in one of its three forms.
_ATTRIBUTE = re.compile(
    r"([^\s/>\"'=][^\s/>=]*)(?:\s*(=)=*\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>]*)))?"
)
# Only these tags carry anything a simple API client reads.
_WANTED = frozenset({"a", "meta", "base"})
# The attribute text of a tag the fast tokenizer may read; anything else is not "plain".
_PLAIN_ATTRS = re.compile(
    r"(?>[ \t\n\r\f]++[A-Za-z_:][-A-Za-z0-9_:.]*+"
    r"(?>[ \t\n\r\f]*+=[ \t\n\r\f]*+(?>\"[^\"]*+\"|'[^']*+'|[^ \t\n\r\f\"'=<>`/]++))?)*+"
    r"[ \t\n\r\f]*+/?"
)
_SERIAL = re.compile(r"\s*SERIAL\s+(\d{1,20})\s*\Z")


@dataclass(slots=True)
class Anchor:
    attrs: Attributes
    text: str

    @property
    def href(self) -> str | None:
        return self.attrs.get("href")


@dataclass(slots=True)
class HtmlDocument:
    anchors: list[Anchor] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    """``<meta name=... content=...>`` by lower-cased name; the first one wins."""
    base: str | None = None
    """``href`` of the first ``<base>``: what relative links resolve against."""
    serial: int | None = None
    """PyPI's trailing ``<!--SERIAL n-->`` comment."""


def scan_html(text: str) -> HtmlDocument:
    if _NEEDS_REFERENCE.search(text):
        return scan_html_reference(text)
    collector = _Collector()
    try:
        _tokenize(text, collector)
    except _NotPlain:
        return scan_html_reference(text)
    return collector.finish()


def scan_html_reference(text: str) -> HtmlDocument:
    """``scan_html`` through ``html.parser``: the slow path, and the tests' oracle."""
    collector = _Collector()
    parser = _ReferenceParser(collector)
    parser.feed(text)
    parser.close()
    return collector.finish()


class _NotPlain(Exception):
    """A tag outside the plain attribute syntax: the reference parser reads the page."""


class _Collector:
    """Receives tokens from either tokenizer; keeps anchors, meta, base and serial."""

    def __init__(self) -> None:
        self.document = HtmlDocument()
        self.open_anchor: Attributes | None = None
        self._text: list[str] = []

    def anchor(self, attrs: Attributes, text: str) -> None:
        self._close()
        self.document.anchors.append(Anchor(attrs, text))

    def start(self, tag: str, attrs: Attributes) -> None:
        if tag == "a":
            # An <a> inside an unclosed <a> closes it first, as in HTML5.
            self._close()
            self.open_anchor = attrs
            self._text = []
        elif tag == "meta":
            name, content = attrs.get("name"), attrs.get("content")
            if name is not None and content is not None:
                self.document.meta.setdefault(name.lower(), content)
        elif tag == "base" and self.document.base is None:
            self.document.base = attrs.get("href")

    def end(self, tag: str) -> None:
        if tag == "a":
            self._close()

    def data(self, text: str) -> None:
        if self.open_anchor is not None:
            self._text.append(text)

    def comment(self, text: str) -> None:
        match = _SERIAL.match(text)
        if match is not None:
            self.document.serial = int(match.group(1))

    def finish(self) -> HtmlDocument:
        self._close()
        return self.document

    def _close(self) -> None:
        if self.open_anchor is not None:
            self.document.anchors.append(Anchor(self.open_anchor, "".join(self._text)))
            self.open_anchor = None


def _tokenize(text: str, collector: _Collector) -> None:
    unescape = html.unescape
    position = 0
    for match in _TOKEN.finditer(text):
        start = match.start()
        if start > position and collector.open_anchor is not None:
            collector.data(unescape(text[position:start]))
        position = match.end()
        # Which alternative matched is the last group that took part in the match.
        kind = match.lastindex
        if kind == _ANCHOR:
            attrs_start, attrs_end = match.span(2)
            _check_plain(text, attrs_start, attrs_end)
            # A self-closed <a .../> ends at once; the text after it is outside.
            closed = _self_closing(text, attrs_start, attrs_end)
            attrs = _attributes(text, attrs_start, attrs_end)
            collector.anchor(attrs, "" if closed else unescape(match.group(3)))
        elif kind == _TAG:
            _tag(text, match, collector)
        elif kind == _COMMENT:
            collector.comment(match.group(1))
    if position < len(text) and collector.open_anchor is not None:
        collector.data(unescape(text[position:]))


def _tag(text: str, match: re.Match[str], collector: _Collector) -> None:
    attrs_start, attrs_end = match.span(6)
    # Every tag, wanted or not: where a tag ends depends on how its attributes are read.
    _check_plain(text, attrs_start, attrs_end)
    tag = match.group(5).lower()
    if tag not in _WANTED:
        return
    if match.group(4):
        collector.end(tag)
        return
    collector.start(tag, _attributes(text, attrs_start, attrs_end))
    if _self_closing(text, attrs_start, attrs_end):
        collector.end(tag)


def _check_plain(text: str, start: int, end: int) -> None:
    if start < end and _PLAIN_ATTRS.fullmatch(text, start, end) is None:
        raise _NotPlain


def _self_closing(text: str, start: int, end: int) -> bool:
    """Whether a start tag ends in "/>" whose slash no unquoted attribute value took."""
    if end == start or text[end - 1] != "/":
        return False
    attributes_end = start
    for match in _ATTRIBUTE.finditer(text, start, end):
        attributes_end = match.end()
    return attributes_end < end


def _attributes(text: str, start: int, end: int) -> Attributes:
    # findall gives "" for groups that did not match: the "=" group tells a valueless
    # attribute (None) from one set to "".
    found = _ATTRIBUTE.findall(text, start, end)
    if text.find("&", start, end) < 0:
        return {
            name.lower(): double or single or bare if equals else None
            for name, equals, double, single, bare in found
        }
    unescape = html.unescape
    return {
        name.lower(): unescape(double or single or bare) if equals else None
        for name, equals, double, single, bare in found
    }


class _ReferenceParser(HTMLParser):
    def __init__(self, collector: _Collector) -> None:
        super().__init__(convert_charrefs=True)
        self._collector = collector

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._collector.start(tag, dict(attrs))

    def handle_endtag(self, tag: str) -> None:
        self._collector.end(tag)

    def handle_data(self, data: str) -> None:
        self._collector.data(data)

    def handle_comment(self, data: str) -> None:
        self._collector.comment(data)
