"""The protected names, indexed so that one name is checked in microseconds.

Rules, strongest first; the first that matches decides:

1. look-alike: same ``skeleton`` (separators, ``l``/``1``/``I``, ``0``/``o``, ``rn``/``m``);
2. reordered: the same ``-``-separated parts in another order;
3. typo: one Damerau-Levenshtein edit on the flat form, costed by ``edits``;
4. affix: a protected name plus a generic affix (``python-``, ``-py``, ``-dev``, digits),
   exactly or with one typo in the rest.

Every rule has a cost and matches only when the cost is within ``tolerance(length, rank)``
of the imitated name, so short or less popular names need a closer imitation.

Typo candidates come from a deletion neighbourhood: every protected flat name and each of
its one-character deletions is a key, and a query looks up itself and its own deletions.
That finds every name within one insertion, deletion, substitution or adjacent swap in
about ``len(name)`` dictionary lookups, whatever the number of protected names.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from rapidfuzz.distance import DamerauLevenshtein

from policies.typosquat.edits import MIN_TYPO_LENGTH, Edit, classify, tolerance
from policies.typosquat.names import (
    CompoundWords,
    affix_variants,
    flat,
    same_shape,
    skeleton,
    word_starts,
)

SEPARATOR_COST = 0.5
LOOKALIKE_COST = 1.0
REORDER_COST = 1.0


class Rule(enum.Enum):
    SEPARATORS = "separators"
    LOOKALIKE = "look-alike characters"
    REORDERED = "reordered parts"
    TYPO = "typo"
    AFFIX = "added affix"


@dataclass(frozen=True, slots=True)
class Match:
    rule: Rule
    target: str
    rank: int
    """Popularity rank of ``target``; 0 for a name protected by configuration."""
    edit: Edit | None = None
    affix: str | None = None
    margin: float = 0.0
    """How far inside the tolerance the match is (larger is more certain)."""


class ProtectedIndex:
    """Protected names (normalized) with their download rank; rank 0 = from configuration."""

    def __init__(self, ranks: Mapping[str, int]) -> None:
        self._rank = dict(ranks)
        by_popularity = sorted(self._rank, key=lambda name: (_effective(self._rank[name]), name))
        self._by_flat: dict[str, str] = {}
        self._by_skeleton: dict[str, str] = {}
        self._by_parts: dict[tuple[str, ...], str] = {}
        neighbours: dict[str, set[str]] = {}
        for name in by_popularity:  # the most popular claim a shared key first
            flat_name = flat(name)
            self._by_flat.setdefault(flat_name, name)
            self._by_skeleton.setdefault(skeleton(name), name)
            if "-" in name:
                self._by_parts.setdefault(tuple(sorted(name.split("-"))), name)
            for key in _self_and_deletions(flat_name):
                neighbours.setdefault(key, set()).add(flat_name)
        self._neighbours = {key: tuple(values) for key, values in neighbours.items()}
        self._compounds = CompoundWords(self._rank)

    def __contains__(self, name: object) -> bool:
        return name in self._rank

    def __len__(self) -> int:
        return len(self._rank)

    def match(self, name: str) -> Match | None:
        """The strongest imitation of a protected name that ``name`` is, if any."""
        if name in self._rank:
            return None
        return (
            self._lookalike(name) or self._reordered(name) or self._typo(name) or self._affix(name)
        )

    def _accept(
        self,
        rule: Rule,
        target: str,
        cost: float,
        edit: Edit | None = None,
        affix: str | None = None,
    ) -> Match | None:
        rank = self._rank[target]
        margin = tolerance(len(flat(target)), _effective(rank)) - cost
        if margin < 0:
            return None
        return Match(rule, target, rank, edit, affix, margin)

    def _lookalike(self, name: str) -> Match | None:
        target = self._by_skeleton.get(skeleton(name))
        if target is None:
            return None
        if target.replace("-", "") == name.replace("-", ""):
            return self._accept(Rule.SEPARATORS, target, SEPARATOR_COST)
        return self._accept(Rule.LOOKALIKE, target, LOOKALIKE_COST)

    def _reordered(self, name: str) -> Match | None:
        if "-" not in name:
            return None
        target = self._by_parts.get(tuple(sorted(name.split("-"))))
        return None if target is None else self._accept(Rule.REORDERED, target, REORDER_COST)

    def _typo(self, name: str, extra_cost: float = 0.0) -> Match | None:
        best: Match | None = None
        for target, edit in self._one_edit_targets(name):
            if not same_shape(name, target) or self._compounds.changed_words_are_compounds(
                name, target
            ):
                continue
            match = self._accept(Rule.TYPO, target, edit.cost + extra_cost, edit=edit)
            if match is not None and (best is None or _better(match, best)):
                best = match
        return best

    def _affix(self, name: str) -> Match | None:
        best: Match | None = None
        for variant in affix_variants(name):
            target = self._by_flat.get(flat(variant.core))
            if target is not None:
                match = self._accept(Rule.AFFIX, target, variant.cost, affix=variant.affix)
            else:
                typo = self._typo(variant.core, extra_cost=variant.cost)
                match = typo and Match(
                    Rule.AFFIX, typo.target, typo.rank, typo.edit, variant.affix, typo.margin
                )
            if match is not None and (best is None or _better(match, best)):
                best = match
        return best

    def _one_edit_targets(self, name: str) -> Iterator[tuple[str, Edit]]:
        query = flat(name)
        seen: set[str] = set()
        for key in _self_and_deletions(query):
            for candidate in self._neighbours.get(key, ()):
                if candidate in seen or candidate == query or len(candidate) < MIN_TYPO_LENGTH:
                    continue
                seen.add(candidate)
                # The neighbourhood also yields names two edits away; rapidfuzz drops
                # those in C before the (slower) Python classification.
                if DamerauLevenshtein.distance(query, candidate, score_cutoff=1) > 1:
                    continue
                target = self._by_flat[candidate]
                edit = classify(query, candidate, word_starts(target))
                if edit is not None:
                    yield target, edit


def _self_and_deletions(word: str) -> Iterator[str]:
    yield word
    for index in range(len(word)):
        yield word[:index] + word[index + 1 :]


def _effective(rank: int) -> int:
    # Names from the configuration are what the company cares about most: guard them as
    # closely as the most downloaded project.
    return max(rank, 1)


def _better(a: Match, b: Match) -> bool:
    return (a.margin, -_effective(a.rank)) > (b.margin, -_effective(b.rank))
