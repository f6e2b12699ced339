"""The CycloneDX 1.6 JSON form of an SBOM (``proxy.sbom.build_cyclonedx``), with the
vulnerabilities known at export time in its ``vulnerabilities`` section.

Each advisory that affects a component becomes one vulnerability (its OSV id, source
OSV, summary, severity rating, aliases as references) whose ``affects`` lists every
component it affects. The document is built from cyclonedx-python-lib's typed model;
what pipgate puts in is checked by ``check_artifacts``, and the tests validate the output
against the JSON schema (see ``proxy.sbom`` for why that is not done on every export).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

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
from cyclonedx.model.contact import OrganizationalEntity
from cyclonedx.model.vulnerability import (
    BomTarget,
    Vulnerability,
    VulnerabilityRating,
    VulnerabilityReference,
    VulnerabilitySeverity,
    VulnerabilitySource,
)
from cyclonedx.output.json import JsonV1Dot6

from policies.osv_db import Advisory
from proxy.sbom import (
    PUBLISHER_PROPERTY,
    ROOT_SUPPLIER,
    Advisories,
    Artifact,
    check_artifacts,
    select_artifacts,
    slice_version,
    tool_version,
)
from storage.base import FetchRecord

__all__ = ["cyclonedx_document"]

OSV = VulnerabilitySource(name="OSV", url=XsUri("https://osv.dev/"))


def cyclonedx_document(
    records: Sequence[FetchRecord],
    *,
    name: str,
    serial_number: uuid.UUID | None = None,
    timestamp: dt.datetime | None = None,
    advisories: Advisories | None = None,
) -> str:
    artifacts = select_artifacts(records)
    check_artifacts(artifacts, f"CycloneDX 1.6 SBOM {name!r}")
    bom = Bom(serial_number=serial_number or uuid.uuid4())
    if timestamp is not None:
        bom.metadata.timestamp = timestamp
    supplier = OrganizationalEntity(name=ROOT_SUPPLIER)
    root = Component(
        type=ComponentType.APPLICATION,
        name=name,
        version=slice_version(records, artifacts),
        supplier=supplier,
        bom_ref="pipgate-slice",
    )
    bom.metadata.component = root
    bom.metadata.supplier = supplier
    bom.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="pipgate", version=tool_version())
    )
    components = [_component(a) for a in artifacts]
    for component in components:
        bom.components.add(component)
    bom.register_dependency(root, components)
    if advisories is not None:
        for vulnerability in _vulnerabilities(artifacts, advisories):
            bom.vulnerabilities.add(vulnerability)
    text: str = JsonV1Dot6(bom).output_as_string(indent=2)
    return text


def _component(artifact: Artifact) -> Component:
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
        supplier=OrganizationalEntity(name=artifact.supplier),
        purl=artifact.purl,
        bom_ref=artifact.bom_ref,
        hashes=[digest],
        external_references=references,
        properties=properties,
    )


def _vulnerabilities(artifacts: Sequence[Artifact], advisories: Advisories) -> list[Vulnerability]:
    found: dict[str, tuple[Advisory, list[str]]] = {}
    for artifact in artifacts:
        for advisory in advisories(artifact):
            found.setdefault(advisory.id, (advisory, []))[1].append(artifact.bom_ref)
    return [
        Vulnerability(
            bom_ref=f"vulnerability:{advisory.id}",
            id=advisory.id,
            source=OSV,
            description=advisory.summary or None,
            ratings=[VulnerabilityRating(source=OSV, severity=_severity(advisory))],
            references=[VulnerabilityReference(id=alias, source=OSV) for alias in advisory.aliases],
            affects=[BomTarget(ref=ref) for ref in refs],
        )
        for advisory, refs in (found[key] for key in sorted(found))
    ]


def _severity(advisory: Advisory) -> VulnerabilitySeverity:
    return VulnerabilitySeverity(advisory.severity.value)
