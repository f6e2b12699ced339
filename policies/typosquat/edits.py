"""What kind of slip turns one name into another.

Both names are compared in their *flat* form (PEP 503 normalized, separators removed) and
are known to be one Damerau-Levenshtein edit apart. The edit is classified the way typing
mistakes happen: two letters swapped, a letter doubled or dropped, a character that looks
or sounds like the right one or sits next to it on the keyboard (``similarity``), an ``s``
added or dropped at the end (a plural). Its cost comes from ``tuning``.

A changed, added or dropped *digit* is not a typo here: numbers are versions and are
judged by the number rules of ``index``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from policies.typosquat.similarity import Channel, adjacent_keys, channels, substitution_cost


class Kind(enum.Enum):
    """An edit kind, its base cost (lower is more typo-like) and whether the candidate
    still has exactly the letters of the imitated name (a swap, a doubling, a drop)."""

    TRANSPOSITION = ("two letters swapped", 1.0, True)
    DOUBLED = ("a letter doubled", 1.0, True)
    UNDOUBLED = ("a doubled letter written once", 1.5, True)
    SUBSTITUTION = ("one character for another", 0.0, False)
    """Costed by the channel (``similarity.substitution_cost``), not here."""
    EXTRA_ADJACENT_KEY = ("an extra neighbouring key", 1.5, False)
    OMISSION = ("a letter left out", 2.0, True)
    PLURAL = ("an 's' added or dropped at the end", 0.0, True)
    """Costed by ``Tuning.plural``: plurals are also how ordinary variants are named."""
    INSERTION = ("an extra letter", 2.5, False)

    def __init__(self, label: str, cost: float, keeps_letters: bool) -> None:
        self.label = label
        self.cost = cost
        self.keeps_letters = keeps_letters


class Place(enum.Enum):
    """Where in a word (a ``-``-separated part) of the imitated name the edit falls."""

    FIRST = "first letter"
    MIDDLE = "middle"
    LAST = "last letter"


@dataclass(frozen=True, slots=True)
class Edit:
    kind: Kind
    place: Place
    old: str
    """The imitated name's character(s) involved ('' for an insertion)."""
    new: str
    """The candidate's character(s) involved ('' for an omission)."""

    @property
    def base_cost(self) -> float:
        if self.kind is Kind.SUBSTITUTION:
            return substitution_cost(self.old, self.new)
        return self.kind.cost

    @property
    def channels(self) -> tuple[Channel, ...]:
        """For a substitution, every reason the new character passes for the old one."""
        return channels(self.old, self.new) if self.kind is Kind.SUBSTITUTION else ()

    @property
    def channel(self) -> Channel | None:
        """The cheapest of ``channels``."""
        return self.channels[0] if self.channels else None

    @property
    def keeps_letters(self) -> bool:
        """Whether the edit is a slip of the right letters, or a changed letter that
        still looks or sounds like the right one."""
        return self.kind.keeps_letters or self.channel in (Channel.VISUAL, Channel.PHONETIC)


def classify(candidate: str, target: str, word_starts: frozenset[int]) -> Edit | None:
    """The single edit that turns flat ``target`` into flat ``candidate``.

    ``word_starts`` are the indexes in ``target`` where a word (a part between separators
    of the canonical name) begins. Returns ``None`` when the two are not one edit apart,
    or when the edit changes a number rather than the spelling.
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
    return Edit(Kind.SUBSTITUTION, _place(index, len(target), starts), old, new)


def _omission(candidate: str, target: str, starts: frozenset[int]) -> Edit | None:
    index = _first_difference(candidate, target)
    if candidate[index:] != target[index + 1 :]:
        return None
    old = target[index]
    place = _place(index, len(target), starts)
    doubled = (index > 0 and target[index - 1] == old) or target[index + 1 : index + 2] == old
    if old.isdigit():
        return None
    if old == "s" and index == len(target) - 1 and not doubled:
        return Edit(Kind.PLURAL, Place.LAST, old, "")
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
    if new.isdigit():
        return None
    if new == "s" and index == len(target) and new not in neighbours:
        return Edit(Kind.PLURAL, Place.LAST, "", new)
    if new in neighbours:
        kind = Kind.DOUBLED
    elif any(adjacent_keys(new, n) for n in neighbours):
        kind = Kind.EXTRA_ADJACENT_KEY
    else:
        kind = Kind.INSERTION
    return Edit(kind, place, "", new)
