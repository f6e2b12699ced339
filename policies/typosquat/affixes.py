"""The ways of reading a name as another name plus one added word.

A word may be added as a separate part (``install-numpy``, ``requests-utils``) or glued on
(``pynumpy``, ``numpylib``, ``numpy2``). Separated words are tried at both ends; glued
words only where the rest is a protected name (``is_protected_flat``) or the word is a
version-like number, so that an ordinary compound word is not split at every letter.
Which words count, and how much, is decided by the costs in ``tuning`` from the counts in
``structure``; this module only enumerates the readings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from policies.typosquat.structure import Side

_NUMBER_WORD = re.compile(r"^v?[1-9]$")
"""Version-like: one digit. Longer numbers are Python versions (``-37``), years or
counts, which is how ordinary projects use them."""
CONVENTION_WORDS = frozenset({"py", "python", "py2", "py3", "python2", "python3"})
"""Python's own affixes for bindings and ports (``pyyaml``, ``python-ldap``, ``X-py3``)."""
_TRAILING_NUMBER = re.compile(r"^(.*[a-z])(v?[1-9])$")
MIN_GLUED_WORD = 2
"""``py``; other glued words need ``MIN_GLUED_OTHER`` letters (``ekidna`` is not ``idna``)."""
MIN_GLUED_OTHER = 3
MAX_GLUED_WORD = 10
MIN_CORE = 3


@dataclass(frozen=True, slots=True)
class Split:
    core: str
    """The normalized name without the word."""
    word: str
    """The added word alone: ``python``, ``utils``, ``py``, ``2``, ``v2``."""
    side: Side
    """``PREFIX``: the word comes before the core; ``SUFFIX``: after it."""
    glued: bool

    @property
    def number(self) -> bool:
        """Whether the word is a version-like suffix (``2``, ``v3``)."""
        return self.side is Side.SUFFIX and bool(_NUMBER_WORD.match(self.word))

    @property
    def convention(self) -> bool:
        return self.word in CONVENTION_WORDS

    @property
    def affix(self) -> str:
        """The word as it appears in the name: ``python-``, ``-utils``, ``py``, ``2``."""
        if self.glued:
            return self.word
        return f"{self.word}-" if self.side is Side.PREFIX else f"-{self.word}"


def splits(name: str, is_protected_flat: Callable[[str], bool]) -> list[Split]:
    """Every reading of ``name`` as a core plus one added word."""
    found: list[Split] = []
    parts = name.split("-")
    if len(parts) > 1:
        found.append(Split("-".join(parts[1:]), parts[0], Side.PREFIX, glued=False))
        found.append(Split("-".join(parts[:-1]), parts[-1], Side.SUFFIX, glued=False))
    first, last = parts[0], parts[-1]
    after, before = "".join(parts[1:]), "".join(parts[:-1])
    for cut in range(MIN_GLUED_WORD, min(len(first) - MIN_CORE, MAX_GLUED_WORD) + 1):
        if is_protected_flat(first[cut:] + after):
            found.append(
                Split("-".join([first[cut:], *parts[1:]]), first[:cut], Side.PREFIX, glued=True)
            )
    for cut in range(max(MIN_CORE, len(last) - MAX_GLUED_WORD), len(last) - MIN_GLUED_WORD + 1):
        if is_protected_flat(before + last[:cut]):
            found.append(
                Split("-".join([*parts[:-1], last[:cut]]), last[cut:], Side.SUFFIX, glued=True)
            )
    number = _TRAILING_NUMBER.match(last)
    if number and len(number[1]) >= MIN_CORE:
        core = "-".join([*parts[:-1], number[1]])
        split = Split(core, number[2], Side.SUFFIX, glued=True)
        if split not in found:
            found.append(split)
    return [
        split
        for split in found
        if len(split.core) >= MIN_CORE
        and (
            not split.glued
            or split.convention
            or split.number
            or len(split.word) >= MIN_GLUED_OTHER
        )
    ]
