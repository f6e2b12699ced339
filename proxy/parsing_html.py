"""PEP 503 HTML pages (as scanned by ``proxy.html_scan``) to the model; no I/O.

Per anchor: ``href`` with a PEP 503 ``#<hashname>=<hex>`` fragment, ``data-requires-python``,
``data-yanked`` (PEP 592), ``data-core-metadata`` falling back to ``data-dist-info-metadata``
(PEP 714/658), ``data-gpg-sig``, ``data-provenance`` (PEP 740). Per page: the PEP 629
``pypi:repository-version`` and PEP 792 ``pypi:project-status[-reason]`` meta tags, a
``<base href>`` if any, and PyPI's ``<!--SERIAL n-->``. HTML carries no size, upload time
or versions list (PEP 700 is JSON-only). An anchor with a malformed attribute is dropped
(and reported through ``skipped``), never the whole page.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote, urlsplit

from packaging.utils import NormalizedName

from proxy.html_scan import Attributes, HtmlDocument
from proxy.model import CoreMetadata, DistFile, ProjectList, ProjectPage, ProjectStatus
from proxy.parsing_support import HEX, InvalidField, UrlResolver, check_api_version, split_fragment

_METADATA_ATTRIBUTES = ("data-core-metadata", "data-dist-info-metadata")


def page_from_html(
    document: HtmlDocument,
    url: str,
    name: NormalizedName,
    skipped: list[InvalidField] | None = None,
) -> ProjectPage:
    version = document.meta.get("pypi:repository-version")
    if version is not None:
        check_api_version(version, '<meta name="pypi:repository-version">')
    base = url
    if document.base:
        try:
            base = UrlResolver(url)(document.base.strip())
        except InvalidField as e:
            raise e.within("<base>", " ") from e
    resolve = UrlResolver(base)
    sink = skipped if skipped is not None else []
    files = []
    for anchor in document.anchors:
        href = anchor.attrs.get("href")
        if not href:
            continue
        try:
            dist = _file(anchor.attrs, href.strip(), anchor.text, resolve)
        except InvalidField as e:
            sink.append(e)
            continue
        if dist is not None:
            files.append(dist)
    return ProjectPage(
        name=name, files=tuple(files), status=_status(document), last_serial=document.serial
    )


def list_from_html(document: HtmlDocument) -> ProjectList:
    names = []
    for anchor in document.anchors:
        name = anchor.text.strip() or unquote((anchor.href or "").rstrip("/").rpartition("/")[2])
        if name:
            names.append(name)
    return ProjectList(names=tuple(names), last_serial=document.serial)


def _file(
    attrs: Attributes, href: str, text: str, resolve: Callable[[str], str]
) -> DistFile | None:
    try:
        raw_url, hashes = split_fragment(href, "href")
        url = resolve(raw_url)
    except InvalidField as e:
        raise e.within("<a>", " ") from e
    # PEP 503: the anchor text "MUST match the final path component (the filename)".
    filename = text.strip() or unquote(urlsplit(url).path.rpartition("/")[2])
    if not filename:
        return None  # a link to a directory ("../"), not to a file
    provenance = attrs.get("data-provenance")
    try:
        return DistFile(
            filename=filename,
            url=url,
            hashes=hashes,
            requires_python=attrs.get("data-requires-python") or None,
            yanked=_yanked(attrs),
            core_metadata=_core_metadata(attrs),
            gpg_sig=_gpg_sig(attrs),
            provenance=resolve(provenance.strip()) if provenance else None,
        )
    except InvalidField as e:
        raise e.within(f"<a> for {filename!r}", " ") from e


def _status(document: HtmlDocument) -> ProjectStatus | None:
    status = document.meta.get("pypi:project-status")
    reason = document.meta.get("pypi:project-status-reason")
    if status is None and reason is None:
        return None
    return ProjectStatus(status=status or "active", reason=reason)


def _yanked(attrs: Attributes) -> bool | str:
    # PEP 592: the attribute's presence is the yank; its value, if any, is the reason.
    if "data-yanked" not in attrs:
        return False
    return attrs["data-yanked"] or True


def _core_metadata(attrs: Attributes) -> CoreMetadata | None:
    for key in _METADATA_ATTRIBUTES:
        if key not in attrs:
            continue
        # A valueless attribute still says the metadata file exists.
        value = (attrs[key] or "true").strip()
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        algorithm, sep, digest = value.partition("=")
        if not sep or not HEX.fullmatch(digest):
            raise InvalidField(key, '"true" or "<hashname>=<hexdigest>"', value)
        return {algorithm.lower(): digest.lower()}
    return None


def _gpg_sig(attrs: Attributes) -> bool | None:
    if "data-gpg-sig" not in attrs:
        return None
    value = attrs["data-gpg-sig"]
    text = "true" if value is None else value.strip().lower()
    if text not in ("true", "false"):
        raise InvalidField("data-gpg-sig", '"true" or "false"', value)
    return text == "true"
