"""The forms of a project name that the typosquat rules compare.

Names arrive PEP 503 normalized (lower case, runs of ``-_.`` as one ``-``), so case games
are already gone. From there:

- ``flat``: separators removed, and a ``0``/``1`` between two letters read as ``o``/``l``;
  edit distance is measured on this form, so ``requ-sts`` is one edit from ``requests``.
- ``skeleton``: ``flat`` with every look-alike merged (``l``/``1``/``i``, ``0``/``o``,
  ``rn``/``m``, ``vv``/``w``). PyPI itself refuses new names whose separator-free, ``l/1/i``
  and ``o/0`` merged form collides with an existing one; equal skeletons read alike.
- ``sound``: ``flat`` spelt by sound (``ph``/``f``, ``c``/``k``, ``z``/``s``, ``y``/``i``,
  doubled letters once), so ``kolorrama`` and ``colorama`` sound the same.
- ``number_mask``: the name with every run of digits as ``#``, so that names that differ
  only in a number (``win32-setctime`` / ``win31-setctime``) share a key.
- ``CompoundWords``: whether a word is made of words common in popular names
  (``torch`` + ``test``), which marks a deliberate new name rather than a misspelling.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable

# A 0 or 1 between two letters stands in for o or l ("pill0w"); next to other digits it is
# part of a number ("cu110", "notebook1") and stays a digit.
_DIGIT_LOOKALIKE = re.compile(r"(?<=[a-z])[01](?=[a-z])")
_AS_LETTER = {"0": "o", "1": "l"}
_LOOKALIKE = (("i", "l"), ("1", "l"), ("0", "o"), ("rn", "m"), ("vv", "w"))
# Applied in order: longer spellings of one sound first.
_SOUNDS = (
    ("tion", "sion"), ("ph", "f"), ("ck", "k"), ("qu", "kw"), ("ks", "x"), ("ou", "u"),
    ("oo", "u"), ("ee", "i"), ("c", "k"), ("q", "k"), ("z", "s"), ("y", "i"), ("w", "v"),
)  # fmt: skip
_DOUBLED = re.compile(r"(.)\1+")
_NUMBER = re.compile(r"\d+")

MIN_COMPOUND_PART = 3


def flat(name: str) -> str:
    return _DIGIT_LOOKALIKE.sub(lambda digit: _AS_LETTER[digit[0]], name.replace("-", ""))


def skeleton(name: str) -> str:
    result = flat(name)
    for lookalike, plain in _LOOKALIKE:
        result = result.replace(lookalike, plain)
    return result


def sound(name: str) -> str:
    result = flat(name)
    for spelling, plain in _SOUNDS:
        result = result.replace(spelling, plain)
    return _DOUBLED.sub(r"\1", result)


def number_mask(name: str) -> str:
    return _NUMBER.sub("#", name)


def numbers(name: str) -> list[str]:
    return _NUMBER.findall(name)


def word_starts(name: str) -> frozenset[int]:
    """Indexes in ``flat(name)`` where each ``-``-separated part of ``name`` begins."""
    starts: list[int] = []
    position = 0
    for part in name.split("-"):
        starts.append(position)
        position += len(part)
    return frozenset(starts)


def same_shape(name: str, target: str) -> bool:
    """Whether ``name`` keeps the word structure of ``target``: as many ``-``-separated
    parts, or a separator typed in place of one letter (``requ-sts``). A typo keeps the
    shape; a name that also adds, drops or moves a separator is built differently."""
    if name.count("-") == target.count("-"):
        return True
    if len(name) != len(target):
        return False
    diff = [(a, b) for a, b in zip(name, target, strict=True) if a != b]
    return len(diff) == 1 and "-" in diff[0]


class CompoundWords:
    """Words that recur in popular names (``test``, ``client``, ``torch``...), and whether a
    word splits into at most three of them."""

    def __init__(self, names: Iterable[str], min_names: int = 2) -> None:
        counts = Counter(part for name in names for part in set(name.split("-")))
        self.words = frozenset(
            word
            for word, count in counts.items()
            if count >= min_names and len(word) >= MIN_COMPOUND_PART and not word.isdigit()
        )
        self.is_compound = functools.lru_cache(maxsize=4096)(self._is_compound)

    def _is_compound(self, word: str, parts: int = 3) -> bool:
        if word in self.words:
            return True
        if parts == 1:
            return False
        return any(
            word[:cut] in self.words and self._is_compound(word[cut:], parts - 1)
            for cut in range(MIN_COMPOUND_PART, len(word) - MIN_COMPOUND_PART + 1)
        )

    def changed_words_are_compounds(self, name: str, target: str) -> bool:
        """Whether every word of ``name`` that ``target`` lacks is made of common words."""
        target_words = set(target.split("-"))
        changed = [word for word in name.split("-") if word not in target_words]
        return bool(changed) and all(self.is_compound(word) for word in changed)
