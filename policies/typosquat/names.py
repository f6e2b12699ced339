"""The forms of a project name that the typosquat rules compare.

Names arrive PEP 503 normalized (lower case, runs of ``-_.`` as one ``-``), so case games
are already gone. From there:

- ``flat``: separators removed, and a ``0``/``1`` between two letters read as ``o``/``l``;
  edit distance is measured on this form, so ``requ-sts`` is one edit from ``requests``.
- ``skeleton``: ``flat`` with every look-alike merged (``l``/``1``/``i``, ``0``/``o``,
  ``rn``/``m``, ``vv``/``w``). PyPI itself refuses new names whose separator-free, ``l/1/i``
  and ``o/0`` merged form collides with an existing one; equal skeletons read alike.
- ``affix_variants``: the name with one generic affix removed (``python-``, ``-py``, ``py``,
  ``-dev``, trailing digits...), each with a cost for how telling that affix is.
- ``CompoundWords``: whether a word is made of words common in popular names
  (``torch`` + ``test``), which marks a deliberate new name rather than a misspelling.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

# A 0 or 1 between two letters stands in for o or l ("pill0w"); next to other digits it is
# part of a number ("cu110", "notebook1") and stays a digit.
_DIGIT_LOOKALIKE = re.compile(r"(?<=[a-z])[01](?=[a-z])")
_AS_LETTER = {"0": "o", "1": "l"}
_LOOKALIKE = (("i", "l"), ("1", "l"), ("0", "o"), ("rn", "m"), ("vv", "w"))

# Words added to a protected name to make it look official or "the Python package for
# X". Words that also name ordinary related projects (python-X wrappers, X-dev builds,
# pyX bindings, X2 successors) cost more, so they count only against names with a high
# tolerance (long and popular). Extension words (-utils, -client, -api, -cli, -sdk) are
# absent on purpose: "flask-utils" is how real extension projects are named.
IMITATION_COST = 1.0
CONVENTION_COST = 2.5
GLUED_COST = 3.5
NUMBER_COST = 3.5
_IMITATION = ("install", "setup", "sys", "get", "the", "pip", "pypi")
_IMITATION_SUFFIXES = ("official", "latest", "package", "pkg", "module")
_CONVENTION = ("python", "python3", "py", "py3", "lib")
PREFIX_COSTS = dict.fromkeys(_IMITATION, IMITATION_COST) | dict.fromkeys(
    _CONVENTION, CONVENTION_COST
)
SUFFIX_COSTS = dict.fromkeys(_IMITATION_SUFFIXES, IMITATION_COST) | dict.fromkeys(
    (*_CONVENTION, "dev"), CONVENTION_COST
)
_GLUED = ("python", "py")
_TRAILING_NUMBER = re.compile(r"^(.*[a-z])-?(\d+)$")

MIN_COMPOUND_PART = 3


def flat(name: str) -> str:
    return _DIGIT_LOOKALIKE.sub(lambda digit: _AS_LETTER[digit[0]], name.replace("-", ""))


def skeleton(name: str) -> str:
    result = flat(name)
    for lookalike, plain in _LOOKALIKE:
        result = result.replace(lookalike, plain)
    return result


def word_starts(name: str) -> frozenset[int]:
    """Indexes in ``flat(name)`` where each ``-``-separated part of ``name`` begins."""
    starts: list[int] = []
    position = 0
    for part in name.split("-"):
        starts.append(position)
        position += len(part)
    return frozenset(starts)


@dataclass(frozen=True, slots=True)
class AffixVariant:
    core: str
    """The normalized name without the affix."""
    affix: str
    """The affix as it appears in the name: ``python-``, ``-dev``, ``py``, ``3``."""
    cost: float


def affix_variants(name: str) -> list[AffixVariant]:
    """Every way of reading ``name`` as another name plus one generic affix."""
    variants: list[AffixVariant] = []
    parts = name.split("-")
    if len(parts) > 1 and parts[0] in PREFIX_COSTS:
        variants.append(AffixVariant("-".join(parts[1:]), parts[0] + "-", PREFIX_COSTS[parts[0]]))
    if len(parts) > 1 and parts[-1] in SUFFIX_COSTS:
        variants.append(
            AffixVariant("-".join(parts[:-1]), "-" + parts[-1], SUFFIX_COSTS[parts[-1]])
        )
    for glued in _GLUED:
        rest = name.removeprefix(glued)
        if rest != name and rest[:1].isalnum():
            variants.append(AffixVariant(rest, glued, GLUED_COST))
        rest = name.removesuffix(glued)
        if rest != name and rest[-1:].isalnum():
            variants.append(AffixVariant(rest, glued, GLUED_COST))
    number = _TRAILING_NUMBER.match(name)
    if number:
        variants.append(AffixVariant(number[1], name[len(number[1]) :], NUMBER_COST))
    return [v for v in variants if v.core]


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
        self.is_compound = functools.lru_cache(maxsize=65536)(self._is_compound)

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
