"""What an OSV refresh changed: the projects whose verdicts may differ, and, for a served
file, the advisories that deny it now but did not before.

``changed_projects`` compares two indexes entry by entry, so a refresh that brings one new
record invalidates one project's pages, not the whole render cache. ``OsvUpdate`` travels
as the ``detail`` of the ``osv`` ``InputChange``; alerts and the malicious-blob sweep use
its ``newly_denying`` with the same options the policy judges with (``OsvJudge``).
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.utils import NormalizedName, canonicalize_name

from policies.osv_db import Advisory, OsvIndex
from policies.osv_ranges import parse_version

__all__ = ["OsvJudge", "OsvUpdate", "changed_projects"]


@dataclass(frozen=True, slots=True)
class OsvJudge:
    """The options of one ``osv`` policy that decide which advisories deny."""

    malicious: bool = True
    vulnerable: bool = True
    threshold: int = 0
    """``Severity.rank`` of the lowest severity denied."""
    ignore: frozenset[str] = frozenset()

    def denying(
        self, index: OsvIndex, name: str, version: str | None, sha256: str | None
    ) -> tuple[Advisory, ...]:
        """The advisories for which the policy refuses this file, each once."""
        found: dict[str, Advisory] = {}
        if sha256 and self.malicious:
            by_hash = index.malicious_file(sha256)
            if by_hash is not None and not by_hash.known_as(self.ignore):
                found[by_hash.id] = by_hash
        parsed = parse_version(version) if version else None
        if parsed is not None:
            for match in index.matches(canonicalize_name(name), parsed):
                advisory = match.advisory
                if advisory.known_as(self.ignore):
                    continue
                if advisory.malicious:
                    if self.malicious:
                        found[advisory.id] = advisory
                elif self.vulnerable and advisory.severity.rank >= self.threshold:
                    found[advisory.id] = advisory
        return tuple(found.values())


@dataclass(frozen=True, slots=True)
class OsvUpdate:
    """An OSV refresh that swapped ``old`` for ``new`` in one policy."""

    old: OsvIndex
    new: OsvIndex
    judge: OsvJudge
    source: str
    """The policy's OSV location (for messages)."""

    def newly_denying(
        self, name: str, version: str | None, sha256: str | None
    ) -> tuple[Advisory, ...]:
        before = {a.id for a in self.judge.denying(self.old, name, version, sha256)}
        now = self.judge.denying(self.new, name, version, sha256)
        return tuple(a for a in now if a.id not in before)


def changed_projects(old: OsvIndex, new: OsvIndex) -> frozenset[NormalizedName]:
    """Every project whose advisories differ between ``old`` and ``new``.

    A malicious-file hash added to or removed from a record counts for the projects that
    record names (a hash alone does not change the record's ranges).
    """
    names = {name for name in old.projects() | new.projects() if not old.same_entries(new, name)}
    old_hashes, new_hashes = old.malicious_hashes(), new.malicious_hashes()
    for sha256 in old_hashes.keys() | new_hashes.keys():
        before, after = old_hashes.get(sha256), new_hashes.get(sha256)
        if before == after:
            continue
        for advisory, index in ((before, old), (after, new)):
            if advisory is not None:
                names |= index.names_of(advisory.id)
    return frozenset(names)
