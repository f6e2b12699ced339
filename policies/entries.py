"""Allow/deny list entries: a project name or glob, optionally with a PEP 440 version
specifier: ``"requests"``, ``"acme-*"``, ``"django<4"``, ``"urllib3>=1.26,!=2.0.0"``.

An entry without a specifier speaks about the whole project (project hook); an entry
with one speaks about the files whose version it matches (file hook).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from policies.globs import GlobSet, normalize_glob

# A glob may use [...] classes, which can contain '!', so '!=' is only seen after the name.
_ENTRY = re.compile(r"^\s*((?:[A-Za-z0-9._\-*?]|\[[^\]]*\])+)\s*(.*?)\s*$")


@dataclass(frozen=True, slots=True)
class Entry:
    text: str
    """As written in the config, for reasons."""
    glob: str
    specifier: SpecifierSet | None

    def contains(self, version: Version) -> bool:
        # Pre-releases are judged by the ranges like any version: "django<4" must not
        # let 5.0rc1 through and must keep 3.2rc1.
        return self.specifier is None or self.specifier.contains(version, prereleases=True)


def parse_entry(value: object) -> Entry:
    if not isinstance(value, str) or (match := _ENTRY.match(value)) is None:
        raise ValueError(f'expected "name", "glob-*" or "name<specifier>" entries, got {value!r}')
    name, rest = match.groups()
    try:
        specifier = SpecifierSet(rest) if rest else None
    except InvalidSpecifier as error:
        raise ValueError(f"{value!r} has an invalid version specifier {rest!r}: {error}") from error
    return Entry(value.strip(), normalize_glob(name), specifier)


class EntryList:
    """Parsed entries with fast matching by project name."""

    def __init__(self, entries: Iterable[Entry] = ()) -> None:
        self.entries = tuple(entries)
        self.patterns = tuple(entry.text for entry in self.entries)
        self.any = GlobSet(entry.glob for entry in self.entries)
        self._names_only = tuple(e for e in self.entries if e.specifier is None)
        self._names = GlobSet(e.glob for e in self._names_only)
        self._versioned = tuple((GlobSet([e.glob]), e) for e in self.entries if e.specifier)
        self.versioned_for = functools.lru_cache(maxsize=4096)(self._versioned_for)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def whole_project(self, name: str) -> Entry | None:
        """The first entry without a specifier that matches ``name``."""
        if not self._names.matches(name):
            return None
        return next(e for e in self._names_only if GlobSet([e.glob]).matches(name))

    def _versioned_for(self, name: str) -> tuple[Entry, ...]:
        """The entries with a specifier that apply to ``name``."""
        return tuple(entry for globs, entry in self._versioned if globs.matches(name))


def parse_entries(value: object) -> EntryList:
    """``Option.parse`` for the ``projects`` list of allowlist and denylist."""
    if not isinstance(value, list | tuple):
        raise ValueError(f"expected a list of project entries, got {value!r}")
    return EntryList(parse_entry(item) for item in value)
