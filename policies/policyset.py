"""One immutable set of running policies and how their verdicts combine.

Hooks are sorted once, at build time, so evaluating a name or a 6,000-file page only calls
the policies that have something to say. Rules (DESIGN.md section 5):

- a policy is skipped for projects matching its ``exempt`` globs;
- ``mode = "audit"`` turns a deny (or a hold) into ``Verdict(..., audit=True)``: logged,
  not enforced; ``mode = "quarantine"`` turns a deny into a hold (``Decision.QUARANTINE``);
- any enforced deny or hold wins; ``None`` and allow verdicts say nothing;
- a policy that raises (or returns something that is not a ``Verdict``) fails CLOSED: the
  subject is denied with a reason naming the policy, and the error is logged.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from packaging.utils import NormalizedName

from policies.base import (
    ArtifactInfo,
    ArtifactPolicy,
    Decision,
    FilePolicy,
    ProjectPolicy,
    Verdict,
)
from policies.config import Mode, PolicyConfig
from policies.globs import GlobSet
from policies.versions import file_version, parse_version
from proxy.model import DistFile, ProjectPage

logger = logging.getLogger(__name__)


@runtime_checkable
class PagePolicy(Protocol):
    """Decides on a whole project page once (e.g. PEP 792 project status).

    An enforced deny refuses the project (403) after the page was fetched, where a file
    verdict would only hide files and leave the client with a bare "no matching version".
    """

    def check_page(self, page: ProjectPage) -> Verdict | None: ...


@dataclass(frozen=True, slots=True)
class ActivePolicy:
    """A built policy instance with the engine's settings for it."""

    config: PolicyConfig
    instance: object

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def exempt(self) -> GlobSet:
        return self.config.exempt

    def judge(self, verdict: object, subject: str) -> Verdict | None:
        """Apply the mode to what a hook returned; ``None`` when there is nothing to record."""
        if verdict is None:
            return None
        if not isinstance(verdict, Verdict):
            error = TypeError(f"returned {verdict!r}, expected a Verdict or None")
            return self.crashed(error, subject)
        if verdict.decision is Decision.ALLOW:
            return None
        blocking = verdict.decision in (Decision.DENY, Decision.QUARANTINE)
        if self.config.mode is Mode.AUDIT and blocking:
            return dataclasses.replace(verdict, audit=True)
        if self.config.mode is Mode.QUARANTINE and verdict.decision is Decision.DENY:
            return dataclasses.replace(verdict, decision=Decision.QUARANTINE)
        return verdict

    def crashed(self, error: BaseException, subject: str) -> Verdict:
        logger.error("policy %r failed on %s", self.name, subject, exc_info=error)
        reason = (
            f"policy {self.name!r} failed while checking {subject} "
            f"({type(error).__name__}: {error}); pipgate fails closed: fix or disable the "
            f"policy, or add the project to its exempt list"
        )
        return Verdict(Decision.DENY, self.name, reason, audit=self.config.mode is Mode.AUDIT)


HookList = tuple[tuple[ActivePolicy, Callable[..., Any]], ...]
FileReview = Callable[[DistFile, list[Verdict]], list[Verdict]]
"""Reviews one file's verdicts (``proxy.workflow``: waivers and quarantine decisions)."""


def _hooks(active: Sequence[ActivePolicy], kind: type, method: str) -> HookList:
    return tuple((p, getattr(p.instance, method)) for p in active if isinstance(p.instance, kind))


class PolicySet:
    """The running policies of one configuration generation."""

    def __init__(self, active: Sequence[ActivePolicy]) -> None:
        self.active = tuple(active)
        self.unwaivable = frozenset(p.name for p in active if not p.config.waivable)
        """Policies whose verdicts no waiver lifts (``waivable = false``)."""
        self._project = _hooks(active, ProjectPolicy, "check_project")
        self._page = _hooks(active, PagePolicy, "check_page")
        self._file = _hooks(active, FilePolicy, "check_file")
        self._artifact = _hooks(active, ArtifactPolicy, "check_artifact")
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def check_project(self, name: NormalizedName) -> list[Verdict]:
        return self._run(self._project, name, f"project {name!r}", name)

    def check_page(self, page: ProjectPage) -> list[Verdict]:
        return self._run(self._page, page.name, f"project {page.name!r}", page)

    def check_file(self, page: ProjectPage, file: DistFile) -> list[Verdict]:
        return self._run(self._file, page.name, repr(file.filename), page, file)

    def _run(self, hooks: HookList, name: str, subject: str, *args: Any) -> list[Verdict]:
        verdicts: list[Verdict] = []
        for policy, hook in hooks:
            if policy.exempt.matches(name):
                continue
            try:
                verdict = policy.judge(hook(*args), subject)
            except Exception as error:
                verdict = policy.crashed(error, subject)
            if verdict is not None:
                verdicts.append(verdict)
        return verdicts

    def filter_page(
        self, page: ProjectPage, review: FileReview | None = None
    ) -> tuple[ProjectPage, list[tuple[DistFile, Verdict]]]:
        """The page without the files an enforced deny or hold hides, and every non-allow
        verdict. ``review`` may change each file's verdicts (waivers, quarantine decisions)
        before they hide it."""
        hooks = tuple((p, h) for p, h in self._file if not p.exempt.matches(page.name))
        if not hooks and review is None:
            return page, []
        kept: list[DistFile] = []
        noted: list[tuple[DistFile, Verdict]] = []
        for file in page.files:
            verdicts: list[Verdict] = []
            for policy, hook in hooks:
                try:
                    verdict = policy.judge(hook(page, file), repr(file.filename))
                except Exception as error:
                    verdict = policy.crashed(error, repr(file.filename))
                if verdict is not None:
                    verdicts.append(verdict)
            if review is not None:
                verdicts = review(file, verdicts)
            noted.extend((file, verdict) for verdict in verdicts)
            if not any(verdict.blocks for verdict in verdicts):
                kept.append(file)
        if len(kept) == len(page.files):
            return page, noted
        return _without_hidden(page, kept), noted

    def wants_artifact(self, name: NormalizedName) -> bool:
        """Whether any artifact policy applies to ``name`` (worth fetching provenance for)."""
        return any(not policy.exempt.matches(name) for policy, _ in self._artifact)

    async def check_artifact(
        self, name: NormalizedName, file: DistFile, artifact: ArtifactInfo
    ) -> list[Verdict]:
        self._inflight += 1
        self._idle.clear()
        try:
            return await self._run_artifact(name, file, artifact)
        finally:
            self._inflight -= 1
            if self._inflight == 0:
                self._idle.set()

    async def _run_artifact(
        self, name: NormalizedName, file: DistFile, artifact: ArtifactInfo
    ) -> list[Verdict]:
        verdicts: list[Verdict] = []
        subject = repr(file.filename)
        for policy, hook in self._artifact:
            if policy.exempt.matches(name):
                continue
            try:
                verdict = policy.judge(await hook(name, file, artifact), subject)
            except Exception as error:
                verdict = policy.crashed(error, subject)
            if verdict is not None:
                verdicts.append(verdict)
        return verdicts

    async def drain(self, seconds: float) -> None:
        """Wait (at most ``seconds``) for running artifact checks to finish."""
        try:
            async with asyncio.timeout(seconds):
                await self._idle.wait()
        except TimeoutError:
            logger.warning("%d artifact checks still running after reload", self._inflight)


def _without_hidden(page: ProjectPage, kept: list[DistFile]) -> ProjectPage:
    """Drop the files; drop a PEP 700 version too once every file of it is hidden."""
    filtered = page.with_files(tuple(kept))
    if page.versions is None:
        return filtered
    kept_versions = {file_version(f.filename) for f in kept}
    hidden_versions = {file_version(f.filename) for f in page.files} - kept_versions
    hidden_versions.discard(None)
    if not hidden_versions:
        return filtered
    versions = tuple(v for v in page.versions if parse_version(v) not in hidden_versions)
    return dataclasses.replace(filtered, versions=versions)


def first_denial(verdicts: Sequence[Verdict]) -> Verdict | None:
    """The enforced deny or hold that decides, if any (the first in configuration order)."""
    for verdict in verdicts:
        if verdict.blocks:
            return verdict
    return None
