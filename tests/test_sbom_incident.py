"""SBOMs for incident response: CycloneDX lists the vulnerabilities known at export time,
SPDX meets the NTIA minimum elements (checked with ntia-conformance-checker), and an
export never imports the JSON-schema machinery that made it take seconds."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from ntia_conformance_checker import SbomChecker

from policies.osv_db import IndexBuilder, OsvIndex
from proxy.audit.impact import advisories_for_sbom
from proxy.cli import main
from proxy.sbom import build_cyclonedx, build_spdx
from tests.support.fetchlog_records import REPO, digest, fill_sqlite, make_record
from tests.support.osv_records import malicious, vulnerable, write_record

ROWS = [
    make_record("demo-1.0-py3-none-any.whl", build="ci-1"),
    make_record("demo-1.0.tar.gz", build="ci-1"),
    make_record("calm-2.0-py3-none-any.whl", build="ci-1"),
    make_record("idna-3.7.tar.gz", build="ci-1", version=None),
]
RECORDS = (
    {**vulnerable("PYSEC-2099-80", "demo", "0", "1.5"), "aliases": ["CVE-2099-8000"]},
    malicious("MAL-2099-80", "idna", sha256s=[digest("idna-3.7.tar.gz")]),
    vulnerable("PYSEC-2099-81", "calm", "3.0"),  # a later version only
)


def index() -> OsvIndex:
    builder = IndexBuilder()
    for record in RECORDS:
        builder.add(record)
    return builder.build()


def cyclonedx(**options: Any) -> dict[str, Any]:
    text = build_cyclonedx(ROWS, name="ci-1", **options)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text, all_errors=True) is None
    document: dict[str, Any] = json.loads(text)
    return document


def test_cyclonedx_lists_the_vulnerabilities_known_at_export() -> None:
    document = cyclonedx(advisories=advisories_for_sbom([index()]))
    refs = {
        c["name"] + "/" + c["purl"].rsplit("=", 1)[1]: c["bom-ref"] for c in document["components"]
    }

    vulnerabilities = {v["id"]: v for v in document["vulnerabilities"]}
    assert set(vulnerabilities) == {"MAL-2099-80", "PYSEC-2099-80"}
    demo = vulnerabilities["PYSEC-2099-80"]
    assert {a["ref"] for a in demo["affects"]} == {
        refs["demo/demo-1.0-py3-none-any.whl"],
        refs["demo/demo-1.0.tar.gz"],
    }
    assert demo["source"]["name"] == "OSV"
    assert demo["ratings"][0]["severity"] == "critical"
    assert demo["references"][0]["id"] == "CVE-2099-8000"
    assert [a["ref"] for a in vulnerabilities["MAL-2099-80"]["affects"]] == [
        refs["idna/idna-3.7.tar.gz"]
    ]


def test_cyclonedx_without_osv_data_has_no_vulnerabilities_section() -> None:
    assert "vulnerabilities" not in cyclonedx()
    assert "vulnerabilities" not in cyclonedx(advisories=advisories_for_sbom([]))


def test_cyclonedx_names_a_supplier_and_versions_the_root() -> None:
    document = cyclonedx()
    root = document["metadata"]["component"]
    assert root["name"] == "ci-1"
    assert root["version"]  # when its last file was fetched
    assert root["supplier"]["name"] == "pipgate"
    assert all(c["supplier"]["name"].startswith("package index") for c in document["components"])


def test_spdx_meets_the_ntia_minimum_elements(tmp_path: Path) -> None:
    path = tmp_path / "ci-1.spdx.json"
    path.write_text(build_spdx(ROWS, name="ci-1", namespace=f"https://sbom.invalid/{uuid.uuid4()}"))

    checker = SbomChecker(str(path))

    report = checker.output_json()
    assert report["parsingError"] == []
    assert checker.check_compliance(), report
    assert report["isNtiaConformant"]
    assert report["componentSuppliers"]["allProvided"]
    assert report["componentVersions"]["allProvided"]


EXPORT_SCRIPT = """
import sys
from proxy.cli import main
code = main(sys.argv[1:])
heavy = [m for m in ("jsonschema", "rfc3987_syntax", "cyclonedx.validation") if m in sys.modules]
other = "spdx_tools" if "cyclonedx" in sys.argv else "cyclonedx"
print(code, heavy, other in sys.modules)
"""


@pytest.mark.parametrize("fmt", ["cyclonedx", "spdx"])
def test_an_export_never_imports_the_schema_validators(fmt: str, tmp_path: Path) -> None:
    # Validating every export against the JSON schema took ~12 s for 100 components (its
    # iri-reference check parses each URL with an Earley parser, after a 4 s import).
    fill_sqlite(
        tmp_path, [make_record(f"p{i}-1.0-py3-none-any.whl", build="b") for i in range(100)]
    )
    out = tmp_path / "out.json"
    args = ["sbom", "--data-dir", str(tmp_path), "--build", "b", "--format", fmt, "-o", str(out)]
    result = subprocess.run(
        [sys.executable, "-c", EXPORT_SCRIPT, *args], cwd=REPO, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert result.stdout.strip() == "0 [] False", result.stderr
    assert (
        len(
            json.loads((tmp_path / "out.json").read_text())[
                "components" if fmt == "cyclonedx" else "packages"
            ]
        )
        >= 100
    )


def test_the_cli_adds_vulnerabilities_from_the_configured_osv_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    fill_sqlite(data, ROWS)
    for record in RECORDS:
        write_record(tmp_path / "osv", record)
    config = tmp_path / "pipgate.toml"
    config.write_text(
        f'[server]\ndata_dir = "{data}"\n[[policy]]\nuse = "osv"\nsource = "{tmp_path / "osv"}"\n'
    )
    args = ["sbom", "--config", str(config), "--build", "ci-1", "--format", "cyclonedx"]

    assert main(args) == 0
    found = {v["id"] for v in json.loads(capsys.readouterr().out)["vulnerabilities"]}
    assert found == {"MAL-2099-80", "PYSEC-2099-80"}
    assert main([*args, "--no-vulnerabilities"]) == 0
    assert "vulnerabilities" not in json.loads(capsys.readouterr().out)
