"""What a recorded page lists, read without pipgate's code: the oracle of the conformance test.

JSON through ``json.loads``, HTML through the standard library's ``html.parser`` (which
decodes character references in attribute values, as browsers do). Deliberately plain: it
reads the PEP 503/592/658/691/714 fields a client acts on and nothing else, so that a bug in
pipgate's parser cannot hide in a shared helper.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import unquote, urljoin, urlsplit


@dataclass(frozen=True)
class Listed:
    """One file as the page lists it."""

    filename: str
    url: str
    """Absolute, without the fragment."""
    sha256: str | None
    requires_python: str | None
    yanked: bool
    yank_reason: str | None
    metadata: bool
    """PEP 658/714: the page says a ``.metadata`` file exists."""


def listed_files(body: bytes, content_type: str, url: str) -> list[Listed]:
    """The files of a project page fetched from ``url``."""
    if "json" in content_type:
        return [_json_file(entry, url) for entry in json.loads(body)["files"]]
    anchors = _Anchors()
    anchors.feed(body.decode("utf-8"))
    anchors.close()
    base = urljoin(url, anchors.base) if anchors.base else url
    return [
        listed
        for attrs, text in anchors.found
        if (listed := _html_file(attrs, text, base)) is not None
    ]


def listed_projects(body: bytes, content_type: str) -> list[str]:
    """The project names of a root list, as spelled there."""
    if "json" in content_type:
        return [project["name"] for project in json.loads(body)["projects"]]
    anchors = _Anchors()
    anchors.feed(body.decode("utf-8"))
    anchors.close()
    names = []
    for attrs, text in anchors.found:
        href = attrs.get("href") or ""
        name = text.strip() or unquote(href.rstrip("/").rpartition("/")[2])
        if name:
            names.append(name)
    return names


def _json_file(entry: dict[str, object], url: str) -> Listed:
    href = str(entry["url"])
    hashes = entry.get("hashes")
    sha256 = hashes.get("sha256") if isinstance(hashes, dict) else None
    yanked = entry.get("yanked", False)
    metadata = entry.get("core-metadata", entry.get("dist-info-metadata"))
    requires = entry.get("requires-python")
    return Listed(
        filename=str(entry["filename"]),
        url=urljoin(url, href).partition("#")[0],
        sha256=str(sha256) if sha256 else _fragment_sha256(href),
        requires_python=str(requires) if requires else None,
        yanked=yanked is True or isinstance(yanked, str),
        yank_reason=yanked or None if isinstance(yanked, str) else None,
        metadata=bool(metadata),
    )


def _html_file(attrs: dict[str, str | None], text: str, base: str) -> Listed | None:
    href = attrs.get("href")
    if not href:
        return None
    url = urljoin(base, href.strip()).partition("#")[0]
    filename = text.strip() or unquote(urlsplit(url).path.rpartition("/")[2])
    if not filename:
        return None
    metadata = attrs.get("data-core-metadata", attrs.get("data-dist-info-metadata", "false"))
    return Listed(
        filename=filename,
        url=url,
        sha256=_fragment_sha256(href),
        requires_python=attrs.get("data-requires-python") or None,
        yanked="data-yanked" in attrs,
        yank_reason=attrs.get("data-yanked") or None,
        metadata=metadata is None or metadata.strip().lower() != "false",
    )


def _fragment_sha256(href: str) -> str | None:
    algorithm, _, digest = href.partition("#")[2].partition("=")
    return digest.lower() if algorithm.lower() == "sha256" and digest else None


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[dict[str, str | None], str]] = []
        self.base: str | None = None
        self._open: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "base" and self.base is None:
            self.base = dict(attrs).get("href")
        if tag == "a":
            self._close_anchor()
            self._open, self._text = dict(attrs), []

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._close_anchor()

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text.append(data)

    def close(self) -> None:
        super().close()
        self._close_anchor()

    def _close_anchor(self) -> None:
        if self._open is not None:
            self.found.append((self._open, "".join(self._text)))
        self._open, self._text = None, []


__all__ = ["Listed", "listed_files", "listed_projects"]
