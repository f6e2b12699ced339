"""The policy engine: exemptions, audit mode, fail-closed errors, filtering and reload."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
from packaging.utils import NormalizedName

from policies.base import ArtifactInfo, Decision, Option, PolicyEnvironment, PolicyError, Verdict
from policies.engine import PolicyEngine, default_policy_tables, policy_tables
from policies.policyset import first_denial
from proxy.model import DistFile, ProjectPage
from proxy.settings import Settings
from tests.support.fake_repository import dist, page
from tests.support.policy_env import SIMPLE_POLICIES, engine_for, policy_env

EVENTS: list[str] = []


class ExplodingPolicy:
    """Raises on project "boom", returns garbage on "junk", denies artifacts of "held"."""

    name: ClassVar[str] = "exploding"
    summary: ClassVar[str] = "test policy"
    options: ClassVar[tuple[Option, ...]] = (Option("fail_start", "", False, bool),)
    gate: ClassVar[asyncio.Event | None] = None

    def __init__(self, fail_start: bool) -> None:
        self.fail_start = fail_start

    @classmethod
    def create(cls, options: Mapping[str, Any], env: PolicyEnvironment) -> ExplodingPolicy:
        return cls(options["fail_start"])

    async def start(self) -> None:
        EVENTS.append("start")
        if self.fail_start:
            raise RuntimeError("data source missing")

    async def aclose(self) -> None:
        EVENTS.append("aclose")

    def check_project(self, name: NormalizedName) -> Verdict | None:
        if name == "boom":
            raise RuntimeError("kaboom")
        if name == "junk":
            return "deny"  # type: ignore[return-value]
        return None

    async def check_artifact(
        self, name: NormalizedName, file: DistFile, artifact: ArtifactInfo
    ) -> Verdict | None:
        if self.gate is not None:
            await self.gate.wait()
        EVENTS.append(f"artifact {file.filename} {artifact.provenance!r}")
        return Verdict.deny(self.name, "held for review") if name == "held" else None


class HooklessPolicy:
    name: ClassVar[str] = "hookless"
    summary: ClassVar[str] = "has no hook"
    options: ClassVar[tuple[Option, ...]] = ()

    @classmethod
    def create(cls, options: Mapping[str, Any], env: PolicyEnvironment) -> HooklessPolicy:
        return cls()


CLASSES = (*SIMPLE_POLICIES, ExplodingPolicy, HooklessPolicy)


@pytest.fixture(autouse=True)
def _clear_events() -> None:
    EVENTS.clear()
    ExplodingPolicy.gate = None


def test_check_project__deny_exempt_and_audit() -> None:
    engine = engine_for(
        [
            {"use": "denylist", "projects": ["evil-*"], "exempt": ["evil-but-ok"]},
            {"use": "denylist", "projects": ["shady"], "mode": "audit"},
        ]
    )
    (deny,) = engine.check_project(NormalizedName("evil-thing"))
    assert deny.denies
    assert deny.policy == "denylist"
    assert "evil-thing is on the denylist (entry 'evil-*')" in deny.reason
    assert engine.check_project(NormalizedName("evil-but-ok")) == []
    (audit,) = engine.check_project(NormalizedName("shady"))
    assert audit.decision is Decision.DENY
    assert audit.audit
    assert not audit.denies
    assert first_denial([audit]) is None


def test_policy_errors_fail_closed_and_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    engine = engine_for([{"use": "exploding"}], CLASSES)
    with caplog.at_level(logging.ERROR):
        (crash,) = engine.check_project(NormalizedName("boom"))
    assert crash.denies
    assert "policy 'exploding' failed while checking project 'boom' (RuntimeError: kaboom)" in (
        crash.reason
    )
    assert "fails closed" in crash.reason
    assert "kaboom" in caplog.text
    (junk,) = engine.check_project(NormalizedName("junk"))
    assert junk.denies
    assert "returned 'deny', expected a Verdict or None" in junk.reason
    assert engine.check_project(NormalizedName("fine")) == []


def test_policy_errors_in_audit_mode_are_not_enforced() -> None:
    engine = engine_for([{"use": "exploding", "mode": "audit"}], CLASSES)
    (crash,) = engine.check_project(NormalizedName("boom"))
    assert crash.audit
    assert not crash.denies


def test_filter_page__hides_denied_keeps_warned_and_prunes_versions() -> None:
    engine = engine_for(
        [
            {"use": "denylist", "projects": ["demo<2"]},
            {"use": "release_age", "days": 1, "missing_upload_time": "warn"},
        ]
    )
    old = dist("demo-1.0-py3-none-any.whl")
    old_sdist = dist("demo-1.0.tar.gz")
    timeless = dist("demo-2.0.tar.gz", upload_time=None)
    listed = ProjectPage(
        NormalizedName("demo"), (old, old_sdist, timeless), versions=("1.0", "2.0")
    )
    filtered, noted = engine.filter_page(listed)
    assert filtered.files == (timeless,)
    assert filtered.versions == ("2.0",)
    assert [(f.filename, v.policy, v.decision) for f, v in noted] == [
        ("demo-1.0-py3-none-any.whl", "denylist", Decision.DENY),
        ("demo-1.0.tar.gz", "denylist", Decision.DENY),
        ("demo-2.0.tar.gz", "release_age", Decision.WARN),
    ]
    assert engine.check_file(listed, old)[0].denies


def test_filter_page__unchanged_page_is_returned_as_is() -> None:
    engine = engine_for([{"use": "yanked"}])
    listed = page("demo", dist("demo-1.0.tar.gz"))
    assert engine.filter_page(listed) == (listed, [])
    assert engine_for([]).filter_page(listed) == (listed, [])


def test_filter_page__exempt_project_is_not_filtered() -> None:
    engine = engine_for([{"use": "yanked", "exempt": ["demo"]}])
    listed = page("demo", dist("demo-1.0.tar.gz", yanked="broken"))
    assert engine.filter_page(listed) == (listed, [])


def test_filter_page__6000_files_in_a_few_milliseconds() -> None:
    engine = engine_for(
        [
            {"use": "release_age", "days": 7},
            {"use": "files", "max_size": "500MB"},
            {"use": "yanked"},
            {"use": "denylist", "projects": ["other<1"]},
        ]
    )
    files = tuple(
        dist(f"big-{v // 20}.{v % 20}-cp3{v % 10}-cp3{v % 10}-manylinux_x86_64.whl")
        for v in range(6000)
    )
    listed = page("big", *files)
    engine.filter_page(listed)  # warm the version caches, as a running server has them
    started = time.perf_counter()
    filtered, noted = engine.filter_page(listed)
    elapsed = time.perf_counter() - started
    assert len(filtered.files) == 6000
    assert noted == []
    # About 15 ms on a laptop for four file policies; the bound leaves room for slow CI.
    assert elapsed < 0.25, f"filtering 6,000 files took {elapsed * 1000:.1f} ms"


async def test_check_artifact_and_wants_artifact() -> None:
    engine = engine_for([{"use": "exploding", "exempt": ["skipped"]}], CLASSES)
    assert engine.current.wants_artifact(NormalizedName("held"))
    assert not engine.current.wants_artifact(NormalizedName("skipped"))
    assert not engine_for([{"use": "yanked"}]).current.wants_artifact(NormalizedName("held"))
    file = dist("held-1.0.tar.gz")
    (verdict,) = await engine.check_artifact(
        NormalizedName("held"), file, ArtifactInfo("ab", b"{}")
    )
    assert verdict.denies
    assert verdict.reason == "held for review"
    assert EVENTS == ["artifact held-1.0.tar.gz b'{}'"]


def test_creation_errors_are_collected() -> None:
    with pytest.raises(PolicyError) as caught:
        engine_for(
            [{"use": "allowlist"}, {"use": "hookless"}, {"use": "dependency_confusion"}], CLASSES
        )
    message = str(caught.value)
    assert "#1 (allowlist): PolicyError: allowlist needs at least one entry" in message
    assert "#2 (hookless): the policy object has none of check_project" in message
    assert "#3 (dependency_confusion): PolicyError: dependency_confusion needs private" in message


async def test_start_and_aclose_are_called() -> None:
    engine = engine_for([{"use": "exploding"}], CLASSES)
    await engine.start()
    await engine.aclose()
    assert EVENTS == ["start", "aclose"]


async def test_start_failure_closes_what_started() -> None:
    engine = engine_for([{"use": "exploding"}, {"use": "exploding", "fail_start": True}], CLASSES)
    with pytest.raises(PolicyError, match="policy 'exploding' failed to start: RuntimeError"):
        await engine.start()
    assert EVENTS == ["start", "start", "aclose"]


async def test_reload__swaps_bumps_generation_and_closes_the_old_policies() -> None:
    engine = engine_for([{"use": "exploding"}], CLASSES)
    await engine.start()
    assert engine.generation == 1
    await engine.reload(Settings(policies=({"use": "denylist", "projects": ["boom"]},)))
    assert engine.generation == 2
    assert engine.names() == ["denylist"]
    assert "on the denylist" in engine.check_project(NormalizedName("boom"))[0].reason
    assert EVENTS == ["start", "aclose"]


async def test_reload__errors_keep_the_running_policies() -> None:
    engine = engine_for([{"use": "denylist", "projects": ["evil"]}], CLASSES)
    with pytest.raises(PolicyError, match="unknown policy 'nope'"):
        await engine.reload(Settings(policies=({"use": "nope"},)))
    with pytest.raises(PolicyError, match="failed to start"):
        await engine.reload(Settings(policies=({"use": "exploding", "fail_start": True},)))
    assert engine.generation == 1
    assert engine.names() == ["denylist"]
    assert engine.check_project(NormalizedName("evil"))[0].denies


async def test_reload__waits_for_artifact_checks_in_flight() -> None:
    engine = engine_for([{"use": "exploding"}], CLASSES)
    ExplodingPolicy.gate = asyncio.Event()
    check = asyncio.create_task(
        engine.check_artifact(NormalizedName("x"), dist("x-1.0.tar.gz"), ArtifactInfo(None, None))
    )
    await asyncio.sleep(0)
    reload = asyncio.create_task(engine.reload(Settings(policies=())))
    await asyncio.sleep(0.01)
    # Swapped at once (new requests see the new policies) but the old ones are still open.
    assert engine.names() == []
    assert "aclose" not in EVENTS
    ExplodingPolicy.gate.set()
    assert await check == []
    await reload
    assert EVENTS == ["artifact x-1.0.tar.gz None", "aclose"]


def test_default_set__builds_and_filters_a_6000_file_page_in_a_few_ms(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    engine = PolicyEngine.from_settings(settings, policy_env(settings))
    assert engine.names() == ["typosquat", "project_status", "attestations"]
    listed = page("big", *(dist(f"big-{v}.0-py3-none-any.whl") for v in range(6000)))
    started = time.perf_counter()
    filtered, _ = engine.filter_page(listed)
    elapsed = time.perf_counter() - started
    assert filtered is listed
    assert elapsed < 0.005, f"filtering 6,000 files took {elapsed * 1000:.1f} ms"


def test_default_set() -> None:
    assert [t["use"] for t in default_policy_tables()] == [
        "typosquat",
        "project_status",
        "attestations",
    ]
    assert policy_tables(Settings()) == default_policy_tables()
    with_osv = policy_tables(Settings(osv_source="osv-data/"))
    assert [t["use"] for t in with_osv] == ["typosquat", "osv", "project_status", "attestations"]
    assert with_osv[1] == {"use": "osv", "source": "osv-data/", "vulnerable": False}
    assert policy_tables(Settings(policies=())) == ()


def test_describe() -> None:
    engine = engine_for(
        [{"use": "files", "wheels_only": ["acme-*"], "exempt": ["x"], "mode": "audit"}]
    )
    assert engine.describe() == [
        {
            "policy": "files",
            "mode": "audit",
            "exempt": ["x"],
            "options": {"wheels_only": ["acme-*"], "max_size": None, "missing_size": "allow"},
        }
    ]
