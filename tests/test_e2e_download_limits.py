"""What one upstream download may cost (issue 15, item 8): a size cap, an overall deadline,
and a grace period once every client has left. A real pipgate over a ``FakeUpstream`` that
trickles; every wait is bounded and nothing asserts how long anything took."""

from __future__ import annotations

import http.client
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.builders import build_wheel
from tests.support.fake_index import FakeFile
from tests.support.fake_upstream import FakeUpstream
from tests.support.gate import fetch_records, file_url, probe, running_gate
from tests.support.pipgate_server import PipgateServer

WAIT = 30.0


def eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT} s: {what}")
        time.sleep(0.02)


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream() as up:
        yield up


@pytest.fixture
def big(tmp_path: Path, upstream: FakeUpstream) -> FakeFile:
    blob = random.Random(3).randbytes(2 * 1024 * 1024)  # incompressible: the wheel stays 2 MiB
    wheel = build_wheel(tmp_path / "dist", "heavy", "1.0", files={"heavy/blob.bin": blob})
    return upstream.add_file("heavy", wheel)


def spool_files(server: PipgateServer) -> list[Path]:
    return list(server.state.stores.blobs.spool_dir.glob("*.part"))


def inflight(server: PipgateServer) -> int:
    return len(server.state.downloads._inflight)


def test_a_file_over_the_size_cap_is_refused_before_any_byte(
    tmp_path: Path, upstream: FakeUpstream, big: FakeFile
) -> None:
    with running_gate(tmp_path / "gate", upstream.url, "", max_artifact_bytes="1MiB") as server:
        answer = probe(file_url(server, "heavy", big.filename))
        assert answer.status == 502
        assert "over the 1048576-byte limit (max_artifact_bytes)" in answer.body
    assert upstream.hits(f"/files/{big.filename}") == 0  # the listed size was enough


def test_a_download_past_the_deadline_is_cut_and_forgotten(
    tmp_path: Path, upstream: FakeUpstream, big: FakeFile
) -> None:
    upstream.set_fault("slow", f"/files/{big.filename}", rate=20_000)  # ~100 s for 2 MiB
    with running_gate(tmp_path / "gate", upstream.url, "", download_deadline=0.5) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=WAIT)
        connection.request("GET", f"/files/heavy/{big.filename}")
        response = connection.getresponse()
        with pytest.raises(http.client.IncompleteRead):
            response.read()  # cut short: never a complete body
        connection.close()
        eventually(lambda: inflight(server) == 0 and not spool_files(server), "cleaned up")
        assert server.call(server.state.stores.blobs.open(_key(big))) is None
        rows = [r for r in fetch_records(server, "heavy") if r.kind == "dist"]
        assert [r.status for r in rows] == [503]


def _key(file: FakeFile) -> str:
    return f"dist/heavy/{file.filename}"


def test_a_download_nobody_waits_for_stops_after_the_grace(
    tmp_path: Path, upstream: FakeUpstream, big: FakeFile
) -> None:
    upstream.set_fault("slow", f"/files/{big.filename}", rate=20_000)
    settings = {"abandoned_download_seconds": 0.2}
    with running_gate(tmp_path / "gate", upstream.url, "", **settings) as server:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=WAIT)
        connection.request("GET", f"/files/heavy/{big.filename}")
        response = connection.getresponse()
        assert response.status == 200
        response.read(1)  # the download is running and this client reads it ...
        connection.close()  # ... then leaves
        eventually(lambda: inflight(server) == 0 and not spool_files(server), "stopped")
        assert server.call(server.state.stores.blobs.open(_key(big))) is None
        rows = [r for r in fetch_records(server, "heavy") if r.kind == "dist"]
        assert [r.status for r in rows] == [499]


def test_a_head_alone_does_not_keep_a_download_going(
    tmp_path: Path, upstream: FakeUpstream, big: FakeFile
) -> None:
    upstream.set_fault("slow", f"/files/{big.filename}", rate=20_000)
    settings = {"abandoned_download_seconds": 0.2}
    with running_gate(tmp_path / "gate", upstream.url, "", **settings) as server:
        assert probe(file_url(server, "heavy", big.filename), method="HEAD").status == 200
        eventually(lambda: inflight(server) == 0 and not spool_files(server), "stopped")


def test_a_client_that_comes_back_within_the_grace_joins_the_same_download(
    tmp_path: Path, upstream: FakeUpstream, big: FakeFile
) -> None:
    upstream.set_fault("slow", f"/files/{big.filename}", rate=2_000_000)  # ~1 s for 2 MiB
    settings = {"abandoned_download_seconds": 60}
    with running_gate(tmp_path / "gate", upstream.url, "", **settings) as server:
        first = http.client.HTTPConnection("127.0.0.1", server.port, timeout=WAIT)
        first.request("GET", f"/files/heavy/{big.filename}")
        first.getresponse().read(1)
        first.close()  # gave up (a timeout, say) ...
        retry = http.client.HTTPConnection("127.0.0.1", server.port, timeout=WAIT)
        retry.request("GET", f"/files/heavy/{big.filename}")  # ... and retries
        assert retry.getresponse().read() == big.data
        retry.close()
    assert upstream.hits(f"/files/{big.filename}") == 1
