"""The content of ``FakeUpstream``: projects, files and how an index renders them.

PEP 503 HTML and PEP 691 JSON (api-version 1.4) with PEP 592 yanking, PEP 658/714 core metadata,
PEP 700 versions/size/upload-time, PEP 740 provenance URLs and PEP 792 project status, as the
public PyPI writes them. Content negotiation by q-value like its origin (no match: text/html).
Pure functions and a lock-protected store; the server lives in ``fake_upstream``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import html
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.parser import BytesParser
from typing import Literal

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from proxy.model import filename_version

JSON = "application/vnd.pypi.simple.v1+json"
HTML = "application/vnd.pypi.simple.v1+html"
TEXT_HTML = "text/html"
Mode = Literal["both", "html-only", "json-only"]

# The logical clock behind Last-Modified: one minute per change, so that a change is always
# later than any earlier If-Modified-Since however fast a test runs.
_CLOCK_START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
DEFAULT_UPLOAD_TIME = "2024-01-01T00:00:00.000000Z"


@dataclass
class FakeFile:
    project: NormalizedName
    filename: str
    data: bytes
    upload_time: str | None
    yanked: bool | str
    requires_python: str | None
    metadata: bytes | None
    """PEP 658 ``.metadata`` bytes (the wheel's METADATA), or ``None`` for none."""
    provenance: bytes | None
    hash_override: str | None
    url: str | None
    """An absolute URL to list instead of this server's ``/files/<filename>``."""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def listed_sha256(self) -> str:
        """The sha256 the page lists; ``""``: the page lists no hash for the file."""
        return self.hash_override if self.hash_override is not None else self.sha256

    @property
    def metadata_sha256(self) -> str | None:
        return hashlib.sha256(self.metadata).hexdigest() if self.metadata is not None else None

    @property
    def version(self) -> str:
        version = filename_version(self.filename)
        if version is None:
            raise ValueError(f"no version in filename {self.filename!r}")
        return str(version)


@dataclass
class FakeProject:
    display_name: str
    serial: int
    files: dict[str, FakeFile] = field(default_factory=dict)
    status: str | None = None
    reason: str | None = None


class FakeIndex:
    """Thread-safe store: tests write from their thread while the server reads from its own."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.projects: dict[NormalizedName, FakeProject] = {}
        self.serial = 0

    def add_project(self, name: str, status: str | None, reason: str | None) -> FakeProject:
        with self.lock:
            project = self._touch(name)
            project.status, project.reason = status, reason
            return project

    def add_file(self, file: FakeFile, display_name: str) -> None:
        with self.lock:
            self._touch(display_name).files[file.filename] = file

    def remove_project(self, name: str) -> None:
        with self.lock:
            self.serial += 1
            self.projects.pop(canonicalize_name(name), None)

    def find_file(self, filename: str) -> FakeFile | None:
        with self.lock:
            for project in self.projects.values():
                if filename in project.files:
                    return project.files[filename]
        return None

    def _touch(self, name: str) -> FakeProject:
        self.serial += 1
        key = canonicalize_name(name)
        project = self.projects.setdefault(key, FakeProject(display_name=name, serial=0))
        project.serial = self.serial
        return project


def metadata_field(metadata: bytes | None, name: str) -> str | None:
    if metadata is None:
        return None
    value = BytesParser().parsebytes(metadata, headersonly=True).get(name)
    return str(value) if value is not None else None


def last_modified(serial: int) -> str:
    return email.utils.format_datetime(_CLOCK_START + dt.timedelta(minutes=serial), usegmt=True)


def etag(body: bytes) -> str:
    return f'"{hashlib.sha256(body).hexdigest()[:32]}"'


def not_modified(headers: Mapping[str, str], current_etag: str, modified: str) -> bool:
    """RFC 9110 13.2.2: If-None-Match decides when present, else If-Modified-Since.

    ``headers`` must look names up case-insensitively (aiohttp's request headers do).
    """
    if_none_match = headers.get("If-None-Match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or current_etag in tags
    since = headers.get("If-Modified-Since")
    if since is None:
        return False
    try:
        return email.utils.parsedate_to_datetime(modified) <= (
            email.utils.parsedate_to_datetime(since)
        )
    except (TypeError, ValueError):
        return False


def negotiate(accept: str | None, mode: Mode) -> str:
    if mode == "json-only":
        return JSON
    offers = (TEXT_HTML, HTML) if mode == "html-only" else (TEXT_HTML, HTML, JSON)
    ranges = _parse_accept(accept or "*/*")
    best, best_q = TEXT_HTML, 0.0
    for offer in offers:
        quality = _quality(offer, ranges)
        if quality > best_q:
            best, best_q = offer, quality
    return best


def _parse_accept(accept: str) -> list[tuple[str, float]]:
    ranges = []
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media:
            ranges.append((media.lower(), quality))
    return ranges


def _quality(offer: str, ranges: list[tuple[str, float]]) -> float:
    # The most specific matching range decides (RFC 9110 12.5.1).
    kind = offer.split("/")[0]
    for pattern in (offer, f"{kind}/*", "*/*"):
        matches = [quality for media, quality in ranges if media == pattern]
        if matches:
            return max(matches)
    return 0.0


def render_root(index: FakeIndex, media: str) -> bytes:
    with index.lock:
        names = sorted(p.display_name for p in index.projects.values())
        serial = index.serial
    if media == JSON:
        projects = [{"name": name} for name in names]
        meta = {"api-version": "1.4", "_last-serial": serial}
        return json.dumps({"meta": meta, "projects": projects}).encode()
    links = "\n".join(
        f'    <a href="{canonicalize_name(n)}/">{html.escape(n)}</a><br />' for n in names
    )
    return _html_document("Simple index", "", links)


def render_page(project: FakeProject, media: str, base: str, mode: Mode) -> bytes:
    files = sorted(project.files.values(), key=lambda f: f.filename)
    name = canonicalize_name(project.display_name)
    if media == JSON:
        return json.dumps(_json_page(name, project, files, base)).encode()
    metas = _status_metas(project)
    links = "\n".join(_html_anchor(f, base, relative=mode == "html-only") for f in files)
    return _html_document(f"Links for {name}", metas, links)


def file_url(file: FakeFile, base: str) -> str:
    return file.url or f"{base}files/{file.filename}"


def provenance_url(file: FakeFile, base: str) -> str:
    return f"{base}integrity/{file.project}/{file.version}/{file.filename}/provenance"


def _json_page(
    name: NormalizedName, project: FakeProject, files: list[FakeFile], base: str
) -> dict[str, object]:
    page: dict[str, object] = {
        "meta": {"api-version": "1.4", "_last-serial": project.serial},
        "name": name,
        "versions": sorted({f.version for f in files}, key=Version),
        "files": [_json_file(f, base) for f in files],
    }
    if project.status is not None:
        status = {"status": project.status}
        if project.reason:
            status["reason"] = project.reason
        page["project-status"] = status
    return page


def _json_file(file: FakeFile, base: str) -> dict[str, object]:
    entry: dict[str, object] = {
        "filename": file.filename,
        "url": file_url(file, base),
        "hashes": {"sha256": file.listed_sha256} if file.listed_sha256 else {},
        "requires-python": file.requires_python,
        "size": len(file.data),
        "yanked": file.yanked,
        "provenance": provenance_url(file, base) if file.provenance is not None else None,
    }
    if file.upload_time is not None:
        entry["upload-time"] = file.upload_time
    metadata: object = {"sha256": file.metadata_sha256} if file.metadata is not None else False
    entry["core-metadata"] = entry["data-dist-info-metadata"] = metadata
    return entry


def _html_anchor(file: FakeFile, base: str, *, relative: bool) -> str:
    href = f"../../files/{file.filename}" if relative and not file.url else file_url(file, base)
    fragment = f"#sha256={file.listed_sha256}" if file.listed_sha256 else ""
    attributes = [f'href="{html.escape(href)}{fragment}"']
    if file.requires_python:
        attributes.append(f'data-requires-python="{html.escape(file.requires_python)}"')
    if file.yanked is not False:
        reason = file.yanked if isinstance(file.yanked, str) else ""
        attributes.append(f'data-yanked="{html.escape(reason)}"')
    if file.metadata is not None:
        value = f"sha256={file.metadata_sha256}"
        attributes.append(f'data-dist-info-metadata="{value}" data-core-metadata="{value}"')
    if file.provenance is not None:
        attributes.append(f'data-provenance="{html.escape(provenance_url(file, base))}"')
    return f"    <a {' '.join(attributes)}>{html.escape(file.filename)}</a><br />"


def _status_metas(project: FakeProject) -> str:
    metas = ""
    if project.status is not None:
        metas += f'\n    <meta name="pypi:project-status" content="{project.status}">'
    if project.reason:
        reason = html.escape(project.reason)
        metas += f'\n    <meta name="pypi:project-status-reason" content="{reason}">'
    return metas


def _html_document(title: str, metas: str, links: str) -> bytes:
    return (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        '    <meta name="pypi:repository-version" content="1.4">'
        f"{metas}\n    <title>{html.escape(title)}</title>\n  </head>\n  <body>\n"
        f"{links}\n  </body>\n</html>\n"
    ).encode()
