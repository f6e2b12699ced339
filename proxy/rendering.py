"""The model to PEP 691 JSON and PEP 503 HTML, and file URLs pointed at pipgate; no I/O.

JSON: PEP 691 keys, PEP 592 ``yanked``, PEP 700
``versions``/``size``/``upload-time``, PEP 714 ``core-metadata`` (never the legacy JSON key
``dist-info-metadata``, which crashes pip 22.3 to 23.1), PEP 740 ``provenance`` and PEP 792
``project-status``. HTML: PEP 503 anchors with the PEP 592/658/714/740 ``data-*`` attributes
(``data-dist-info-metadata`` mirrors ``data-core-metadata``, as PEP 714 requires) and the
PEP 629/792 ``<meta>`` tags. Output is deterministic: same page, same bytes.

Each page claims the lowest api-version that covers what it carries (``page_api_version``):
a JSON page whose upstream gave no sizes (an HTML-only index) cannot claim 1.1, where PEP 700
makes ``size`` mandatory, nor anything above it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from html import escape
from urllib.parse import quote

from packaging.utils import canonicalize_name

from proxy.model import BASE_API_VERSION, CoreMetadata, DistFile, ProjectList, ProjectPage
from proxy.negotiation import Format

_FRAGMENT_HASHES = frozenset(hashlib.algorithms_guaranteed)
_REPOSITORY_VERSION = '<meta name="pypi:repository-version" content="{}">'


def render_project_page(page: ProjectPage, fmt: Format) -> bytes:
    if fmt is Format.JSON:
        return _dump(_json_page(page))
    return _html_page(page).encode("utf-8", "xmlcharrefreplace")


def render_project_list(project_list: ProjectList, fmt: Format) -> bytes:
    if fmt is Format.JSON:
        projects = [{"name": name} for name in project_list.names]
        return _dump({"meta": {"api-version": BASE_API_VERSION}, "projects": projects})
    return _html_list(project_list).encode("utf-8", "xmlcharrefreplace")


def page_api_version(page: ProjectPage, fmt: Format) -> str:
    """The api-version ``page`` rendered as ``fmt`` really is (PEP 629 minor versions add up)."""
    if fmt is Format.JSON and any(dist.size is None for dist in page.files):
        return BASE_API_VERSION
    if page.status is not None:
        return "1.4"
    if any(dist.provenance is not None for dist in page.files):
        return "1.3"
    return "1.1" if fmt is Format.JSON else BASE_API_VERSION


def localize(page: ProjectPage, file_base: str, provenance_base: str | None) -> ProjectPage:
    """Point every file (and provenance) URL of ``page`` at pipgate.

    ``file_base`` is best relative (``../../files/<name>/``) so that a ``/builds/<label>/``
    prefix survives; PEP 740 requires ``provenance_base`` to be an absolute URL.
    """
    files = tuple(_localize_file(dist, file_base, provenance_base) for dist in page.files)
    return page.with_files(files)


def _localize_file(dist: DistFile, file_base: str, provenance_base: str | None) -> DistFile:
    quoted = quote(dist.filename, safe="")
    provenance = None
    if dist.provenance is not None and provenance_base is not None:
        provenance = f"{provenance_base}{quoted}.provenance"
    return dataclasses.replace(dist, url=file_base + quoted, provenance=provenance)


# -- JSON -------------------------------------------------------------------------------


def _dump(document: object) -> bytes:
    # ASCII escapes keep any odd code point (even a lone surrogate) encodable.
    return json.dumps(document, separators=(",", ":")).encode("ascii")


def _json_page(page: ProjectPage) -> dict[str, object]:
    document: dict[str, object] = {
        "meta": {"api-version": page_api_version(page, Format.JSON)},
        "name": canonicalize_name(page.name),
        "files": [_json_file(dist) for dist in page.files],
        "versions": list(page.all_versions()),
    }
    if page.status is not None:
        status: dict[str, str] = {"status": page.status.status}
        if page.status.reason is not None:
            status["reason"] = page.status.reason
        document["project-status"] = status
    return document


def _json_file(dist: DistFile) -> dict[str, object]:
    entry: dict[str, object] = {
        "filename": dist.filename,
        "url": dist.url,
        "hashes": _sorted(dist.hashes),
        "requires-python": dist.requires_python,
        "yanked": dist.yanked if dist.yanked != "" else True,
    }
    if dist.size is not None:
        entry["size"] = dist.size
    if dist.upload_time is not None:
        entry["upload-time"] = dist.upload_time
    if dist.core_metadata is not None:
        metadata = dist.core_metadata
        entry["core-metadata"] = metadata if isinstance(metadata, bool) else _sorted(metadata)
    if dist.gpg_sig is not None:
        entry["gpg-sig"] = dist.gpg_sig
    entry["provenance"] = dist.provenance
    return entry


def _sorted(mapping: Mapping[str, str]) -> Mapping[str, str]:
    # Nearly always a one-entry dict already: nothing to sort or copy.
    if type(mapping) is dict and len(mapping) < 2:
        return mapping
    return dict(sorted(mapping.items()))


# -- HTML -------------------------------------------------------------------------------


def _html_page(page: ProjectPage) -> str:
    name = escape(canonicalize_name(page.name))
    head = [_REPOSITORY_VERSION.format(page_api_version(page, Format.HTML))]
    if page.status is not None:
        head.append(f'<meta name="pypi:project-status" content="{escape(page.status.status)}">')
        if page.status.reason is not None:
            reason = escape(page.status.reason)
            head.append(f'<meta name="pypi:project-status-reason" content="{reason}">')
    head.append(f"<title>Links for {name}</title>")
    body = [f"<h1>Links for {name}</h1>", *(_html_anchor(dist) for dist in page.files)]
    return _html_document(head, body)


def _html_list(project_list: ProjectList) -> str:
    anchors = [
        f'<a href="{escape(quote(canonicalize_name(name), safe=""))}/">{escape(name)}</a><br />'
        for name in project_list.names
    ]
    head = [_REPOSITORY_VERSION.format(BASE_API_VERSION), "<title>Simple index</title>"]
    return _html_document(head, anchors)


def _html_document(head: list[str], body: list[str]) -> str:
    return "\n".join(
        [
            "<!DOCTYPE html>",
            "<html>",
            "<head>",
            *head,
            "</head>",
            "<body>",
            *body,
            "</body>",
            "</html>",
            "",
        ]
    )


def _html_anchor(dist: DistFile) -> str:
    href = dist.url
    fragment = _fragment_hash(dist.hashes)
    if fragment is not None:
        href = f"{href}#{fragment[0]}={fragment[1]}"
    parts = [f'<a href="{escape(href)}"']
    if dist.requires_python is not None:
        parts.append(f' data-requires-python="{escape(dist.requires_python)}"')
    if dist.is_yanked:
        parts.append(f' data-yanked="{escape(dist.yank_reason or "")}"')
    metadata = _html_metadata(dist.core_metadata)
    if metadata is not None:
        # PEP 714: the legacy attribute, if sent, "MUST match" data-core-metadata.
        parts.append(f' data-core-metadata="{metadata}" data-dist-info-metadata="{metadata}"')
    if dist.gpg_sig is not None:
        parts.append(f' data-gpg-sig="{"true" if dist.gpg_sig else "false"}"')
    if dist.provenance is not None:
        parts.append(f' data-provenance="{escape(dist.provenance)}"')
    parts.append(f">{escape(dist.filename)}</a><br />")
    return "".join(parts)


def _fragment_hash(hashes: Mapping[str, str]) -> tuple[str, str] | None:
    """The one hash an HTML link can carry: sha256, else the first hashlib-guaranteed one."""
    if "sha256" in hashes:
        return "sha256", hashes["sha256"]
    for algorithm in sorted(hashes):
        if algorithm in _FRAGMENT_HASHES:
            return algorithm, hashes[algorithm]
    return None


def _html_metadata(metadata: CoreMetadata | None) -> str | None:
    """PEP 714 attribute value; ``None`` when the attribute must be left out."""
    if metadata is None or metadata is False:
        return None
    if metadata is True:
        return "true"
    hashed = _fragment_hash(metadata)
    if hashed is None:
        # Metadata exists but no digest an HTML client could check was given.
        return "true" if metadata else None
    return escape(f"{hashed[0]}={hashed[1]}")
