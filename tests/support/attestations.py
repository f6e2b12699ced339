"""PEP 740 test material: the real fixtures of ``tests/fixtures/attestations`` (see its
README), provenance objects built from them, and sigstore verifiers that never touch the
network or this machine's sigstore cache.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from sigstore.models import ClientTrustConfig
from sigstore.verify import Verifier

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "attestations"

GITHUB_DIST = "pypi_attestations-0.0.19.tar.gz"
GITHUB_PUBLISHER = "github:trailofbits/pypi-attestations@release.yml"
GOOGLE_DIST = "gcb_attestation_test-0.0.0.tar.gz"
GOOGLE_PUBLISHER = "google:919436158236-compute@developer.gserviceaccount.com"
CIRCLECI_DIST = "circleci_sign_publish_example-0.0.1.dev137-py3-none-any.whl"
CIRCLECI_PUBLISHER = (
    "circleci:fdd9283f-e619-46af-8f9c-851f7d3e8b2b/8e4f8ab2-8d7c-4827-9f15-de076d6d647f"
)
GITLAB_DIST = "gitlab_oidc_project-0.0.3.tar.gz"
GITLAB = {
    "kind": "GitLab",
    "repository": "facutuesca/gitlab-oidc-project",
    "workflow_filepath": ".gitlab-ci.yml",
}
ACTIONS_ATTEST_DIST = "pypi_attestation_models-0.0.4a2.tar.gz"
ACTIONS_ATTEST = {
    "kind": "GitHub",
    "repository": "trailofbits/pypi-attestation-models",
    "workflow": "release.yml",
}
STAGING_DIST = "rfc8785-0.1.2-py3-none-any.whl"
STAGING_IDENTITY = ("william@yossarian.net", "https://github.com/login/oauth")


def read(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def provenance_object(*bundles: tuple[Mapping[str, Any], list[dict[str, Any]]]) -> bytes:
    """A PEP 740 provenance object from (publisher, attestations) pairs."""
    return json.dumps(
        {
            "version": 1,
            "attestation_bundles": [
                {"publisher": dict(publisher), "attestations": attestations}
                for publisher, attestations in bundles
            ],
        }
    ).encode()


def bare(name: str) -> dict[str, Any]:
    """A bare attestation fixture (``*.attestation``) as JSON."""
    attestation: dict[str, Any] = json.loads(read(name))
    return attestation


def wrap(publisher: Mapping[str, Any], *attestation_files: str) -> bytes:
    """Bare attestation fixtures wrapped into a one-bundle provenance object."""
    return provenance_object((publisher, [bare(name) for name in attestation_files]))


def edit(provenance: bytes, change: Any) -> bytes:
    """``provenance`` after ``change(document)`` mutated its parsed JSON."""
    document = json.loads(provenance)
    change(document)
    return json.dumps(document).encode()


def restate(attestation: dict[str, Any], change: Any) -> None:
    """Rewrite an attestation's signed statement in place (its signature stays the old one)."""
    statement = json.loads(base64.b64decode(attestation["envelope"]["statement"]))
    change(statement)
    attestation["envelope"]["statement"] = base64.b64encode(json.dumps(statement).encode()).decode()


def tampered(data: bytes) -> bytes:
    """``data`` with one byte flipped in the middle: what a compromised mirror might serve."""
    flipped = bytearray(data)
    flipped[len(flipped) // 2] ^= 0x01
    return bytes(flipped)


def sigstore_verifier(cache: Path, *, staging: bool = False) -> Verifier:
    """A verifier over the trust root bundled with sigstore, loaded offline from a sigstore
    cache under ``cache`` (never this user's), as pipgate does without ``trust_root``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(cache / "cache"))
        patch.setenv("XDG_DATA_HOME", str(cache / "data"))
        config = (ClientTrustConfig.staging if staging else ClientTrustConfig.production)(
            offline=True
        )
    return Verifier(trusted_root=config.trusted_root)


def trusted_root_file(cache: Path) -> Path:
    """The ``trusted_root.json`` that ``sigstore_verifier(cache)`` seeds (one instance)."""
    if not any((cache / "cache").rglob("trusted_root.json")):
        sigstore_verifier(cache)  # not seeded yet when no earlier test built the verifier
    (found,) = (cache / "cache").rglob("trusted_root.json")
    return found
