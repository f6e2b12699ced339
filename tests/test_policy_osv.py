"""The ``osv`` policy end to end: verdicts and reasons, options, start-up and refresh."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import pytest
from packaging.utils import NormalizedName
from packaging.version import Version

from policies.base import ArtifactInfo, Decision, PolicyEnvironment, PolicyError, Verdict
from policies.config import parse_policy_tables
from policies.osv import OsvPolicy
from policies.registry import PolicyRegistry
from proxy.model import DistFile, ProjectPage
from storage.memory import MemoryKeyValueStore
from tests.support.osv import OSV_FIXTURES, build_zip, serve_osv

SNEAKY_SHA256 = "cbf00fb0388ac46d1b799df1c21f796196ba06db1e6f37af618d44d9142b81bd"


def make_env(tmp_path: Path, http: aiohttp.ClientSession | None = None) -> PolicyEnvironment:
    return PolicyEnvironment(data_dir=tmp_path / "data", kv=MemoryKeyValueStore(), http=http)


def make_options(source: Path | str, **raw: Any) -> dict[str, Any]:
    """What the engine hands to ``create``: parsed values, defaults for the rest."""
    raw["source"] = str(source)
    return {o.name: o.parse(raw[o.name]) if o.name in raw else o.default for o in OsvPolicy.options}


def dist(name: str, version: str, sha256: str | None = None, kind: str = "whl") -> DistFile:
    stem = f"{name.replace('-', '_')}-{version}"
    filename = f"{stem}-py3-none-any.whl" if kind == "whl" else f"{stem}.{kind}"
    hashes = {"sha256": sha256} if sha256 else {}
    return DistFile(filename=filename, url=f"https://files.invalid/{filename}", hashes=hashes)


def check(policy: OsvPolicy, name: str, file: DistFile | str) -> Verdict | None:
    dist_file = dist(name, file) if isinstance(file, str) else file
    return policy.check_file(ProjectPage(name=NormalizedName(name), files=(dist_file,)), dist_file)


def reason(verdict: Verdict | None) -> str:
    assert verdict is not None
    assert verdict.decision is Decision.DENY
    assert verdict.policy == "osv"
    return verdict.reason


class StartPolicy(Protocol):
    async def __call__(self, source: Path | str = ..., **raw: Any) -> OsvPolicy: ...


@pytest.fixture
async def start_policy(tmp_path: Path) -> AsyncIterator[StartPolicy]:
    started: list[OsvPolicy] = []

    async def start(source: Path | str = OSV_FIXTURES, **raw: Any) -> OsvPolicy:
        http = raw.pop("http", None)
        policy = OsvPolicy.create(make_options(source, **raw), make_env(tmp_path, http))
        await policy.start()
        started.append(policy)
        return policy

    yield start
    for policy in started:
        await policy.aclose()


async def wait_for(condition: Callable[[], bool]) -> None:
    for _ in range(250):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met within 5 s")


async def test_vulnerable_version__reason_names_ids_severity_and_fix(
    start_policy: StartPolicy,
) -> None:
    policy = await start_policy()
    assert reason(check(policy, "example-pkg", "1.4.1")) == (
        "example-pkg 1.4.1 has known vulnerabilities PYSEC-2099-1 (HIGH; fixed in 1.4.2): "
        "upgrade to >=1.4.2"
    )
    assert check(policy, "example-pkg", "1.4.2") is None
    assert reason(check(policy, "example-pkg", "2.0.0")) == (
        "example-pkg 2.0.0 has known vulnerabilities PYSEC-2099-2 (LOW; no fix known): "
        "no fixed release is known; pick another version or list the ids in `ignore`"
    )
    assert "(severity unknown; fixed in 0.9)" in reason(check(policy, "third-pkg", "0.5"))
    assert check(policy, "unknown-pkg", "1.0") is None


async def test_sdists_and_legacy_filenames__are_judged_by_their_version(
    start_policy: StartPolicy,
) -> None:
    policy = await start_policy()
    sdist = dist("example-pkg", "1.4.1", kind="tar.gz")
    assert "example-pkg 1.4.1 has known" in reason(check(policy, "example-pkg", sdist))
    old_zip = dist("example-pkg", "1.0", kind="zip")
    assert "example-pkg 1.0 has known" in reason(check(policy, "example-pkg", old_zip))
    legacy = DistFile(filename="example-pkg-1.4.1-beta.tar.gz", url="https://files.invalid/x")
    assert "example-pkg 1.4.1 has known" in reason(check(policy, "example-pkg", legacy))


@pytest.mark.parametrize(
    ("threshold", "denied", "allowed"),
    [
        ("low", ["example-pkg 2.0.0", "other-pkg 2.0", "example-pkg 1.4.1"], []),
        ("moderate", ["other-pkg 2.0", "third-pkg 1.0"], ["example-pkg 2.0.0"]),
        ("high", ["example-pkg 1.4.1", "third-pkg 0.5"], ["other-pkg 2.0", "third-pkg 1.0"]),
        ("critical", ["other-pkg 3.0.1", "third-pkg 0.5"], ["example-pkg 1.4.1"]),
    ],
)
async def test_severity_threshold__unknown_severity_always_denied(
    start_policy: StartPolicy, threshold: str, denied: list[str], allowed: list[str]
) -> None:
    policy = await start_policy(severity=threshold)
    verdicts = {case: check(policy, *case.split()) for case in denied + allowed}
    assert [case for case in denied if verdicts[case] is None] == []
    assert [case for case in allowed if verdicts[case] is not None] == []


async def test_malicious_project__denied_by_name(start_policy: StartPolicy) -> None:
    policy = await start_policy()
    assert reason(policy.check_project(NormalizedName("evil-pkg"))) == (
        "evil-pkg is a known malicious package (MAL-2099-7): Malicious code in evil-pkg "
        "(PyPI); remove it from your requirements"
    )
    assert policy.check_project(NormalizedName("sneaky-pkg")) is None
    assert policy.check_project(NormalizedName("example-pkg")) is None
    assert "known malicious release (MAL-2099-7)" in reason(check(policy, "evil-pkg", "7.7"))


async def test_malicious_release_and_file_hash(start_policy: StartPolicy) -> None:
    policy = await start_policy()
    assert reason(check(policy, "sneaky-pkg", "0.3.1")) == (
        "sneaky-pkg 0.3.1 is a known malicious release (MAL-2099-8): Malicious code in "
        "sneaky-pkg (PyPI); pick another version"
    )
    assert check(policy, "sneaky-pkg", "0.3.2") is None
    renamed = dist("sneaky-pkg", "0.3.9", sha256=SNEAKY_SHA256)
    assert reason(check(policy, "sneaky-pkg", renamed)).startswith(
        "sneaky_pkg-0.3.9-py3-none-any.whl has the sha256 of a known malicious file (MAL-2099-8)"
    )
    name = NormalizedName("sneaky-pkg")
    clean = dist("sneaky-pkg", "0.3.2")
    bad = await policy.check_artifact(name, clean, ArtifactInfo(SNEAKY_SHA256, None))
    assert "known malicious file (MAL-2099-8)" in reason(bad)
    assert await policy.check_artifact(name, clean, ArtifactInfo("ab" * 32, None)) is None
    assert await policy.check_artifact(name, clean, ArtifactInfo(None, None)) is None


async def test_unreadable_version__denied_only_for_projects_with_malicious_releases(
    start_policy: StartPolicy,
) -> None:
    policy = await start_policy()
    mystery = DistFile(filename="sneaky-pkg-latest.tar.gz", url="https://files.invalid/x")
    assert "cannot tell the version of sneaky-pkg-latest.tar.gz" in reason(
        check(policy, "sneaky-pkg", mystery)
    )
    other = DistFile(filename="example-pkg-latest.tar.gz", url="https://files.invalid/y")
    assert check(policy, "example-pkg", other) is None


async def test_switches_and_ignore(start_policy: StartPolicy) -> None:
    no_malware = await start_policy(malicious=False)
    assert no_malware.check_project(NormalizedName("evil-pkg")) is None
    assert check(no_malware, "sneaky-pkg", dist("sneaky-pkg", "0.3.1", SNEAKY_SHA256)) is None
    assert check(no_malware, "example-pkg", "1.4.1") is not None

    no_vulns = await start_policy(vulnerable=False)
    assert check(no_vulns, "example-pkg", "1.4.1") is None
    assert no_vulns.check_project(NormalizedName("evil-pkg")) is not None

    ignoring = await start_policy(ignore=["CVE-2099-0001", "MAL-2099-7", "PYSEC-2099-3"])
    assert check(ignoring, "example-pkg", "1.4.1") is None  # by alias
    assert ignoring.check_project(NormalizedName("evil-pkg")) is None
    assert check(ignoring, "evil-pkg", "1.0") is None
    assert check(ignoring, "other-pkg", "3.0.1") is None
    assert check(ignoring, "example-pkg", "2.0.0") is not None


async def test_before_start__everything_is_refused(tmp_path: Path) -> None:
    policy = OsvPolicy.create(make_options(OSV_FIXTURES), make_env(tmp_path))
    assert "is not loaded" in reason(policy.check_project(NormalizedName("example-pkg")))
    assert "is not loaded" in reason(check(policy, "example-pkg", "9.9"))
    file = dist("example-pkg", "9.9")
    artifact = ArtifactInfo("ab" * 32, None)
    verdict = await policy.check_artifact(NormalizedName("example-pkg"), file, artifact)
    assert "is not loaded" in reason(verdict)


async def test_configuration_errors(tmp_path: Path) -> None:
    env = make_env(tmp_path)
    no_source = {**make_options(OSV_FIXTURES), "source": None}
    with pytest.raises(PolicyError, match="option 'source' is required"):
        OsvPolicy.create(no_source, env)
    with pytest.raises(PolicyError, match="no HTTP client session"):
        OsvPolicy.create(make_options("https://osv.invalid/PyPI/all.zip"), env)
    missing = OsvPolicy.create(make_options(tmp_path / "absent"), env)
    with pytest.raises(PolicyError, match=r"cannot load OSV data.*absent"):
        await missing.start()


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("source", "", "a path or an http(s) URL"),
        ("refresh", -1, "seconds >= 0"),
        ("refresh", True, "seconds >= 0"),
        ("refresh", float("inf"), "seconds >= 0"),
        ("severity", "severe", "'low', 'moderate', 'medium', 'high', 'critical'"),
        ("malicious", "yes", "true or false"),
        ("ignore", "PYSEC-2099-1", "a list of advisory ids"),
        ("ignore", ["PYSEC-2099-1", 3], "non-empty string"),
    ],
)
def test_option_parsers__say_what_was_expected(option: str, value: Any, expected: str) -> None:
    (parser,) = [o.parse for o in OsvPolicy.options if o.name == option]
    with pytest.raises(ValueError, match=re.escape(expected)):
        parser(value)


async def test_url_source(tmp_path: Path, start_policy: StartPolicy) -> None:
    async with (
        aiohttp.ClientSession() as http,
        serve_osv(build_zip(tmp_path / "all.zip").read_bytes()) as server,
    ):
        policy = await start_policy(server.url, http=http)
        assert policy.check_project(NormalizedName("evil-pkg")) is not None
        assert check(policy, "example-pkg", "1.4.1") is not None
        await policy.aclose()


async def test_refresh__picks_up_a_changed_directory(
    tmp_path: Path, start_policy: StartPolicy
) -> None:
    tree = Path(shutil.copytree(OSV_FIXTURES, tmp_path / "osv"))
    policy = await start_policy(tree, refresh=0.05)
    newcomer = NormalizedName("fresh-evil")
    assert policy.check_project(newcomer) is None
    record = json.loads((tree / "malicious/pypi/evil-pkg/MAL-2099-7.json").read_text())
    record["id"] = "MAL-2099-9"
    record["affected"][0]["package"]["name"] = "fresh-evil"
    (tree / "MAL-2099-9.json").write_text(json.dumps(record))
    await wait_for(lambda: policy.check_project(newcomer) is not None)
    assert "(MAL-2099-9)" in reason(policy.check_project(newcomer))


async def test_refresh__a_broken_source_keeps_the_old_data(
    tmp_path: Path, start_policy: StartPolicy, caplog: pytest.LogCaptureFixture
) -> None:
    record = tmp_path / "record.json"
    shutil.copy(OSV_FIXTURES / "pypi" / "PYSEC-2099-1.json", record)
    policy = await start_policy(record, refresh=0.05)
    loaded = policy.index
    record.write_text('{"id": "PYSEC-2099-1", "affected": [')
    with caplog.at_level(logging.WARNING, logger="policies.osv"):
        await wait_for(lambda: "keeping the data loaded earlier" in caplog.text)
    assert policy.index is loaded
    assert check(policy, "example-pkg", "1.4.1") is not None


async def test_aclose__stops_the_refresh_task(start_policy: StartPolicy) -> None:
    policy = await start_policy(refresh=0.05)
    assert [t for t in asyncio.all_tasks() if t.get_name() == "osv-refresh"]
    await policy.aclose()
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "osv-refresh"]
    assert await policy.refresh() is False  # unchanged source; the policy still answers


async def test_a_6000_file_page_with_and_without_advisories(
    start_policy: StartPolicy,
) -> None:
    policy = await start_policy()
    versions = [f"{a}.{b}.{c}" for a in range(3) for b in range(100) for c in range(20)]
    files = tuple(dist("example-pkg", version) for version in versions)
    page = ProjectPage(name=NormalizedName("example-pkg"), files=files)
    denied = [f for f in files if policy.check_file(page, f) is not None]
    again = [f for f in files if policy.check_file(page, f) is not None]
    listed = {Version("2.0.0"), Version("2.0.1")}
    affected = [v in listed or v < Version("1.4.2") for v in map(Version, versions)]
    assert denied == again == [f for f, hit in zip(files, affected, strict=True) if hit]

    unaffected = ProjectPage(name=NormalizedName("quiet-pkg"), files=files)
    assert [f for f in files if policy.check_file(unaffected, f) is not None] == []


async def test_through_the_engine_config__tables_parse_create_and_start(tmp_path: Path) -> None:
    registry = PolicyRegistry.discover()
    table = {"use": "osv", "source": str(OSV_FIXTURES), "severity": "critical", "ignore": []}
    (config,) = parse_policy_tables([table], registry)
    policy = config.plugin.create(config.options, make_env(tmp_path))
    assert isinstance(policy, OsvPolicy)
    await policy.start()
    try:
        assert check(policy, "example-pkg", "1.4.1") is None  # HIGH is below "critical"
        assert check(policy, "other-pkg", "3.0.1") is not None
    finally:
        await policy.aclose()
    (no_source,) = parse_policy_tables([{"use": "osv"}], registry)
    with pytest.raises(PolicyError, match="'source' is required"):
        no_source.plugin.create(no_source.options, make_env(tmp_path))
    with pytest.raises(PolicyError, match=r"severity = 'severe': expected one of"):
        parse_policy_tables([{**table, "severity": "severe"}], registry)
