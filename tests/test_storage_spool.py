"""Per-process spools: workers sharing one blob root never delete each other's downloads,
and the spools of killed processes are removed by the next start."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from storage.filesystem import FilesystemBlobStore
from storage.spool import ProcessSpool, remove_abandoned

REPO = Path(__file__).resolve().parents[1]

WORKER = """
import asyncio, sys
from pathlib import Path
from storage.filesystem import FilesystemBlobStore

async def main() -> None:
    store = FilesystemBlobStore(Path(sys.argv[1]))
    await store.start()
    part = store.spool_dir / "in-flight.part"
    part.write_bytes(b"half a download")
    print(part, flush=True)
    await asyncio.to_thread(sys.stdin.read)  # a download in progress, until we are killed

asyncio.run(main())
"""


async def _start_worker(root: Path) -> tuple[asyncio.subprocess.Process, Path]:
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WORKER, str(root),
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert worker.stdout is not None
    line = await asyncio.wait_for(worker.stdout.readline(), timeout=60)
    assert line, "the worker exited before it started its store"
    return worker, Path(line.decode().strip())


async def test_a_starting_worker_keeps_a_live_workers_spool_and_removes_a_killed_ones(
    tmp_path: Path,
) -> None:
    worker, part = await _start_worker(tmp_path)
    second = FilesystemBlobStore(tmp_path)
    try:
        await second.start()
        assert part.read_bytes() == b"half a download", "a live worker's download was deleted"
        assert part.parent != second.spool_dir

        os.kill(worker.pid, signal.SIGKILL)
        assert await asyncio.wait_for(worker.wait(), timeout=30) == -signal.SIGKILL
        assert part.exists(), "nothing removes the leftovers before the next start"

        third = FilesystemBlobStore(tmp_path)
        await third.start()
        try:
            assert not part.parent.exists(), "the killed worker's spool survived a start"
            assert not part.parent.with_name(part.parent.name + ".lock").exists()
            assert second.spool_dir.is_dir(), "the live store's spool was removed"
        finally:
            await third.aclose()
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()
        await second.aclose()


async def test_aclose_removes_the_spool_and_releases_its_lock(tmp_path: Path) -> None:
    store = FilesystemBlobStore(tmp_path)
    await store.start()
    (store.spool_dir / "cancelled.part").write_bytes(b"x")
    await store.aclose()
    assert list((tmp_path / ".spool").iterdir()) == []


def test_a_held_spool_is_not_abandoned(tmp_path: Path) -> None:
    live = ProcessSpool(tmp_path)
    live.start()
    (live.directory / "download").write_bytes(b"x")
    try:
        assert remove_abandoned(tmp_path) == []
        assert (live.directory / "download").exists()
    finally:
        live.close()
    assert not live.directory.exists()
    assert not live.lock_path.exists()


def test_start_is_idempotent_and_close_can_repeat(tmp_path: Path) -> None:
    spool = ProcessSpool(tmp_path)
    spool.start()
    spool.start()
    assert spool.started
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [spool.directory.name, spool.lock_path.name]
    )
    spool.close()
    spool.close()
    assert not spool.started


def test_spools_starting_at_the_same_moment_all_survive(tmp_path: Path) -> None:
    """Each start also cleans: none may take another's fresh, not yet locked, spool."""
    spools = [ProcessSpool(tmp_path) for _ in range(24)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(ProcessSpool.start, spools))
    try:
        for spool in spools:
            assert spool.started
            assert spool.directory.is_dir(), f"{spool.directory} was removed by another start"
            assert spool.lock_path.is_file()
        assert remove_abandoned(tmp_path) == []
    finally:
        for spool in spools:
            spool.close()
    assert list(tmp_path.iterdir()) == []
