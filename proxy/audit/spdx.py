"""The SPDX 2.3 JSON form of an SBOM (``proxy.sbom.build_spdx``), validated with
spdx-tools before it is returned (cheap: a fraction of a second for hundreds of packages).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence

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

from proxy.sbom import (
    ROOT_SUPPLIER,
    Artifact,
    SbomError,
    check_artifacts,
    select_artifacts,
    slice_version,
    tool_version,
)
from storage.base import FetchRecord

__all__ = ["DOCUMENT_ID", "ROOT_ID", "spdx_document"]

DOCUMENT_ID = "SPDXRef-DOCUMENT"
ROOT_ID = "SPDXRef-Slice"


def spdx_document(
    records: Sequence[FetchRecord],
    *,
    name: str,
    namespace: str,
    created: dt.datetime | None = None,
) -> str:
    moment = (created or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    info = CreationInfo(
        spdx_version="SPDX-2.3",
        spdx_id=DOCUMENT_ID,
        name=name,
        document_namespace=namespace,
        creators=[Actor(ActorType.TOOL, f"pipgate-{tool_version()}")],
        created=moment,
    )
    artifacts = select_artifacts(records)
    check_artifacts(artifacts, f"SPDX 2.3 SBOM {name!r}")
    root = _package(ROOT_ID, name, ROOT_SUPPLIER, comment="the slice of pipgate's fetch log")
    root.version = slice_version(records, artifacts)
    packages = [_artifact_package(i, a) for i, a in enumerate(artifacts, start=1)]
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


def _artifact_package(index: int, artifact: Artifact) -> Package:
    notes = []
    location: str | SpdxNoAssertion = SpdxNoAssertion()
    if artifact.url and not validate_download_location(artifact.url):
        location = artifact.url
    elif artifact.url:
        # spdx-tools only accepts a dotted host with a 2-5 letter TLD (no IP, no localhost).
        notes.append(f"downloaded from {artifact.url}")
    if artifact.publisher:
        notes.append(f"PEP 740 attestation verified; publisher: {artifact.publisher}")
    package = _package(
        f"SPDXRef-Package-{index}",
        artifact.name,
        artifact.supplier,
        comment="; ".join(notes) or None,
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


def _package(spdx_id: str, name: str, supplier: str, *, comment: str | None) -> Package:
    return Package(
        spdx_id=spdx_id,
        name=name,
        supplier=Actor(ActorType.ORGANIZATION, supplier),
        download_location=SpdxNoAssertion(),
        files_analyzed=False,
        license_concluded=SpdxNoAssertion(),
        license_declared=SpdxNoAssertion(),
        copyright_text=SpdxNoAssertion(),
        comment=comment,
    )
