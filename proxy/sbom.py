"""SBOMs from the fetch log: CycloneDX 1.6 JSON and SPDX 2.3 JSON.

One component per distinct distribution file (``kind == "dist"``, served whole: status 200) in
the slice, deduplicated by (filename, sha256) and sorted by name, version, filename. Each
carries the PEP 503 normalised name, the version, the Package URL
``pkg:pypi/<name>@<version>?file_name=<filename>`` (purl-spec, PyPI type), the SHA-256
and the download URL; a verified PEP 740 attestation adds its publisher. The NTIA minimum
elements are met: every component has a supplier (the index that served it), the root
component (the slice) a version (the time of its last fetch).

The two formats are built in ``proxy.audit.cyclonedx`` and ``proxy.audit.spdx``, each
imported only when its format is asked for: their libraries take most of a second to
import. What goes into a document is checked here (``check_artifacts``), field by field;
the test suite validates the output against the CycloneDX 1.6 JSON schema and with
spdx-tools. Validating every export against the JSON schema made ``pipgate sbom`` take
about 12 s for 100 components: the schema's ``iri-reference`` format check parses each
URL with an Earley parser (0.1 s a URL), after a 4 s import of its grammar.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from packageurl import PackageURL
from packaging.utils import canonicalize_name

from proxy.model import filename_project, filename_version
from storage.base import FetchRecord

if TYPE_CHECKING:
    from policies.osv_db import Advisory

# Only whole downloads: uv range-reads wheels it may never install (HEAD and 206 are probes).
SBOM_STATUSES = frozenset({200})
VERIFIED_PREFIX = "verified:"
PUBLISHER_PROPERTY = "pipgate:attestation:publisher"
ROOT_SUPPLIER = "pipgate"
"""The root component (the slice) is assembled by pipgate from its fetch log."""
_SHA256 = re.compile(r"[0-9a-f]{64}\Z")

Advisories = Callable[["Artifact"], Sequence["Advisory"]]
"""The advisories known at export time that affect a file (from the loaded OSV data)."""


class SbomError(Exception):
    """The SBOM failed its schema validation; the message lists every problem."""


@dataclass(frozen=True, slots=True)
class Artifact:
    """One distribution file as it appears in an SBOM."""

    name: str
    version: str | None
    filename: str
    sha256: str
    url: str | None
    publisher: str | None
    supplier: str
    """The index that served the file (the fetch log's upstream name)."""

    @property
    def purl(self) -> PackageURL:
        qualifiers = {"file_name": self.filename}
        return PackageURL(type="pypi", name=self.name, version=self.version, qualifiers=qualifiers)

    @property
    def bom_ref(self) -> str:
        # The purl alone can repeat (same filename, different bytes); the hash cannot.
        return f"{self.purl.to_string()}#sha256={self.sha256}"


def select_artifacts(records: Iterable[FetchRecord]) -> list[Artifact]:
    """The distinct distribution files served whole (200) in ``records``, in SBOM order."""
    found: dict[tuple[str, str], Artifact] = {}
    for record in sorted(records, key=lambda r: r.time):
        if record.kind != "dist" or record.status not in SBOM_STATUSES:
            continue
        if not record.filename or not record.sha256:
            continue
        key = (record.filename, record.sha256.lower())
        artifact = found.get(key)
        if artifact is None:
            found[key] = _artifact(record)
        elif artifact.publisher is None and _publisher(record) is not None:
            found[key] = _artifact(record, url=artifact.url)
    return sorted(found.values(), key=lambda a: (a.name, a.version or "", a.filename, a.sha256))


def _artifact(record: FetchRecord, url: str | None = None) -> Artifact:
    assert record.filename is not None
    assert record.sha256 is not None
    name = record.project or filename_project(record.filename) or record.filename
    version = record.version or filename_version(record.filename)
    return Artifact(
        name=canonicalize_name(name),
        version=str(version) if version is not None else None,
        filename=record.filename,
        sha256=record.sha256.lower(),
        url=url or record.url,
        publisher=_publisher(record),
        supplier=f"package index {record.upstream}" if record.upstream else "package index",
    )


def _publisher(record: FetchRecord) -> str | None:
    if record.attestation and record.attestation.startswith(VERIFIED_PREFIX):
        return record.attestation[len(VERIFIED_PREFIX) :].strip() or None
    return None


def tool_version() -> str:
    try:
        return importlib.metadata.version("pipgate")
    except importlib.metadata.PackageNotFoundError:
        return "0+source"  # running from a checkout that was never installed


def slice_version(records: Iterable[FetchRecord], artifacts: Sequence[Artifact]) -> str:
    """The root component's version: when the slice's last served file was fetched."""
    times = [r.time for r in records if r.kind == "dist" and r.status in SBOM_STATUSES]
    moment = max(times) if times and artifacts else dt.datetime.now(dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def check_artifacts(artifacts: Iterable[Artifact], document: str) -> None:
    """Refuse what would make an invalid document: ``SbomError`` lists every problem."""
    problems = []
    for artifact in artifacts:
        if not _SHA256.match(artifact.sha256):
            problems.append(f"{artifact.filename}: sha256 {artifact.sha256!r} is not 64 hex digits")
        if artifact.url is not None and not artifact.url.startswith(("http://", "https://")):
            problems.append(f"{artifact.filename}: download URL {artifact.url!r} is not http(s)")
    if problems:
        raise SbomError(f"{document} is invalid: " + "; ".join(problems))


def build_cyclonedx(
    records: Iterable[FetchRecord],
    *,
    name: str,
    serial_number: uuid.UUID | None = None,
    timestamp: dt.datetime | None = None,
    advisories: Advisories | None = None,
) -> str:
    """A CycloneDX 1.6 JSON SBOM whose metadata component is ``name`` (the build label);
    ``advisories`` fills its ``vulnerabilities``."""
    from proxy.audit.cyclonedx import cyclonedx_document

    return cyclonedx_document(
        list(records), name=name, serial_number=serial_number, timestamp=timestamp,
        advisories=advisories,
    )  # fmt: skip


def build_spdx(
    records: Iterable[FetchRecord],
    *,
    name: str,
    namespace: str,
    created: dt.datetime | None = None,
) -> str:
    """An SPDX 2.3 JSON document describing one package ``name`` (the build label) that
    depends on every distribution file; ``namespace`` must be a unique absolute URI."""
    from proxy.audit.spdx import spdx_document

    return spdx_document(list(records), name=name, namespace=namespace, created=created)


__all__ = [
    "Advisories",
    "Artifact",
    "SbomError",
    "build_cyclonedx",
    "build_spdx",
    "check_artifacts",
    "select_artifacts",
    "slice_version",
    "tool_version",
]
