"""``pipgate lock --build`` and ``GET /-/lock``: a build installs a small tree with pip;
its ``pylock.toml`` then installs, with uv, exactly the files the build fetched, and only
through pipgate (the upstream sees no new file request)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.pylock import Pylock

from storage.base import FetchQuery
from tests.support.attestations import FIXTURES, GITHUB_DIST, GITHUB_PUBLISHER, read
from tests.support.builders import build_wheel
from tests.support.clients import make_venv, pip_install, uv_install
from tests.support.e2e import (
    build_index,
    dist_rows,
    fetch_rows,
    gate_settings,
    http_get,
    output,
    pip_download,
    production_trust_root,
)
from tests.support.fake_upstream import FakeUpstream
from tests.support.fetchlog_records import REPO, clean_environ
from tests.support.pipgate_server import PipgateServer

pytestmark = pytest.mark.clients

UPLOADED = dt.datetime(2099, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
GENUINE = read(f"{GITHUB_DIST}.provenance")


@dataclass(frozen=True)
class Build:
    server: PipgateServer
    up: FakeUpstream
    data_dir: Path
    installed: frozenset[tuple[str, str, str]]
    """(name, version, sha256) from pip's ``--report``."""


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Build]:
    home = tmp_path_factory.mktemp("pylock")
    trust_root = production_trust_root(home / "sigstore")
    with FakeUpstream() as up:
        for name, version, requires in [
            ("lockdemo-app", "1.0", ["lockdemo-lib>=1"]),
            ("lockdemo-lib", "1.0", []),
            ("lockdemo-lib", "1.1", []),
            ("lockdemo-extra", "0.1", []),
        ]:
            wheel = build_wheel(home / "dists", name, version, requires)
            up.add_file(name, wheel, upload_time=UPLOADED)
        settings = gate_settings(home, up.url, None, trust_root)
        with PipgateServer(settings) as server:
            venv = make_venv(home, name="venv-ci")
            report = home / "report.json"
            index = f"{server.url}/builds/ci-lock/simple/"
            result = pip_install(venv, index, "lockdemo-app", extra=["--report", str(report)])
            assert result.returncode == 0, result.stdout + result.stderr
            installed = frozenset(
                (
                    entry["metadata"]["name"],
                    entry["metadata"]["version"],
                    entry["download_info"]["archive_info"]["hashes"]["sha256"],
                )
                for entry in json.loads(report.read_text())["install"]
            )
            yield Build(server, up, settings.data_dir, installed)


def cli_lock(build: Build, *args: str) -> subprocess.CompletedProcess[str]:
    build.server.call(build.server.state.fetchlog.flush())
    return subprocess.run(
        [sys.executable, "-m", "proxy", "lock", "--data-dir", str(build.data_dir), *args],
        cwd=REPO, env=clean_environ(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_the_cli_and_the_endpoint_write_the_same_valid_lock(build: Build) -> None:
    result = cli_lock(build, "--build", "ci-lock", "--url", build.server.url)
    assert result.returncode == 0, result.stderr
    answer = http_get(f"{build.server.url}/-/lock?build=ci-lock")
    assert answer.status == 200, answer
    assert answer.headers["Content-Type"].startswith("application/toml")
    assert answer.text == result.stdout

    locked = Pylock.from_dict(tomllib.loads(answer.text))
    found = {
        (p.name, str(p.version), w.hashes["sha256"])
        for p in locked.packages
        for w in p.wheels or ()
    }
    assert found == build.installed
    for package in locked.packages:
        assert package.index == f"{build.server.url}/simple/"
        for wheel in package.wheels or ():
            assert wheel.url == f"{build.server.url}/files/{package.name}/{wheel.name}"
            assert wheel.upload_time == UPLOADED
            assert wheel.size is not None
            assert wheel.size > 0


def test_uv_installs_exactly_the_build_s_files_from_the_lock(build: Build, tmp_path: Path) -> None:
    lock = tmp_path / "pylock.toml"
    result = cli_lock(build, "--build", "ci-lock", "--url", build.server.url, "-o", str(lock))
    assert result.returncode == 0, result.stderr
    upstream_files = sum(build.up.hits(f"/files/{n}") for n in _filenames(lock))
    before = len(fetch_rows(build.server, FetchQuery(kinds=("dist",))))

    venv = make_venv(tmp_path, name="venv-replay")
    # The index URL is a decoy: a lock names its files' URLs, so none of it may be used.
    outcome = uv_install(venv, "http://127.0.0.1:9/simple/", extra=["-r", str(lock)])

    assert outcome.returncode == 0, outcome.stdout + outcome.stderr
    replayed = fetch_rows(build.server, FetchQuery(kinds=("dist",)))[before:]
    assert {(r.project, r.version, r.sha256) for r in replayed} == build.installed
    assert all(r.status == 200 and r.build is None for r in replayed)
    assert sum(build.up.hits(f"/files/{n}") for n in _filenames(lock)) == upstream_files


def test_unknown_builds_and_missing_labels_are_clear_errors(build: Build) -> None:
    assert http_get(f"{build.server.url}/-/lock").status == 400
    missing = http_get(f"{build.server.url}/-/lock?build=ci-none")
    assert missing.status == 404
    assert "build 'ci-none' fetched no distribution file" in missing.text
    result = cli_lock(build, "--build", "ci-none")
    assert result.returncode == 1
    assert "fetched no distribution file" in result.stderr


def _filenames(lock: Path) -> list[str]:
    document = tomllib.loads(lock.read_text())
    return [w["name"] for p in document["packages"] for w in p.get("wheels", [])]


def test_a_verified_attestation_becomes_the_package_s_attestation_identity(
    tmp_path: Path,
) -> None:
    trust_root = production_trust_root(tmp_path / "sigstore")
    with FakeUpstream() as up:
        up.add_file("pypi-attestations", FIXTURES / GITHUB_DIST, provenance_bytes=GENUINE)
        settings = gate_settings(tmp_path, up.url, None, trust_root)
        with PipgateServer(settings) as server:
            fetched = pip_download(tmp_path, build_index(server, "ci-attest"), "pypi-attestations")
            assert fetched.returncode == 0, output(fetched)
            (row,) = dist_rows(server, "ci-attest")
            assert row.attestation == f"verified:{GITHUB_PUBLISHER}"

            answer = http_get(f"{server.url}/-/lock?build=ci-attest")

    assert answer.status == 200, answer
    (package,) = Pylock.from_dict(tomllib.loads(answer.text)).packages
    assert package.sdist is not None
    assert package.sdist.name == GITHUB_DIST
    assert package.attestation_identities == [
        {"kind": "GitHub", "repository": "trailofbits/pypi-attestations", "workflow": "release.yml"}
    ]
