"""The protected names, indexed so that one name is checked in microseconds.

Every rule is tried and the closest match wins (the largest margin inside the imitated
name's tolerance, then the more popular target), so ``python-dateutils`` is the plural
of ``python-dateutil`` rather than ``dateutils`` with ``python-`` added:

- separators and look-alikes: same ``skeleton``; sounds alike: same ``sound``;
- reordered: the same parts in another order (also glued: ``dateutilpython``);
- typo: one edit on the flat form (``neighbours`` finds them, ``edits`` names them);
- affix: a protected name, exactly or with one typo, plus one added word (``affixes``),
  costed by how common that word is as an affix and how big the target's family is;
- number: a version-like number added (``name2``, ``name-v2``) or one changed
  (``win32-setctime`` / ``win31-setctime``, dated API names).

Each rule has a cost (``tuning``) and matches only within ``tolerance(length, rank)``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Set

from rapidfuzz.distance import DamerauLevenshtein

from policies.typosquat.affixes import splits
from policies.typosquat.edits import Edit, Kind, classify
from policies.typosquat.matches import Match, Rule
from policies.typosquat.names import (
    CompoundWords,
    flat,
    number_mask,
    numbers,
    same_shape,
    skeleton,
    sound,
    word_starts,
)
from policies.typosquat.neighbours import DeletionIndex
from policies.typosquat.structure import NameStructure
from policies.typosquat.tuning import DEFAULT, Tuning

MAX_REORDERED_PARTS = 3
"""Glued reorderings are indexed for names of up to this many parts (3! orders)."""


class ProtectedIndex:
    """Protected names (normalized) with their download rank; rank 0 = from configuration.

    ``never_flag`` are names that are never reported even when not protected themselves
    (the whole shipped popular list, whatever ``top`` is): a popular project is not an
    imitation of another one.
    """

    def __init__(
        self,
        ranks: Mapping[str, int],
        structure: NameStructure,
        tuning: Tuning = DEFAULT,
        never_flag: Set[str] = frozenset(),
    ) -> None:
        self.tuning = tuning
        self._structure = structure
        self._rank = dict(ranks)
        self._never_flag = frozenset(never_flag)
        by_popularity = sorted(self._rank, key=lambda name: (max(self._rank[name], 1), name))
        self._by_flat: dict[str, str] = {}
        self._by_skeleton: dict[str, str] = {}
        self._by_sound: dict[str, str] = {}
        self._by_parts: dict[tuple[str, ...], str] = {}
        self._by_reordered_flat: dict[str, str] = {}
        self._by_mask: dict[str, str] = {}
        for name in by_popularity:  # the most popular claim a shared key first
            self._by_flat.setdefault(flat(name), name)
            self._by_skeleton.setdefault(skeleton(name), name)
            self._by_sound.setdefault(sound(name), name)
            parts = name.split("-")
            if len(parts) > 1:
                self._by_parts.setdefault(tuple(sorted(parts)), name)
            if 1 < len(parts) <= MAX_REORDERED_PARTS:
                for order in itertools.permutations(parts):
                    if list(order) != parts:
                        self._by_reordered_flat.setdefault(flat("".join(order)), name)
            if numbers(name):
                self._by_mask.setdefault(number_mask(name), name)
        self._flat_length = {name: len(flat(name)) for name in self._rank}
        self._flats = list(self._by_flat)
        self._neighbours = DeletionIndex(self._flats)
        self._compounds = CompoundWords(self._rank)

    def __contains__(self, name: object) -> bool:
        return name in self._rank

    def __len__(self) -> int:
        return len(self._rank)

    def match(self, name: str) -> Match | None:
        """The closest imitation of a protected name that ``name`` is, if any."""
        if name in self._rank or name in self._never_flag:
            return None
        best: Match | None = None
        changed = self._number_changed(name)
        for found in (
            self._lookalike(name),
            self._sound(name),
            self._reordered(name),
            self._typo(name),
            changed,
            *self._affixed(name),
        ):
            # A changed number of a numbered name (boto4: boto3) is a closer reading than
            # a number added to a shorter one (boto4: boto + 4).
            if changed is not None and found is not None and found.rule is Rule.NUMBER:
                continue
            if found is not None and found.better_than(best):
                best = found
        return best

    def _accept(
        self,
        rule: Rule,
        target: str,
        cost: float,
        edit: Edit | None = None,
        affix: str | None = None,
        old_number: str | None = None,
        structural: bool = False,
    ) -> Match | None:
        rank = self._rank[target]
        if structural:
            tolerance = self.tuning.structural_tolerance(max(rank, 1), protected=rank == 0)
        else:
            length = self._flat_length[target]
            tolerance = self.tuning.tolerance(length, max(rank, 1), protected=rank == 0)
        margin = tolerance - cost
        if margin < 0:
            return None
        return Match(rule, target, rank, edit, affix, old_number, margin)

    def _lookalike(self, name: str) -> Match | None:
        target = self._by_skeleton.get(skeleton(name))
        if target is None:
            return None
        if target.replace("-", "") == name.replace("-", ""):
            return self._accept(Rule.SEPARATORS, target, self.tuning.separators)
        return self._accept(Rule.LOOKALIKE, target, self.tuning.lookalike)

    def _sound(self, name: str) -> Match | None:
        target = self._by_sound.get(sound(name))
        if target is None or not same_shape(name, target):
            return None
        return self._accept(Rule.SOUND, target, self.tuning.sound)

    def _reordered(self, name: str) -> Match | None:
        if "-" in name:
            target = self._by_parts.get(tuple(sorted(name.split("-"))))
        else:
            target = self._by_reordered_flat.get(flat(name))
        return (
            None if target is None else self._accept(Rule.REORDERED, target, self.tuning.reordered)
        )

    def _typo(self, name: str, extra_cost: float = 0.0) -> Match | None:
        best: Match | None = None
        for target, edit in self._one_edit_targets(name):
            if not same_shape(name, target):
                continue
            # A changed letter that makes common words (torch-test / torchtext) names a
            # new project; a swap, a doubling or a plural does not.
            changes_letters = not edit.kind.keeps_letters or edit.kind is Kind.OMISSION
            if changes_letters and self._compounds.changed_words_are_compounds(name, target):
                continue
            cost = self.tuning.edit_cost(edit) + extra_cost
            match = self._accept(Rule.TYPO, target, cost, edit=edit)
            if match is not None and match.better_than(best):
                best = match
        return best

    def _number_changed(self, name: str) -> Match | None:
        mask = number_mask(name)
        if mask == name:
            return None
        target = self._by_mask.get(mask)
        if target is None:
            return None
        changed = [
            (old, new)
            for old, new in zip(numbers(target), numbers(name), strict=True)
            if old != new
        ]
        # One number changed, keeping its width: 32 -> 31, 20140526 -> 20140527 (cu115
        # next to cu12 is another numbering, not an edit of it).
        if len(changed) != 1 or len(changed[0][0]) != len(changed[0][1]):
            return None
        old, new = changed[0]
        return self._accept(
            Rule.NUMBER_CHANGED, target, self.tuning.number_changed, affix=new, old_number=old
        )

    def _affixed(self, name: str) -> Iterator[Match | None]:
        for split in splits(name, self._by_flat.__contains__):
            core = self._core_target(split.core)
            if core is None:
                continue
            target, edit, extra = core
            # The company's own names have no companion projects of their own: every
            # added word counts against them.
            family = self._structure.family(target, split.side) if self._rank[target] else 0
            if split.number:
                rule, cost = Rule.NUMBER, self.tuning.number_cost()
            else:
                uses = self._structure.uses(split.word, split.side)
                popular = split.word in self._never_flag or split.word in self._rank
                cost = self.tuning.affix_cost(uses, family, split.glued, popular, split.convention)
                rule = Rule.AFFIX
            yield self._accept(
                rule, target, cost + extra, edit=edit, affix=split.affix, structural=True
            )

    def _core_target(self, core: str) -> tuple[str, Edit | None, float] | None:
        """``core`` as a protected name (exactly, but for separators, or with one typo),
        with the typo and its cost."""
        if core in self._rank:
            return core, None, 0.0
        target = self._by_flat.get(flat(core))
        if target is not None:
            return target, None, self.tuning.separators
        typo = self._typo(core)
        if typo is None or typo.edit is None:
            return None
        return typo.target, typo.edit, self.tuning.edit_cost(typo.edit)

    def _one_edit_targets(self, name: str) -> Iterator[tuple[str, Edit]]:
        query = flat(name)
        for number in self._neighbours.candidates(query):
            candidate = self._flats[number]
            if candidate == query:
                continue
            # The neighbourhood also yields names two edits away; rapidfuzz drops those
            # in C before the (slower) Python classification.
            if DamerauLevenshtein.distance(query, candidate, score_cutoff=1) > 1:
                continue
            target = self._by_flat[candidate]
            edit = classify(query, candidate, word_starts(target))
            if edit is not None:
                yield target, edit
