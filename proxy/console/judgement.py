"""What pipgate serves of a project and what it hides, with every verdict: the enforcing
stage's decisions (policies, then waivers and quarantine decisions) made again without
raising and without queuing anything, for the Project page.

A project refused by a project-level verdict is not fetched from upstream, as for a
client: its files are shown only when nothing refuses the project as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from packaging.utils import NormalizedName

from policies.base import Verdict
from policies.policyset import first_denial
from policies.versions import file_version
from proxy.model import DistFile, ProjectPage
from proxy.repository import RequestContext
from proxy.state import AppState


@dataclass(frozen=True, slots=True)
class FileJudgement:
    file: DistFile
    verdicts: tuple[Verdict, ...]

    @property
    def served(self) -> bool:
        return not any(v.blocks for v in self.verdicts)

    @property
    def version(self) -> str:
        version = file_version(self.file.filename)
        return str(version) if version is not None else "?"


@dataclass(slots=True)
class ProjectJudgement:
    name: NormalizedName
    project_verdicts: list[Verdict] = field(default_factory=list)
    refusal: Verdict | None = None
    page: ProjectPage | None = None
    files: list[FileJudgement] = field(default_factory=list)
    source: RequestContext = field(default_factory=RequestContext)


async def judge_project(state: AppState, name: NormalizedName) -> ProjectJudgement:
    """``NotFound``/upstream errors propagate as they would for a client."""
    policies = state.engine.current
    workflow = state.workflow
    review = workflow.reviewer(name, policies.unwaivable) if workflow is not None else None
    judged = ProjectJudgement(name)
    verdicts = policies.check_project(name)
    deferred: list[Verdict] = []
    if review is not None:
        verdicts, deferred = review.project_verdicts(verdicts)
    judged.project_verdicts = list(verdicts)
    judged.refusal = first_denial(verdicts)
    if judged.refusal is not None:
        return judged
    ctx = RequestContext(client="console")
    page = await state.caching.get_project_page(name, ctx)
    judged.page, judged.source = page, ctx
    page_verdicts = policies.check_page(page)
    if review is not None:
        page_verdicts, more = review.project_verdicts(page_verdicts)
        deferred += more
    judged.project_verdicts += page_verdicts
    judged.refusal = first_denial(page_verdicts)
    if judged.refusal is not None:
        return judged
    _, noted = policies.filter_page(page, review.for_files(deferred) if review else None)
    by_file: dict[str, list[Verdict]] = {}
    for file, verdict in noted:
        by_file.setdefault(file.filename, []).append(verdict)
    judged.files = [FileJudgement(f, tuple(by_file.get(f.filename, ()))) for f in page.files]
    return judged


__all__ = ["FileJudgement", "ProjectJudgement", "judge_project"]
