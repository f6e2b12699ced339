"""CycloneDX 1.6 and SPDX 2.3 SBOMs built from fetch-log rows: valid, exact, deterministic."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from proxy.sbom import SbomError, build_cyclonedx, build_spdx, select_artifacts
from storage.base import FetchRecord
from tests.support.fetchlog_records import T0, digest, make_record

PUBLISHER = "github:acme/zope.interface/.github/workflows/release.yml"


def _records() -> list[FetchRecord]:
    later = T0 + dt.timedelta(minutes=5)
    wheel = make_record(
        "zope.interface-6.0-cp311-cp311-manylinux_2_17_x86_64.whl",
        project="Zope.Interface",
        url="http://127.0.0.1:8080/packages/zope.interface-6.0-cp311-cp311-manylinux_2_17_x86_64.whl",
    )
    return [
        wheel,
        dataclasses.replace(wheel, time=later, attestation=f"verified:{PUBLISHER}"),  # same file
        make_record("requests-2.32.3-py3-none-any.whl"),
        make_record("pydantic-2.0-py3-none-any.whl", status=206),  # a range probe, not a download
        make_record("idna-3.7.tar.gz", version=None),  # version from the filename
        make_record("urllib3-2.2.2.tar.gz", status=404),
        make_record("certifi-2024.7.4.tar.gz", kind="metadata"),
        make_record("charset_normalizer-3.3.2.tar.gz", status=403),
        make_record("broken-1.0.tar.gz", sha256=None),
        make_record("demo-1.0.tar.gz", url=None, attestation="failed: no provenance"),
    ]


# (name, version, purl, sha256) per component, in SBOM order.
EXPECTED = [
    ("demo", "1.0", "pkg:pypi/demo@1.0?file_name=demo-1.0.tar.gz", digest("demo-1.0.tar.gz")),
    ("idna", "3.7", "pkg:pypi/idna@3.7?file_name=idna-3.7.tar.gz", digest("idna-3.7.tar.gz")),
    (
        "requests",
        "2.32.3",
        "pkg:pypi/requests@2.32.3?file_name=requests-2.32.3-py3-none-any.whl",
        digest("requests-2.32.3-py3-none-any.whl"),
    ),
    (
        "zope-interface",
        "6.0",
        "pkg:pypi/zope-interface@6.0?file_name=zope.interface-6.0-cp311-cp311-manylinux_2_17_x86_64.whl",
        digest("zope.interface-6.0-cp311-cp311-manylinux_2_17_x86_64.whl"),
    ),
]


def _cyclonedx(records: list[FetchRecord], name: str = "build-1") -> dict[str, Any]:
    text = build_cyclonedx(records, name=name)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    document: dict[str, Any] = json.loads(text)
    return document


def _spdx(records: list[FetchRecord], tmp_path: Path, name: str = "build-1") -> dict[str, Any]:
    text = build_spdx(records, name=name, namespace=f"https://sbom.example.org/{uuid.uuid4()}")
    path = tmp_path / f"{uuid.uuid4()}.spdx.json"
    path.write_text(text)
    assert validate_full_spdx_document(parse_file(str(path))) == []  # parsed back, re-validated
    document: dict[str, Any] = json.loads(text)
    return document


def test_cyclonedx_lists_exactly_the_served_files() -> None:
    bom = _cyclonedx(_records())
    assert bom["specVersion"] == "1.6"
    assert bom["metadata"]["component"]["name"] == "build-1"
    components = [
        (c["name"], c["version"], c["purl"], c["hashes"][0]["content"]) for c in bom["components"]
    ]
    assert components == EXPECTED
    assert all(c["hashes"][0]["alg"] == "SHA-256" for c in bom["components"])
    (root_dependencies,) = [d for d in bom["dependencies"] if d["ref"] == "pipgate-slice"]
    assert sorted(root_dependencies["dependsOn"]) == sorted(c["bom-ref"] for c in bom["components"])


def test_cyclonedx_carries_download_url_and_verified_publisher() -> None:
    by_name = {c["name"]: c for c in _cyclonedx(_records())["components"]}
    zope = by_name["zope-interface"]
    assert zope["externalReferences"] == [
        {
            "type": "distribution",
            "url": "http://127.0.0.1:8080/packages/zope.interface-6.0-cp311-cp311-manylinux_2_17_x86_64.whl",
            "hashes": [{"alg": "SHA-256", "content": EXPECTED[3][3]}],
        }
    ]
    assert zope["properties"] == [{"name": "pipgate:attestation:publisher", "value": PUBLISHER}]
    assert "properties" not in by_name["demo"]  # a failed attestation names no publisher
    assert "externalReferences" not in by_name["demo"]


def test_spdx_lists_exactly_the_served_files(tmp_path: Path) -> None:
    document = _spdx(_records(), tmp_path)
    assert document["spdxVersion"] == "SPDX-2.3"
    root, *packages = document["packages"]
    assert (root["SPDXID"], root["name"]) == ("SPDXRef-Slice", "build-1")
    found = [
        (
            p["name"],
            p["versionInfo"],
            p["externalRefs"][0]["referenceLocator"],
            p["checksums"][0]["checksumValue"],
        )
        for p in packages
    ]
    assert found == EXPECTED
    depends = {
        r["relatedSpdxElement"]
        for r in document["relationships"]
        if r["relationshipType"] == "DEPENDS_ON"
    }
    assert depends == {p["SPDXID"] for p in packages}


def test_spdx_keeps_loopback_urls_out_of_download_location(tmp_path: Path) -> None:
    packages = {p["name"]: p for p in _spdx(_records(), tmp_path)["packages"]}
    zope = packages["zope-interface"]
    assert zope["downloadLocation"] == "NOASSERTION"
    assert "downloaded from http://127.0.0.1:8080/packages/zope.interface-6.0" in zope["comment"]
    assert f"publisher: {PUBLISHER}" in zope["comment"]
    assert (
        packages["idna"]["downloadLocation"] == "https://files.example.org/packages/idna-3.7.tar.gz"
    )
    assert packages["idna"]["packageFileName"] == "idna-3.7.tar.gz"


def test_same_filename_with_different_bytes_is_two_components() -> None:
    first = make_record("demo-1.0.tar.gz")
    other = dataclasses.replace(first, sha256=digest("rebuilt"), time=T0 + dt.timedelta(hours=1))
    components = _cyclonedx([first, other, first])["components"]
    hashes = sorted(c["hashes"][0]["content"] for c in components)
    assert hashes == sorted([digest("demo-1.0.tar.gz"), digest("rebuilt")])
    assert len({c["bom-ref"] for c in components}) == 2


def test_the_order_of_the_log_does_not_change_the_sbom(tmp_path: Path) -> None:
    records = _records()
    shuffled = random.Random(7).sample(records, len(records))
    assert select_artifacts(records) == select_artifacts(shuffled)
    serial = uuid.uuid4()
    assert build_cyclonedx(
        records, name="b", serial_number=serial, timestamp=T0
    ) == build_cyclonedx(shuffled, name="b", serial_number=serial, timestamp=T0)
    namespace = "https://sbom.example.org/fixed"
    assert build_spdx(records, name="b", namespace=namespace, created=T0) == build_spdx(
        shuffled, name="b", namespace=namespace, created=T0
    )


def test_an_empty_slice_is_a_valid_empty_sbom(tmp_path: Path) -> None:
    assert _cyclonedx([], name="nothing").get("components", []) == []
    assert [p["SPDXID"] for p in _spdx([], tmp_path, name="nothing")["packages"]] == [
        "SPDXRef-Slice"
    ]


@pytest.mark.parametrize(
    "build",
    [
        lambda records: build_cyclonedx(records, name="b"),
        lambda records: build_spdx(records, name="b", namespace="https://sbom.example.org/x"),
    ],
    ids=["cyclonedx", "spdx"],
)
def test_an_invalid_document_is_refused(build: Callable[[list[FetchRecord]], str]) -> None:
    with pytest.raises(SbomError, match="is invalid"):
        build([make_record("demo-1.0.tar.gz", sha256="not-a-sha256")])
