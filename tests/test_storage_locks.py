"""Lock managers: exclusion between coroutines, between processes, and timeouts."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.base import LockManager, StorageError
from storage.locks import FileLockManager, MemoryLockManager

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


@pytest.fixture(params=["memory", "file"])
async def locks(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[LockManager]:
    manager = MemoryLockManager() if request.param == "memory" else FileLockManager(tmp_path)
    yield manager
    await manager.aclose()


async def test_coroutines_take_turns(locks: LockManager) -> None:
    inside = 0
    most_inside = 0

    async def worker() -> None:
        nonlocal inside, most_inside
        async with locks.lock("dist/foo/foo-1.0.tar.gz", timeout=10):
            inside += 1
            most_inside = max(most_inside, inside)
            await asyncio.sleep(0.001)
            inside -= 1

    await asyncio.gather(*(worker() for _ in range(20)))
    assert most_inside == 1


async def test_different_keys_do_not_exclude_each_other(locks: LockManager) -> None:
    async with locks.lock("a", timeout=1), locks.lock("b", timeout=1):
        pass


async def test_timeout_when_held_in_process(locks: LockManager) -> None:
    async with locks.lock("k", timeout=1):
        started = time.monotonic()
        with pytest.raises(TimeoutError, match=r"lock 'k'.*within 0\.1 s"):
            async with locks.lock("k", timeout=0.1):
                pytest.fail("the lock was taken twice")
        assert 0.09 <= time.monotonic() - started < 2
    async with locks.lock("k", timeout=0):  # free again: a zero timeout still gets it
        pass


async def test_lock_is_released_when_the_body_raises(locks: LockManager) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with locks.lock("k", timeout=1):
            raise RuntimeError("boom")
    async with locks.lock("k", timeout=0.5):
        pass


async def test_cancelled_waiter_does_not_keep_the_lock(locks: LockManager) -> None:
    async def wait_forever() -> None:
        async with locks.lock("k", timeout=60):
            pytest.fail("the waiter got a held lock")

    async with locks.lock("k", timeout=1):
        waiter = asyncio.create_task(wait_forever())
        await asyncio.sleep(0.05)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    async with locks.lock("k", timeout=1):
        pass


async def test_closed_manager_refuses_to_lock(locks: LockManager) -> None:
    await locks.aclose()
    with pytest.raises(StorageError, match="closed"):
        async with locks.lock("k", timeout=1):
            pass


async def test_memory_locks_are_forgotten_when_unused() -> None:
    manager = MemoryLockManager()
    async with manager.lock("a", timeout=1):
        assert len(manager) == 1
    assert len(manager) == 0


async def test_file_lock_files_are_removed_after_use(tmp_path: Path) -> None:
    manager = FileLockManager(tmp_path / "locks")
    async with manager.lock("k", timeout=1):
        assert manager.path_for("k").exists()
        assert manager.path_for("k").name.endswith(".lock")
    assert list((tmp_path / "locks").iterdir()) == []


HOLD_SCRIPT = """
import asyncio, sys
from pathlib import Path
from storage.locks import FileLockManager

async def main() -> None:
    async with FileLockManager(Path(sys.argv[1])).lock(sys.argv[2], timeout=30):
        print("held", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

asyncio.run(main())
"""


async def start_holder(directory: Path, key: str) -> asyncio.subprocess.Process:
    child = await asyncio.create_subprocess_exec(
        *(sys.executable, "-c", HOLD_SCRIPT, str(directory), key),
        cwd=REPO,
        env=ENV,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    assert await asyncio.wait_for(child.stdout.readline(), 60) == b"held\n"
    return child


async def test_lock_held_by_another_process_times_out_then_is_granted(tmp_path: Path) -> None:
    manager = FileLockManager(tmp_path)
    child = await start_holder(tmp_path, "dist/foo/foo-1.0.tar.gz")
    try:
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="held by another process"):
            async with manager.lock("dist/foo/foo-1.0.tar.gz", timeout=0.3):
                pytest.fail("took a lock another process holds")
        assert 0.29 <= time.monotonic() - started < 3
        async with manager.lock("another key", timeout=0.3):
            pass
    finally:
        assert child.stdin is not None
        child.stdin.write(b"release\n")
        await asyncio.wait_for(child.wait(), 60)
    async with manager.lock("dist/foo/foo-1.0.tar.gz", timeout=5):
        pass


async def test_waiter_gets_the_lock_as_soon_as_the_other_process_releases(tmp_path: Path) -> None:
    manager = FileLockManager(tmp_path)
    child = await start_holder(tmp_path, "k")
    assert child.stdin is not None
    asyncio.get_running_loop().call_later(0.2, child.stdin.write, b"release\n")
    started = time.monotonic()
    async with manager.lock("k", timeout=30):
        assert 0.19 <= time.monotonic() - started < 5
    await asyncio.wait_for(child.wait(), 60)


async def test_cancelled_waiter_on_another_process_leaks_nothing(tmp_path: Path) -> None:
    manager = FileLockManager(tmp_path)
    child = await start_holder(tmp_path, "k")
    waiter = asyncio.create_task(manager.lock("k", timeout=60).__aenter__())
    await asyncio.sleep(0.1)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert child.stdin is not None
    child.stdin.write(b"release\n")
    await asyncio.wait_for(child.wait(), 60)
    # Neither the abandoned polling thread nor the in-process queue may still hold the key.
    async with manager.lock("k", timeout=2):
        pass
    await asyncio.sleep(0.1)
    async with manager.lock("k", timeout=0):
        pass


async def test_lock_of_a_killed_process_is_freed(tmp_path: Path) -> None:
    manager = FileLockManager(tmp_path)
    child = await start_holder(tmp_path, "k")
    child.send_signal(signal.SIGKILL)
    await asyncio.wait_for(child.wait(), 60)
    async with manager.lock("k", timeout=5):
        pass


COUNT_SCRIPT = """
import asyncio, sys
from pathlib import Path
from storage.locks import FileLockManager

async def main() -> None:
    locks, counter = FileLockManager(Path(sys.argv[1])), Path(sys.argv[1]) / "counter"
    for _ in range(int(sys.argv[2])):
        async with locks.lock("counter", timeout=60):
            value = int(counter.read_text())
            await asyncio.sleep(0.001)  # widen the window a missing lock would lose updates in
            counter.write_text(str(value + 1))

asyncio.run(main())
"""


async def test_mutual_exclusion_across_processes(tmp_path: Path) -> None:
    (tmp_path / "counter").write_text("0")
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", COUNT_SCRIPT, str(tmp_path), "40", cwd=REPO, env=ENV
        )
        for _ in range(3)
    ]
    codes = [await asyncio.wait_for(child.wait(), 120) for child in children]
    assert codes == [0, 0, 0]
    assert (tmp_path / "counter").read_text() == "120"
