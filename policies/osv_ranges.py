"""PyPI versions in OSV records: PEP 440 equality keys and version ranges.

The OSV schema's ``ECOSYSTEM`` range type for PyPI orders versions as PEP 440 does
(``packaging.version.Version``); ``SEMVER`` ranges of PyPI records are read the same way.
A range is a timeline of ``introduced`` / ``fixed`` / ``last_affected`` / ``limit`` events
(``introduced: "0"`` = before every version; no ``limit`` = no upper limit). It is compiled
once into intervals that give the same answers as the schema's ``IsVulnerable`` pseudocode.
Event versions that do not parse as PEP 440 are skipped.

Explicit ``versions`` lists (often hundreds per record) are kept as PEP 440 equality keys,
strings rather than ``Version`` objects: parsing millions of them costs seconds, and
millions of long-lived objects make every garbage collection pause the event loop too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from packaging.utils import canonicalize_version
from packaging.version import InvalidVersion, Version

__all__ = [
    "Interval",
    "VersionRange",
    "compile_range",
    "parse_version",
    "parse_versions",
    "version_key",
    "version_keys",
]

_ZERO = Version("0")
_PLAIN_RELEASE = re.compile(r"(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))*")
_TIMELINE_EVENTS = ("introduced", "fixed", "last_affected")


@dataclass(frozen=True, slots=True)
class Interval:
    start: Version | None
    """``None`` is the schema's ``introduced: "0"``: before every version."""
    end: Version | None
    """``None``: no fix yet, every later version is affected."""
    end_inclusive: bool
    """True for ``last_affected`` (the end is affected), false for ``fixed``."""

    def __contains__(self, version: Version) -> bool:
        if self.start is not None and version < self.start:
            return False
        if self.end is None:
            return True
        return version <= self.end if self.end_inclusive else version < self.end


@dataclass(frozen=True, slots=True)
class VersionRange:
    intervals: tuple[Interval, ...]
    limits: tuple[Version, ...] = ()

    def __contains__(self, version: Version) -> bool:
        # Schema "BeforeLimits": with limit events, only versions below one of them count.
        if self.limits and not any(version < limit for limit in self.limits):
            return False
        return any(version in interval for interval in self.intervals)

    @property
    def unbounded(self) -> bool:
        """Every version, from before the first to after the last, is in this range."""
        return not self.limits and any(i.start is None and i.end is None for i in self.intervals)

    @classmethod
    def everything(cls) -> VersionRange:
        return cls((Interval(None, None, end_inclusive=False),))


def compile_range(events: Iterable[Any]) -> VersionRange:
    """Turn a range's ``events`` (decoded JSON) into intervals and limits."""
    timeline: list[tuple[str, Version | None]] = []
    limits: list[Version] = []
    for event in events:
        if not isinstance(event, dict) or len(event) != 1:
            continue  # the schema allows exactly one key per event
        ((kind, raw),) = event.items()
        if kind == "introduced" and raw == "0":
            timeline.append((kind, None))
            continue
        version = parse_version(raw)
        if version is None:
            continue
        if kind == "limit":
            limits.append(version)
        elif kind in _TIMELINE_EVENTS:
            timeline.append((kind, version))
    return VersionRange(_intervals(timeline), tuple(limits))


def _intervals(timeline: list[tuple[str, Version | None]]) -> tuple[Interval, ...]:
    # Sorting, then opening at "introduced" and closing at "fixed"/"last_affected", answers
    # like the schema's walk, where the last event that applies to a version decides.
    timeline.sort(key=lambda item: (item[1] is not None, item[1] or _ZERO))
    intervals: list[Interval] = []
    start: Version | None = None
    is_open = False
    for kind, version in timeline:
        if kind == "introduced" and not is_open:
            start, is_open = version, True
        elif kind != "introduced" and is_open:
            intervals.append(Interval(start, version, end_inclusive=kind == "last_affected"))
            is_open = False
    if is_open:
        intervals.append(Interval(start, None, end_inclusive=False))
    return tuple(intervals)


def parse_versions(raw: Iterable[Any]) -> Iterable[Version]:
    """The values that parse as PEP 440 versions; the others are skipped."""
    for value in raw:
        version = parse_version(value)
        if version is not None:
            yield version


def parse_version(raw: Any) -> Version | None:
    if not isinstance(raw, str):
        return None
    try:
        return Version(raw)
    except InvalidVersion:
        return None


def version_key(version: str | Version) -> str | None:
    """A string equal for PEP 440-equal versions ("1.0" and "1.0.0" give "1"), or ``None``."""
    if isinstance(version, str) and _PLAIN_RELEASE.fullmatch(version):
        # The common case, without a parse: only trailing zero components can differ.
        while version.endswith(".0"):
            version = version[:-2]
        return version
    parsed = parse_version(version) if isinstance(version, str) else version
    return None if parsed is None else canonicalize_version(parsed, strip_trailing_zero=True)


def version_keys(raw: Iterable[Any]) -> dict[str, None]:
    """The keys of the values that are PEP 440 versions, as a set; the others are skipped.

    A dict rather than a frozenset: a dict holding only strings is not tracked by the
    garbage collector, so millions of listed versions add nothing to each collection.
    """
    keys = (version_key(value) for value in raw if isinstance(value, str))
    return dict.fromkeys(key for key in keys if key is not None)
