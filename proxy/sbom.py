"""SBOMs from the fetch log: CycloneDX 1.6 JSON and SPDX 2.3 JSON, validated before use.

One component per distinct distribution file (``kind == "dist"``, served whole: status 200) in
the slice, deduplicated by (filename, sha256) and sorted by name, version, filename. Each
carries the PEP 503 normalised name, the version, the Package URL
``pkg:pypi/<name>@<version>?file_name=<filename>`` (purl-spec, PyPI type), the SHA-256
and the download URL; a verified PEP 740 attestation adds its publisher.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import io
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from cyclonedx.model import (
    ExternalReference,
    ExternalReferenceType,
    HashAlgorithm,
    HashType,
    Property,
    XsUri,
)
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL
from packaging.utils import canonicalize_name
from spdx_tools.spdx.model.actor import Actor, ActorType
from spdx_tools.spdx.model.checksum import Checksum, ChecksumAlgorithm
from spdx_tools.spdx.model.document import CreationInfo, Document
from spdx_tools.spdx.model.package import (
    ExternalPackageRef,
    ExternalPackageRefCategory,
    Package,
    PackagePurpose,
)
from spdx_tools.spdx.model.relationship import Relationship, RelationshipType
from spdx_tools.spdx.model.spdx_no_assertion import SpdxNoAssertion
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
from spdx_tools.spdx.validation.uri_validators import validate_download_location
from spdx_tools.spdx.writer.json.json_writer import write_document_to_stream

from proxy.model import filename_project, filename_version
from storage.base import FetchRecord

# Only whole downloads: uv range-reads wheels it may never install (HEAD and 206 are probes).
SBOM_STATUSES = frozenset({200})
VERIFIED_PREFIX = "verified:"
PUBLISHER_PROPERTY = "pipgate:attestation:publisher"
DOCUMENT_ID = "SPDXRef-DOCUMENT"
ROOT_ID = "SPDXRef-Slice"


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


def build_cyclonedx(
    records: Iterable[FetchRecord],
    *,
    name: str,
    serial_number: uuid.UUID | None = None,
    timestamp: dt.datetime | None = None,
) -> str:
    """A CycloneDX 1.6 JSON SBOM whose metadata component is ``name`` (the build label)."""
    bom = Bom(serial_number=serial_number or uuid.uuid4())
    if timestamp is not None:
        bom.metadata.timestamp = timestamp
    root = Component(type=ComponentType.APPLICATION, name=name, bom_ref="pipgate-slice")
    bom.metadata.component = root
    bom.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="pipgate", version=tool_version())
    )
    components = [_cyclonedx_component(a) for a in select_artifacts(records)]
    for component in components:
        bom.components.add(component)
    bom.register_dependency(root, components)
    text: str = JsonV1Dot6(bom).output_as_string(indent=2)
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text, all_errors=True)
    if errors is not None:
        problems = "; ".join(str(e) for e in errors)
        raise SbomError(f"CycloneDX 1.6 SBOM {name!r} is invalid: {problems}")
    return text


def _cyclonedx_component(artifact: Artifact) -> Component:
    digest = HashType(alg=HashAlgorithm.SHA_256, content=artifact.sha256)
    references = []
    if artifact.url:
        references.append(
            ExternalReference(
                type=ExternalReferenceType.DISTRIBUTION, url=XsUri(artifact.url), hashes=[digest]
            )
        )
    properties = []
    if artifact.publisher:
        properties.append(Property(name=PUBLISHER_PROPERTY, value=artifact.publisher))
    return Component(
        type=ComponentType.LIBRARY,
        name=artifact.name,
        version=artifact.version,
        purl=artifact.purl,
        bom_ref=artifact.bom_ref,
        hashes=[digest],
        external_references=references,
        properties=properties,
    )


def build_spdx(
    records: Iterable[FetchRecord],
    *,
    name: str,
    namespace: str,
    created: dt.datetime | None = None,
) -> str:
    """An SPDX 2.3 JSON document describing one package ``name`` (the build label) that
    depends on every distribution file; ``namespace`` must be a unique absolute URI."""
    moment = (created or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    info = CreationInfo(
        spdx_version="SPDX-2.3",
        spdx_id=DOCUMENT_ID,
        name=name,
        document_namespace=namespace,
        creators=[Actor(ActorType.TOOL, f"pipgate-{tool_version()}")],
        created=moment,
    )
    root = _spdx_package(ROOT_ID, name, comment="the slice of pipgate's fetch log")
    packages = [_spdx_artifact(i, a) for i, a in enumerate(select_artifacts(records), start=1)]
    relationships = [Relationship(DOCUMENT_ID, RelationshipType.DESCRIBES, ROOT_ID)]
    relationships += [
        Relationship(ROOT_ID, RelationshipType.DEPENDS_ON, p.spdx_id) for p in packages
    ]
    document = Document(info, packages=[root, *packages], relationships=relationships)
    messages = validate_full_spdx_document(document)
    if messages:
        problems = "; ".join(m.validation_message for m in messages)
        raise SbomError(f"SPDX 2.3 SBOM {name!r} is invalid: {problems}")
    stream = io.StringIO()
    write_document_to_stream(document, stream, validate=False)
    return stream.getvalue()


def _spdx_artifact(index: int, artifact: Artifact) -> Package:
    notes = []
    location: str | SpdxNoAssertion = SpdxNoAssertion()
    if artifact.url and not validate_download_location(artifact.url):
        location = artifact.url
    elif artifact.url:
        # spdx-tools only accepts a dotted host with a 2-5 letter TLD (no IP, no localhost).
        notes.append(f"downloaded from {artifact.url}")
    if artifact.publisher:
        notes.append(f"PEP 740 attestation verified; publisher: {artifact.publisher}")
    package = _spdx_package(
        f"SPDXRef-Package-{index}", artifact.name, comment="; ".join(notes) or None
    )
    package.version = artifact.version
    package.file_name = artifact.filename
    package.download_location = location
    package.checksums = [Checksum(ChecksumAlgorithm.SHA256, artifact.sha256)]
    package.external_references = [
        ExternalPackageRef(
            ExternalPackageRefCategory.PACKAGE_MANAGER, "purl", artifact.purl.to_string()
        )
    ]
    package.primary_package_purpose = PackagePurpose.LIBRARY
    return package


def _spdx_package(spdx_id: str, name: str, *, comment: str | None) -> Package:
    return Package(
        spdx_id=spdx_id,
        name=name,
        download_location=SpdxNoAssertion(),
        files_analyzed=False,
        license_concluded=SpdxNoAssertion(),
        license_declared=SpdxNoAssertion(),
        copyright_text=SpdxNoAssertion(),
        comment=comment,
    )


__all__ = [
    "Artifact",
    "SbomError",
    "build_cyclonedx",
    "build_spdx",
    "select_artifacts",
    "tool_version",
]
