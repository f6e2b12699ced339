"""The enforcing stage: policies decide before anything is served, twice over.

1. Pages: project policies run on the name before any upstream call (a deny is a 403, not
   a 404, so uv does not move on to another index); then page policies (PEP 792 status)
   and file policies, which hide denied files so that resolvers pick an allowed version.
2. Files: a download is resolved against the same filtered listing, so a hidden file is
   never downloadable by guessing its URL; then artifact policies (PEP 740 provenance)
   run before the first byte is served.

Every verdict other than a plain allow goes into ``ctx.verdicts`` (and so the fetch log).
Waivers and quarantine decisions (``proxy.workflow``) review the verdicts of the projects
they name before anything is enforced; other projects skip review entirely.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from packaging.utils import NormalizedName

from policies.base import ArtifactInfo, Verdict
from policies.engine import PolicyEngine
from policies.policyset import FileReview, PolicySet, first_denial
from proxy.attestations import AttestationVerifier
from proxy.errors import FileNotFound, PolicyDenied, ProxyError
from proxy.model import DistFile, ProjectPage
from proxy.provenance import MAX_PROVENANCE_BYTES
from proxy.repository import (
    Repository,
    RepositoryWrapper,
    RequestContext,
    Resource,
    ResourceKind,
)
from proxy.workflow.review import Reviewer
from proxy.workflow.runtime import Workflow

logger = logging.getLogger(__name__)

PROVENANCE_FETCH_LIMIT = 2 * MAX_PROVENANCE_BYTES
"""Read past the verifier's own limit, so that an oversized provenance object is judged
(and fails) instead of being mistaken for an absent one."""


PROVENANCE_NOTE = "provenance"
"""Policy name of the warning recorded when a provenance object could not be fetched."""


class EnforcingRepository(RepositoryWrapper):
    def __init__(
        self,
        source: Repository,
        engine: PolicyEngine,
        verifier: AttestationVerifier | None = None,
        workflow: Workflow | None = None,
        on_refused: Callable[[NormalizedName, str], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(source)
        self.engine = engine
        self.on_refused = on_refused
        """Called with a refused file's name and filename (its cached blobs are deleted)."""
        self.verifier = verifier
        """Records every served file's attestation result, whatever the policies are."""
        self.workflow = workflow

    async def get_project_page(self, name: NormalizedName, ctx: RequestContext) -> ProjectPage:
        # One PolicySet per request: a reload meanwhile cannot mix two configurations.
        policies = self.engine.current
        review = self._reviewer(name, policies)
        deferred = await self._project(policies.check_project(name), review, ctx, name)
        page = await self.source.get_project_page(name, ctx)
        deferred += await self._project(policies.check_page(page), review, ctx, name)
        filtered, noted = policies.filter_page(page, _files(review, deferred))
        if review is None and self.workflow is not None and any(v.holds for _, v in noted):
            # Rare: a policy holds a file of a project nothing was held or waived for yet.
            review = Reviewer(name, (), {}, policies.unwaivable)
            filtered, noted = policies.filter_page(page, review.for_files(()))
        ctx.verdicts.extend(verdict for _, verdict in noted)
        await self._record(review)
        return filtered

    async def get_resource(
        self, name: NormalizedName, filename: str, kind: ResourceKind, ctx: RequestContext
    ) -> Resource:
        try:
            return await self._checked_resource(name, filename, kind, ctx)
        except PolicyDenied:
            if self.on_refused is not None:
                await self.on_refused(name, filename)
            raise

    async def _checked_resource(
        self, name: NormalizedName, filename: str, kind: ResourceKind, ctx: RequestContext
    ) -> Resource:
        policies = self.engine.current
        review = self._reviewer(name, policies)
        deferred = await self._project(policies.check_project(name), review, ctx, name)
        page = await self.source.get_project_page(name, RequestContext())
        deferred += await self._project(policies.check_page(page), review, ctx, name)
        file = page.file(filename)
        if file is None:
            raise FileNotFound(name, filename)
        # Same per-file verdicts as filter_page, so "listed" and "downloadable" never differ.
        verdicts = policies.check_file(page, file)
        verdicts = await self._review_file(name, file, verdicts, review, deferred, stored=True)
        _enforce(verdicts, ctx, f"file {filename!r}")
        wants_artifact = policies.wants_artifact(name)
        if kind is ResourceKind.DIST and (wants_artifact or self.verifier is not None):
            artifact = await self._artifact_info(name, file, ctx)
            if self.verifier is not None:
                result = await self.verifier.evaluate(
                    file.filename, file.sha256, artifact.provenance
                )
                ctx.attestation = result.log_value
            if wants_artifact:
                verdicts = await policies.check_artifact(name, file, artifact)
                # The queue may have changed while the artifact policies ran.
                review = self._reviewer(name, policies)
                verdicts = await self._review_file(name, file, verdicts, review, [], stored=False)
                _enforce(verdicts, ctx, f"file {filename!r}")
        return await self.source.get_resource(name, filename, kind, ctx)

    # -- review (proxy.workflow) ---------------------------------------------------------

    def _reviewer(self, name: NormalizedName, policies: PolicySet) -> Reviewer | None:
        if self.workflow is None:
            return None
        return self.workflow.reviewer(name, policies.unwaivable)

    def _fresh(
        self, name: str, review: Reviewer | None, verdicts: list[Verdict]
    ) -> Reviewer | None:
        """``review``, or an empty reviewer when a verdict holds (its hold must be queued)."""
        if review is None and self.workflow is not None and any(v.holds for v in verdicts):
            return Reviewer(name, (), {}, self.engine.current.unwaivable)
        return review

    async def _project(
        self, verdicts: list[Verdict], review: Reviewer | None, ctx: RequestContext, name: str
    ) -> list[Verdict]:
        """Review and enforce project-level verdicts; the denies deferred to each file."""
        subject = f"project {name!r}"
        review = self._fresh(name, review, verdicts)
        if review is None:
            _enforce(verdicts, ctx, subject)
            return []
        reviewed, deferred = review.project_verdicts(verdicts)
        await self._record(review)
        _enforce(reviewed, ctx, subject)
        return deferred

    async def _review_file(
        self,
        name: str,
        file: DistFile,
        verdicts: list[Verdict],
        review: Reviewer | None,
        deferred: list[Verdict],
        *,
        stored: bool,
    ) -> list[Verdict]:
        review = self._fresh(name, review, verdicts)
        if review is None:
            return verdicts
        reviewed = review.file_verdicts(file, verdicts, deferred, stored=stored)
        await self._record(review)
        return reviewed

    async def _record(self, review: Reviewer | None) -> None:
        if review is not None and self.workflow is not None and review.new_holds:
            await self.workflow.record_holds(review)
            review.new_holds.clear()

    async def _artifact_info(
        self, name: NormalizedName, file: DistFile, ctx: RequestContext
    ) -> ArtifactInfo:
        provenance = None
        if file.provenance is not None:
            provenance = await self._fetch_provenance(name, file, ctx)
        return ArtifactInfo(sha256=file.sha256, provenance=provenance)

    async def _fetch_provenance(
        self, name: NormalizedName, file: DistFile, ctx: RequestContext
    ) -> bytes | None:
        # A separate context: the provenance fetch must not overwrite the download's
        # cache/upstream fields in the fetch log.
        sub = RequestContext(client=ctx.client, build=ctx.build, user=ctx.user)
        try:
            resource = await self.source.get_resource(
                name, file.filename, ResourceKind.PROVENANCE, sub
            )
            return await _read_all(resource, PROVENANCE_FETCH_LIMIT)
        except (ProxyError, OSError) as error:
            logger.warning("provenance of %s could not be fetched: %s", file.filename, error)
            ctx.verdicts.append(
                Verdict.warn(
                    PROVENANCE_NOTE,
                    f"the provenance of {file.filename} could not be fetched ({error}); "
                    f"artifact policies judged it as having none",
                )
            )
            return None


def _files(review: Reviewer | None, deferred: list[Verdict]) -> FileReview | None:
    return review.for_files(deferred) if review is not None else None


def _enforce(verdicts: list[Verdict], ctx: RequestContext, subject: str) -> None:
    """Record every verdict; raise ``PolicyDenied`` (403) for the first enforced deny or hold."""
    ctx.verdicts.extend(verdicts)
    denial = first_denial(verdicts)
    if denial is not None:
        raise PolicyDenied(denial, subject)


async def _read_all(resource: Resource, limit: int) -> bytes:
    chunks: list[bytes] = []
    received = 0
    async for chunk in resource.body.iter_range():
        received += len(chunk)
        if received > limit:
            raise ProvenanceTooLarge(f"provenance is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class ProvenanceTooLarge(ProxyError):
    """The provenance body exceeded ``PROVENANCE_FETCH_LIMIT``."""


__all__ = ["EnforcingRepository"]
