"""Reloading policies without a restart: ``POST /-/reload`` (loopback, or anywhere with
``Authorization: Bearer <admin_token>``) and SIGHUP to a ``pipgate serve`` process.

A reload swaps the policies and invalidates cached rendered pages: the next page request
is rendered again with the new policies from the still-fresh cached upstream page. A
configuration that does not load leaves the running policies in force.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.fake_upstream import FakeUpstream
from tests.support.gate import (
    Answer,
    Client,
    ClientName,
    asgi_request,
    probe,
    publish,
    running_gate,
)
from tests.support.pipgate_server import PipgateProcess, PipgateServer

pytestmark = pytest.mark.clients

HIDE_2 = '[[policy]]\nuse = "denylist"\nprojects = ["{project}>=2"]\n'
HIDE_1 = '[[policy]]\nuse = "denylist"\nprojects = ["{project}<2"]\n'
WHEEL = "{module}-{version}-py3-none-any.whl"
OUTSIDE = ("203.0.113.9", 40000)  # TEST-NET-3: a non-loopback caller
TOKEN = "admin-token-for-tests"


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeUpstream]:
    wheels = tmp_path_factory.mktemp("wheels")
    with FakeUpstream() as up:
        for project in ("reload-pkg", "sighup-pkg", "kept-pkg"):
            publish(up, wheels, project, "1.0", "2.0")
        yield up


def wheel(project: str, version: str) -> str:
    return WHEEL.format(module=project.replace("-", "_"), version=version)


def reload(server: PipgateServer, headers: dict[str, str] | None = None) -> Answer:
    return probe(f"{server.url}/-/reload", method="POST", headers=headers)


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_post_reload_swaps_policies_and_invalidates_rendered_pages(
    client: Client, upstream: FakeUpstream, tmp_path: Path
) -> None:
    project = "reload-pkg"
    with running_gate(tmp_path, upstream.url, HIDE_2.format(project=project)) as gate:
        page = gate.index_url + f"{project}/"
        before = probe(page)
        assert wheel(project, "1.0") in before.body
        assert wheel(project, "2.0") not in before.body
        assert probe(page).headers["etag"] == before.headers["etag"]  # served rendered
        assert client.install(gate.index_url, project).ok
        assert client.installed(project) == "1.0"
        upstream_hits = upstream.hits(f"/simple/{project}/")

        assert gate.settings.config_file is not None
        gate.settings.config_file.write_text(HIDE_1.format(project=project))
        answer = reload(gate)

        assert (answer.status, answer.body) == (200, "policies reloaded: generation 2\n")
        after = probe(page)
        assert wheel(project, "2.0") in after.body
        assert wheel(project, "1.0") not in after.body
        # Re-rendered from the cached upstream page: the reload alone changed the answer.
        assert upstream.hits(f"/simple/{project}/") == upstream_hits
        outcome = client.install(gate.index_url, f"{project}==2.0")
        assert outcome.ok, outcome.output
        assert client.installed(project) == "2.0"
        assert probe(gate.url + f"/files/{project}/{wheel(project, '1.0')}").status == 403


def test_invalid_config_on_reload_keeps_the_running_policies(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    project = "kept-pkg"
    with running_gate(tmp_path, upstream.url, HIDE_2.format(project=project)) as gate:
        assert gate.settings.config_file is not None
        gate.settings.config_file.write_text('[[policy]]\nuse = "no_such_policy"\n')

        answer = reload(gate)

        assert answer.status == 400
        assert "reload failed, policies unchanged" in answer.body
        assert "unknown policy 'no_such_policy'" in answer.body
        assert gate.state.engine.generation == 1
        refused = probe(gate.url + f"/files/{project}/{wheel(project, '2.0')}")
        assert (refused.status, refused.headers["x-pipgate-policy"].split(";")[0]) == (
            403,
            "denylist",
        )


def test_reload_from_another_host_needs_the_admin_token(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    config = HIDE_2.format(project="kept-pkg")
    with running_gate(tmp_path, upstream.url, config, admin_token=TOKEN) as gate:

        def post(**headers: str) -> Answer:
            call = asgi_request(gate.app, "POST", "/-/reload", client=OUTSIDE, headers=headers)
            answer: Answer = gate.call(call)
            return answer

        assert post().status == 403
        assert post(Authorization="Bearer wrong-token").status == 403
        assert post(Authorization=TOKEN).status == 403  # the scheme is part of it
        assert gate.state.engine.generation == 1
        assert post(Authorization=f"Bearer {TOKEN}").status == 200
        assert gate.state.engine.generation == 2
        assert reload(gate).status == 200  # loopback needs no token
        assert gate.state.engine.generation == 3


def test_reload_from_another_host_is_refused_without_an_admin_token(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    with running_gate(tmp_path, upstream.url, HIDE_2.format(project="kept-pkg")) as gate:
        call = asgi_request(
            gate.app, "POST", "/-/reload", client=OUTSIDE, headers={"Authorization": "Bearer "}
        )
        answer: Answer = gate.call(call)

        assert answer.status == 403
        assert "loopback" in answer.body
        assert gate.state.engine.generation == 1
        assert probe(f"{gate.url}/-/reload").status == 405  # GET does not reload


def test_sighup_reloads_a_running_pipgate_serve(
    clients: dict[ClientName, Client], upstream: FakeUpstream, tmp_path: Path
) -> None:
    project = "sighup-pkg"
    config = tmp_path / "pipgate.toml"
    config.write_text(HIDE_2.format(project=project))
    with PipgateProcess(tmp_path / "data", upstream.url, "--config", str(config)) as gate:
        assert gate.process is not None
        page = gate.index_url + f"{project}/"
        assert wheel(project, "2.0") not in probe(page).body  # rendered and cached

        config.write_text(HIDE_1.format(project=project))
        os.kill(gate.process.pid, signal.SIGHUP)

        assert wait_for(lambda: wheel(project, "2.0") in probe(page).body), gate.log.read_text()
        assert wheel(project, "1.0") not in probe(page).body
        assert gate.process.poll() is None
        for client in clients.values():
            outcome = client.install(gate.index_url, project)
            assert outcome.ok, outcome.output
            assert client.installed(project) == "2.0"
