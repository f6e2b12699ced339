"""The enforcing stage over a fake repository: pages filtered, downloads refused."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, ClassVar

import pytest
from packaging.utils import NormalizedName

from policies.base import ArtifactInfo, Decision, Option, PolicyEnvironment, Verdict
from proxy.enforcement import PROVENANCE_NOTE, EnforcingRepository
from proxy.errors import FileNotFound, PolicyDenied, UpstreamUnavailable
from proxy.model import DistFile, ProjectPage
from proxy.repository import RequestContext, ResourceKind
from proxy.settings import Settings
from tests.support.fake_repository import FakeRepository, dist, page
from tests.support.policy_env import SIMPLE_POLICIES, engine_for

seen_artifacts: list[ArtifactInfo] = []


class RecordingArtifactPolicy:
    """Records what it is given; denies files whose provenance says "forged"."""

    name: ClassVar[str] = "recording"
    summary: ClassVar[str] = "test artifact policy"
    options: ClassVar[tuple[Option, ...]] = ()

    @classmethod
    def create(cls, options: Mapping[str, Any], env: PolicyEnvironment) -> RecordingArtifactPolicy:
        return cls()

    async def check_artifact(
        self, name: NormalizedName, file: DistFile, artifact: ArtifactInfo
    ) -> Verdict | None:
        seen_artifacts.append(artifact)
        if artifact.provenance == b"forged":
            return Verdict.deny(self.name, f"provenance of {file.filename} is forged")
        return None


CLASSES = (*SIMPLE_POLICIES, RecordingArtifactPolicy)
DEMO = NormalizedName("demo")
PROVENANCE_URL = "https://files.invalid/demo-2.0-py3-none-any.whl/provenance"


@pytest.fixture(autouse=True)
def _clear_seen() -> None:
    seen_artifacts.clear()


def make_chain(*tables: dict[str, Any]) -> tuple[EnforcingRepository, FakeRepository]:
    source = FakeRepository()
    source.add(
        page(
            "demo",
            dist("demo-1.0.tar.gz", yanked="broken"),
            dist("demo-2.0-py3-none-any.whl", provenance=PROVENANCE_URL),
            dist("demo-2.0.tar.gz", upload_time=None),
        )
    )
    source.add(page("gone", dist("gone-1.0.tar.gz"), status="quarantined"))
    return EnforcingRepository(source, engine_for(tables, CLASSES)), source


async def test_denied_project_is_refused_before_the_source_is_asked() -> None:
    chain, source = make_chain({"use": "denylist", "projects": ["demo"]})
    ctx = RequestContext()
    with pytest.raises(PolicyDenied) as caught:
        await chain.get_project_page(DEMO, ctx)
    assert caught.value.verdict.policy == "denylist"
    assert str(caught.value).startswith(
        "project 'demo' is blocked by policy 'denylist': demo is on"
    )
    with pytest.raises(PolicyDenied):
        await chain.get_resource(DEMO, "demo-1.0.tar.gz", ResourceKind.DIST, ctx)
    assert source.calls == []
    assert [v.policy for v in ctx.verdicts] == ["denylist", "denylist"]


async def test_page_hides_denied_files_and_records_every_verdict() -> None:
    chain, _ = make_chain({"use": "yanked"}, {"use": "release_age", "missing_upload_time": "warn"})
    ctx = RequestContext()
    filtered = await chain.get_project_page(DEMO, ctx)
    assert [f.filename for f in filtered.files] == ["demo-2.0-py3-none-any.whl", "demo-2.0.tar.gz"]
    assert [(v.policy, v.decision) for v in ctx.verdicts] == [
        ("yanked", Decision.DENY),
        ("release_age", Decision.WARN),
    ]


async def test_hidden_file_is_never_downloadable() -> None:
    chain, source = make_chain({"use": "yanked"})
    for kind in ResourceKind:
        ctx = RequestContext()
        with pytest.raises(PolicyDenied) as caught:
            await chain.get_resource(DEMO, "demo-1.0.tar.gz", kind, ctx)
        assert caught.value.verdict.policy == "yanked"
        assert caught.value.subject == "file 'demo-1.0.tar.gz'"
        assert ctx.verdicts == [caught.value.verdict]
    assert not any(call[0] == "resource" for call in source.calls)


async def test_unlisted_file_is_not_found() -> None:
    chain, _ = make_chain()
    with pytest.raises(FileNotFound):
        await chain.get_resource(DEMO, "demo-9.9.tar.gz", ResourceKind.DIST, RequestContext())


async def test_allowed_file_is_delegated_without_provenance_work() -> None:
    chain, source = make_chain({"use": "yanked"})
    resource = await chain.get_resource(
        DEMO, "demo-2.0-py3-none-any.whl", ResourceKind.DIST, RequestContext()
    )
    assert resource.file.filename == "demo-2.0-py3-none-any.whl"
    assert source.calls == [
        ("page", "demo"),
        ("resource", "demo", "demo-2.0-py3-none-any.whl", "dist"),
    ]


async def test_artifact_policies_get_the_provenance_bytes() -> None:
    chain, source = make_chain({"use": "recording"})
    source.bodies["demo-2.0-py3-none-any.whl", ResourceKind.PROVENANCE] = b'{"version": 1}'
    await chain.get_resource(DEMO, "demo-2.0-py3-none-any.whl", ResourceKind.DIST, RequestContext())
    assert seen_artifacts == [ArtifactInfo(sha256="ab" * 32, provenance=b'{"version": 1}')]
    assert [c[3] for c in source.calls if c[0] == "resource"] == ["provenance", "dist"]


async def test_no_provenance_url_means_no_provenance_fetch() -> None:
    chain, source = make_chain({"use": "recording"})
    await chain.get_resource(DEMO, "demo-2.0.tar.gz", ResourceKind.DIST, RequestContext())
    assert seen_artifacts == [ArtifactInfo(sha256="ab" * 32, provenance=None)]
    assert [c[3] for c in source.calls if c[0] == "resource"] == ["dist"]


async def test_artifact_policies_do_not_run_for_metadata() -> None:
    chain, source = make_chain({"use": "recording"})
    await chain.get_resource(
        DEMO, "demo-2.0-py3-none-any.whl", ResourceKind.METADATA, RequestContext()
    )
    assert seen_artifacts == []
    assert [c[3] for c in source.calls if c[0] == "resource"] == ["metadata"]


async def test_artifact_deny_refuses_the_download() -> None:
    chain, source = make_chain({"use": "recording"})
    source.bodies["demo-2.0-py3-none-any.whl", ResourceKind.PROVENANCE] = b"forged"
    ctx = RequestContext()
    with pytest.raises(PolicyDenied, match=r"provenance of demo-2\.0-py3-none-any\.whl is forged"):
        await chain.get_resource(DEMO, "demo-2.0-py3-none-any.whl", ResourceKind.DIST, ctx)
    assert [c[3] for c in source.calls if c[0] == "resource"] == ["provenance"]


async def test_artifact_policy_in_audit_mode_logs_without_refusing() -> None:
    chain, source = make_chain({"use": "recording", "mode": "audit"})
    source.bodies["demo-2.0-py3-none-any.whl", ResourceKind.PROVENANCE] = b"forged"
    ctx = RequestContext()
    await chain.get_resource(DEMO, "demo-2.0-py3-none-any.whl", ResourceKind.DIST, ctx)
    (verdict,) = ctx.verdicts
    assert verdict.audit


async def test_provenance_fetch_failure_gives_none_and_a_note() -> None:
    chain, source = make_chain({"use": "recording"})
    failure = UpstreamUnavailable("provenance host down")
    source.fail["demo-2.0-py3-none-any.whl", ResourceKind.PROVENANCE] = failure
    ctx = RequestContext()
    await chain.get_resource(DEMO, "demo-2.0-py3-none-any.whl", ResourceKind.DIST, ctx)
    assert seen_artifacts == [ArtifactInfo(sha256="ab" * 32, provenance=None)]
    (note,) = ctx.verdicts
    assert (note.policy, note.decision) == (PROVENANCE_NOTE, Decision.WARN)
    assert "provenance host down" in note.reason


async def test_oversized_provenance_counts_as_a_failed_fetch() -> None:
    chain, source = make_chain({"use": "recording"})
    source.bodies["demo-2.0-py3-none-any.whl", ResourceKind.PROVENANCE] = b"x" * (
        8 * 1024 * 1024 + 1
    )
    ctx = RequestContext()
    await chain.get_resource(DEMO, "demo-2.0-py3-none-any.whl", ResourceKind.DIST, ctx)
    assert seen_artifacts == [ArtifactInfo(sha256="ab" * 32, provenance=None)]
    assert "larger than" in ctx.verdicts[0].reason


async def test_quarantined_project_is_refused_at_page_and_download() -> None:
    chain, _ = make_chain({"use": "project_status"})
    gone = NormalizedName("gone")
    with pytest.raises(PolicyDenied, match="gone is quarantined on the index"):
        await chain.get_project_page(gone, RequestContext())
    with pytest.raises(PolicyDenied, match="quarantined"):
        await chain.get_resource(gone, "gone-1.0.tar.gz", ResourceKind.DIST, RequestContext())


async def test_project_list_passes_through() -> None:
    chain, _ = make_chain({"use": "denylist", "projects": ["demo"]})
    listed = await chain.get_project_list(RequestContext())
    assert listed.names == ("demo", "gone")


async def test_a_request_in_flight_keeps_the_policies_it_started_with() -> None:
    chain, source = make_chain({"use": "yanked"})
    gate = asyncio.Event()
    fetch_page = source.get_project_page

    async def slow_page(name: NormalizedName, ctx: RequestContext) -> ProjectPage:
        await gate.wait()
        return await fetch_page(name, ctx)

    source.get_project_page = slow_page  # type: ignore[method-assign]
    in_flight = asyncio.create_task(chain.get_project_page(DEMO, RequestContext()))
    await asyncio.sleep(0)
    await chain.engine.reload(Settings(policies=()))
    gate.set()
    assert len((await in_flight).files) == 2
    assert len((await chain.get_project_page(DEMO, RequestContext())).files) == 3
