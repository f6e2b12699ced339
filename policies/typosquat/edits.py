"""What kind of slip turns one name into another, and how suspicious that slip is.

Both names are compared in their *flat* form (PEP 503 normalized, separators removed) and
are known to be one Damerau-Levenshtein edit apart. The edit is classified the way typing
mistakes happen: two letters swapped, a letter doubled or dropped, a neighbouring key hit
instead of (or as well as) the right one, a look-alike character. Each kind has a cost;
the cost is compared with a tolerance that grows with the length of the imitated name
and with its popularity (see ``tolerance``).

Edits that make a *different* name rather than a misspelled one are never typos here: a
changed number (``cu11`` / ``cu12``, ``html2docx`` / ``html3docx``) and a plural ``s``
added to or removed from the end of a word.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

# A US QWERTY layout; each row is shifted about half a key right of the one above it.
_KEYBOARD_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")
_KEY_POSITION = {
    key: (row, col) for row, keys in enumerate(_KEYBOARD_ROWS) for col, key in enumerate(keys)
}

# Characters that look alike in common fonts. The flat form already reads a 0 or 1 between
# two letters as o or l (``names.flat``); these catch the rest.
_LOOKALIKES = tuple(frozenset(group) for group in ("il1", "o0", "uv", "s5", "q9", "b8"))

MIN_TYPO_LENGTH = 5
"""Names shorter than this (flat) are never matched by edit distance: one edit on a
four-letter name is another ordinary word, not a typo."""
MIN_LENGTH = 4
"""Names shorter than this are too short to be imitated recognizably by any rule."""


_VOWELS = frozenset("aeiouy")


class Kind(enum.Enum):
    """An edit kind, its base cost (lower is more typo-like) and whether the candidate
    still has exactly the letters of the imitated name (a swap, a doubling, a drop)."""

    TRANSPOSITION = ("two letters swapped", 1.0, True)
    DOUBLED = ("a letter doubled", 1.0, True)
    UNDOUBLED = ("a doubled letter written once", 1.5, True)
    LOOKALIKE = ("a look-alike character", 1.5, False)
    ADJACENT_KEY = ("a neighbouring key instead of the right one", 1.5, False)
    EXTRA_ADJACENT_KEY = ("an extra neighbouring key", 1.5, False)
    OMISSION = ("a letter left out", 2.0, True)
    VOWEL = ("one vowel for another", 2.0, False)
    INSERTION = ("an extra letter", 2.5, False)
    SUBSTITUTION = ("one letter changed", 3.0, False)

    def __init__(self, label: str, cost: float, keeps_letters: bool) -> None:
        self.label = label
        self.cost = cost
        self.keeps_letters = keeps_letters


class Place(enum.Enum):
    """Where in a word (a ``-``-separated part) of the imitated name the edit falls."""

    FIRST = "first letter"
    MIDDLE = "middle"
    LAST = "last letter"


# People seldom get the first letter of a word wrong, so a different first letter makes a
# different name ("tfinance", "z-transformers"); a swapped or doubled one is still a slip.
# Names that differ in their last letter are often deliberate variants (a suffix letter).
FIRST_LETTER_COST = 1.0
FIRST_LETTER_CHANGED_COST = 2.0
LAST_LETTER_COST = 0.25


@dataclass(frozen=True, slots=True)
class Edit:
    kind: Kind
    place: Place
    old: str
    """The imitated name's character(s) involved ('' for an insertion)."""
    new: str
    """The candidate's character(s) involved ('' for an omission)."""

    @property
    def cost(self) -> float:
        if self.place is Place.FIRST:
            extra = FIRST_LETTER_COST if self.kind.keeps_letters else FIRST_LETTER_CHANGED_COST
        else:
            extra = LAST_LETTER_COST if self.place is Place.LAST else 0.0
        return self.kind.cost + extra


def adjacent_keys(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` are neighbours on the keyboard (same row or the row next to it)."""
    if a not in _KEY_POSITION or b not in _KEY_POSITION:
        return False
    (row_a, col_a), (row_b, col_b) = sorted((_KEY_POSITION[a], _KEY_POSITION[b]))
    if row_a == row_b:
        return abs(col_a - col_b) == 1
    # The lower row is shifted right: key c touches c-1 and c of the row below it.
    return row_b == row_a + 1 and col_b in (col_a - 1, col_a)


def lookalike(a: str, b: str) -> bool:
    return any(a in group and b in group for group in _LOOKALIKES)


def tolerance(length: int, rank: int) -> float:
    """The highest edit cost still flagged against a name of ``length`` flat characters
    and popularity ``rank`` (1 = most downloaded; configured names count as rank 1).

    Longer names tolerate more (a slip in a long name still reads as that name) and more
    popular names tolerate more (attackers imitate what people install most). The scale
    was chosen by measurement, see bench/typosquat/RESULTS.md.
    """
    if length < MIN_LENGTH:
        return -1.0
    return 1.25 * math.log2(length) - 0.375 * math.log10(max(rank, 1))


def classify(candidate: str, target: str, word_starts: frozenset[int]) -> Edit | None:
    """The single edit that turns flat ``target`` into flat ``candidate``.

    ``word_starts`` are the indexes in ``target`` where a word (a part between separators
    of the canonical name) begins. Returns ``None`` when the two are not one edit apart,
    or when the edit changes a number or a plural rather than the spelling.
    """
    if len(candidate) == len(target):
        return _same_length(candidate, target, word_starts)
    if len(candidate) == len(target) - 1:
        return _omission(candidate, target, word_starts)
    if len(candidate) == len(target) + 1:
        return _insertion(candidate, target, word_starts)
    return None


def _place(index: int, length: int, word_starts: frozenset[int]) -> Place:
    if index in word_starts:
        return Place.FIRST
    if index == length - 1 or index + 1 in word_starts:
        return Place.LAST
    return Place.MIDDLE


def _first_difference(a: str, b: str) -> int:
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


def _same_length(candidate: str, target: str, starts: frozenset[int]) -> Edit | None:
    diff = [i for i, (x, y) in enumerate(zip(candidate, target, strict=True)) if x != y]
    if len(diff) == 2:
        first, second = diff
        swapped = candidate[first] == target[second] and candidate[second] == target[first]
        if second != first + 1 or not swapped:
            return None
        if first in starts:
            place = Place.FIRST
        elif second == len(target) - 1 or second + 1 in starts:
            place = Place.LAST
        else:
            place = Place.MIDDLE
        return Edit(
            Kind.TRANSPOSITION, place, target[first : second + 1], candidate[first : second + 1]
        )
    if len(diff) != 1:
        return None
    index = diff[0]
    old, new = target[index], candidate[index]
    if old.isdigit() and new.isdigit():
        return None
    if lookalike(old, new):
        kind = Kind.LOOKALIKE
    elif adjacent_keys(old, new):
        kind = Kind.ADJACENT_KEY
    elif old in _VOWELS and new in _VOWELS:
        kind = Kind.VOWEL
    else:
        kind = Kind.SUBSTITUTION
    return Edit(kind, _place(index, len(target), starts), old, new)


def _omission(candidate: str, target: str, starts: frozenset[int]) -> Edit | None:
    index = _first_difference(candidate, target)
    if candidate[index:] != target[index + 1 :]:
        return None
    old = target[index]
    place = _place(index, len(target), starts)
    doubled = (index > 0 and target[index - 1] == old) or target[index + 1 : index + 2] == old
    if old.isdigit() or (old == "s" and place is Place.LAST and not doubled):
        return None
    return Edit(Kind.UNDOUBLED if doubled else Kind.OMISSION, place, old, "")


def _insertion(candidate: str, target: str, starts: frozenset[int]) -> Edit | None:
    index = _first_difference(candidate, target)
    if candidate[index + 1 :] != target[index:]:
        return None
    new = candidate[index]
    # The inserted character sits between target[index - 1] and target[index].
    if index in starts:
        place = Place.FIRST
    elif index == len(target):
        place = Place.LAST
    else:
        place = Place.MIDDLE
    neighbours = candidate[max(index - 1, 0) : index] + candidate[index + 1 : index + 2]
    if new.isdigit() or (new == "s" and place is Place.LAST and new not in neighbours):
        return None
    if new in neighbours:
        kind = Kind.DOUBLED
    elif any(adjacent_keys(new, n) for n in neighbours):
        kind = Kind.EXTRA_ADJACENT_KEY
    else:
        kind = Kind.INSERTION
    return Edit(kind, place, "", new)
