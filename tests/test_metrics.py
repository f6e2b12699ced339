"""/metrics: Prometheus text with requests, cache results, upstream latency; with
``--workers 2`` a scrape sums every worker's counts."""

from __future__ import annotations

import concurrent.futures
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.builders import build_wheel
from tests.support.fake_upstream import FakeUpstream
from tests.support.pipgate_server import PipgateProcess

WHEEL = "demo_pkg-1.0-py3-none-any.whl"


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        body: bytes = response.read()
        return body


def sample(metrics: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in metrics.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}", 1)[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[FakeUpstream]:
    with FakeUpstream() as fake:
        fake.add_file("demo-pkg", build_wheel(tmp_path / "dist", "demo-pkg", "1.0"))
        yield fake


@pytest.mark.parametrize("workers", ["1", "2"])
def test_metrics_count_every_request_across_workers(
    upstream: FakeUpstream, tmp_path: Path, workers: str
) -> None:
    config = tmp_path / "pipgate.toml"
    config.write_text("policies = []\n")
    extra = ("--config", str(config), "--workers", workers)
    with PipgateProcess(tmp_path / "data", upstream.url, *extra) as server:
        # Concurrent connections spread the requests over both workers.
        with concurrent.futures.ThreadPoolExecutor(10) as pool:
            list(pool.map(fetch, [server.url + "/simple/demo-pkg/"] * 20))
        fetch(server.url + f"/files/demo-pkg/{WHEEL}")
        # Whichever worker answers the scrape, it reports the sum of all of them.
        for _ in range(5):
            text = fetch(server.url + "/metrics").decode()
            assert sample(text, "pipgate_requests_total", kind="page", status="200") == 20
            assert sample(text, "pipgate_requests_total", kind="dist", status="200") == 1
            assert sample(text, "pipgate_upstream_seconds_count", outcome="page-ok") >= 1
            assert sample(text, "pipgate_upstream_seconds_count", outcome="file-ok") == 1
