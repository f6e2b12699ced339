"""Issue 6 end to end: two ``pipgate serve`` processes on different ports share one Redis
(pages, state, locks), one S3 bucket (moto, on loopback) and one PostgreSQL fetch log.

They behave as one proxy: a cold file asked of both at once is fetched from the upstream
once; a policy reload on one reaches the other; what one cached the other serves with the
upstream down, to plain HTTP and to pip. Losing Redis (a server of the test's own, killed)
degrades to the upstream with correct answers, and ``/readyz`` names the failed backend.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.builders import build_wheel
from tests.support.clients import make_venv, pip_install, run_in_venv
from tests.support.e2e import http_get, production_trust_root
from tests.support.fake_upstream import FakeUpstream
from tests.support.gate import probe
from tests.support.pipgate_server import PipgateProcess
from tests.support.scaleout import Backends, postgres_rows, private_redis, shared_backends

pytestmark = [pytest.mark.redis, pytest.mark.postgres]

RUN = uuid.uuid4().hex[:8]
"""Project names are unique per run: nothing left in Redis by an earlier run can match."""
SLOW_RATE = 64 * 1024
SLOW_PAYLOAD = 96 * 1024
"""Random, so incompressible: the slow download of this wheel takes ~1.5 s."""
PROJECTS = ("flight", "reload", "shared", "install", "warm", "cold", "denied")


@dataclass(frozen=True)
class Published:
    """The fake upstream and the wheel of each project it serves."""

    up: FakeUpstream
    wheels: dict[str, Path]
    """Short name (``PROJECTS``) -> the wheel of project ``<name>-<RUN>``."""

    def project(self, short: str) -> str:
        return f"{short}-{RUN}"

    def sha256(self, short: str) -> str:
        return hashlib.sha256(self.wheels[short].read_bytes()).hexdigest()


def policy_config(*denied: str) -> str:
    names = ", ".join(f'"{name}"' for name in (f"denied-{RUN}", *denied))
    return f'[[policy]]\nuse = "denylist"\nprojects = [{names}]\n'


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("replicas")


@pytest.fixture(scope="module")
def backends(home: Path) -> Iterator[Backends]:
    with shared_backends(home / "s3-home") as shared:
        yield shared


@pytest.fixture(scope="module")
def upstream(home: Path) -> Iterator[Published]:
    with FakeUpstream() as up:
        wheels = {}
        for short in PROJECTS:
            payload = {f"payload_{short}.bin": os.urandom(SLOW_PAYLOAD)}
            wheels[short] = build_wheel(home / "dists", f"{short}-{RUN}", "1.0", files=payload)
            up.add_file(f"{short}-{RUN}", wheels[short])
        yield Published(up, wheels)


@pytest.fixture(scope="module")
def config(home: Path) -> Path:
    path = home / "pipgate.toml"
    path.write_text(policy_config())
    return path


@pytest.fixture(scope="module")
def trust_root(home: Path) -> Path:
    return production_trust_root(home / "sigstore")


def replicas(
    home: Path, names: str, upstream: Published, config: Path, env: dict[str, str]
) -> list[PipgateProcess]:
    made = []
    for name in names:
        (home / name).mkdir(exist_ok=True)
        made.append(
            PipgateProcess(home / name / "data", upstream.up.url, "--config", str(config), env=env)
        )
    return made


@contextmanager
def running(processes: list[PipgateProcess]) -> Iterator[list[PipgateProcess]]:
    """Start them side by side (start-up dominates these tests), stop them all."""
    with ExitStack() as stack:
        for process in processes:
            stack.callback(process.stop)
        with concurrent.futures.ThreadPoolExecutor(len(processes)) as pool:
            list(pool.map(PipgateProcess.start, processes))
        yield processes


@pytest.fixture(scope="module")
def pair(
    home: Path, backends: Backends, upstream: Published, config: Path, trust_root: Path
) -> Iterator[list[PipgateProcess]]:
    env = backends.replica_env() | {"PIPGATE_TRUST_ROOT": str(trust_root)}
    with running(replicas(home, "ab", upstream, config, env)) as started:
        yield started


def page_url(replica: PipgateProcess, project: str) -> str:
    return f"{replica.index_url}{project}/"


def file_url(replica: PipgateProcess, upstream: Published, short: str, label: str = "") -> str:
    root = f"{replica.url}/builds/{label}" if label else replica.url
    return f"{root}/files/{upstream.project(short)}/{upstream.wheels[short].name}"


def assert_serves(replica: PipgateProcess, upstream: Published, short: str) -> None:
    answer = http_get(file_url(replica, upstream, short))
    assert answer.status == 200, answer
    assert hashlib.sha256(answer.body).hexdigest() == upstream.sha256(short)


def test_a_cold_file_asked_of_both_replicas_at_once_is_fetched_once(
    pair: list[PipgateProcess], upstream: Published, backends: Backends
) -> None:
    wheel = upstream.wheels["flight"].name
    upstream.up.set_fault("slow", f"/files/{wheel}", rate=SLOW_RATE)
    labels = [f"flight-{name}-{RUN}" for name in "ab"]
    urls = [file_url(r, upstream, "flight", label) for r, label in zip(pair, labels, strict=True)]

    def timed(url: str) -> tuple[float, float, int, str]:
        start = time.monotonic()
        answer = http_get(url)
        return start, time.monotonic(), answer.status, hashlib.sha256(answer.body).hexdigest()

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(timed, urls))

    assert upstream.up.hits(f"/files/{wheel}") == 1
    assert [(status, digest) for _, _, status, digest in results] == [
        (200, upstream.sha256("flight"))
    ] * 2
    # Both requests were in flight together: the second waited on the first's lock.
    assert max(start for start, *_ in results) < min(end for _, end, *_ in results)
    rows = asyncio.run(
        postgres_rows(
            backends.postgres_dsn,
            "SELECT build, status, sha256 FROM pipgate_fetch_log WHERE filename = $1",
            wheel,
        )
    )
    assert sorted(tuple(row) for row in rows) == [
        (label, 200, upstream.sha256("flight")) for label in labels
    ]


def test_a_policy_reload_on_one_replica_takes_effect_on_both(
    pair: list[PipgateProcess], upstream: Published, config: Path
) -> None:
    a, b = pair
    project = upstream.project("reload")
    assert [probe(page_url(r, project)).status for r in pair] == [200, 200]

    config.write_text(policy_config(project))
    assert probe(f"{a.url}/-/reload", method="POST").status == 200
    assert probe(page_url(a, project)).status == 403

    deadline = time.monotonic() + 5
    while (answer := probe(page_url(b, project))).status != 403:
        assert time.monotonic() < deadline, f"replica B still answers {answer.status}"
        time.sleep(0.1)
    assert answer.headers["x-pipgate-policy"].split(";")[0] == "denylist"
    assert project in answer.body


def test_an_artifact_cached_by_one_replica_is_served_by_the_other(
    pair: list[PipgateProcess], upstream: Published
) -> None:
    a, b = pair
    up, wheel = upstream.up, upstream.wheels["shared"].name
    assert_serves(a, upstream, "shared")
    page_path = f"/simple/{upstream.project('shared')}/"
    hits = (up.hits(page_path), up.hits(f"/files/{wheel}"))
    assert hits == (1, 1)

    assert_serves(b, upstream, "shared")  # page from Redis, file from the bucket
    assert (up.hits(page_path), up.hits(f"/files/{wheel}")) == hits
    up.stop()
    try:
        assert wheel in probe(page_url(b, upstream.project("shared"))).body
        assert_serves(b, upstream, "shared")
    finally:
        up.start()


@pytest.mark.clients
def test_pip_installs_through_one_replica_what_the_other_cached_without_the_upstream(
    pair: list[PipgateProcess], upstream: Published, tmp_path: Path
) -> None:
    a, b = pair
    project = upstream.project("install")
    warmed = pip_install(make_venv(tmp_path / "a"), a.index_url, project)
    assert warmed.returncode == 0, warmed.stdout + warmed.stderr

    venv = make_venv(tmp_path / "b")
    upstream.up.stop()
    try:
        result = pip_install(venv, b.index_url, project)
    finally:
        upstream.up.start()

    assert result.returncode == 0, result.stdout + result.stderr
    module = project.replace("-", "_")
    imported = run_in_venv(venv, "-c", f"import {module}; print({module}.__version__)")
    assert imported.stdout.strip() == "1.0", imported.stderr


def test_losing_redis_degrades_to_the_upstream_and_readyz_names_it(
    home: Path, backends: Backends, upstream: Published, config: Path, trust_root: Path
) -> None:
    up = upstream.up
    with private_redis(home / "redis") as server:
        env = backends.replica_env(cache_url=server.url, prefix="degraded")
        env["PIPGATE_TRUST_ROOT"] = str(trust_root)
        with running(replicas(home, "cd", upstream, config, env)) as (c, d):
            warm = upstream.project("warm")
            assert upstream.wheels["warm"].name in probe(page_url(c, warm)).body  # in Redis
            assert probe(f"{d.url}/readyz").status == 200

            server.kill()

            page_hits = up.hits(f"/simple/{warm}/")
            answer = probe(page_url(d, warm))
            assert (answer.status, up.hits(f"/simple/{warm}/")) == (200, page_hits + 1)
            assert upstream.wheels["warm"].name in answer.body
            for replica in (c, d):
                assert_serves(replica, upstream, "cold")  # without the lock: hash-checked
                denied = probe(page_url(replica, f"denied-{RUN}"))
                assert (denied.status, denied.headers["x-pipgate-policy"].split(";")[0]) == (
                    403,
                    "denylist",
                )
                ready = probe(f"{replica.url}/readyz")
                assert ready.status == 503
                assert f"state store: redis at 127.0.0.1:{server.port}" in ready.body
