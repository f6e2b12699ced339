"""``auth = "required"`` through real clients on loopback: pip (URL credentials and
``.netrc``), uv (URL credentials) and pip-compile are refused without credentials, served
with a token made by ``pipgate token create``, and refused again after ``pipgate token
revoke`` (run as separate processes on the same data dir, as an operator would). The user
shows in the fetch log and in ``pipgate sbom --user``.

What the clients print for a 401 (pip 26, uv 0.13, pip-tools 7): pip shows the status line
("401 Client Error: Unauthorized for url") from ``-vv`` on, uv always ("401 Unauthorized"),
pip-compile never (only "No matching distribution found"). So every refusal is also
checked in pipgate's own count of authentication outcomes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from storage.base import FetchQuery
from tests.support.clients import (
    CLIENT_TIMEOUT,
    isolated_env,
    make_venv,
    pip_install,
    uv_install,
)
from tests.support.e2e import fetch_rows, output
from tests.support.fake_upstream import FakeUpstream
from tests.support.gate import probe, publish, running_gate
from tests.support.pipgate_server import PipgateServer
from tests.support.token_cli import create_token, data_dir_args, revoke_token, run_pipgate

pytestmark = pytest.mark.clients

CONFIG = '[[policy]]\nuse = "denylist"\nprojects = ["nothing-here"]\n'
PROJECTS = ("pip-url-pkg", "pip-netrc-pkg", "uv-url-pkg", "compile-pkg")


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeUpstream]:
    wheels = tmp_path_factory.mktemp("wheels")
    with FakeUpstream() as up:
        for project in PROJECTS:
            publish(up, wheels, project, "1.0")
        yield up


@pytest.fixture(scope="module")
def gate(
    upstream: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PipgateServer]:
    home = tmp_path_factory.mktemp("gate")
    with running_gate(home, upstream.url, CONFIG, auth="required") as server:
        yield server


def with_credentials(index_url: str, user: str, token: str) -> str:
    parts = urlsplit(index_url)
    return parts._replace(netloc=f"{user}:{token}@{parts.netloc}").geturl()


def wait_until_refused(gate: PipgateServer, token: str, timeout: float = 30.0) -> None:
    """A revocation reaches a running pipgate on its next poll (about a second)."""
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + timeout
    while probe(gate.index_url, headers=headers).status != 401:
        assert time.monotonic() < deadline, "the revoked token is still accepted"
        time.sleep(0.1)


def revoke(gate: PipgateServer, token_id: int, token: str) -> None:
    revoke_token(data_dir_args(gate.settings.data_dir), token_id)
    wait_until_refused(gate, token)


def refusals(gate: PipgateServer, outcome: str) -> float:
    """How many requests the gate answered with ``outcome`` (``anonymous``, ``revoked``)."""
    value = gate.state.metrics.registry.get_sample_value("pipgate_auth_total", {"outcome": outcome})
    return value or 0.0


def users_of(gate: PipgateServer, project: str) -> set[str | None]:
    return {r.user for r in fetch_rows(gate, FetchQuery(project=project)) if r.kind == "dist"}


Install = Callable[[Path, str, str], subprocess.CompletedProcess[str]]


def pip(venv: Path, index_url: str, project: str) -> subprocess.CompletedProcess[str]:
    return pip_install(venv, index_url, project, extra=["-vv"])


def uv(venv: Path, index_url: str, project: str) -> subprocess.CompletedProcess[str]:
    return uv_install(venv, index_url, project)


@pytest.mark.parametrize(
    ("install", "project", "refusal"),
    [
        pytest.param(pip, "pip-url-pkg", "401 Client Error: Unauthorized for url", id="pip"),
        pytest.param(uv, "uv-url-pkg", "401 Unauthorized", id="uv"),
    ],
)
def test_url_credentials__refused_without_served_with_refused_after_revocation(
    gate: PipgateServer, tmp_path: Path, install: Install, project: str, refusal: str
) -> None:
    user = f"{install.__name__}-user"
    token_id, token = create_token(data_dir_args(gate.settings.data_dir), user)
    venv = make_venv(tmp_path)

    before = refusals(gate, "anonymous")
    anonymous = install(venv, gate.index_url, project)
    assert anonymous.returncode != 0
    assert refusal in output(anonymous), output(anonymous)
    assert refusals(gate, "anonymous") > before

    served = install(venv, with_credentials(gate.index_url, user, token), project)
    assert served.returncode == 0, output(served)
    assert token not in output(served)
    assert users_of(gate, project) == {user}

    revoke(gate, token_id, token)
    before = refusals(gate, "revoked")
    credentials = with_credentials(gate.index_url, user, token)
    again = install(make_venv(tmp_path, name="again"), credentials, project)
    assert again.returncode != 0
    assert refusal in output(again), output(again)
    assert refusals(gate, "revoked") > before


def test_pip_with_netrc_credentials_is_served_and_the_sbom_by_user_lists_its_file(
    gate: PipgateServer, tmp_path: Path
) -> None:
    project = "pip-netrc-pkg"
    where = data_dir_args(gate.settings.data_dir)
    token_id, token = create_token(where, "netrc-user", "--note", "from .netrc")
    venv = make_venv(tmp_path)
    home = Path(isolated_env(tmp_path)["HOME"])  # the HOME pip_install gives pip
    netrc = home / ".netrc"
    netrc.write_text(f"machine 127.0.0.1\nlogin netrc-user\npassword {token}\n")
    netrc.chmod(0o600)

    served = pip_install(venv, gate.index_url, project)
    assert served.returncode == 0, output(served)
    assert users_of(gate, project) == {"netrc-user"}

    sbom = run_pipgate("sbom", *where, "--user", "netrc-user", "--format", "cyclonedx")
    assert sbom.returncode == 0, sbom.stderr
    components = json.loads(sbom.stdout)["components"]
    assert [c["name"] for c in components] == [project]
    log = run_pipgate("log", *where, "--user", "netrc-user", "--json")
    assert {json.loads(line)["user"] for line in log.stdout.splitlines()} == {"netrc-user"}

    revoke(gate, token_id, token)
    before = refusals(gate, "revoked")
    again = pip_install(make_venv(tmp_path, name="again"), gate.index_url, project, extra=["-vv"])
    assert again.returncode != 0
    assert "401 Client Error: Unauthorized for url" in output(again), output(again)
    assert refusals(gate, "revoked") > before


def pip_compile(
    workdir: Path, index_url: str, requirement: str
) -> subprocess.CompletedProcess[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "requirements.in").write_text(requirement + "\n")
    command = [
        sys.executable, "-m", "piptools", "compile", "--generate-hashes", "--no-config",
        "--no-header", "--no-emit-index-url", "--quiet", "--cache-dir", str(workdir / "cache"),
        "--index-url", index_url, "--output-file", str(workdir / "requirements.txt"),
        str(workdir / "requirements.in"),
    ]  # fmt: skip
    return subprocess.run(
        command, cwd=workdir, env=isolated_env(workdir), capture_output=True, text=True,
        timeout=CLIENT_TIMEOUT, check=False,
    )  # fmt: skip


def test_pip_compile__refused_without_served_with_refused_after_revocation(
    gate: PipgateServer, tmp_path: Path
) -> None:
    project = "compile-pkg"
    token_id, token = create_token(data_dir_args(gate.settings.data_dir), "lockbot")

    refused = f"No matching distribution found for {project}"
    before = refusals(gate, "anonymous")
    anonymous = pip_compile(tmp_path / "anonymous", gate.index_url, project)
    assert anonymous.returncode != 0
    assert refused in output(anonymous), output(anonymous)
    assert refusals(gate, "anonymous") > before

    credentials = with_credentials(gate.index_url, "lockbot", token)
    served = pip_compile(tmp_path / "served", credentials, project)
    assert served.returncode == 0, output(served)
    assert f"{project}==1.0" in (tmp_path / "served" / "requirements.txt").read_text()
    rows = fetch_rows(gate, FetchQuery(project=project))
    assert rows
    assert {r.user for r in rows} == {"lockbot"}

    revoke(gate, token_id, token)
    before = refusals(gate, "revoked")
    again = pip_compile(tmp_path / "again", credentials, project)
    assert again.returncode != 0
    assert refused in output(again), output(again)
    assert refusals(gate, "revoked") > before
