"""OSV records (schema 1.x) folded into an in-memory index of PyPI advisories.

Only ``affected[]`` entries whose ``package.ecosystem`` is ``PyPI`` are kept, under their
PEP 503 normalised name. Versions compare with PEP 440 ordering (``packaging.version``),
which is how the OSV schema defines ``ECOSYSTEM`` ranges for PyPI; ``SEMVER`` ranges are
read the same way and ``GIT`` ranges are ignored (they need the repository's commit graph);
``osv_ranges`` evaluates them. Malicious packages are the OpenSSF ``MAL-`` records; their
file hashes (``affected[].database_specific.indicators.package_integrity[].hashes.sha256``)
go into a hash index so that a download can be refused by content.

The index is built once (in a worker thread) and then only read; a project without
advisories costs one dict miss.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from packaging.utils import NormalizedName, canonicalize_name, canonicalize_version
from packaging.version import Version

from policies.osv_ranges import VersionRange, compile_range, parse_versions, version_keys
from policies.osv_severity import Severity, record_severity

__all__ = ["Advisory", "IndexBuilder", "Match", "OsvIndex", "Severity"]

_ECOSYSTEM = "PyPI"
_ORDERED_RANGE_TYPES = frozenset({"ECOSYSTEM", "SEMVER"})


@dataclass(frozen=True, slots=True)
class Advisory:
    """One OSV record, reduced to what a verdict needs."""

    id: str
    aliases: tuple[str, ...]
    summary: str
    severity: Severity
    malicious: bool

    def known_as(self, ids: frozenset[str]) -> bool:
        """True when ``ids`` names this record by its id or one of its aliases."""
        return self.id in ids or not ids.isdisjoint(self.aliases)


@dataclass(frozen=True, slots=True)
class Match:
    """An advisory that affects one version, with the release that fixes it when known."""

    advisory: Advisory
    fixed: Version | None


@dataclass(frozen=True, slots=True)
class _Affected:
    """One ``affected[]`` entry for one package."""

    advisory: Advisory
    versions: Mapping[str, None]
    """``version_key`` of each listed version (a set; see ``version_keys``)."""
    ranges: tuple[VersionRange, ...]
    fixes: tuple[Version, ...]
    """Every ``fixed`` event, ascending: the hint for "upgrade to"."""

    def affects(self, version: Version, key: str) -> bool:
        return key in self.versions or any(version in r for r in self.ranges)

    def fixed_after(self, version: Version) -> Version | None:
        """The fix of the range interval holding ``version``, else the next fix above it."""
        holding = [i for r in self.ranges if version in r for i in r.intervals if version in i]
        if holding:
            ends = [i.end for i in holding if i.end is not None and not i.end_inclusive]
            # An open interval or a ``last_affected`` ceiling means no fixed release is known.
            return max(ends) if len(ends) == len(holding) else None
        return next((fix for fix in self.fixes if fix > version), None)

    @property
    def every_version(self) -> bool:
        return any(r.unbounded for r in self.ranges)


class OsvIndex:
    """Advisories by project name and malicious files by sha256; read-only once built."""

    __slots__ = ("_affected", "_hashes", "_malicious", "records")

    def __init__(
        self,
        affected: Mapping[NormalizedName, tuple[_Affected, ...]],
        hashes: Mapping[str, Advisory],
        records: int,
    ) -> None:
        self._affected = dict(affected)
        self._hashes = dict(hashes)
        self._malicious = {
            name: found
            for name, entries in self._affected.items()
            if (
                found := tuple(
                    e.advisory for e in entries if e.advisory.malicious and e.every_version
                )
            )
        }
        self.records = records
        """PyPI records kept (withdrawn and other ecosystems excluded)."""

    def __contains__(self, name: str) -> bool:
        return name in self._affected

    def __len__(self) -> int:
        return len(self._affected)

    def malicious_records(self, name: NormalizedName) -> tuple[Advisory, ...]:
        """Every malicious record that names the project, whatever versions it covers."""
        return tuple(e.advisory for e in self._affected.get(name, ()) if e.advisory.malicious)

    def malicious_project(self, name: NormalizedName) -> tuple[Advisory, ...]:
        """The malicious records that cover every version of ``name``."""
        return self._malicious.get(name, ())

    def malicious_file(self, sha256: str) -> Advisory | None:
        return self._hashes.get(sha256.lower())

    def projects(self) -> frozenset[NormalizedName]:
        return frozenset(self._affected)

    def same_entries(self, other: OsvIndex, name: NormalizedName) -> bool:
        """Whether both indexes say exactly the same about ``name`` (range for range)."""
        return self._affected.get(name, ()) == other._affected.get(name, ())

    def malicious_hashes(self) -> Mapping[str, Advisory]:
        return self._hashes

    def names_of(self, advisory_id: str) -> frozenset[NormalizedName]:
        """The projects an advisory (by id) has ``affected`` entries for."""
        return frozenset(
            name
            for name, entries in self._affected.items()
            if any(entry.advisory.id == advisory_id for entry in entries)
        )

    def advisories(self, name: NormalizedName) -> tuple[Advisory, ...]:
        """Every advisory with an entry for ``name``, each once."""
        return tuple({e.advisory.id: e.advisory for e in self._affected.get(name, ())}.values())

    def matches(self, name: NormalizedName, version: Version) -> tuple[Match, ...]:
        key = canonicalize_version(version, strip_trailing_zero=True)
        return tuple(
            Match(entry.advisory, entry.fixed_after(version))
            for entry in self._affected.get(name, ())
            if entry.affects(version, key)
        )


class IndexBuilder:
    """Collects OSV records (any ecosystem, any state) and builds an ``OsvIndex``."""

    def __init__(self) -> None:
        self._affected: dict[NormalizedName, list[_Affected]] = {}
        self._hashes: dict[str, Advisory] = {}
        self._records = 0

    def add(self, record: Any) -> None:
        """Fold one decoded OSV JSON document (a record or a list of records) in."""
        if isinstance(record, list):
            for item in record:
                self.add(item)
            return
        if not isinstance(record, dict) or not _usable(record):
            return
        entries = [e for e in _list(record.get("affected")) if _is_pypi(e)]
        if not entries:
            return
        advisory = _advisory(record, entries)
        for entry in entries:
            name = canonicalize_name(entry["package"]["name"])
            self._affected.setdefault(name, []).append(_affected(advisory, entry))
            for sha256 in _file_hashes(entry) if advisory.malicious else ():
                self._hashes[sha256] = advisory
        self._records += 1

    def build(self) -> OsvIndex:
        frozen = {name: tuple(entries) for name, entries in self._affected.items()}
        return OsvIndex(frozen, self._hashes, self._records)


def _usable(record: dict[str, Any]) -> bool:
    # Withdrawn records are retractions (e.g. malicious-package false positives), and a
    # schema major other than 1 may change meanings we rely on.
    if record.get("withdrawn") or not isinstance(record.get("id"), str):
        return False
    schema = record.get("schema_version", "1")
    return isinstance(schema, str) and schema.split(".", 1)[0] == "1"


def _is_pypi(entry: Any) -> bool:
    package = entry.get("package") if isinstance(entry, dict) else None
    return (
        isinstance(package, dict)
        and package.get("ecosystem") == _ECOSYSTEM
        and isinstance(package.get("name"), str)
        and bool(package["name"])
    )


def _advisory(record: dict[str, Any], entries: list[dict[str, Any]]) -> Advisory:
    record_id: str = record["id"]
    extra = _dict(record.get("database_specific"))
    malicious = (
        record_id.startswith("MAL-")
        or "malicious-packages-origins" in extra
        or extra.get("malicious") is True
    )
    return Advisory(
        id=record_id,
        aliases=tuple(a for a in _list(record.get("aliases")) if isinstance(a, str)),
        summary=str(record.get("summary") or "").strip(),
        severity=record_severity(record, entries),
        malicious=malicious,
    )


def _affected(advisory: Advisory, entry: dict[str, Any]) -> _Affected:
    versions = version_keys(_list(entry.get("versions")))
    raw_ranges = [
        r
        for r in _list(entry.get("ranges"))
        if isinstance(r, dict) and r.get("type") in _ORDERED_RANGE_TYPES
    ]
    compiled = (compile_range(_list(r.get("events"))) for r in raw_ranges)
    ranges = [r for r in compiled if r.intervals]
    if advisory.malicious and not versions and not ranges:
        # A malicious report that names the package but no usable versions: fail closed.
        ranges = [VersionRange.everything()]
    fixes = sorted(parse_versions(_event_values(raw_ranges, "fixed")))
    return _Affected(advisory, versions, tuple(ranges), tuple(fixes))


def _event_values(ranges: Iterable[dict[str, Any]], kind: str) -> Iterable[Any]:
    for r in ranges:
        for event in _list(r.get("events")):
            if isinstance(event, dict) and kind in event:
                yield event[kind]


def _file_hashes(entry: dict[str, Any]) -> Iterable[str]:
    indicators = _dict(_dict(entry.get("database_specific")).get("indicators"))
    for item in _list(indicators.get("package_integrity")):
        sha256 = _dict(_dict(item).get("hashes")).get("sha256")
        if isinstance(sha256, str) and len(sha256) == 64:
            yield sha256.lower()


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
