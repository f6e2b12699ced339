"""PEP 691 JSON documents to the model (after ``json.loads``); no I/O.

Keys per the living spec: PEP 691 (name, files, filename, url, hashes, requires-python,
gpg-sig), PEP 592 (yanked), PEP 700 (versions, size, upload-time), PEP 714 (core-metadata,
falling back to the legacy dist-info-metadata and PyPI's data-dist-info-metadata),
PEP 740 (provenance), PEP 792 (project-status). Unknown keys are ignored, and so are
``_``-prefixed ones, which PEP 691 reserves for private use: the public index and bandersnatch
send ``_last-serial`` as a string, devpi as an integer, and it is read when it reads as one.
A file entry with a field of the wrong type is dropped (and reported through ``skipped``), never
the whole page: one bad entry must not hide every other release of a project.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TypeVar

from packaging.utils import NormalizedName, canonicalize_name

from proxy.model import CoreMetadata, DistFile, ProjectList, ProjectPage, ProjectStatus
from proxy.parsing_support import (
    HEX,
    MISSING,
    InvalidField,
    UrlResolver,
    check_api_version,
    split_fragment,
)

Json = Mapping[str, object]
_T = TypeVar("_T")
_METADATA_KEYS = ("core-metadata", "dist-info-metadata", "data-dist-info-metadata")
_SERIAL_DIGITS = re.compile(r"\d{1,20}")


def page_from_json(
    document: object, url: str, name: NormalizedName, skipped: list[InvalidField] | None = None
) -> ProjectPage:
    top = _object(document, "response")
    meta = _object(top.get("meta", MISSING), "meta")
    check_api_version(meta.get("api-version", MISSING), "meta.api-version")
    page_name = _str(top, "name")
    if canonicalize_name(page_name) != name:
        raise InvalidField("name", f"the page of project {name!r}", page_name)
    return ProjectPage(
        name=name,
        files=_files(top.get("files", MISSING), UrlResolver(url), _sink(skipped)),
        versions=_versions(top.get("versions"), _sink(skipped)),
        status=_status(top.get("project-status")),
        last_serial=_serial(meta),
    )


def list_from_json(document: object, skipped: list[InvalidField] | None = None) -> ProjectList:
    top = _object(document, "response")
    meta = _object(top.get("meta", MISSING), "meta")
    check_api_version(meta.get("api-version", MISSING), "meta.api-version")
    projects = top.get("projects", MISSING)
    if not isinstance(projects, list):
        raise InvalidField("projects", "a list", projects)
    sink = _sink(skipped)
    names = []
    for index, item in enumerate(projects):
        try:
            names.append(_str(_object(item, ""), "name"))
        except InvalidField as e:
            sink.append(e.within(f"projects[{index}]"))
    return ProjectList(names=tuple(names), last_serial=_serial(meta))


def _sink(skipped: list[InvalidField] | None) -> list[InvalidField]:
    return skipped if skipped is not None else []


def _files(
    value: object, resolve: Callable[[str], str], skipped: list[InvalidField]
) -> tuple[DistFile, ...]:
    if not isinstance(value, list):
        raise InvalidField("files", "a list", value)
    files = []
    for index, item in enumerate(value):
        try:
            files.append(_file(_object(item, ""), resolve))
        except InvalidField as e:
            skipped.append(e.within(f"files[{index}]"))
    return tuple(files)


def _file(entry: Json, resolve: Callable[[str], str]) -> DistFile:
    url, fragment_hashes = split_fragment(_str(entry, "url"), "url")
    hashes = _hashes(entry.get("hashes", MISSING), "hashes")
    provenance = _optional(entry, "provenance", str)
    return DistFile(
        filename=_str(entry, "filename"),
        url=resolve(url),
        hashes={**fragment_hashes, **hashes} if fragment_hashes else hashes,
        requires_python=_optional(entry, "requires-python", str) or None,
        yanked=_yanked(entry.get("yanked")),
        size=_size(entry.get("size")),
        upload_time=_optional(entry, "upload-time", str),
        core_metadata=_core_metadata(entry),
        gpg_sig=_optional(entry, "gpg-sig", bool),
        provenance=resolve(provenance) if provenance else None,
    )


def _core_metadata(entry: Json) -> CoreMetadata | None:
    # PEP 714: core-metadata first; the legacy names are what older indexes send.
    for key in _METADATA_KEYS:
        value = entry.get(key)
        if isinstance(value, bool):
            return value
        if value is not None:
            return _hashes(value, key)
    return None


def _hashes(value: object, field: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise InvalidField(field, "an object of {hashname: hexdigest}", value)
    hashes = {}
    for algorithm, digest in value.items():
        if not isinstance(digest, str) or not HEX.fullmatch(digest):
            raise InvalidField(f"{field}.{algorithm}", "a hex digest", digest)
        hashes[algorithm.lower()] = digest.lower()
    return hashes


def _yanked(value: object) -> bool | str:
    # An empty reason is still a yank (as uv reads it): never un-yank on a technicality.
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return value or True
    raise InvalidField("yanked", "a boolean or a reason string", value)


def _size(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidField("size", "a non-negative integer", value)
    return value


def _status(value: object) -> ProjectStatus | None:
    if value is None:
        return None
    try:
        status = _object(value, "")
        return ProjectStatus(status=_str(status, "status"), reason=_optional(status, "reason", str))
    except InvalidField as e:
        raise e.within("project-status") from e


def _versions(value: object, skipped: list[InvalidField]) -> tuple[str, ...] | None:
    # A malformed list only costs the upstream's own list: the files' versions stand in.
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        skipped.append(InvalidField("versions", "a list of strings", value))
        return None
    return tuple(value)


def _serial(meta: Json) -> int | None:
    value = meta.get("_last-serial")
    if isinstance(value, str) and _SERIAL_DIGITS.fullmatch(value.strip()):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**20:
        return value
    return None


def _object(value: object, field: str) -> Json:
    if not isinstance(value, dict):
        raise InvalidField(field, "an object", value)
    return value


def _str(entry: Json, key: str) -> str:
    value = entry.get(key, MISSING)
    if not isinstance(value, str):
        raise InvalidField(key, "a string", value)
    return value


def _optional(entry: Json, key: str, kind: type[_T]) -> _T | None:
    value = entry.get(key)
    if value is None or isinstance(value, kind):
        return value
    raise InvalidField(key, f"a {kind.__name__} or null", value)
