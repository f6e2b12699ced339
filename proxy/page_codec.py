"""Lossless JSON encoding of a cached upstream page (upstream URLs, validators, fetch time).

This is pipgate's private storage format, not PEP 691: it keeps everything the parser
produced so a page read back from the cache is identical to the one first parsed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from packaging.utils import NormalizedName, canonicalize_name

from proxy.model import DistFile, ProjectPage, ProjectStatus
from proxy.upstream_base import Validators

FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class CachedPage:
    page: ProjectPage
    validators: Validators
    fetched_at: float
    """Wall-clock time (``time.time()``) the upstream last confirmed this page."""
    upstream: str


def encode(entry: CachedPage) -> bytes:
    page = entry.page
    document = {
        "v": FORMAT_VERSION,
        "upstream": entry.upstream,
        "fetched_at": entry.fetched_at,
        "etag": entry.validators.etag,
        "last_modified": entry.validators.last_modified,
        "name": page.name,
        "versions": list(page.versions) if page.versions is not None else None,
        "status": [page.status.status, page.status.reason] if page.status else None,
        "serial": page.last_serial,
        "files": [_encode_file(f) for f in page.files],
    }
    return json.dumps(document, separators=(",", ":")).encode()


def _encode_file(dist: DistFile) -> list[Any]:
    core = dict(dist.core_metadata) if isinstance(dist.core_metadata, dict) else dist.core_metadata
    return [
        dist.filename,
        dist.url,
        dict(dist.hashes),
        dist.requires_python,
        dist.yanked,
        dist.size,
        dist.upload_time,
        core,
        dist.gpg_sig,
        dist.provenance,
    ]


def decode(raw: bytes) -> CachedPage | None:
    """The cached entry, or ``None`` if it was written by an incompatible version."""
    try:
        document = json.loads(raw)
        if document.get("v") != FORMAT_VERSION:
            return None
        status = document["status"]
        versions = document["versions"]
        page = ProjectPage(
            name=NormalizedName(canonicalize_name(document["name"])),
            files=tuple(_decode_file(f) for f in document["files"]),
            versions=tuple(versions) if versions is not None else None,
            status=ProjectStatus(status[0], status[1]) if status else None,
            last_serial=document["serial"],
        )
        return CachedPage(
            page=page,
            validators=Validators(document["etag"], document["last_modified"]),
            fetched_at=float(document["fetched_at"]),
            upstream=str(document["upstream"]),
        )
    except (ValueError, KeyError, TypeError, IndexError):
        # A damaged cache entry is a miss, never an error served to a client.
        return None


def _decode_file(row: list[Any]) -> DistFile:
    filename, url, hashes, requires_python, yanked, size, upload_time, core, gpg, prov = row
    return DistFile(
        filename=filename,
        url=url,
        hashes=hashes,
        requires_python=requires_python,
        yanked=yanked,
        size=size,
        upload_time=upload_time,
        core_metadata=core,
        gpg_sig=gpg,
        provenance=prov,
    )
