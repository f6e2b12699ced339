"""PEP 740 verification against the real fixtures, offline, with the production trust root."""

from __future__ import annotations

import json
import re
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from pypi_attestations import Attestation, AttestationType
from sigstore.verify import Verifier, policy

import proxy.attestations
from proxy.attestations import (
    AttestationResult,
    AttestationStatus,
    AttestationVerifier,
    TrustRootError,
    shared_verifier,
)
from proxy.provenance import MAX_PROVENANCE_BYTES, verify_attestation
from proxy.settings import Settings
from tests.support.attestations import (
    ACTIONS_ATTEST,
    ACTIONS_ATTEST_DIST,
    CIRCLECI_DIST,
    CIRCLECI_PUBLISHER,
    GITHUB_DIST,
    GITHUB_PUBLISHER,
    GITLAB,
    GITLAB_DIST,
    GOOGLE_DIST,
    GOOGLE_PUBLISHER,
    STAGING_DIST,
    STAGING_IDENTITY,
    bare,
    edit,
    provenance_object,
    read,
    restate,
    sha256,
    sigstore_verifier,
    tampered,
    trusted_root_file,
    wrap,
)

PUBLISH_V1 = AttestationType.PYPI_PUBLISH_V1.value
SLSA_V1 = AttestationType.SLSA_PROVENANCE_V1.value
GITHUB = {
    "kind": "GitHub",
    "repository": "trailofbits/pypi-attestations",
    "workflow": "release.yml",
}


@pytest.fixture(scope="session")
def production_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sigstore-production")


@pytest.fixture(scope="session")
def production(production_cache: Path) -> Verifier:
    return sigstore_verifier(production_cache)


@pytest.fixture
def verifier(production: Verifier) -> AttestationVerifier:
    return AttestationVerifier(production)


async def check(verifier: AttestationVerifier, dist: str, provenance: bytes) -> AttestationResult:
    return await verifier.verify(dist, sha256(read(dist)), provenance)


@pytest.mark.parametrize(
    ("dist", "publisher"),
    [
        (GITHUB_DIST, GITHUB_PUBLISHER),
        (GOOGLE_DIST, GOOGLE_PUBLISHER),
        (CIRCLECI_DIST, CIRCLECI_PUBLISHER),
    ],
)
async def test_genuine_provenance_objects_verify(
    verifier: AttestationVerifier, dist: str, publisher: str
) -> None:
    result = await check(verifier, dist, read(f"{dist}.provenance"))
    assert result == AttestationResult(AttestationStatus.VERIFIED, (publisher,), "", (PUBLISH_V1,))
    assert result.log_value == f"verified:{publisher}"


@pytest.mark.parametrize(
    ("dist", "publisher", "attestation", "identity"),
    [
        (
            GITLAB_DIST,
            GITLAB,
            f"{GITLAB_DIST}.publish.attestation",
            "gitlab:facutuesca/gitlab-oidc-project@.gitlab-ci.yml",
        ),
        (
            ACTIONS_ATTEST_DIST,
            ACTIONS_ATTEST,
            f"{ACTIONS_ATTEST_DIST}.attestation",
            "github:trailofbits/pypi-attestation-models@release.yml",
        ),
    ],
)
async def test_bare_attestations_wrapped_into_provenance_verify(
    verifier: AttestationVerifier,
    dist: str,
    publisher: dict[str, str],
    attestation: str,
    identity: str,
) -> None:
    result = await check(verifier, dist, wrap(publisher, attestation))
    assert result.status is AttestationStatus.VERIFIED, result.reason
    assert result.publishers == (identity,)


async def test_every_attestation_of_a_bundle_is_verified_and_reported(
    verifier: AttestationVerifier,
) -> None:
    both = wrap(GITHUB, f"{GITHUB_DIST}.publish.attestation", f"{GITHUB_DIST}.slsa.attestation")
    result = await check(verifier, GITHUB_DIST, both)
    assert result.status is AttestationStatus.VERIFIED
    assert result.predicate_types == (PUBLISH_V1, SLSA_V1)


async def test_a_bad_attestation_in_a_second_bundle_fails_the_whole_provenance(
    verifier: AttestationVerifier,
) -> None:
    genuine = [bare(f"{GITHUB_DIST}.publish.attestation")]
    foreign = [bare(f"{GITLAB_DIST}.publish.attestation")]
    provenance = provenance_object((GITHUB, genuine), (GITLAB, foreign))
    result = await check(verifier, GITHUB_DIST, provenance)
    assert result.status is AttestationStatus.FAILED
    assert result.reason.startswith("subject does not match distribution name")
    assert "attestation 1 of gitlab:facutuesca/gitlab-oidc-project@.gitlab-ci.yml" in result.reason
    assert result.publishers == (
        GITHUB_PUBLISHER,
        "gitlab:" + GITLAB["repository"] + "@.gitlab-ci.yml",
    )


async def test_flipped_byte_with_a_matching_index_hash_fails(
    verifier: AttestationVerifier,
) -> None:
    # A compromised mirror serves altered bytes and lists their true sha256.
    altered = tampered(read(GITHUB_DIST))
    result = await verifier.verify(GITHUB_DIST, sha256(altered), read(f"{GITHUB_DIST}.provenance"))
    assert result.status is AttestationStatus.FAILED
    assert "subject does not match distribution digest" in result.reason
    assert sha256(altered) in result.reason
    assert result.log_value.startswith("failed:subject does not match distribution digest")


async def test_provenance_of_another_file_fails_on_the_name(
    verifier: AttestationVerifier,
) -> None:
    result = await check(verifier, GITHUB_DIST, read(f"{GOOGLE_DIST}.provenance"))
    assert result.status is AttestationStatus.FAILED
    assert result.reason.startswith(
        f"subject does not match distribution name: {GOOGLE_DIST} != {GITHUB_DIST}"
    )


async def test_a_bundle_claiming_another_repository_fails(
    verifier: AttestationVerifier,
) -> None:
    def claim(document: dict[str, Any]) -> None:
        document["attestation_bundles"][0]["publisher"]["repository"] = "evil/pypi-attestations"

    provenance = edit(read(f"{GITHUB_DIST}.provenance"), claim)
    result = await check(verifier, GITHUB_DIST, provenance)
    assert result.status is AttestationStatus.FAILED
    assert "OIDCSourceRepositoryURI does not match" in result.reason
    assert result.publishers == ("github:evil/pypi-attestations@release.yml",)


async def test_a_rewritten_statement_fails_the_signature(verifier: AttestationVerifier) -> None:
    altered = tampered(read(GITHUB_DIST))

    def retarget(document: dict[str, Any]) -> None:
        attestation = document["attestation_bundles"][0]["attestations"][0]
        restate(attestation, lambda s: s["subject"][0]["digest"].update(sha256=sha256(altered)))

    provenance = edit(read(f"{GITHUB_DIST}.provenance"), retarget)
    result = await verifier.verify(GITHUB_DIST, sha256(altered), provenance)
    assert result.status is AttestationStatus.FAILED
    assert "invalid signature" in result.reason


async def test_an_unknown_publisher_kind_is_unverifiable(verifier: AttestationVerifier) -> None:
    provenance = wrap(
        {"kind": "ActiveState", "organization": "x"}, f"{GITHUB_DIST}.publish.attestation"
    )
    result = await check(verifier, GITHUB_DIST, provenance)
    assert result.status is AttestationStatus.UNVERIFIABLE
    assert "publisher kind 'ActiveState' is not supported" in result.reason
    assert result.log_value.startswith("unverifiable:publisher kind 'ActiveState'")


@pytest.mark.parametrize(
    ("provenance", "reason"),
    [
        (b"{not json", "provenance object is not JSON"),
        (b'{"version": 1}', "provenance object is malformed: attestation_bundles: Field required"),
        (b'{"version": 1, "attestation_bundles": []}', "has no attestation bundles"),
        (provenance_object((GITHUB, [])), f"the attestation bundle of {GITHUB_PUBLISHER} has no"),
        (b" " * (MAX_PROVENANCE_BYTES + 1), "over the limit"),
    ],
)
async def test_malformed_provenance_fails_with_a_reason(
    verifier: AttestationVerifier, provenance: bytes, reason: str
) -> None:
    result = await check(verifier, GITHUB_DIST, provenance)
    assert result.status is AttestationStatus.FAILED
    assert reason in result.reason


async def test_a_staging_attestation_does_not_verify_against_production(
    verifier: AttestationVerifier,
) -> None:
    # Wrapped as Google so the provenance parses; the trust root refuses it first.
    publisher = {"kind": "Google", "email": STAGING_IDENTITY[0]}
    result = await check(verifier, STAGING_DIST, wrap(publisher, f"{STAGING_DIST}.attestation"))
    assert result.status is AttestationStatus.FAILED
    assert "failed to build timestamp certificate chain" in result.reason


def test_filenames_compare_parsed_whatever_the_wheel_tag_order(tmp_path: Path) -> None:
    # Only the staging fixtures have a multi-tag wheel; they need the staging trust root.
    staging = sigstore_verifier(tmp_path, staging=True)
    attestation = Attestation.model_validate(
        bare(
            "spt3g-1.0-cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64.whl.publish.attestation"
        )
    )
    identity = policy.Identity(identity=STAGING_IDENTITY[0], issuer=STAGING_IDENTITY[1])
    reordered = "spt3g-1.0-cp310-cp310-manylinux2014_x86_64.manylinux_2_17_x86_64.whl"
    digest = "d2772f9a5199f05ed1be8d9aa78b879e51772e3ead9d73fe8057257b1aec7cf8"
    assert verify_attestation(staging, attestation, identity, reordered, digest) == PUBLISH_V1


async def test_absent_provenance_and_missing_sha256(verifier: AttestationVerifier) -> None:
    absent = await verifier.evaluate(GITHUB_DIST, sha256(read(GITHUB_DIST)), None)
    assert absent.status is AttestationStatus.ABSENT
    assert absent.log_value == "absent"
    no_hash = await verifier.evaluate(GITHUB_DIST, None, read(f"{GITHUB_DIST}.provenance"))
    assert no_hash.status is AttestationStatus.UNVERIFIABLE
    assert "no sha256" in no_hash.reason


async def test_a_file_that_is_no_wheel_or_sdist_is_unverifiable(
    verifier: AttestationVerifier,
) -> None:
    result = await verifier.verify("tool-1.0.egg", "00" * 32, read(f"{GITHUB_DIST}.provenance"))
    assert result.status is AttestationStatus.UNVERIFIABLE
    assert "'tool-1.0.egg' is not a wheel or sdist filename" in result.reason


async def test_an_upper_case_index_hash_verifies(verifier: AttestationVerifier) -> None:
    digest = sha256(read(GITHUB_DIST)).upper()
    result = await verifier.verify(GITHUB_DIST, digest, read(f"{GITHUB_DIST}.provenance"))
    assert result.status is AttestationStatus.VERIFIED


async def test_results_are_cached_by_file_hash_and_provenance(
    verifier: AttestationVerifier,
) -> None:
    provenance = read(f"{GITHUB_DIST}.provenance")
    first = await check(verifier, GITHUB_DIST, provenance)
    second = await check(verifier, GITHUB_DIST, provenance)
    assert second is first
    assert (verifier.hits, verifier.misses) == (1, 1)
    other_provenance = wrap(GITHUB, f"{GITHUB_DIST}.publish.attestation")
    assert (
        await check(verifier, GITHUB_DIST, other_provenance)
    ).status is AttestationStatus.VERIFIED
    renamed = await verifier.verify(
        "pypi_attestations-0.0.20.tar.gz", sha256(read(GITHUB_DIST)), provenance
    )
    assert renamed.status is AttestationStatus.FAILED
    assert (verifier.hits, verifier.misses) == (1, 3)


async def test_the_cache_is_bounded(production: Verifier) -> None:
    verifier = AttestationVerifier(production, cache_size=1)
    github, google = read(f"{GITHUB_DIST}.provenance"), read(f"{GOOGLE_DIST}.provenance")
    await check(verifier, GITHUB_DIST, github)
    await check(verifier, GOOGLE_DIST, google)
    await check(verifier, GITHUB_DIST, github)
    assert (verifier.hits, verifier.misses) == (0, 3)


async def test_verification_runs_in_a_worker_thread(
    verifier: AttestationVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[threading.Thread] = []
    original = proxy.attestations.verify_provenance

    def spy(*args: Any) -> AttestationResult:
        threads.append(threading.current_thread())
        return original(*args)

    monkeypatch.setattr(proxy.attestations, "verify_provenance", spy)
    result = await check(verifier, GOOGLE_DIST, read(f"{GOOGLE_DIST}.provenance"))
    assert result.status is AttestationStatus.VERIFIED
    assert threads
    assert threads[0] is not threading.main_thread()


async def test_a_pinned_trust_root_file_verifies(production_cache: Path, tmp_path: Path) -> None:
    pinned = tmp_path / "trusted_root.json"
    shutil.copyfile(trusted_root_file(production_cache), pinned)
    verifier = await AttestationVerifier.load(pinned)
    result = await check(verifier, GOOGLE_DIST, read(f"{GOOGLE_DIST}.provenance"))
    assert result.status is AttestationStatus.VERIFIED
    shared = await shared_verifier(Settings(trust_root=pinned))
    assert await shared_verifier(Settings(trust_root=pinned)) is shared


async def test_an_unreadable_or_invalid_trust_root_stops_start_up(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    with pytest.raises(TrustRootError, match=re.escape(f"trust_root '{missing}' cannot be read")):
        await AttestationVerifier.load(missing)
    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps({"mediaType": "nonsense"}))
    with pytest.raises(TrustRootError, match=r"is not a sigstore trusted_root\.json"):
        await AttestationVerifier.load(invalid)


async def test_an_unexpected_library_error_fails_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    exploding = sigstore_verifier(tmp_path)

    def explode(*args: Any) -> tuple[str, bytes]:
        raise IndexError("crafted input")

    monkeypatch.setattr(exploding, "verify_dsse", explode)
    result = await check(
        AttestationVerifier(exploding), GOOGLE_DIST, read(f"{GOOGLE_DIST}.provenance")
    )
    assert result.status is AttestationStatus.FAILED
    assert result.reason.startswith("attestation cannot be verified: IndexError: crafted input")
    assert "unexpected error verifying an attestation" in caplog.text
