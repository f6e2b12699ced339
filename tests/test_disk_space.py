"""A full data disk is reported (issue 15, item 9): by ``/readyz`` and by the metrics."""

from __future__ import annotations

from pathlib import Path

from proxy.disk_space import DiskWatch
from tests.support.gate import probe, running_gate


def full_disk(path: Path) -> tuple[int, int, int]:
    return 1, 10 * 1024**3, 0  # device, total, free: 100 % used


async def test_a_full_disk_is_a_problem_naming_path_and_setting(tmp_path: Path) -> None:
    watch = DiskWatch([tmp_path / "data", tmp_path / "data" / "blobs"], 1024, statvfs=full_disk)
    (problem,) = await watch.problems()  # one filesystem, one line
    assert str(tmp_path / "data") in problem
    assert "0 bytes free" in problem
    assert "min_free_bytes (1024)" in problem


async def test_room_to_spare_is_no_problem(tmp_path: Path) -> None:
    watch = DiskWatch([tmp_path], 1024, statvfs=lambda p: (1, 10**12, 10**11))
    assert await watch.problems() == []


def test_readyz_and_metrics_report_a_disk_below_the_floor(tmp_path: Path) -> None:
    upstream = "http://127.0.0.1:9/simple/"
    with running_gate(tmp_path / "roomy", upstream, "") as server:
        assert probe(server.url + "/readyz").status == 200
        metrics = probe(server.url + "/metrics").body
        assert "pipgate_disk_free_bytes{path=" in metrics
        assert "pipgate_disk_total_bytes{path=" in metrics
    # No test machine has a petabyte free: the same disk is now "full" for pipgate.
    with running_gate(tmp_path / "full", upstream, "", min_free_bytes="1000TiB") as server:
        answer = probe(server.url + "/readyz")
        assert answer.status == 503
        assert "below min_free_bytes" in answer.body
        assert str(tmp_path / "full" / "data") in answer.body
