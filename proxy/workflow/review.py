"""What waivers and quarantine decisions make of one request's policy verdicts.

Per verdict, in this order:

1. a hold (``Decision.QUARANTINE``) is matched to its queue item: released, it is recorded
   and not enforced; rejected, it becomes a deny naming the rejection; pending, it carries
   the item id; unknown, it is a new hold the caller records (``new_holds``);
2. an enforced deny or hold that an active waiver covers is recorded as waived, naming the
   waiver. A rejection is a reviewer's decision on that very file and is not waivable, and
   neither are the policies configured with ``waivable = false``;
3. a project-level deny that only narrower waivers (one version, one file) cover is
   deferred: the page is served with every file but the waived ones hidden by it.

Items a policy held earlier (a download's artifact check) keep their file hidden from
pages, where only file policies run, until they are released.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from policies.base import Decision, Verdict
from policies.versions import file_version
from proxy.model import DistFile
from proxy.workflow.model import ItemState, Waiver
from proxy.workflow.snapshot import ItemKey, ItemView

PROJECT_KEY: ItemKey = (None, None)


@dataclass(frozen=True, slots=True)
class Hold:
    """A hold this request found that has no queue item yet."""

    project: str
    filename: str | None
    version: str | None
    sha256: str | None
    policy: str
    reason: str


class Reviewer:
    """Reviews the verdicts of one project for one request (a fixed ``now``)."""

    def __init__(
        self,
        project: str,
        waivers: Sequence[Waiver],
        items: Mapping[ItemKey, ItemView],
        unwaivable: Iterable[str] = (),
    ) -> None:
        self.project = project
        self.waivers = tuple(waivers)
        self.items = items
        self.unwaivable = frozenset(unwaivable)
        self.new_holds: list[Hold] = []

    def project_verdicts(self, verdicts: Sequence[Verdict]) -> tuple[list[Verdict], list[Verdict]]:
        """The reviewed project-level verdicts, and the denies deferred to each file."""
        reviewed: list[Verdict] = []
        deferred: list[Verdict] = []
        view = self.items.get(PROJECT_KEY)
        for verdict in self._with_stored(verdicts, view):
            if verdict.holds:
                verdict = self._resolve(verdict, view, None, None, None)
            if verdict.blocks and self._waivable(verdict):
                waiver = self._waiver(verdict.policy, None, None)
                if waiver is not None:
                    verdict = dataclasses.replace(verdict, waiver_id=waiver.waiver_id)
                elif verdict.denies and self._narrower(verdict.policy):
                    deferred.append(verdict)
                    continue
            reviewed.append(verdict)
        return reviewed, deferred

    def file_verdicts(
        self,
        file: DistFile,
        verdicts: Sequence[Verdict],
        deferred: Sequence[Verdict] = (),
        *,
        stored: bool = True,
    ) -> list[Verdict]:
        """One file's reviewed verdicts; ``stored``: add the hold of its queue item."""
        version = file_version(file.filename)
        version_text = str(version) if version is not None else None
        view = self.items.get((file.filename, file.sha256))
        given = [*verdicts, *deferred]
        reviewed: list[Verdict] = []
        for verdict in self._with_stored(given, view) if stored else given:
            if verdict.holds:
                verdict = self._resolve(verdict, view, file.filename, version_text, file.sha256)
            if verdict.blocks and self._waivable(verdict):
                waiver = self._waiver(verdict.policy, file.filename, version_text)
                if waiver is not None:
                    verdict = dataclasses.replace(verdict, waiver_id=waiver.waiver_id)
            reviewed.append(verdict)
        return reviewed

    def for_files(self, deferred: Sequence[Verdict]) -> FileReviewer:
        return FileReviewer(self, tuple(deferred))

    # -- rules ---------------------------------------------------------------------------

    @staticmethod
    def _with_stored(verdicts: Sequence[Verdict], view: ItemView | None) -> list[Verdict]:
        """``verdicts`` plus the hold of a pending or rejected item no verdict repeats."""
        if view is None or view.state is ItemState.RELEASED:
            return list(verdicts)
        if any(v.decision is Decision.QUARANTINE and not v.audit for v in verdicts):
            return list(verdicts)
        item = view.item
        return [*verdicts, Verdict.quarantine(item.policy, item.reason)]

    def _resolve(
        self,
        verdict: Verdict,
        view: ItemView | None,
        filename: str | None,
        version: str | None,
        sha256: str | None,
    ) -> Verdict:
        if view is None:
            hold = Hold(self.project, filename, version, sha256, verdict.policy, verdict.reason)
            if hold not in self.new_holds:
                self.new_holds.append(hold)
            return verdict
        item_id, decision = view.item.item_id, view.decision
        if view.state is ItemState.RELEASED:
            return dataclasses.replace(verdict, quarantine_id=item_id, released=True)
        if view.state is ItemState.REJECTED and decision is not None:
            reason = (
                f"rejected in review by {decision.actor} on {decision.time:%Y-%m-%d}: "
                f"{decision.reason} (held because: {view.item.reason})"
            )
            return Verdict(Decision.DENY, verdict.policy, reason, quarantine_id=item_id)
        return dataclasses.replace(verdict, quarantine_id=item_id)

    def _waivable(self, verdict: Verdict) -> bool:
        rejected = verdict.decision is Decision.DENY and verdict.quarantine_id is not None
        return not rejected and verdict.policy not in self.unwaivable

    def _waiver(self, policy: str, filename: str | None, version: str | None) -> Waiver | None:
        for waiver in self.waivers:
            if not waiver.lifts(policy):
                continue
            if waiver.whole_project:
                return waiver
            if filename is not None and waiver.filename == filename:
                return waiver
            if version is not None and waiver.version == version:
                return waiver
        return None

    def _narrower(self, policy: str) -> bool:
        return any(w.lifts(policy) and not w.whole_project for w in self.waivers)


@dataclass(frozen=True, slots=True)
class FileReviewer:
    """``policies.policyset.FileReview`` for one page: a reviewer and the deferred denies."""

    reviewer: Reviewer
    deferred: tuple[Verdict, ...]

    def __call__(self, file: DistFile, verdicts: list[Verdict]) -> list[Verdict]:
        return self.reviewer.file_verdicts(file, verdicts, self.deferred)


__all__ = ["PROJECT_KEY", "FileReviewer", "Hold", "Reviewer"]
