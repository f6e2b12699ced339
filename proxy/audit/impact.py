"""Impact: which served files an advisory, a release or a hash names, and who fetched them.

Reads the fetch log's whole downloads (``dist`` rows, status 200 or 206) and groups them
by file (filename + sha256). An advisory is resolved through the loaded OSV index: every
project it has entries for, the versions those entries cover, and the malicious-file
hashes it lists (found under any project name).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from policies.osv_db import Advisory, OsvIndex
from policies.osv_ranges import parse_version
from storage.base import FetchLogStore, FetchQuery, FetchRecord
from storage.fetchlog_sql import utc

if TYPE_CHECKING:
    from proxy.sbom import Advisories, Artifact

__all__ = [
    "Fetch",
    "Impact",
    "ImpactError",
    "ImpactedFile",
    "Target",
    "advisories_for_sbom",
    "find_advisories",
    "impact_of",
    "known_advisories",
    "parse_target",
    "served_files",
]

SERVED_STATUSES = frozenset({200, 206})
_SHA256 = re.compile(r"[0-9a-fA-F]{64}\Z")
_ADVISORY = re.compile(r"[A-Z][A-Z0-9]*-[A-Za-z0-9._:-]+\Z")
_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?\Z")


class ImpactError(ValueError):
    """The target is malformed, or names an advisory the OSV data does not have."""


@dataclass(frozen=True, slots=True)
class Target:
    kind: str
    """``advisory``, ``release`` (a name with an optional version) or ``sha256``."""
    value: str
    version: str | None = None


def parse_target(text: str) -> Target:
    """``ADVISORY-ID``, ``NAME[==VERSION]`` or a sha256 (64 hex digits)."""
    value = text.strip()
    if _SHA256.match(value):
        return Target("sha256", value.lower())
    if _ADVISORY.match(value) and any(c.isdigit() for c in value):
        return Target("advisory", value)
    name, sep, version = value.partition("==")
    if _NAME.match(name.strip()) and (not sep or version.strip()):
        return Target("release", canonicalize_name(name.strip()), version.strip() or None)
    raise ImpactError(
        f"{text!r}: expected an advisory id (MAL-2024-1, PYSEC-2024-1, GHSA-..., CVE-...), "
        f"NAME or NAME==VERSION, or a sha256 of 64 hex digits"
    )


@dataclass(frozen=True, slots=True)
class Fetch:
    time: dt.datetime
    build: str | None
    user: str | None
    client: str
    status: int


@dataclass(frozen=True, slots=True)
class ImpactedFile:
    project: str
    version: str | None
    filename: str
    sha256: str
    fetches: tuple[Fetch, ...]


@dataclass(frozen=True, slots=True)
class Impact:
    target: str
    advisories: tuple[Advisory, ...]
    files: tuple[ImpactedFile, ...]

    @property
    def builds(self) -> list[str]:
        return sorted({f.build for i in self.files for f in i.fetches if f.build})

    @property
    def users(self) -> list[str]:
        return sorted({f.user for i in self.files for f in i.fetches if f.user})

    @property
    def clients(self) -> list[str]:
        return sorted({f.client for i in self.files for f in i.fetches if f.client})

    def to_json(self) -> dict[str, object]:
        return {
            "target": self.target,
            "advisories": [
                {"id": a.id, "aliases": list(a.aliases), "summary": a.summary,
                 "malicious": a.malicious, "severity": a.severity.value}
                for a in self.advisories
            ],
            "files": [
                {"project": i.project, "version": i.version, "filename": i.filename,
                 "sha256": i.sha256,
                 "fetches": [
                     {"time": utc(f.time).isoformat(), "build": f.build, "user": f.user,
                      "client": f.client, "status": f.status}
                     for f in i.fetches
                 ]}
                for i in self.files
            ],
            "builds": self.builds,
            "users": self.users,
            "clients": self.clients,
        }  # fmt: skip


def served_files(
    rows: Iterable[FetchRecord], keep: Callable[[FetchRecord], bool] = lambda _: True
) -> tuple[ImpactedFile, ...]:
    """Whole or ranged downloads among ``rows`` that ``keep`` accepts, grouped by file."""
    grouped: dict[tuple[str, str], list[FetchRecord]] = {}
    for row in rows:
        if row.kind != "dist" or row.status not in SERVED_STATUSES:
            continue
        if not row.filename or not row.sha256 or not keep(row):
            continue
        grouped.setdefault((row.filename, row.sha256.lower()), []).append(row)
    files = []
    for (filename, sha256), found in grouped.items():
        found.sort(key=lambda r: r.time)
        fetches = tuple(Fetch(r.time, r.build, r.user, r.client, r.status) for r in found)
        first = found[0]
        files.append(ImpactedFile(first.project or "", first.version, filename, sha256, fetches))
    return tuple(sorted(files, key=lambda i: (i.project, i.filename)))


def known_advisories(
    indexes: Sequence[OsvIndex], name: str, version: str | None, sha256: str | None
) -> tuple[Advisory, ...]:
    """Every advisory the data has for this file, whatever a policy would decide on it."""
    found: dict[str, Advisory] = {}
    parsed = parse_version(version) if version else None
    for index in indexes:
        by_hash = index.malicious_file(sha256) if sha256 else None
        if by_hash is not None:
            found[by_hash.id] = by_hash
        if parsed is not None:
            for match in index.matches(canonicalize_name(name), parsed):
                found[match.advisory.id] = match.advisory
    return tuple(found[key] for key in sorted(found))


def advisories_for_sbom(indexes: Sequence[OsvIndex]) -> Advisories:
    """``proxy.sbom``'s advisory lookup over the loaded OSV data."""

    def lookup(artifact: Artifact) -> tuple[Advisory, ...]:
        return known_advisories(indexes, artifact.name, artifact.version, artifact.sha256)

    return lookup


def find_advisories(index: OsvIndex, wanted: str) -> tuple[Advisory, ...]:
    """The records whose id, or one of whose aliases, is ``wanted`` (e.g. a CVE id)."""
    found: dict[str, Advisory] = {}
    for name in index.projects():
        for advisory in index.advisories(name):
            if advisory.known_as(frozenset({wanted})):
                found[advisory.id] = advisory
    for advisory in index.malicious_hashes().values():
        if advisory.known_as(frozenset({wanted})):
            found[advisory.id] = advisory
    return tuple(sorted(found.values(), key=lambda a: a.id))


async def _rows(
    store: FetchLogStore,
    since: dt.datetime | None,
    *,
    project: str | None = None,
    sha256: str | None = None,
) -> list[FetchRecord]:
    query = FetchQuery(since=since, kinds=("dist",), project=project, sha256=sha256)
    return await store.query(query)


async def impact_of(
    store: FetchLogStore,
    target: Target,
    *,
    index: OsvIndex | None = None,
    since: dt.datetime | None = None,
) -> Impact:
    """The impact of ``target``; an advisory needs ``index`` (the loaded OSV data)."""
    await store.flush()
    if target.kind == "sha256":
        rows = await _rows(store, since, sha256=target.value)
        return Impact(target.value, (), served_files(rows))
    if target.kind == "release":
        rows = await _rows(store, since, project=target.value)
        wanted = _version(target.version)
        label = target.value + (f"=={target.version}" if target.version else "")
        return Impact(label, (), served_files(rows, lambda r: _same_version(r, wanted)))
    if index is None:
        raise ImpactError(f"{target.value}: resolving an advisory needs the OSV data")
    advisories = find_advisories(index, target.value)
    if not advisories:
        raise ImpactError(f"{target.value} is not in the loaded OSV data (id or alias)")
    return Impact(target.value, advisories, await _advisory_files(store, index, advisories, since))


async def _advisory_files(
    store: FetchLogStore, index: OsvIndex, advisories: Sequence[Advisory], since: dt.datetime | None
) -> tuple[ImpactedFile, ...]:
    ids = {a.id for a in advisories}
    names = {name for a in advisories for name in index.names_of(a.id)}
    hashes = {h for h, a in index.malicious_hashes().items() if a.id in ids}
    rows: dict[tuple[object, ...], FetchRecord] = {}
    for name in sorted(names):
        for row in await _rows(store, since, project=name):
            rows[_identity(row)] = row
    for sha256 in sorted(hashes):
        for row in await _rows(store, since, sha256=sha256):
            rows[_identity(row)] = row

    def covered(row: FetchRecord) -> bool:
        if row.sha256 and row.sha256.lower() in hashes:
            return True
        version = parse_version(row.version) if row.version else None
        if version is None or row.project is None:
            return False
        matches = index.matches(canonicalize_name(row.project), version)
        return any(m.advisory.id in ids for m in matches)

    return served_files(rows.values(), covered)


def _identity(row: FetchRecord) -> tuple[object, ...]:
    return (row.time, row.client, row.filename, row.sha256, row.build, row.status)


def _version(text: str | None) -> Version | None:
    if text is None:
        return None
    try:
        return Version(text)
    except InvalidVersion as error:
        raise ImpactError(f"{text!r} is not a PEP 440 version") from error


def _same_version(row: FetchRecord, wanted: Version | None) -> bool:
    if wanted is None:
        return True
    try:
        return row.version is not None and Version(row.version) == wanted
    except InvalidVersion:
        return False
