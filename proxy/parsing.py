"""Upstream simple API responses to the model: pure functions, no I/O.

Dispatches on the Content-Type (PEP 691: ``application/vnd.pypi.simple.v1+json`` or
``+html``, and PEP 503's ``text/html``) to ``proxy.parsing_json`` or, through
``proxy.html_scan``, to ``proxy.parsing_html``. Relative URLs resolve against ``url``, the
URL the body came from after redirects, as pip and uv do. A malformed page raises
``UpstreamProtocolError`` naming the URL, the field and the value; a malformed file entry
(or project-list entry) is dropped and the page kept, with one warning per page.
"""

from __future__ import annotations

import codecs
import json
import logging
import re

from packaging.utils import NormalizedName

from proxy.errors import UpstreamProtocolError
from proxy.html_scan import scan_html
from proxy.model import ProjectList, ProjectPage
from proxy.negotiation import Format
from proxy.parsing_html import list_from_html, page_from_html
from proxy.parsing_json import list_from_json, page_from_json
from proxy.parsing_support import InvalidField

_log = logging.getLogger("pipgate.upstream")
# Python refuses to convert integers of more than 4,300 digits (a ValueError that would fail
# the whole document); no simple API number is anywhere near that long, so such a number
# stays a string, which the field check then rejects as it would any other wrong type.
_MAX_INT_DIGITS = 100
_MEDIA_TYPE = re.compile(r"application/vnd\.pypi\.simple\.(?:v(\d+)|latest)\+(json|html)\Z")


def parse_project_page(
    body: bytes, content_type: str, url: str, name: NormalizedName
) -> ProjectPage:
    """A project detail page (``/simple/<name>/``) fetched from ``url``."""
    fmt = _body_format(content_type, url)
    skipped: list[InvalidField] = []
    try:
        if fmt is Format.JSON:
            page = page_from_json(_load_json(body, url), url, name, skipped)
        else:
            page = page_from_html(scan_html(_decode(body, content_type, url)), url, name, skipped)
    except InvalidField as e:
        raise UpstreamProtocolError(f"invalid project page from {url}: {e}") from e
    _report(skipped, url, "file entries")
    return page


def parse_project_list(body: bytes, content_type: str, url: str) -> ProjectList:
    """The root project list (``/simple/``) fetched from ``url``."""
    fmt = _body_format(content_type, url)
    skipped: list[InvalidField] = []
    try:
        if fmt is Format.JSON:
            projects = list_from_json(_load_json(body, url), skipped)
        else:
            projects = list_from_html(scan_html(_decode(body, content_type, url)))
    except InvalidField as e:
        raise UpstreamProtocolError(f"invalid project list from {url}: {e}") from e
    _report(skipped, url, "entries")
    return projects


def _report(skipped: list[InvalidField], url: str, what: str) -> None:
    if skipped:
        _log.warning(
            "ignored %d malformed %s of %s; the first: %s", len(skipped), what, url, skipped[0]
        )


def _body_format(content_type: str, url: str) -> Format:
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type == "text/html":
        return Format.HTML
    match = _MEDIA_TYPE.match(media_type)
    if match is None:
        raise UpstreamProtocolError(
            f"{url} answered with Content-Type {content_type!r}; expected text/html, "
            f"{Format.HTML.content_type} or {Format.JSON.content_type}"
        )
    if match.group(1) is not None and int(match.group(1)) != 1:
        raise UpstreamProtocolError(
            f"{url} answered with Content-Type {content_type!r}; pipgate speaks api-version 1 only"
        )
    return Format.JSON if match.group(2) == "json" else Format.HTML


def _load_json(body: bytes, url: str) -> object:
    try:
        return json.loads(body, parse_int=_bounded_int)
    except (ValueError, RecursionError) as e:
        raise UpstreamProtocolError(f"{url} answered with invalid JSON: {e}") from e


def _bounded_int(text: str) -> int | str:
    return int(text) if len(text) <= _MAX_INT_DIGITS else text


def _decode(body: bytes, content_type: str, url: str) -> str:
    # PEP 503 pages are HTML5, whose encoding on the wire is UTF-8 unless declared.
    charset = "utf-8"
    for parameter in content_type.split(";")[1:]:
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "charset" and value.strip(" \"'"):
            charset = value.strip(" \"'")
    try:
        # A label such as "base64" or "zlib" names a codec, but not a text encoding.
        if not codecs.lookup(charset)._is_text_encoding:
            charset = "utf-8"
    except LookupError:
        charset = "utf-8"  # an unknown label: fall back to the HTML5 default
    try:
        return body.decode(charset)
    except UnicodeDecodeError as e:
        raise UpstreamProtocolError(f"{url} answered with HTML that is not {charset}: {e}") from e
