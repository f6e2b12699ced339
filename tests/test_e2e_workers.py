"""``pipgate serve --workers 2`` on the embedded defaults (data dir, ``flock`` locks, SQLite):
the worker processes share one listening socket and behave as one proxy.

Each test first opens keep-alive connections until both workers hold some (read from
``/proc``: see ``tests.support.worker_sockets``), so every request below is known to reach
the worker that holds its connection. Twenty concurrent cold requests for one file, or for
one project page, sent over connections held by both workers, make one upstream GET: the
file's and the page's locks are ``flock`` locks that every process on the machine sees. A
reload posted to whichever worker accepts it reaches the other through the shared policy
generation.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.builders import build_wheel
from tests.support.e2e import production_trust_root
from tests.support.fake_upstream import FakeUpstream
from tests.support.gate import probe
from tests.support.pipgate_server import PipgateProcess
from tests.support.worker_sockets import get, wait_for_workers, worker_connections

CLIENTS = 20
SLOW_RATE = 256 * 1024
PAYLOAD = 256 * 1024
"""Random, so incompressible: the download takes ~1 s, and every request arrives during it."""
DEFAULT_CONFIG = '[[policy]]\nuse = "denylist"\nprojects = ["nothing-here"]\n'


@dataclass(frozen=True)
class Setup:
    up: FakeUpstream
    gate: PipgateProcess
    config: Path
    wheel: Path


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    home = tmp_path_factory.mktemp("workers")
    trust_root = production_trust_root(home / "sigstore")
    config = home / "pipgate.toml"
    config.write_text(DEFAULT_CONFIG)
    payload = {"payload.bin": os.urandom(PAYLOAD)}
    wheel = build_wheel(home / "dists", "many-workers", "1.0", files=payload)
    with FakeUpstream() as up:
        up.add_file("many-workers", wheel)
        up.add_project("reloaded")
        up.add_file("page-once", build_wheel(home / "dists", "page-once", "1.0"))
        env = {"PIPGATE_TRUST_ROOT": str(trust_root)}
        args = ("--workers", "2", "--config", str(config))
        with PipgateProcess(home / "data", up.url, *args, env=env) as gate:
            wait_for_workers(gate, 2)
            yield Setup(up, gate, config, wheel)


def test_concurrent_cold_requests_over_both_workers_fetch_the_file_once(setup: Setup) -> None:
    wheel = setup.wheel.name
    path = f"/files/many-workers/{wheel}"
    setup.up.set_fault("slow", f"/files/{wheel}", rate=SLOW_RATE)
    with worker_connections(setup.gate, CLIENTS) as held:
        connections = [connection for connection, _ in held]
        with concurrent.futures.ThreadPoolExecutor(len(connections)) as pool:
            answers = list(pool.map(lambda connection: get(connection, path), connections))

    expected = hashlib.sha256(setup.wheel.read_bytes()).hexdigest()
    assert [(status, hashlib.sha256(body).hexdigest()) for status, body in answers] == [
        (200, expected)
    ] * len(held)
    assert setup.up.hits(f"/files/{wheel}") == 1


def test_concurrent_cold_page_requests_over_both_workers_make_one_upstream_get(
    setup: Setup,
) -> None:
    path = "/simple/page-once/"
    setup.up.set_fault("slow", path, rate=400)  # the page takes about a second to arrive
    with worker_connections(setup.gate, CLIENTS) as held:
        connections = [connection for connection, _ in held]
        with concurrent.futures.ThreadPoolExecutor(len(connections)) as pool:
            answers = list(pool.map(lambda connection: get(connection, path), connections))
    assert [status for status, _ in answers] == [200] * len(held)
    assert all(b"page_once-1.0-py3-none-any.whl" in body for _, body in answers)
    # Whoever came second (another worker included) found the first one's page in the store.
    assert setup.up.hits(path) == 1


def test_a_reload_posted_to_one_worker_reaches_the_other(setup: Setup) -> None:
    path = "/simple/reloaded/"
    with worker_connections(setup.gate, 4) as held:
        connections = [connection for connection, _ in held]
        assert [get(connection, path)[0] for connection in connections] == [200] * len(held)

        setup.config.write_text(
            DEFAULT_CONFIG.replace('"nothing-here"', '"nothing-here", "reloaded"')
        )
        assert probe(f"{setup.gate.url}/-/reload", method="POST").status == 200

        deadline = time.monotonic() + 5
        while (statuses := [get(c, path)[0] for c in connections]) != [403] * len(held):
            assert time.monotonic() < deadline, f"still {statuses} from workers {held}"
            time.sleep(0.1)
