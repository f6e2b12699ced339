"""SBOM export of a slice of the fetch log, shared by ``pipgate sbom`` and ``GET /-/sbom``.

An empty slice still yields a valid, empty SBOM: a build that downloaded nothing is
legitimate (the CLI warns, which catches a mistyped label).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import re
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from storage.base import FetchLogStore, FetchQuery, FetchRecord
from storage.fetchlog_sql import utc

if TYPE_CHECKING:
    from proxy.sbom import Advisories

__all__ = [
    "DEFAULT_NAMESPACE_BASE",
    "FORMATS",
    "describe_query",
    "render_sbom",
    "sbom_for_query",
    "sbom_records",
    "stamp",
]

FORMATS = ("cyclonedx", "spdx")
DEFAULT_NAMESPACE_BASE = "https://spdx.pipgate.invalid/sbom"
"""SPDX document namespaces must be unique URIs; ``.invalid`` (RFC 2606) never resolves."""


def describe_query(query: FetchQuery) -> str:
    """The SBOM's subject: the build label, or a description of the slice."""
    if query.build is not None:
        return query.build
    parts = [
        f"{label}={value}"
        for label, value in (
            ("project", query.project),
            ("client", query.client),
            ("user", query.user),
            ("since", stamp(query.since)),
            ("until", stamp(query.until)),
        )
        if value is not None
    ]
    return "pipgate fetches " + (" ".join(parts) if parts else "(all)")


def stamp(moment: dt.datetime | None) -> str | None:
    return None if moment is None else utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


async def sbom_records(store: FetchLogStore, query: FetchQuery) -> list[FetchRecord]:
    """Every artifact row of the slice, including rows still queued for the writer."""
    await store.flush()
    return await store.query(dataclasses.replace(query, kinds=("dist",), limit=None))


def render_sbom(
    records: Sequence[FetchRecord],
    fmt: str,
    *,
    name: str,
    namespace_base: str = DEFAULT_NAMESPACE_BASE,
    advisories: Advisories | None = None,
) -> str:
    """SBOM text; CPU-bound, so async callers use a thread. ``advisories`` (CycloneDX
    only) lists the vulnerabilities known at export time."""
    # Imported here: the SBOM libraries take most of a second to import and `pipgate
    # serve`, `pipgate log` never need them.
    from proxy.sbom import build_cyclonedx, build_spdx

    if fmt == "cyclonedx":
        return build_cyclonedx(records, name=name, advisories=advisories)
    if fmt == "spdx":
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "slice"
        namespace = f"{namespace_base.rstrip('/')}/{slug}-{uuid.uuid4()}"
        return build_spdx(records, name=name, namespace=namespace)
    raise ValueError(f"unknown SBOM format {fmt!r}: expected one of {', '.join(FORMATS)}")


async def sbom_for_query(
    store: FetchLogStore,
    query: FetchQuery,
    fmt: str,
    *,
    namespace_base: str = DEFAULT_NAMESPACE_BASE,
    advisories: Advisories | None = None,
) -> str:
    """The SBOM of the artifacts served in ``query``'s slice (``fmt``: cyclonedx or spdx).

    Raises ``ValueError`` for an unknown format, ``StorageError`` if the log cannot be
    read and ``SbomError`` if the document fails its schema validation.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown SBOM format {fmt!r}: expected one of {', '.join(FORMATS)}")
    records = await sbom_records(store, query)
    name = describe_query(query)
    return await asyncio.to_thread(
        render_sbom, records, fmt, name=name, namespace_base=namespace_base, advisories=advisories
    )
