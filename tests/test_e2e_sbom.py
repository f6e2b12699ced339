"""Issue 5 end to end: the SBOM of a build lists exactly what pip installed for that build.

Two CI builds install overlapping dependency trees with real pip through their own
``/builds/<label>/simple/`` URLs into fresh venvs (the secure default policies active). The
``(name, version, sha256)`` set of pip's ``--report`` is then compared with the CycloneDX 1.6
and SPDX 2.3 SBOMs of that build, written by ``pipgate sbom`` and served by
``GET /-/sbom``; ``pipgate log --build`` shows that build's rows and no other's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name

from storage.base import FetchQuery
from tests.support.builders import build_sdist, build_wheel
from tests.support.clients import make_venv, pip_install
from tests.support.e2e import fetch_rows, gate_settings, http_get, production_trust_root
from tests.support.fake_upstream import FakeUpstream
from tests.support.fetchlog_records import REPO, clean_environ
from tests.support.pipgate_server import PipgateServer

pytestmark = pytest.mark.clients

Component = tuple[str, str, str]
"""(normalised name, version, sha256)"""


@dataclass(frozen=True)
class Build:
    label: str
    installed: frozenset[Component]
    """What pip's ``--report`` says it installed."""
    filenames: frozenset[str]


@dataclass(frozen=True)
class Installs:
    server: PipgateServer
    data_dir: Path
    first: Build
    second: Build


def publish(up: FakeUpstream, directory: Path) -> None:
    """A small tree: wheels with PEP 658 metadata, an sdist-only project, a newer release
    that pip picks over an older one, and a project only the second build uses."""
    wheels = [
        ("sbomdemo-app", "1.0", ["sbomdemo-lib>=1", "sbomdemo-util"]),
        ("sbomdemo-lib", "1.0", ["sbomdemo-core"]),
        ("sbomdemo-lib", "1.1", ["sbomdemo-core>=2"]),
        ("sbomdemo-core", "2.0", []),
        ("sbomdemo-cli", "3.0", ["sbomdemo-core"]),
    ]
    for name, version, requires in wheels:
        up.add_file(name, build_wheel(directory, name, version, requires))
    up.add_file("sbomdemo-util", build_sdist(directory, "sbomdemo-util", "0.5"))


def install(server: PipgateServer, workdir: Path, label: str, requirement: str) -> Build:
    """``pip install --report`` through the build's URL into a fresh venv."""
    venv = make_venv(workdir, name=f"venv-{label}")
    report = workdir / f"{label}.json"
    index = f"{server.url}/builds/{label}/simple/"
    result = pip_install(venv, index, requirement, extra=["--report", str(report)])
    assert result.returncode == 0, result.stdout + result.stderr
    entries = json.loads(report.read_text())["install"]
    installed = frozenset(
        (
            canonicalize_name(entry["metadata"]["name"]),
            entry["metadata"]["version"],
            entry["download_info"]["archive_info"]["hashes"]["sha256"],
        )
        for entry in entries
    )
    filenames = frozenset(entry["download_info"]["url"].rsplit("/", 1)[1] for entry in entries)
    return Build(label, installed, filenames)


@pytest.fixture(scope="module")
def installs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installs]:
    directory = tmp_path_factory.mktemp("sbom")
    trust_root = production_trust_root(directory / "sigstore")
    with FakeUpstream() as up:
        publish(up, directory / "dists")
        settings = gate_settings(directory, up.url, None, trust_root)
        with PipgateServer(settings) as server:
            first = install(server, directory, "ci-123", "sbomdemo-app")
            second = install(server, directory, "ci-456", "sbomdemo-cli")
            yield Installs(server, settings.data_dir, first, second)


def cyclonedx_components(document: dict[str, Any]) -> frozenset[Component]:
    assert document["bomFormat"] == "CycloneDX"
    assert document["specVersion"] == "1.6"
    found = set()
    for component in document.get("components", []):
        (digest,) = [h["content"] for h in component["hashes"] if h["alg"] == "SHA-256"]
        assert component["purl"].startswith(
            f"pkg:pypi/{component['name']}@{component['version']}?file_name="
        )
        found.add((component["name"], component["version"], digest))
    assert len(found) == len(document.get("components", [])), "a component is listed twice"
    return frozenset(found)


def spdx_packages(document: dict[str, Any]) -> frozenset[Component]:
    assert document["spdxVersion"] == "SPDX-2.3"
    relations = {
        (r["spdxElementId"], r["relationshipType"], r["relatedSpdxElement"])
        for r in document["relationships"]
    }
    ((_, _, root),) = [r for r in relations if r[:2] == ("SPDXRef-DOCUMENT", "DESCRIBES")]
    found = set()
    packages = [p for p in document["packages"] if p["SPDXID"] != root]
    assert {(root, "DEPENDS_ON", p["SPDXID"]) for p in packages} <= relations
    for package in packages:
        (digest,) = [c["checksumValue"] for c in package["checksums"] if c["algorithm"] == "SHA256"]
        found.add((package["name"], package["versionInfo"], digest))
    assert len(found) == len(packages), "a package is listed twice"
    return frozenset(found)


def pipgate(*args: str) -> subprocess.CompletedProcess[str]:
    """The ``pipgate`` command line (``python -m proxy``) in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "proxy", *args],
        cwd=REPO, env=clean_environ(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def cli_sbom(installs: Installs, label: str, fmt: str) -> dict[str, Any]:
    installs.server.call(installs.server.state.fetchlog.flush())
    result = pipgate(
        "sbom", "--data-dir", str(installs.data_dir), "--build", label, "--format", fmt
    )
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def http_sbom(installs: Installs, label: str, fmt: str) -> dict[str, Any]:
    answer = http_get(f"{installs.server.url}/-/sbom?build={label}&format={fmt}")
    assert answer.status == 200, answer
    document: dict[str, Any] = json.loads(answer.body)
    return document


def test_the_builds_install_what_the_tree_says(installs: Installs) -> None:
    """The premise of the comparisons below: pip resolved the trees as intended."""
    assert {(n, v) for n, v, _ in installs.first.installed} == {
        ("sbomdemo-app", "1.0"),
        ("sbomdemo-lib", "1.1"),
        ("sbomdemo-core", "2.0"),
        ("sbomdemo-util", "0.5"),
    }
    assert {(n, v) for n, v, _ in installs.second.installed} == {
        ("sbomdemo-cli", "3.0"),
        ("sbomdemo-core", "2.0"),
    }


def test_cli_cyclonedx_sbom_lists_exactly_what_each_build_installed(installs: Installs) -> None:
    for build in (installs.first, installs.second):
        assert cyclonedx_components(cli_sbom(installs, build.label, "cyclonedx")) == build.installed


def test_cli_spdx_sbom_to_a_file_lists_exactly_what_the_build_installed(
    installs: Installs, tmp_path: Path
) -> None:
    installs.server.call(installs.server.state.fetchlog.flush())
    target = tmp_path / "ci-123.spdx.json"
    result = pipgate(
        "sbom", "--data-dir", str(installs.data_dir), "--build", "ci-123",
        "--format", "spdx", "-o", str(target),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"wrote {len(installs.first.installed)} component(s)" in result.stderr
    assert spdx_packages(json.loads(target.read_text())) == installs.first.installed


def test_http_sboms_list_exactly_what_each_build_installed(installs: Installs) -> None:
    for build in (installs.first, installs.second):
        assert cyclonedx_components(http_sbom(installs, build.label, "cyclonedx")) == (
            build.installed
        )
        assert spdx_packages(http_sbom(installs, build.label, "spdx")) == build.installed


def test_a_second_build_does_not_leak_into_the_first(installs: Installs) -> None:
    first = {n for n, _, _ in cyclonedx_components(http_sbom(installs, "ci-123", "cyclonedx"))}
    second = {n for n, _, _ in cyclonedx_components(http_sbom(installs, "ci-456", "cyclonedx"))}
    assert "sbomdemo-cli" not in first
    assert not second & {"sbomdemo-app", "sbomdemo-lib", "sbomdemo-util"}
    # A dependency both builds fetched is in both: the second got it from the cache.
    assert "sbomdemo-core" in first & second
    assert cyclonedx_components(http_sbom(installs, "ci-999", "cyclonedx")) == frozenset()


def test_pipgate_log_shows_the_rows_of_the_build(installs: Installs) -> None:
    installs.server.call(installs.server.state.fetchlog.flush())
    result = pipgate(
        "log", "--data-dir", str(installs.data_dir), "--build", "ci-123", "--json", "--limit", "0"
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert {row["build"] for row in rows} == {"ci-123"}
    dists = [row for row in rows if row["kind"] == "dist"]
    assert {row["filename"] for row in dists} == installs.first.filenames
    assert {(row["project"], row["version"], row["sha256"]) for row in dists} == (
        installs.first.installed
    )
    assert all(row["status"] == 200 and row["attestation"] == "absent" for row in dists)
    pages = {row["project"] for row in rows if row["kind"] == "page"}
    assert pages == {name for name, _, _ in installs.first.installed}
    assert len(rows) == len(fetch_rows(installs.server, FetchQuery(build="ci-123")))
    table = pipgate("log", "--data-dir", str(installs.data_dir), "--build", "ci-123")
    assert table.returncode == 0, table.stderr
    header, *lines = table.stdout.splitlines()
    assert header.split()[:4] == ["TIME", "CLIENT", "USER", "BUILD"]
    assert len(lines) == len(rows)
    assert all(filename in table.stdout for filename in installs.first.filenames)
