"""A verdict's facts: which rule matched, which protected name, its rank and the change."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from policies.typosquat.edits import Edit


class Rule(enum.Enum):
    SEPARATORS = "separators"
    LOOKALIKE = "look-alike characters"
    SOUND = "sounds alike"
    REORDERED = "reordered parts"
    TYPO = "typo"
    AFFIX = "added affix"
    NUMBER = "added version-like number"
    NUMBER_CHANGED = "changed number"


@dataclass(frozen=True, slots=True)
class Match:
    rule: Rule
    target: str
    rank: int
    """Popularity rank of ``target``; 0 for a name protected by configuration."""
    edit: Edit | None = None
    """The slip, for ``TYPO`` and for an affix or number added to a misspelt name."""
    affix: str | None = None
    """The added word as it appears (``python-``, ``-utils``, ``2``); for ``NUMBER_CHANGED``
    the new number."""
    old_number: str | None = None
    """For ``NUMBER_CHANGED``: the target's number that was changed."""
    margin: float = 0.0
    """How far inside the tolerance the match is (larger is more certain)."""

    @property
    def effective_rank(self) -> int:
        # Names from the configuration are what the company cares about most: guard them as
        # closely as the most downloaded project.
        return max(self.rank, 1)

    def better_than(self, other: Match | None) -> bool:
        """Closer first, then the more popular target."""
        if other is None:
            return True
        return (self.margin, -self.effective_rank) > (other.margin, -other.effective_rank)
