"""The numbers that decide how close an imitation must be, in one place.

A match is flagged when its cost is within the imitated name's tolerance:

    tolerance = length * log2(flat length) - rank * log10(download rank)

Longer names tolerate more (a slip in a long name still reads as that name, while a short
name has many ordinary neighbours) and more popular names tolerate more (attackers imitate
what people install most). There is no length floor: a four-letter name in the top 100
tolerates a swap, one ranked 5,000 does not.

The costs of edits come from ``edits``/``similarity``; the costs of structural rules are
here. Affix costs are learnt from the names of real projects (``structure``): an affix
that many projects use (``-utils``, ``-sdk``, ``py``) reads as a companion package and
costs less, and a target that already has many companion projects (``django-*``) makes
one more less suspicious, so its family size adds cost. The values come from
``bench/typosquat/fit.py`` on the fit half of the targets, then ``length``, ``rank``,
``affix`` and ``number`` were set from a grid on the fit half's probe to bring the flag
rate under 0.5%; the other half measures them (bench/typosquat/RESULTS.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from policies.typosquat.edits import Edit, Kind, Place
from policies.typosquat.similarity import Channel


@dataclass(frozen=True, slots=True)
class Tuning:
    length: float = 1.375
    rank: float = 0.5
    protected_bonus: float = 0.75
    """Added to the tolerance of names from ``protect`` (already treated as rank 1). It is
    the most any one edit's cost rose over the rules before issue 16 (a vowel for another
    at the last letter: +0.75), so the company's own names stay at least as strictly
    guarded."""

    first_letter_kept: float = 0.0
    """A swap, doubling or drop at the first letter of a word: seldom, but still a slip."""
    first_letter_changed: float = 1.5
    """A different first letter mostly makes a different name (``tfinance``)."""
    last_letter: float = 0.75
    unlike_letter: float = 0.25
    """Added to a substitution by a letter that neither looks, sounds nor sits like the
    right one (``Channel.OTHER``) or by another vowel: such slips make ordinary names."""
    omission: float = 0.25
    """Added to a letter left out (not a doubled one)."""
    plural: float = 1.75

    separators: float = 0.5
    lookalike: float = 1.0
    sound: float = 2.75
    reordered: float = 1.0

    affix: float = 1.5
    """Tolerance of a structural match (an added word or number) against the top name."""
    affix_rank: float = 0.75
    """Taken off the structural tolerance per tenfold of rank."""
    glued: float = 1.0
    """Extra cost when the word is glued on (``requestslib``) rather than separated."""
    affix_common: float = 0.3
    """Taken off per tenfold of projects that use the word as an affix (up to ``affix_cap``)."""
    affix_cap: float = 3.0
    family: float = 2.5
    """Added per tenfold of existing projects named like ``target-*`` (or ``*-target``)."""
    convention: float = -1.25
    """Cost of ``py``/``python`` (``pyX``, ``python-X``, ``X-py3``): Python's own naming
    convention for bindings, so both what wrappers are called and what imitations use."""
    convention_family: float = 1.0
    """How much of the family term applies to ``py``/``python``: ``requests-*`` projects
    extend requests, they do not make ``pyrequests`` a likelier ordinary name."""
    popular_word: float = 0.25
    """Added when the word is itself a protected name: two projects combined
    (``polars-tldextract``) is how integrations are named."""
    number: float = -0.5
    """A version-like number added to a protected name (``name2``, ``name-v2``)."""
    number_changed: float = 3.0
    """A number inside a protected name changed (``win32-x`` / ``win31-x``)."""

    def tolerance(self, length: int, rank: int, protected: bool = False) -> float:
        value = self.length * math.log2(max(length, 1)) - self.rank * math.log10(max(rank, 1))
        return value + self.protected_bonus if protected else value

    def edit_cost(self, edit: Edit) -> float:
        cost = self.plural if edit.kind is Kind.PLURAL else edit.base_cost
        if edit.channel in (Channel.OTHER, Channel.VOWEL):
            cost += self.unlike_letter
        elif edit.kind is Kind.OMISSION:
            cost += self.omission
        if edit.place is Place.FIRST:
            return cost + (
                self.first_letter_kept if edit.keeps_letters else self.first_letter_changed
            )
        if edit.place is Place.LAST and edit.kind is not Kind.PLURAL:
            return cost + self.last_letter
        return cost

    def structural_tolerance(self, rank: int, protected: bool = False) -> float:
        """The tolerance of an added word or number: by popularity only, since a longer
        target makes a longer name, not a likelier imitation."""
        value = self.affix - self.affix_rank * math.log10(max(rank, 1))
        return value + self.protected_bonus if protected else value

    def affix_cost(
        self, uses: int, family: int, glued: bool, popular_word: bool, convention: bool = False
    ) -> float:
        """An added word used as an affix by ``uses`` projects, on a target with ``family``
        companion projects."""
        if convention:
            common = -self.convention
            spread = math.log10(1 + family) * self.family * self.convention_family
        else:
            common = min(math.log10(1 + uses), self.affix_cap) * self.affix_common
            spread = math.log10(1 + family) * self.family
        extra = (self.glued if glued else 0.0) + (self.popular_word if popular_word else 0.0)
        return extra - common + spread

    def number_cost(self) -> float:
        # No family term: many ``name-*`` projects say nothing about ``name2``.
        return self.number


DEFAULT = Tuning()
