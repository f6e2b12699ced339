"""The ``attestations`` policy: default, ``require``, ``publishers`` and ``continuity``, with
the real fixtures, offline."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import NormalizedName, canonicalize_name
from sigstore.verify import Verifier

from policies.attestations import AttestationsPolicy, PublisherPin, parse_publishers
from policies.base import ArtifactInfo, Decision, PolicyEnvironment, PolicyError, Verdict
from policies.config import parse_policy_tables
from policies.engine import PolicyEngine
from policies.registry import PolicyRegistry
from proxy.attestations import AttestationVerifier
from proxy.model import DistFile
from proxy.settings import load_settings
from storage.memory import MemoryKeyValueStore
from tests.support.attestations import (
    ACTIONS_ATTEST,
    ACTIONS_ATTEST_DIST,
    CIRCLECI_DIST,
    GITHUB_DIST,
    GITLAB,
    GITLAB_DIST,
    GOOGLE_DIST,
    STAGING_DIST,
    read,
    sha256,
    sigstore_verifier,
    tampered,
    trusted_root_file,
    wrap,
)

EXAMPLE = """
[[policy]]
use = "attestations"
require = ["rfc8785", "pypi-attestations"]
publishers = { "pypi-attestations" = "github:trailofbits/pypi-attestations" }
"""
REGISTRY = PolicyRegistry.from_classes([AttestationsPolicy])
PROJECT = canonicalize_name("pypi-attestations")
FIRST_USE_KEY = "policy:attestations:first-use:pypi-attestations"


@pytest.fixture(scope="session")
def production_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sigstore-production")


@pytest.fixture(scope="session")
def production(production_cache: Path) -> Verifier:
    return sigstore_verifier(production_cache)


@pytest.fixture
def env(tmp_path: Path) -> PolicyEnvironment:
    return PolicyEnvironment(data_dir=tmp_path, kv=MemoryKeyValueStore())


@pytest.fixture
def make(production: Verifier, env: PolicyEnvironment) -> Any:
    """Build the policy as the engine does (options parsed, defaults filled)."""
    verifier = AttestationVerifier(production)

    def build(environment: PolicyEnvironment = env, **table: Any) -> AttestationsPolicy:
        (config,) = parse_policy_tables([{"use": "attestations", **table}], REGISTRY)
        policy = AttestationsPolicy.create(config.options or {}, environment)
        policy.verifier = verifier
        return policy

    return build


def artifact(
    filename: str, provenance: bytes | None, *, data: bytes | None = None
) -> tuple[DistFile, ArtifactInfo]:
    """``filename`` as listed by an index whose sha256 is that of ``data`` (default: the
    fixture of that name)."""
    digest = sha256(data if data is not None else read(filename))
    file = DistFile(filename, f"http://127.0.0.1:1/{filename}", {"sha256": digest})
    return file, ArtifactInfo(digest, provenance)


async def judge(
    policy: AttestationsPolicy,
    filename: str,
    provenance: bytes | None,
    *,
    project: str | None = None,
    data: bytes | None = None,
) -> Verdict | None:
    file, info = artifact(filename, provenance, data=data)
    name = NormalizedName(project) if project else canonicalize_name(filename.split("-")[0])
    return await policy.check_artifact(name, file, info)


def denied(verdict: Verdict | None) -> str:
    assert verdict is not None
    assert verdict.decision is Decision.DENY, verdict
    assert verdict.policy == "attestations"
    return verdict.reason


def allowed(verdict: Verdict | None) -> None:
    assert verdict is None or verdict.decision is Decision.ALLOW, verdict


GENUINE = read(f"{GITHUB_DIST}.provenance")
OTHER_PUBLISHER = wrap(ACTIONS_ATTEST, f"{ACTIONS_ATTEST_DIST}.attestation")


async def test_default_allows_verified_and_absent_and_denies_the_rest(make: Any) -> None:
    policy = make()
    verdict = await judge(policy, GITHUB_DIST, GENUINE)
    allowed(verdict)
    assert verdict is not None
    assert "verified:github:trailofbits/pypi-attestations@release.yml" in verdict.reason
    allowed(await judge(policy, GITHUB_DIST, None))
    altered = tampered(read(GITHUB_DIST))
    reason = denied(await judge(policy, GITHUB_DIST, GENUINE, data=altered))
    assert reason.startswith(
        f"provenance of {GITHUB_DIST} does not verify: subject does not match distribution digest"
    )
    unknown = wrap({"kind": "ActiveState"}, f"{GITHUB_DIST}.publish.attestation")
    reason = denied(await judge(policy, GITHUB_DIST, unknown))
    assert "cannot be verified: publisher kind 'ActiveState' is not supported" in reason


async def test_provenance_of_another_file_is_denied(make: Any) -> None:
    reason = denied(await judge(make(), GITHUB_DIST, read(f"{GOOGLE_DIST}.provenance")))
    assert "subject does not match distribution name" in reason


async def test_provenance_without_an_index_hash_is_denied(make: Any) -> None:
    file = DistFile(GITHUB_DIST, f"http://127.0.0.1:1/{GITHUB_DIST}")
    verdict = await make().check_artifact(PROJECT, file, ArtifactInfo(None, GENUINE))
    assert "cannot be verified: the index gives no sha256" in denied(verdict)


async def test_require_denies_missing_provenance_for_matching_projects_only(make: Any) -> None:
    policy = make(require=["PyPI_Attestation*"])
    reason = denied(await judge(policy, GITHUB_DIST, None, project="pypi-attestations"))
    assert reason == (
        f"{GITHUB_DIST} has no provenance, but project 'pypi-attestations' must carry verifying "
        f"PEP 740 provenance (require = ['pypi-attestation*'])"
    )
    allowed(await judge(policy, GITHUB_DIST, GENUINE, project="pypi-attestations"))
    allowed(await judge(policy, GOOGLE_DIST, None))


@pytest.mark.parametrize(
    ("dist", "provenance", "pin"),
    [
        (GITHUB_DIST, GENUINE, "github:trailofbits/pypi-attestations"),
        (GITHUB_DIST, GENUINE, "github:trailofbits/pypi-attestations@release.yml"),
        (GITHUB_DIST, GENUINE, "GitHub:TrailOfBits/PyPI-Attestations@release.yml"),
        (GOOGLE_DIST, None, "google:919436158236-compute@developer.gserviceaccount.com"),
        (CIRCLECI_DIST, None, "circleci:fdd9283f-e619-46af-8f9c-851f7d3e8b2b"),
        (
            CIRCLECI_DIST,
            None,
            "circleci:fdd9283f-e619-46af-8f9c-851f7d3e8b2b/8e4f8ab2-8d7c-4827-9f15-de076d6d647f",
        ),
        (
            GITLAB_DIST,
            wrap(GITLAB, f"{GITLAB_DIST}.publish.attestation"),
            "gitlab:facutuesca/gitlab-oidc-project@.gitlab-ci.yml",
        ),
    ],
)
async def test_the_pinned_publisher_is_allowed(
    make: Any, dist: str, provenance: bytes | None, pin: str
) -> None:
    provenance = provenance or read(f"{dist}.provenance")
    allowed(
        await judge(make(publishers={"the-project": pin}), dist, provenance, project="the-project")
    )


@pytest.mark.parametrize(
    "pin",
    [
        "github:trailofbits/pypi-attestations@publish.yml",
        "github:trailofbits/pypi-attestation-models",
        "gitlab:trailofbits/pypi-attestations@release.yml",
        "google:919436158236-compute@developer.gserviceaccount.com",
    ],
)
async def test_a_wrong_pinned_publisher_is_denied(make: Any, pin: str) -> None:
    policy = make(publishers={"pypi-attestations": pin})
    reason = denied(await judge(policy, GITHUB_DIST, GENUINE, project="pypi-attestations"))
    assert reason == (
        f"{GITHUB_DIST} was published by github:trailofbits/pypi-attestations@release.yml, "
        f"but project 'pypi-attestations' is pinned to publisher {PublisherPin.parse(pin)}"
    )


async def test_a_pin_requires_provenance(make: Any) -> None:
    policy = make(publishers={"pypi-attestations": "github:trailofbits/pypi-attestations"})
    reason = denied(await judge(policy, GITHUB_DIST, None, project="pypi-attestations"))
    assert "is pinned to publisher github:trailofbits/pypi-attestations" in reason


async def test_continuity_denies_a_publisher_change(make: Any) -> None:
    policy = make(continuity=True)
    allowed(await judge(policy, GITHUB_DIST, GENUINE, project=PROJECT))
    reason = denied(await judge(policy, ACTIONS_ATTEST_DIST, OTHER_PUBLISHER, project=PROJECT))
    assert reason == (
        f"publisher changed: {ACTIONS_ATTEST_DIST} is published by "
        f"github:trailofbits/pypi-attestation-models@release.yml, but 'pypi-attestations' was "
        f"first seen published by github:trailofbits/pypi-attestations@release.yml (on "
        f"{GITHUB_DIST}); pin the new publisher in 'publishers' if the change is genuine"
    )
    allowed(await judge(policy, GITHUB_DIST, GENUINE, project=PROJECT))


async def test_continuity_denies_a_downgrade_but_not_older_releases(make: Any) -> None:
    policy = make(continuity=True)
    allowed(await judge(policy, GITHUB_DIST, GENUINE, project=PROJECT))
    newer = "pypi_attestations-0.0.20.tar.gz"
    reason = denied(await judge(policy, newer, None, project=PROJECT, data=b"unsigned"))
    assert reason == (
        f"attestation downgrade: {newer} has no provenance, but 'pypi-attestations' releases "
        f"since 0.0.19 were published with provenance by "
        f"github:trailofbits/pypi-attestations@release.yml (first seen on {GITHUB_DIST})"
    )
    same_release = "pypi_attestations-0.0.19-py3-none-any.whl"
    denied(await judge(policy, same_release, None, project=PROJECT, data=b"unsigned"))
    older = "pypi_attestations-0.0.18.tar.gz"
    allowed(await judge(policy, older, None, project=PROJECT, data=b"unsigned"))


async def test_continuity_is_persisted_in_the_key_value_store(
    make: Any, env: PolicyEnvironment
) -> None:
    allowed(await judge(make(continuity=True), GITHUB_DIST, GENUINE, project=PROJECT))
    assert json.loads(await env.kv.get(FIRST_USE_KEY) or b"null") == {
        "publishers": ["github:trailofbits/pypi-attestations@release.yml"],
        "since": "0.0.19",
        "filename": GITHUB_DIST,
    }
    restarted = make(continuity=True)
    denied(await judge(restarted, ACTIONS_ATTEST_DIST, OTHER_PUBLISHER, project=PROJECT))


async def test_continuity_moves_since_back_to_older_attested_releases(
    make: Any, env: PolicyEnvironment
) -> None:
    seen = {
        "publishers": ["github:trailofbits/pypi-attestations@release.yml"],
        "since": "0.1.0",
        "filename": "pypi_attestations-0.1.0.tar.gz",
    }
    await env.kv.set(FIRST_USE_KEY, json.dumps(seen).encode())
    policy = make(continuity=True)
    allowed(
        await judge(
            policy,
            "pypi_attestations-0.0.50.tar.gz",
            None,
            project=PROJECT,
            data=b"predates attestations",
        )
    )
    allowed(await judge(policy, GITHUB_DIST, GENUINE, project=PROJECT))
    denied(
        await judge(
            policy,
            "pypi_attestations-0.0.50.tar.gz",
            None,
            project=PROJECT,
            data=b"now known to be after an attested release",
        )
    )


async def test_a_pin_overrides_continuity(make: Any) -> None:
    policy = make(
        continuity=True,
        publishers={"pypi-attestations": "github:trailofbits/pypi-attestation-models"},
    )
    denied(await judge(policy, GITHUB_DIST, GENUINE, project=PROJECT))
    allowed(await judge(policy, ACTIONS_ATTEST_DIST, OTHER_PUBLISHER, project=PROJECT))


async def test_the_example_config_works_as_written(tmp_path: Path, production_cache: Path) -> None:
    root = tmp_path / "trusted_root.json"
    shutil.copyfile(trusted_root_file(production_cache), root)
    config = tmp_path / "pipgate.toml"
    config.write_text(f"[server]\ntrust_root = {json.dumps(str(root))}\n{EXAMPLE}")
    settings = load_settings(config, environ={})
    env = PolicyEnvironment(data_dir=tmp_path, kv=MemoryKeyValueStore())
    engine = PolicyEngine.from_settings(settings, env, REGISTRY)
    await engine.start()

    async def verdicts(project: str, filename: str, provenance: bytes | None) -> list[Verdict]:
        file, info = artifact(filename, provenance)
        return await engine.check_artifact(canonicalize_name(project), file, info)

    assert await verdicts("pypi-attestations", GITHUB_DIST, GENUINE) == []
    assert await verdicts("gcb-attestation-test", GOOGLE_DIST, None) == []
    (missing,) = await verdicts("rfc8785", STAGING_DIST, None)
    assert missing.denies
    assert "must carry verifying PEP 740 provenance" in missing.reason
    staging = wrap(
        {"kind": "Google", "email": "william@yossarian.net"}, f"{STAGING_DIST}.attestation"
    )
    (untrusted,) = await verdicts("rfc8785", STAGING_DIST, staging)
    assert untrusted.denies
    assert "failed to build timestamp certificate chain" in untrusted.reason
    (moved,) = await verdicts("pypi-attestations", ACTIONS_ATTEST_DIST, OTHER_PUBLISHER)
    assert moved.denies
    assert "is pinned to publisher github:trailofbits/pypi-attestations" in (moved.reason)
    await engine.aclose()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"require": "rfc8785"}, "require = 'rfc8785': expected a list of project names"),
        ({"publishers": "github:a/b"}, 'expected a table of project = "kind:identity"'),
        ({"publishers": {"x": "bitbucket:a/b"}}, "'x': 'bitbucket:a/b' is not a publisher"),
        ({"publishers": {"x": "github:owner"}}, "'github:owner' is not a publisher; expected"),
        ({"publishers": {"x": "github:a/b@"}}, "'github:a/b@' is not a publisher"),
        ({"publishers": {"x": "google:nobody"}}, "'google:nobody' is not a publisher"),
        ({"publishers": {"x": 7}}, "'x': 7 is not a publisher"),
        ({"publishers": {"a/b": "github:a/b"}}, "name is invalid: 'a/b'"),
        ({"publishers": {"Foo": "github:a/b", "foo": "github:a/c"}}, "'foo' is pinned twice"),
        ({"continuity": "yes"}, "continuity = 'yes': expected true or false"),
    ],
)
def test_invalid_options_are_reported(table: Mapping[str, Any], message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy_tables([{"use": "attestations", **table}], REGISTRY)
    assert message in str(caught.value)


def test_option_parsers_are_idempotent() -> None:
    pins = parse_publishers({"Pypi_Attestations": "github:trailofbits/pypi-attestations"})
    assert (
        parse_publishers(pins)
        == pins
        == {"pypi-attestations": PublisherPin("github", "trailofbits/pypi-attestations")}
    )
    assert str(pins[PROJECT]) == "github:trailofbits/pypi-attestations"
