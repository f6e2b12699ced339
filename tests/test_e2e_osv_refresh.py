"""Issue 14's failing scenarios: an OSV refresh takes effect on pages already rendered.

Before, only a policy reload cleared the render cache, so after a refresh a new PYSEC
record left ``demo-2.0`` listed until the page TTL ran out (pip then failed on a 403 for
its metadata instead of picking 1.0), and a new MAL record left an already-rendered page
at 200. Now the refresh drops the rendered pages of exactly the projects it changed: on
this process, and on each worker of ``--workers 2`` (each refreshes its own data).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from proxy.render_cache import Rendered, render_key
from tests.support.e2e import production_trust_root
from tests.support.fake_upstream import FakeUpstream
from tests.support.gate import Client, probe, publish, running_gate
from tests.support.osv_records import malicious, vulnerable, write_record
from tests.support.pipgate_server import PipgateProcess, PipgateServer
from tests.support.worker_sockets import get, wait_for_workers, worker_connections

pytestmark = pytest.mark.clients

REFRESH = 0.5
DEADLINE = 20.0
"""Generous: the change must show within one refresh; the deadline only ends a failure."""
CONFIG = '[[policy]]\nuse = "osv"\nsource = "{source}"\nrefresh = {refresh}\n'
HTML = {"Accept": "text/html"}


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < deadline, f"not within {DEADLINE} s: {what}"
        time.sleep(0.05)


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[FakeUpstream]:
    with FakeUpstream() as up:
        publish(up, tmp_path / "wheels", "demo", "1.0", "2.0")
        publish(up, tmp_path / "wheels", "bystander", "1.0")
        yield up


@pytest.fixture
def records(tmp_path: Path) -> Path:
    """The OSV directory the gate refreshes from; one unrelated record to start with."""
    directory = tmp_path / "osv"
    write_record(directory, vulnerable("PYSEC-2099-90", "unrelated", "0"))
    return directory


@pytest.fixture
def gate(tmp_path: Path, upstream: FakeUpstream, records: Path) -> Iterator[PipgateServer]:
    config = CONFIG.format(source=records, refresh=REFRESH)
    with running_gate(tmp_path / "gate", upstream.url, config) as server:
        yield server


def rendered(gate: PipgateServer, name: str) -> Rendered | None:
    key = render_key(name, "text/html", 1)
    return gate.state.renders.get(key, time.time())


def test_a_new_pysec_record_hides_the_version_from_a_rendered_page(
    client: Client, gate: PipgateServer, upstream: FakeUpstream, records: Path
) -> None:
    page = gate.index_url + "demo/"
    assert "demo-2.0-py3-none-any.whl" in probe(page, headers=HTML).body
    assert probe(gate.index_url + "bystander/", headers=HTML).status == 200
    bystander = rendered(gate, "bystander")
    assert bystander is not None
    assert rendered(gate, "demo") is not None
    upstream_hits = upstream.hits("/simple/demo/")

    write_record(records, vulnerable("PYSEC-2099-91", "demo", "2.0"))

    eventually(lambda: "demo-2.0" not in probe(page, headers=HTML).body, "2.0 hidden")
    assert "demo-1.0-py3-none-any.whl" in probe(page, headers=HTML).body
    # Re-rendered from the cached upstream page; the other project's page was kept.
    assert upstream.hits("/simple/demo/") == upstream_hits
    assert rendered(gate, "bystander") is bystander
    outcome = client.install(gate.index_url, "demo")
    assert outcome.ok, outcome.output
    assert client.installed("demo") == "1.0"


def test_a_new_mal_record_refuses_a_rendered_page(gate: PipgateServer, records: Path) -> None:
    page = gate.index_url + "demo/"
    assert probe(page, headers=HTML).status == 200
    assert probe(page, headers=HTML).status == 200  # the warm path: rendered bytes

    write_record(records, malicious("MAL-2099-91", "demo"))

    eventually(lambda: probe(page, headers=HTML).status == 403, "page refused")
    answer = probe(page, headers=HTML)
    assert answer.headers["x-pipgate-policy"].split(";")[0] == "osv"
    assert "demo is a known malicious package (MAL-2099-91)" in answer.body
    json_api = probe(f"{gate.url}/pypi/demo/json")
    assert json_api.status == 403


def test_every_worker_applies_its_refresh(
    tmp_path: Path, upstream: FakeUpstream, records: Path
) -> None:
    config = tmp_path / "pipgate.toml"
    config.write_text(CONFIG.format(source=records, refresh=REFRESH))
    env = {"PIPGATE_TRUST_ROOT": str(production_trust_root(tmp_path / "sigstore"))}
    args = ("--workers", "2", "--config", str(config))
    with PipgateProcess(tmp_path / "data", upstream.url, *args, env=env) as gate:
        wait_for_workers(gate, 2)
        with worker_connections(gate, 4) as held:
            connections = [connection for connection, _ in held]
            assert [get(c, "/simple/demo/")[0] for c in connections] == [200] * len(held)

            write_record(records, malicious("MAL-2099-92", "demo"))

            def refused_everywhere() -> bool:
                return [get(c, "/simple/demo/")[0] for c in connections] == [403] * len(held)

            eventually(refused_everywhere, f"403 from every worker of {held}")
