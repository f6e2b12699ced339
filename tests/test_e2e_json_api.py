"""The legacy JSON API through a real pipgate over a ``FakeUpstream``: what pip-compile
``--generate-hashes`` downloads with it, and what the documents show of policy-filtered
pages (hidden files, denied projects, OSV advisories, names, versions, build labels).

Without the JSON API, pip-compile hashes every file of each pinned release by downloading
it; with it, the only artifact it needs is an sdist it must build to learn the
dependencies (a wheel's metadata comes from its PEP 658 ``.metadata`` file).
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name

from storage.base import FetchQuery
from tests.support.builders import build_sdist, build_wheel
from tests.support.clients import CLIENT_TIMEOUT, isolated_env
from tests.support.e2e import Answer, fetch_rows, http_get
from tests.support.fake_index import FakeFile
from tests.support.fake_upstream import FakeUpstream
from tests.support.gate import running_gate
from tests.support.osv import OSV_FIXTURES
from tests.support.pipgate_server import PipgateServer

CONFIG = f"""
[[policy]]
use = "files"
wheels_only = ["beta-pkg"]

[[policy]]
use = "denylist"
projects = ["alpha-pkg>=3", "evil-pkg"]

[[policy]]
use = "osv"
source = "{OSV_FIXTURES.as_posix()}"
vulnerable = false
refresh = 0
"""


PLATFORMS = ("cp39-cp39-win_amd64", "cp39-cp39-win32")


def platform_wheel(directory: Path, name: str, version: str, tag: str, requires: list[str]) -> Path:
    """A wheel listed under a platform tag (its content differs, so does its sha256)."""
    built = build_wheel(directory / tag, name, version, requires, files={"tag.txt": tag})
    return built.rename(built.with_name(built.name.replace("py3-none-any", tag)))


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeUpstream]:
    out = tmp_path_factory.mktemp("dists")
    with FakeUpstream() as up:
        deps = ["beta-pkg", "gamma-pkg", "delta-pkg"]
        for version in ("1.0", "2.0", "3.0"):
            up.add_file("alpha-pkg", build_wheel(out, "alpha-pkg", version, requires=deps))
            up.add_file("alpha-pkg", build_sdist(out, "alpha-pkg", version, requires=deps))
        # Wheels for platforms no test machine runs (CPython 3.9 on Windows): pip never
        # picks them, pip-compile hashes them all for a lock file that works everywhere.
        for platform in PLATFORMS:
            up.add_file("alpha-pkg", platform_wheel(out, "alpha-pkg", "2.0", platform, deps))
        for version in ("0.1", "0.2"):
            up.add_file("beta-pkg", build_wheel(out, "beta-pkg", version))
            up.add_file("beta-pkg", build_sdist(out, "beta-pkg", version))
        # sdist only: pip must download and build it to read its dependencies.
        up.add_file("gamma-pkg", build_sdist(out, "gamma-pkg", "1.0"))
        up.add_file("delta-pkg", build_wheel(out, "delta-pkg", "1.0", requires_python=">=3.8"))
        up.add_file("delta-pkg", build_wheel(out, "delta-pkg", "1.1"), yanked="broken")
        up.add_file("evil-pkg", build_wheel(out, "evil-pkg", "1.0"))
        for version in ("1.4.1", "1.4.2"):
            up.add_file("example-pkg", build_wheel(out, "example-pkg", version))
        yield up


@pytest.fixture(scope="module")
def gate(
    tmp_path_factory: pytest.TempPathFactory, upstream: FakeUpstream
) -> Iterator[PipgateServer]:
    with running_gate(tmp_path_factory.mktemp("gate"), upstream.url, CONFIG) as server:
        yield server


def document(answer: Answer) -> dict[str, Any]:
    assert answer.status == 200, answer
    assert answer.headers["Content-Type"] == "application/json"
    parsed: dict[str, Any] = json.loads(answer.body)
    return parsed


def filenames(files: list[dict[str, Any]]) -> set[str]:
    return {entry["filename"] for entry in files}


def listed(upstream: FakeUpstream, project: str) -> dict[str, FakeFile]:
    with upstream.index.lock:
        return dict(upstream.index.projects[canonicalize_name(project)].files)


# -- pip-compile --generate-hashes -----------------------------------------------------


def pip_compile(workdir: Path, index_url: str, *requirements: str) -> str:
    """``pip-compile --generate-hashes`` in the isolated client environment; its output."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "requirements.in").write_text("\n".join(requirements) + "\n")
    command = [
        sys.executable, "-m", "piptools", "compile", "--generate-hashes", "--no-config",
        "--no-header", "--no-emit-index-url", "--strip-extras", "--quiet",
        "--cache-dir", str(workdir / "pip-tools-cache"), "--index-url", index_url,
        "--output-file", str(workdir / "requirements.txt"), str(workdir / "requirements.in"),
    ]  # fmt: skip
    result = subprocess.run(
        command,
        cwd=workdir,
        env=isolated_env(workdir),
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return (workdir / "requirements.txt").read_text()


def pinned_hashes(lock: str) -> dict[str, tuple[str, set[str]]]:
    """``{name: (version, {sha256, ...})}`` from a ``--generate-hashes`` requirements file."""
    pins: dict[str, tuple[str, set[str]]] = {}
    current = ""
    for line in lock.splitlines():
        if match := re.match(r"([a-z0-9-]+)==(\S+)", line):
            current = match[1]
            pins[current] = (match[2], set())
        for digest in re.findall(r"--hash=sha256:([0-9a-f]{64})", line):
            pins[current][1].add(digest)
    return pins


@pytest.mark.clients
@pytest.mark.parametrize(
    ("prefix", "label"),
    [
        pytest.param("/simple/", None, id="index-url"),
        pytest.param("/builds/lock-1/simple", "lock-1", id="build-index-url-without-slash"),
    ],
)
def test_pip_compile__hashes_from_the_json_api_downloads_only_what_it_builds(
    tmp_path: Path,
    upstream: FakeUpstream,
    prefix: str,
    label: str | None,
) -> None:
    # A gate of its own: the artifact count must start from an empty cache.
    with running_gate(tmp_path / "gate", upstream.url, CONFIG) as server:
        upstream.clear_log()
        lock = pip_compile(tmp_path / "client", server.url + prefix, "Alpha_Pkg")
        fetched = [r.path for r in upstream.requests if r.path.startswith("/files/")]
        rows = fetch_rows(server, FetchQuery(build=label))

    artifacts = sorted(path for path in fetched if not path.endswith(".metadata"))
    assert artifacts == ["/files/gamma_pkg-1.0.tar.gz"], fetched
    pins = pinned_hashes(lock)
    assert {name: version for name, (version, _) in pins.items()} == {
        "alpha-pkg": "2.0",  # 3.0 is denied by a version specifier
        "beta-pkg": "0.2",
        "gamma-pkg": "1.0",
        "delta-pkg": "1.0",  # 1.1 is yanked
    }
    for name, (version, digests) in pins.items():
        files = [f for f in listed(upstream, name).values() if f.version == version]
        if name == "beta-pkg":  # wheels_only hides the sdist: it is no hash to trust either
            files = [f for f in files if f.filename.endswith(".whl")]
        assert digests == {f.sha256 for f in files}, name
    json_rows = [r for r in rows if r.kind == "json"]
    assert sorted(r.project or "" for r in json_rows) == sorted(pins)
    assert {r.status for r in json_rows} == {200}


# -- the documents -----------------------------------------------------------------------


def test_project_document__policy_filtered_with_working_urls(
    gate: PipgateServer, upstream: FakeUpstream
) -> None:
    alpha = document(http_get(f"{gate.url}/pypi/alpha-pkg/json"))
    assert list(alpha["releases"]) == ["1.0", "2.0"]  # alpha-pkg>=3 is denied
    assert alpha["info"]["version"] == "2.0"
    assert filenames(alpha["urls"]) == filenames(alpha["releases"]["2.0"])
    beta = document(http_get(f"{gate.url}/pypi/beta-pkg/json"))
    assert filenames(beta["releases"]["0.2"]) == {"beta_pkg-0.2-py3-none-any.whl"}
    real = listed(upstream, "alpha-pkg")
    for entry in alpha["urls"]:
        assert entry["url"] == f"{gate.url}/files/alpha-pkg/{entry['filename']}"
        body = http_get(entry["url"]).body
        assert hashlib.sha256(body).hexdigest() == entry["digests"]["sha256"]
        assert entry["digests"]["sha256"] == real[entry["filename"]].sha256
        assert entry["size"] == len(body)
        assert entry["upload_time_iso_8601"] == "2024-01-01T00:00:00.000000Z"
    delta = document(http_get(f"{gate.url}/pypi/delta-pkg/json"))
    assert delta["info"] | {"requires_python": ">=3.8"} == delta["info"]
    assert [e["yanked_reason"] for e in delta["releases"]["1.1"]] == ["broken"]


def test_hidden_release__404_like_a_release_that_never_was(gate: PipgateServer) -> None:
    for version in ("3.0", "9.9"):
        answer = http_get(f"{gate.url}/pypi/alpha-pkg/{version}/json")
        assert answer.status == 404, answer
        assert f"project 'alpha-pkg' has no release '{version}'" in answer.text


def test_denied_project__the_same_403_as_the_simple_page(gate: PipgateServer) -> None:
    page = http_get(f"{gate.url}/simple/evil-pkg/")
    for path in ("/pypi/evil-pkg/json", "/evil-pkg/json", "/pypi/evil-pkg/1.0/json"):
        answer = http_get(gate.url + path)
        assert (answer.status, answer.text) == (403, page.text), path
        assert answer.headers["X-Pipgate-Policy"].split(";")[0] == "denylist"


def test_unknown_project__404(gate: PipgateServer) -> None:
    assert http_get(f"{gate.url}/pypi/no-such-pkg/json").status == 404


def test_names_and_versions__redirect_to_the_canonical_url(gate: PipgateServer) -> None:
    cases = {
        "/pypi/Alpha_Pkg/json": "/pypi/alpha-pkg/json",
        "/simple/pypi/Alpha.Pkg/json": "/simple/pypi/alpha-pkg/json",
        "/Alpha_Pkg/json?x=1": "/alpha-pkg/json?x=1",
        "/pypi/Alpha_Pkg/2.0/json": "/pypi/alpha-pkg/2.0/json",
        "/pypi/alpha-pkg/2.0.0/json": "/pypi/alpha-pkg/2.0/json",
        "/builds/ci/pypi/ALPHA-PKG/json": "/builds/ci/pypi/alpha-pkg/json",
    }
    for path, target in cases.items():
        answer = http_get(gate.url + path)
        assert (answer.status, answer.headers["Location"]) == (301, target), path


def test_every_path_serves_the_same_document(gate: PipgateServer) -> None:
    bodies = {
        http_get(gate.url + path).body
        for path in ("/pypi/beta-pkg/json", "/simple/pypi/beta-pkg/json", "/beta-pkg/json")
    }
    assert len(bodies) == 1


def test_release_document__vulnerabilities_from_the_loaded_osv_data(gate: PipgateServer) -> None:
    vulnerable = document(http_get(f"{gate.url}/pypi/example-pkg/1.4.1/json"))
    assert "releases" not in vulnerable
    assert [(v["id"], v["aliases"], v["fixed_in"]) for v in vulnerable["vulnerabilities"]] == [
        ("PYSEC-2099-1", ["CVE-2099-0001"], ["1.4.2"])
    ]
    fixed = document(http_get(f"{gate.url}/pypi/example-pkg/1.4.2/json"))
    assert fixed["vulnerabilities"] == []
    assert document(http_get(f"{gate.url}/pypi/example-pkg/json"))["info"]["version"] == "1.4.2"


def test_build_label__file_urls_and_fetch_log_keep_it(gate: PipgateServer) -> None:
    answer = http_get(f"{gate.url}/builds/docs-7/pypi/beta-pkg/0.2/json")
    urls = [entry["url"] for entry in document(answer)["urls"]]
    assert urls == [f"{gate.url}/builds/docs-7/files/beta-pkg/beta_pkg-0.2-py3-none-any.whl"]
    http_get(f"{gate.url}/builds/docs-7/pypi/beta-pkg/7.0/json")
    rows = fetch_rows(gate, FetchQuery(build="docs-7"))
    assert [(r.kind, r.project, r.status) for r in rows] == [
        ("json", "beta-pkg", 200),
        ("json", "beta-pkg", 404),
    ]


def test_etag__revalidates_with_304(gate: PipgateServer) -> None:
    first = http_get(f"{gate.url}/pypi/beta-pkg/json")
    again = http_get(f"{gate.url}/pypi/beta-pkg/json", {"If-None-Match": first.headers["ETag"]})
    assert (again.status, again.body) == (304, b"")
