"""Project-name globs, as used by ``exempt``, allow/deny lists and upstream routing.

Globs follow ``fnmatch`` (``*``, ``?``, ``[seq]``, ``[!seq]``) and match PEP 503 normalised
names. A glob is normalised the same way outside its brackets (lower case, runs of
``-``, ``_`` and ``.`` become ``-``), so ``Acme_Corp.*`` matches ``acme-corp-tools``.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable

_SEPARATORS = re.compile(r"[-_.]+")
_GLOB_CHARS = frozenset("*?[")
_VALID = re.compile(r"^[A-Za-z0-9._\-*?\[\]!]+$")


def normalize_glob(pattern: str) -> str:
    """PEP 503-normalise the literal parts of ``pattern``; bracket expressions keep their
    separators (``[-_]`` must stay a two-character class) and are only lower-cased."""
    parts = re.split(r"(\[[^\]]*\])", pattern)
    return "".join(
        part.lower() if part.startswith("[") else _SEPARATORS.sub("-", part).lower()
        for part in parts
    )


def parse_glob(value: object) -> str:
    """One glob from TOML; raises ``ValueError`` saying what a valid glob looks like."""
    if not isinstance(value, str) or not _VALID.match(value):
        raise ValueError(
            f"expected a project name or glob of letters, digits, '.', '_', '-', '*', '?' "
            f"and [...], got {value!r}"
        )
    return normalize_glob(value)


class GlobSet:
    """A fixed set of project-name globs matched as one: exact names by a set lookup,
    the rest by one compiled regular expression (a few hundred nanoseconds per name)."""

    __slots__ = ("_exact", "_regex", "patterns")

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        self.patterns: tuple[str, ...] = tuple(dict.fromkeys(normalize_glob(p) for p in patterns))
        self._exact = frozenset(p for p in self.patterns if not _GLOB_CHARS & set(p))
        wild = [fnmatch.translate(p) for p in self.patterns if p not in self._exact]
        self._regex = re.compile("|".join(wild)) if wild else None

    def matches(self, name: str) -> bool:
        """Whether the normalised ``name`` matches any glob."""
        if name in self._exact:
            return True
        return self._regex is not None and self._regex.match(name) is not None

    def first_match(self, name: str) -> str | None:
        """The first glob (in configuration order) that matches ``name``; for reasons."""
        if not self.matches(name):
            return None
        for pattern in self.patterns:
            if pattern == name or fnmatch.fnmatchcase(name, pattern):
                return pattern
        return None

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GlobSet) and other.patterns == self.patterns

    def __hash__(self) -> int:
        return hash(self.patterns)

    def __repr__(self) -> str:
        return f"GlobSet({list(self.patterns)!r})"


def parse_globs(value: object) -> GlobSet:
    """A TOML list of globs (``Option.parse`` for ``exempt`` and friends)."""
    if isinstance(value, GlobSet):
        return value
    if not isinstance(value, list | tuple):
        raise ValueError(f"expected a list of project names or globs, got {value!r}")
    return GlobSet(parse_glob(item) for item in value)
