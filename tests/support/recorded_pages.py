"""The recorded simple-API responses of ``tests/fixtures/pages`` (see its README), loaded.

Each source directory has a ``manifest.json``; every entry is one response: a project page,
the root list or a file. Bodies hold ``{index}`` and ``{files}`` where the real origins were;
``Response.body_for`` puts loopback origins in their place.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from packaging.utils import NormalizedName, canonicalize_name

PAGES = Path(__file__).resolve().parents[1] / "fixtures" / "pages"
TINY_WHEEL = "iniconfig-2.3.1-py3-none-any.whl"
"""The one real wheel that was recorded (pure Python, no dependencies): installs for real."""
INDEX_TOKEN = "{index}"
FILES_TOKEN = "{files}"


@dataclass(frozen=True)
class Origins:
    """Where the tokens point at run time: the fake index's origin and its file host."""

    index: str
    files: str

    def substitute(self, text: str) -> str:
        return text.replace(INDEX_TOKEN, self.index).replace(FILES_TOKEN, self.files)


@dataclass(frozen=True)
class Response:
    source: str
    kind: str
    """``page``, ``root`` or ``file``."""
    variant: str
    """``json``, ``html`` or ``text-html``: the form asked for; ``any`` for files."""
    path: str
    """The URL with its origin as a token, e.g. ``{index}/simple/six/``."""
    status: int
    headers: dict[str, str]
    """Names lower-case, as received (less connection-level headers)."""
    body_file: str
    project: str | None

    @property
    def id(self) -> str:
        what = self.project if self.kind == "page" else self.kind
        return f"{self.source}-{what}-{self.variant}"

    @property
    def name(self) -> NormalizedName:
        if self.project is None:
            raise ValueError(f"{self.id} is not a project page")
        return canonicalize_name(self.project)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "application/octet-stream")

    @property
    def raw_body(self) -> bytes:
        return _read(self.source, self.body_file)

    def body_for(self, origins: Origins) -> bytes:
        """The body as the server would have sent it from ``origins``."""
        body = self.raw_body
        if self.kind == "file":
            return body
        return origins.substitute(body.decode("utf-8")).encode("utf-8")

    def url_for(self, origins: Origins) -> str:
        return origins.substitute(self.path)


@dataclass(frozen=True)
class Source:
    name: str
    how: str
    root: str
    """The simple root with its origin as a token."""
    responses: tuple[Response, ...]

    def pages(self, variant: str | None = None) -> list[Response]:
        return [
            r
            for r in self.responses
            if r.kind == "page" and r.status == 200 and variant in (None, r.variant)
        ]

    def variants(self) -> list[str]:
        return sorted({r.variant for r in self.responses if r.kind in ("page", "root")})

    def files(self) -> list[Response]:
        return [r for r in self.responses if r.kind == "file"]


@cache
def sources() -> tuple[Source, ...]:
    """Every fixture source, in name order."""
    found = []
    for manifest in sorted(PAGES.glob("*/manifest.json")):
        document: dict[str, Any] = json.loads(manifest.read_text(encoding="utf-8"))
        name = document["source"]
        responses = tuple(_response(name, entry) for entry in document["entries"])
        found.append(Source(name, document["how"], document["root"], responses))
    if not found:
        raise RuntimeError(f"no fixture manifests under {PAGES}")
    return tuple(found)


def all_pages() -> list[Response]:
    return [page for source in sources() for page in source.pages()]


def root_lists() -> list[Response]:
    return [r for s in sources() for r in s.responses if r.kind == "root" and r.status == 200]


def source(name: str) -> Source:
    for candidate in sources():
        if candidate.name == name:
            return candidate
    raise KeyError(f"no fixture source {name!r}")


def tiny_wheel() -> bytes:
    return _read("pypi", TINY_WHEEL)


def _response(source_name: str, entry: dict[str, Any]) -> Response:
    if entry["kind"] == "extracted":
        # Derived bytes, not a response: served only where a page advertises them.
        entry = {**entry, "kind": "derived"}
    return Response(
        source=source_name,
        kind=entry["kind"],
        variant=entry["variant"],
        path=entry["path"],
        status=int(entry["status"]),
        headers={k.lower(): v for k, v in entry["headers"].items()},
        body_file=entry["body"],
        project=entry.get("project"),
    )


@cache
def _read(source_name: str, body_file: str) -> bytes:
    if not body_file:
        return b""
    data = (PAGES / source_name / body_file).read_bytes()
    return gzip.decompress(data) if body_file.endswith(".gz") else data


__all__ = [
    "PAGES",
    "TINY_WHEEL",
    "Origins",
    "Response",
    "Source",
    "all_pages",
    "root_lists",
    "source",
    "sources",
    "tiny_wheel",
]
