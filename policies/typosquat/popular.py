"""The shipped popular names and the cached index built from them."""

from __future__ import annotations

import functools
from pathlib import Path

from packaging.utils import canonicalize_name

from policies.typosquat.index import ProtectedIndex
from policies.typosquat.structure import load_structure

POPULAR_FILE = Path(__file__).resolve().parent / "data" / "popular.txt"


@functools.cache
def load_popular() -> tuple[tuple[str, int], ...]:
    """The shipped popular names, read once."""
    return read_popular(POPULAR_FILE)


def read_popular(path: Path) -> tuple[tuple[str, int], ...]:
    """``(normalized name, rank)`` pairs, best rank first, from a ``<rank> <name>`` file."""
    pairs: list[tuple[str, int]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        rank, _, name = line.partition(" ")
        if not rank.isdigit() or not name:
            raise ValueError(f"{path}:{number}: expected '<rank> <name>', got {line!r}")
        pairs.append((canonicalize_name(name), int(rank)))
    return tuple(sorted(pairs, key=lambda pair: pair[1]))


@functools.lru_cache(maxsize=2)
def build_index(top: int, protect: frozenset[str]) -> ProtectedIndex:
    """Cached so that a reload with unchanged options does not rebuild."""
    popular = load_popular()
    ranks = dict(popular[:top])
    ranks.update(dict.fromkeys(protect, 0))
    return ProtectedIndex(ranks, load_structure(), never_flag=frozenset(dict(popular)))
