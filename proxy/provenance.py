"""PEP 740 provenance verification on the proxy path (sigstore under the hood).

A provenance object groups attestations into bundles, one per Trusted Publisher (PEP 740
"Provenance objects"). It verifies only when *every* attestation of *every* bundle:

1. is a sigstore bundle whose certificate chains to the trust root at the time the
   transparency log recorded it, and satisfies its bundle's publisher (repository, workflow,
   service account...) as pypi-attestations maps publishers to sigstore policies;
2. signs an in-toto v1 statement with exactly one subject, whose filename equals the file's
   once both are parsed (wheel tag order and name spelling may differ, PEP 740 "MUST be
   performed by parsing") and whose sha256 is the index's sha256 of the file;
3. has a predicate type the index knows (publish/v1 or SLSA provenance v1).

These functions are pure CPU work: ``proxy.attestations`` runs them in a worker thread
with the trust root it loaded once, and caches their results.
"""

from __future__ import annotations

import enum
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, assert_never

import sigstore.errors
from packaging.utils import parse_sdist_filename, parse_wheel_filename
from pydantic import ValidationError
from pypi_attestations import (
    Attestation,
    AttestationBundle,
    AttestationError,
    AttestationType,
    CircleCIPublisher,
    GitHubPublisher,
    GitLabPublisher,
    GooglePublisher,
    Provenance,
)
from sigstore.verify import Verifier

if TYPE_CHECKING:
    from sigstore.verify.policy import VerificationPolicy


logger = logging.getLogger(__name__)

_IN_TOTO_PAYLOAD = "application/vnd.in-toto+json"
_IN_TOTO_STATEMENT_V1 = "https://in-toto.io/Statement/v1"
_PUBLISHER_CLASSES = (GitHubPublisher, GitLabPublisher, GooglePublisher, CircleCIPublisher)
_KNOWN_KINDS = tuple(str(cls.model_fields["kind"].default) for cls in _PUBLISHER_CLASSES)
_KNOWN_PREDICATES = frozenset(t.value for t in AttestationType)
MAX_PROVENANCE_BYTES = 4 * 1024 * 1024
"""Real provenance objects are ~10 KB per attestation; anything this big is refused unparsed."""


class AttestationStatus(enum.Enum):
    VERIFIED = "verified"
    FAILED = "failed"
    """Provenance is present and wrong: bad signature, digest or name mismatch, malformed."""
    ABSENT = "absent"
    UNVERIFIABLE = "unverifiable"
    """Provenance is present but cannot be checked (unknown publisher kind, no sha256)."""


@dataclass(frozen=True, slots=True)
class AttestationResult:
    status: AttestationStatus
    publishers: tuple[str, ...] = ()
    """Normalised identities, e.g. ``github:owner/repo@release.yml``, one per bundle."""
    reason: str = ""
    predicate_types: tuple[str, ...] = ()

    @property
    def publisher(self) -> str | None:
        return ", ".join(self.publishers) or None

    @property
    def log_value(self) -> str:
        """The fetch log's attestation column: ``verified:<publisher>``, ``absent``, ..."""
        if self.status is AttestationStatus.VERIFIED:
            return f"verified:{self.publisher}"
        if self.status is AttestationStatus.ABSENT:
            return "absent"
        return f"{self.status.value}:{self.reason}"


ABSENT = AttestationResult(AttestationStatus.ABSENT)


class _Rejected(Exception):
    def __init__(self, status: AttestationStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _failed(reason: str) -> _Rejected:
    return _Rejected(AttestationStatus.FAILED, reason)


def publisher_identity(
    publisher: GitHubPublisher | GitLabPublisher | GooglePublisher | CircleCIPublisher,
) -> str:
    """A publisher as one stable string; the ``publishers`` policy option uses the same form."""
    match publisher:
        case GitHubPublisher():
            return f"github:{publisher.repository}@{publisher.workflow}"
        case GitLabPublisher():
            return f"gitlab:{publisher.repository}@{publisher.workflow_filepath}"
        case GooglePublisher():
            return f"google:{publisher.email}"
        case CircleCIPublisher():
            return f"circleci:{publisher.project_id}/{publisher.pipeline_definition_id}"
        case _:
            assert_never(publisher)


def verify_provenance(
    verifier: Verifier, filename: str, sha256: str, provenance: bytes
) -> AttestationResult:
    """Verify a raw provenance object for the file ``filename`` with digest ``sha256``.

    Blocking (CPU bound); never raises for bad input, which becomes a failed result.
    """
    publishers: tuple[str, ...] = ()
    try:
        bundles = _parse_provenance(provenance)
        publishers = tuple(publisher_identity(bundle.publisher) for bundle in bundles)
        predicate_types: dict[str, None] = {}
        for bundle, who in zip(bundles, publishers, strict=True):
            for found in _verify_bundle(verifier, bundle, who, filename, sha256):
                predicate_types[found] = None
    except _Rejected as e:
        return AttestationResult(e.status, publishers, e.reason)
    return AttestationResult(AttestationStatus.VERIFIED, publishers, "", tuple(predicate_types))


def _verify_bundle(
    verifier: Verifier, bundle: AttestationBundle, who: str, filename: str, sha256: str
) -> list[str]:
    policy = bundle.publisher._as_policy()
    found = []
    for number, attestation in enumerate(bundle.attestations, start=1):
        try:
            found.append(verify_attestation(verifier, attestation, policy, filename, sha256))
        except _Rejected as e:
            raise _Rejected(e.status, f"{e.reason} (attestation {number} of {who})") from e
    return found


def _parse_provenance(raw: bytes) -> list[AttestationBundle]:
    if len(raw) > MAX_PROVENANCE_BYTES:
        raise _failed(
            f"provenance object is {len(raw)} bytes, over the limit of {MAX_PROVENANCE_BYTES}"
        )
    try:
        document = json.loads(raw)
    except ValueError as e:
        raise _failed(f"provenance object is not JSON: {e}") from e
    _check_publisher_kinds(document)
    try:
        provenance = Provenance.model_validate(document)
    except ValidationError as e:
        raise _failed(f"provenance object is malformed: {_first_error(e)}") from e
    if not provenance.attestation_bundles:
        raise _failed("provenance object has no attestation bundles")
    for bundle in provenance.attestation_bundles:
        if not bundle.attestations:
            who = publisher_identity(bundle.publisher)
            raise _failed(f"the attestation bundle of {who} has no attestations")
    return provenance.attestation_bundles


def _check_publisher_kinds(document: object) -> None:
    # An unknown kind is a publisher this verifier cannot check, not a malformed object:
    # report it as such instead of as pydantic's union error.
    bundles = document.get("attestation_bundles") if isinstance(document, dict) else None
    for bundle in bundles if isinstance(bundles, list) else ():
        publisher = bundle.get("publisher") if isinstance(bundle, dict) else None
        kind = publisher.get("kind") if isinstance(publisher, dict) else None
        if isinstance(kind, str) and kind not in _KNOWN_KINDS:
            raise _Rejected(
                AttestationStatus.UNVERIFIABLE,
                f"publisher kind {kind!r} is not supported (supported: {', '.join(_KNOWN_KINDS)})",
            )


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "document"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"


def verify_attestation(
    verifier: Verifier,
    attestation: Attestation,
    policy: VerificationPolicy,
    filename: str,
    sha256: str,
) -> str:
    """Verify one attestation for ``filename``/``sha256``; return its predicate type."""
    try:
        dist_name = _parse_dist_filename(filename)
    except ValueError as e:
        raise _Rejected(AttestationStatus.UNVERIFIABLE, str(e)) from e
    try:
        payload_type, payload = verifier.verify_dsse(attestation.to_bundle(), policy)
    except (sigstore.errors.Error, AttestationError, ValueError) as e:
        raise _failed(str(e)) from e
    except Exception as e:
        # Untrusted input reached a path the libraries do not guard: refuse it (fail closed)
        # rather than crash the request, and keep the traceback for a bug report.
        logger.exception("unexpected error verifying an attestation for %s", filename)
        raise _failed(f"attestation cannot be verified: {type(e).__name__}: {e}") from e
    if payload_type != _IN_TOTO_PAYLOAD:
        raise _failed(f"envelope payload type is {payload_type!r}, expected {_IN_TOTO_PAYLOAD!r}")
    return _check_statement(payload, filename, dist_name, sha256)


def _check_statement(payload: bytes, filename: str, dist_name: object, sha256: str) -> str:
    try:
        statement = json.loads(payload)
    except ValueError as e:
        raise _failed(f"signed statement is not JSON: {e}") from e
    if not isinstance(statement, dict) or statement.get("_type") != _IN_TOTO_STATEMENT_V1:
        raise _failed(f"signed statement is not an in-toto v1 statement ({_IN_TOTO_STATEMENT_V1})")
    subjects = statement.get("subject")
    if not isinstance(subjects, list) or len(subjects) != 1 or not isinstance(subjects[0], dict):
        raise _failed("signed statement must have exactly one subject")
    name, digests = subjects[0].get("name"), subjects[0].get("digest")
    if not isinstance(name, str) or _parsed_or_none(name) != dist_name:
        raise _failed(f"subject does not match distribution name: {name} != {filename}")
    attested = digests.get("sha256") if isinstance(digests, dict) else None
    if attested != sha256:
        raise _failed(
            f"subject does not match distribution digest: attested sha256 {attested}, "
            f"file sha256 {sha256}"
        )
    predicate_type = statement.get("predicateType")
    if predicate_type not in _KNOWN_PREDICATES:
        raise _failed(f"unknown attestation type: {predicate_type!r}")
    return str(predicate_type)


def _parse_dist_filename(filename: str) -> object:
    # Parsed names compare equal whatever the tag order or spelling (PEP 740 requires parsing).
    if filename.endswith(".whl"):
        return parse_wheel_filename(filename)
    if filename.endswith((".tar.gz", ".zip")):
        return parse_sdist_filename(filename)
    raise ValueError(f"{filename!r} is not a wheel or sdist filename, so no attestation names it")


def _parsed_or_none(filename: str) -> object:
    try:
        return _parse_dist_filename(filename)
    except ValueError:
        return None
