"""The cache in a running pipgate (issue 15, item 10): refused blobs are deleted, eviction
passes free space and show in the metrics, and a download in flight is never touched."""

from __future__ import annotations

import os
import random
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.builders import build_wheel
from tests.support.fake_index import FakeFile
from tests.support.fake_upstream import FakeUpstream
from tests.support.gate import file_url, probe, running_gate
from tests.support.pipgate_server import PipgateServer

WAIT = 30.0


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=WAIT) as response:
        body: bytes = response.read()
        return body


def blob_path(server: PipgateServer, project: str, filename: str) -> Path:
    return Path(server.state.stores.blobs.root) / "dist" / project / filename  # type: ignore[attr-defined]


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as up:
        yield up


def publish(upstream: FakeUpstream, tmp_path: Path, project: str, size: int) -> FakeFile:
    blob = random.Random(project).randbytes(size)
    wheel = build_wheel(tmp_path / project, project, "1.0", files={f"{project}/b.bin": blob})
    return upstream.add_file(project, wheel)


def test_a_refused_files_blob_is_deleted(tmp_path: Path, upstream: FakeUpstream) -> None:
    listed = publish(upstream, tmp_path, "gone-bad", 1000)
    with running_gate(tmp_path, upstream.url, "") as server:
        assert download(file_url(server, "gone-bad", listed.filename)) == listed.data
        path = blob_path(server, "gone-bad", listed.filename)
        assert path.exists()
    denylist = '[[policy]]\nuse = "denylist"\nprojects = ["gone-bad"]\n'
    with running_gate(tmp_path, upstream.url, denylist) as server:  # same data directory
        refused = server.state.refused
        assert refused is not None
        refused.grace = 0.0  # normally minutes, so the OSV sweeper can quarantine first
        assert probe(file_url(server, "gone-bad", listed.filename)).status == 403
        counted = 'pipgate_cache_evictions_total{reason="refused"} 1.0'
        deadline = time.monotonic() + WAIT
        while counted not in probe(server.url + "/metrics").body:  # the deletion is done
            assert time.monotonic() < deadline, "the refused blob was never deleted"
            time.sleep(0.05)
        assert not path.exists()


def test_eviction_frees_the_oldest_and_spares_a_download_in_flight(
    tmp_path: Path, upstream: FakeUpstream
) -> None:
    old, recent, slow = (publish(upstream, tmp_path, p, 200_000) for p in ("old", "recent", "slow"))
    upstream.set_fault("slow", f"/files/{slow.filename}", rate=400_000)  # ~0.5 s
    with running_gate(tmp_path, upstream.url, "", cache_max_bytes=300_000) as server:
        for file in (old, recent):
            assert download(file_url(server, file.project, file.filename)) == file.data
        age(blob_path(server, "old", old.filename), 7200)
        age(blob_path(server, "recent", recent.filename), 3600)
        got: list[bytes] = []
        reader = threading.Thread(
            target=lambda: got.append(download(file_url(server, "slow", slow.filename)))
        )
        reader.start()
        spool = server.state.stores.blobs.spool_dir
        deadline = time.monotonic() + WAIT
        while not list(spool.glob("*.part")) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert list(spool.glob("*.part")), "the slow download never started"
        evictor = server.state.evictor
        assert evictor is not None
        # A pass triggered by a commit may run as well; whichever runs, the oldest goes first.
        assert server.call(evictor.prune()) is not None
        assert not blob_path(server, "old", old.filename).exists()
        reader.join(WAIT)
        assert got == [slow.data]  # the download in flight was not disturbed ...
        assert blob_path(server, "slow", slow.filename).exists()  # ... and is kept: it is new
        metrics = probe(server.url + "/metrics").body
        assert 'pipgate_cache_evictions_total{reason="lru"}' in metrics
        assert "pipgate_cache_bytes " in metrics
