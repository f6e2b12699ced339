"""Issue 4 end to end: PEP 740 provenance verified on the proxy path, through real pip runs.

A running pipgate sits in front of a ``FakeUpstream`` that serves the real attested
distributions of ``tests/fixtures/attestations`` with their provenance (PEP 691
``provenance``, HTML ``data-provenance``, the Integrity API path). pip fetches through
pipgate: sdists with ``pip download`` (pip prepares their metadata, see ``tests.support.e2e``),
wheels with ``pip install``. A refusal is a 403 that pip reports for the file's URL; its
body, read with a direct GET, carries the verifier's or the policy's reason.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.attestations import (
    ACTIONS_ATTEST,
    ACTIONS_ATTEST_DIST,
    CIRCLECI_DIST,
    CIRCLECI_PUBLISHER,
    FIXTURES,
    GITHUB_DIST,
    GITHUB_PUBLISHER,
    GOOGLE_DIST,
    STAGING_DIST,
    read,
    sha256,
    tampered,
    wrap,
)
from tests.support.builders import build_sdist
from tests.support.clients import make_venv, pip_install, run_in_venv
from tests.support.e2e import (
    build_index,
    dist_rows,
    gate_settings,
    http_get,
    never_fetched,
    output,
    pip_download,
    production_trust_root,
    refused,
)
from tests.support.fake_upstream import FakeUpstream
from tests.support.pipgate_server import PipgateServer

pytestmark = pytest.mark.clients

EXAMPLE_CONFIG = """\
[[policy]]
use = "attestations"
require = ["rfc8785", "pypi-attestations"]
publishers = { "pypi-attestations" = "github:trailofbits/pypi-attestations" }
"""
CONTINUITY_CONFIG = '[[policy]]\nuse = "attestations"\ncontinuity = true\n'
GENUINE = read(f"{GITHUB_DIST}.provenance")
OTHER_PUBLISHER = wrap(ACTIONS_ATTEST, f"{ACTIONS_ATTEST_DIST}.attestation")
UNATTESTED_DIST = "pypi_attestations-0.0.20.tar.gz"
JSON_PAGE = "application/vnd.pypi.simple.v1+json"

Gate = Callable[[str], PipgateServer]


@pytest.fixture(scope="module")
def trust_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return production_trust_root(tmp_path_factory.mktemp("sigstore"))


# -- the example configuration, shared by the tests that need nothing else ---------


@pytest.fixture(scope="module")
def example(
    tmp_path_factory: pytest.TempPathFactory, trust_root: Path
) -> Iterator[tuple[FakeUpstream, PipgateServer]]:
    """The example config as written, in front of an index that lists, besides the genuine
    files, an unattested newer release, a tampered file and another file's provenance."""
    directory = tmp_path_factory.mktemp("example")
    with FakeUpstream() as up:
        up.add_file("pypi-attestations", FIXTURES / GITHUB_DIST, provenance_bytes=GENUINE)
        up.add_file("pypi-attestations", build_sdist(directory, "pypi-attestations", "0.0.20"))
        up.add_file("rfc8785", FIXTURES / STAGING_DIST)
        circleci = read(f"{CIRCLECI_DIST}.provenance")
        up.add_file(
            "circleci-sign-publish-example", FIXTURES / CIRCLECI_DIST, provenance_bytes=circleci
        )
        # A compromised mirror: one flipped byte, and the index lists the tampered bytes' hash.
        forged = directory / "mirror" / GOOGLE_DIST
        forged.parent.mkdir()
        forged.write_bytes(tampered(read(GOOGLE_DIST)))
        genuine_google = read(f"{GOOGLE_DIST}.provenance")
        up.add_file("gcb-attestation-test", forged, provenance_bytes=genuine_google)
        # A valid provenance object, but of another file.
        up.add_file(
            "pypi-attestation-models", FIXTURES / ACTIONS_ATTEST_DIST, provenance_bytes=GENUINE
        )
        settings = gate_settings(directory, up.url, EXAMPLE_CONFIG, trust_root)
        with PipgateServer(settings) as server:
            yield up, server


def refusal(
    server: PipgateServer,
    label: str,
    project: str,
    filename: str,
    result: subprocess.CompletedProcess[str],
) -> str:
    """pip failed on the attestations policy's 403 for the file: the reason it gave."""
    assert result.returncode != 0, output(result)
    return refused(server, "attestations", label, project, filename, output(result))


def test_genuine_sdist_verifies_and_downloads(
    example: tuple[FakeUpstream, PipgateServer], tmp_path: Path
) -> None:
    _, server = example
    result = pip_download(
        tmp_path, build_index(server, "genuine-sdist"), "pypi-attestations==0.0.19"
    )
    assert result.returncode == 0, output(result)
    assert "Successfully downloaded pypi-attestations" in result.stdout
    assert (tmp_path / "downloads" / GITHUB_DIST).read_bytes() == read(GITHUB_DIST)
    (row,) = dist_rows(server, "genuine-sdist")
    assert (row.filename, row.status, row.sha256) == (GITHUB_DIST, 200, sha256(read(GITHUB_DIST)))
    assert row.attestation == f"verified:{GITHUB_PUBLISHER}"


def test_genuine_wheel_verifies_and_installs(
    example: tuple[FakeUpstream, PipgateServer], tmp_path: Path
) -> None:
    _, server = example
    venv = make_venv(tmp_path)
    index = build_index(server, "genuine-wheel")
    result = pip_install(venv, index, "circleci-sign-publish-example", extra=["--no-deps"])
    assert result.returncode == 0, output(result)
    assert run_in_venv(venv, "-c", "import circleci_sign_publish_example").returncode == 0
    (row,) = dist_rows(server, "genuine-wheel")
    assert (row.filename, row.status) == (CIRCLECI_DIST, 200)
    assert row.attestation == f"verified:{CIRCLECI_PUBLISHER}"


def test_tampered_file_with_a_matching_index_hash_is_refused(
    example: tuple[FakeUpstream, PipgateServer], tmp_path: Path
) -> None:
    up, server = example
    forged = sha256(tampered(read(GOOGLE_DIST)))
    page = json.loads(http_get(up.page_url("gcb-attestation-test"), {"Accept": JSON_PAGE}).body)
    assert page["files"][0]["hashes"] == {"sha256": forged}, "the mirror must list its own hash"
    result = pip_download(tmp_path, build_index(server, "tampered"), "gcb-attestation-test")
    reason = refusal(server, "tampered", "gcb-attestation-test", GOOGLE_DIST, result)
    assert reason.startswith(
        f"provenance of {GOOGLE_DIST} does not verify: subject does not match distribution "
        f"digest: attested sha256 {sha256(read(GOOGLE_DIST))}, file sha256 {forged}"
    )
    never_fetched(up, GOOGLE_DIST)
    assert not (tmp_path / "downloads" / GOOGLE_DIST).exists()


def test_provenance_of_another_file_is_refused(
    example: tuple[FakeUpstream, PipgateServer], tmp_path: Path
) -> None:
    up, server = example
    result = pip_download(tmp_path, build_index(server, "other-file"), "pypi-attestation-models")
    reason = refusal(server, "other-file", "pypi-attestation-models", ACTIONS_ATTEST_DIST, result)
    assert reason.startswith(
        f"provenance of {ACTIONS_ATTEST_DIST} does not verify: subject does not match "
        f"distribution name: {GITHUB_DIST} != {ACTIONS_ATTEST_DIST}"
    )
    never_fetched(up, ACTIONS_ATTEST_DIST)


@pytest.mark.parametrize(
    ("project", "filename", "expected"),
    [
        pytest.param(
            "rfc8785",
            STAGING_DIST,
            f"{STAGING_DIST} has no provenance, but project 'rfc8785' must carry verifying "
            f"PEP 740 provenance (require = ['rfc8785'])",
            id="required",
        ),
        pytest.param(
            "pypi-attestations",
            UNATTESTED_DIST,
            f"{UNATTESTED_DIST} has no provenance, but project 'pypi-attestations' is pinned "
            f"to publisher github:trailofbits/pypi-attestations and every file must be "
            f"attested by it",
            id="pinned",
        ),
    ],
)
def test_missing_required_provenance_is_refused(
    example: tuple[FakeUpstream, PipgateServer],
    tmp_path: Path,
    project: str,
    filename: str,
    expected: str,
) -> None:
    up, server = example
    label = f"missing-{project}"
    index = build_index(server, label)
    if filename.endswith(".whl"):
        result = pip_install(make_venv(tmp_path), index, project, extra=["--no-deps"])
    else:
        result = pip_download(tmp_path, index, project)
    assert refusal(server, label, project, filename, result) == expected
    never_fetched(up, filename)


def test_served_pages_keep_provenance_available(
    example: tuple[FakeUpstream, PipgateServer],
) -> None:
    _, server = example
    base = f"{server.url}/builds/pages/"
    page = http_get(f"{base}simple/pypi-attestations/", {"Accept": JSON_PAGE})
    assert page.headers["Content-Type"] == JSON_PAGE
    document = json.loads(page.body)
    # PEP 740 defines "provenance" from api-version 1.3 on.
    assert tuple(int(n) for n in document["meta"]["api-version"].split(".")) >= (1, 3)
    files = {f["filename"]: f for f in document["files"]}
    provenance_url = f"{base}files/pypi-attestations/{GITHUB_DIST}.provenance"
    assert files[GITHUB_DIST]["provenance"] == provenance_url
    assert files[UNATTESTED_DIST]["provenance"] is None
    served = http_get(provenance_url)
    assert served.status == 200
    assert served.headers["Content-Type"] == "application/vnd.pypi.integrity.v1+json"
    assert served.body == GENUINE, "the provenance object must be the upstream's, byte for byte"
    html = http_get(f"{base}simple/pypi-attestations/", {"Accept": "text/html"}).text
    assert re.search(rf'data-provenance="{re.escape(provenance_url)}"[^>]*>{GITHUB_DIST}<', html)
    assert not re.search(rf"data-provenance=[^>]*>{re.escape(UNATTESTED_DIST)}<", html)


# -- configurations of their own ----------------------------------------------------------


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as up:
        yield up


@pytest.fixture
def gate(tmp_path: Path, upstream: FakeUpstream, trust_root: Path) -> Iterator[Gate]:
    """Start pipgate with a config; starting it again reuses its data directory."""
    servers: list[PipgateServer] = []

    def start(config: str) -> PipgateServer:
        if servers:
            servers.pop().__exit__(None, None, None)
        server = PipgateServer(gate_settings(tmp_path, upstream.url, config, trust_root))
        servers.append(server.__enter__())
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def test_a_wrong_pinned_publisher_is_refused(
    upstream: FakeUpstream, gate: Gate, tmp_path: Path
) -> None:
    upstream.add_file("pypi-attestations", FIXTURES / GITHUB_DIST, provenance_bytes=GENUINE)
    pin = "github:trailofbits/pypi-attestations@publish.yml"
    server = gate(
        f'[[policy]]\nuse = "attestations"\npublishers = {{ "pypi-attestations" = "{pin}" }}\n'
    )
    result = pip_download(tmp_path, build_index(server, "pin"), "pypi-attestations")
    assert refusal(server, "pin", "pypi-attestations", GITHUB_DIST, result) == (
        f"{GITHUB_DIST} was published by {GITHUB_PUBLISHER}, but project 'pypi-attestations' "
        f"is pinned to publisher {pin}"
    )


def test_in_audit_mode_a_failed_verification_is_served_and_logged_with_its_reason(
    upstream: FakeUpstream, gate: Gate, tmp_path: Path
) -> None:
    forged = tmp_path / "mirror" / GITHUB_DIST
    forged.parent.mkdir()
    forged.write_bytes(tampered(read(GITHUB_DIST)))
    upstream.add_file("pypi-attestations", forged, provenance_bytes=GENUINE)
    server = gate('[[policy]]\nuse = "attestations"\nmode = "audit"\n')
    url = f"{server.url}/builds/audit/files/pypi-attestations/{GITHUB_DIST}"
    assert http_get(url).body == forged.read_bytes()
    (row,) = dist_rows(server, "audit")
    digest_mismatch = "subject does not match distribution digest"
    assert row.attestation is not None
    assert row.attestation.startswith(f"failed:{digest_mismatch}: attested sha256 ")
    (verdict,) = row.verdicts
    assert verdict["policy"] == "attestations"
    assert (verdict["decision"], verdict.get("mode")) == ("deny", "audit")
    assert digest_mismatch in verdict["reason"]


def test_a_publisher_change_is_refused_after_first_use(
    upstream: FakeUpstream, gate: Gate, tmp_path: Path
) -> None:
    upstream.add_file("pypi-attestations", FIXTURES / GITHUB_DIST, provenance_bytes=GENUINE)
    # Listed on the same project, validly signed, but by another repository's workflow.
    upstream.add_file(
        "pypi-attestations", FIXTURES / ACTIONS_ATTEST_DIST, provenance_bytes=OTHER_PUBLISHER
    )
    server = gate(CONTINUITY_CONFIG)
    index = build_index(server, "tofu")
    first = pip_download(tmp_path / "first", index, "pypi-attestations==0.0.19")
    assert first.returncode == 0, output(first)
    changed = f"{server.url}/builds/tofu/files/pypi-attestations/{ACTIONS_ATTEST_DIST}"
    result = pip_download(tmp_path / "changed", index, changed)
    expected = (
        f"publisher changed: {ACTIONS_ATTEST_DIST} is published by "
        f"github:trailofbits/pypi-attestation-models@release.yml, but 'pypi-attestations' was "
        f"first seen published by {GITHUB_PUBLISHER} (on {GITHUB_DIST}); pin the new "
        f"publisher in 'publishers' if the change is genuine"
    )
    reason = refusal(server, "tofu", "pypi-attestations", ACTIONS_ATTEST_DIST, result)
    assert reason == expected
    # The first use is persisted: a restarted pipgate still refuses, and still serves.
    files = f"{gate(CONTINUITY_CONFIG).url}/files/pypi-attestations/"
    again = http_get(files + ACTIONS_ATTEST_DIST)
    first_line = again.text.splitlines()[0]
    assert (again.status, first_line.split(": ", 1)[1]) == (403, expected)
    assert http_get(files + GITHUB_DIST).body == read(GITHUB_DIST)


def test_an_attestation_downgrade_is_refused(
    upstream: FakeUpstream, gate: Gate, tmp_path: Path
) -> None:
    upstream.add_file("pypi-attestations", FIXTURES / GITHUB_DIST, provenance_bytes=GENUINE)
    for version in ("0.0.18", "0.0.20"):
        sdist = build_sdist(tmp_path / "dist", "pypi-attestations", version)
        upstream.add_file("pypi-attestations", sdist)
    server = gate(CONTINUITY_CONFIG)
    files = f"{server.url}/files/pypi-attestations/"
    # Before any attested release was seen there is nothing to downgrade from.
    before = http_get(files + UNATTESTED_DIST)
    assert before.body == (tmp_path / "dist" / UNATTESTED_DIST).read_bytes(), before
    index = build_index(server, "downgrade")
    first = pip_download(tmp_path / "first", index, "pypi-attestations==0.0.19")
    assert first.returncode == 0, output(first)
    result = pip_download(tmp_path / "latest", index, "pypi-attestations")
    assert refusal(server, "downgrade", "pypi-attestations", UNATTESTED_DIST, result) == (
        f"attestation downgrade: {UNATTESTED_DIST} has no provenance, but 'pypi-attestations' "
        f"releases since 0.0.19 were published with provenance by {GITHUB_PUBLISHER} (first "
        f"seen on {GITHUB_DIST})"
    )
    # A release older than the first attested one predates attestations: still served.
    assert http_get(files + "pypi_attestations-0.0.18.tar.gz").status == 200
