"""Key-value stores: the shared contract (both backends), then what each adds on its own."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.base import KeyValueStore, StorageError
from storage.filesystem_kv import STALE_TEMP_SECONDS, FilesystemKeyValueStore
from storage.memory import MemoryKeyValueStore

REPO = Path(__file__).resolve().parents[1]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "filesystem"])
async def kv(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[KeyValueStore]:
    store: MemoryKeyValueStore | FilesystemKeyValueStore
    if request.param == "memory":
        store = MemoryKeyValueStore(clock=clock)
    else:
        store = FilesystemKeyValueStore(tmp_path / "kv", clock=clock)
        await store.start()
    yield store
    await store.aclose()


async def test_set_get_delete(kv: KeyValueStore) -> None:
    assert await kv.get("page/pypi/foo") is None
    await kv.set("page/pypi/foo", b"\x00body\nwith newlines")
    assert await kv.get("page/pypi/foo") == b"\x00body\nwith newlines"
    await kv.set("page/pypi/foo", b"")
    assert await kv.get("page/pypi/foo") == b""
    await kv.delete("page/pypi/foo")
    assert await kv.get("page/pypi/foo") is None
    await kv.delete("page/pypi/foo")


async def test_keys_are_opaque(kv: KeyValueStore) -> None:
    for key in ["../../etc", "a/b", "", "\x00", "é"]:
        await kv.set(key, key.encode())
    for key in ["../../etc", "a/b", "", "\x00", "é"]:
        assert await kv.get(key) == key.encode()


async def test_ttl_expiry(kv: KeyValueStore, clock: FakeClock) -> None:
    await kv.set("short", b"v", ttl=10)
    await kv.set("forever", b"v")
    clock.now += 9.9
    assert await kv.get("short") == b"v"
    clock.now += 0.1
    assert await kv.get("short") is None
    clock.now += 10**6
    assert await kv.get("forever") == b"v"


@pytest.mark.parametrize("ttl", [0, -1.5])
async def test_non_positive_ttl_is_refused(kv: KeyValueStore, ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl must be a positive number"):
        await kv.set("k", b"v", ttl=ttl)


async def test_incr_counts_from_zero_and_keeps_the_ttl(kv: KeyValueStore, clock: FakeClock) -> None:
    assert [await kv.incr("generation") for _ in range(3)] == [1, 2, 3]
    assert await kv.get("generation") == b"3"
    await kv.set("hits", b"41", ttl=5)
    assert await kv.incr("hits") == 42
    clock.now += 5
    assert await kv.get("hits") is None
    assert await kv.incr("hits") == 1


async def test_incr_is_atomic_under_concurrency(kv: KeyValueStore) -> None:
    results = await asyncio.gather(*(kv.incr("n") for _ in range(50)))
    assert sorted(results) == list(range(1, 51))


async def test_incr_refuses_a_non_integer(kv: KeyValueStore) -> None:
    await kv.set("page", b"<html>")
    with pytest.raises(StorageError, match=r"key 'page' holds b'<html>', not an integer"):
        await kv.incr("page")


async def test_check(kv: KeyValueStore) -> None:
    await kv.check()


# --- memory only -----------------------------------------------------------------------------


async def test_memory_lru_bound(clock: FakeClock) -> None:
    store = MemoryKeyValueStore(max_entries=3, clock=clock)
    for key in "abc":
        await store.set(key, key.encode())
    assert await store.get("a") == b"a"  # "a" is now the most recently used
    await store.set("d", b"d")
    assert len(store) == 3
    assert await store.get("b") is None
    assert [await store.get(k) for k in "acd"] == [b"a", b"c", b"d"]
    await store.incr("e")
    assert await store.get("a") is None


async def test_memory_expired_entries_are_dropped(clock: FakeClock) -> None:
    store = MemoryKeyValueStore(clock=clock)
    await store.set("k", b"v", ttl=1)
    clock.now += 2
    assert await store.get("k") is None
    assert len(store) == 0


def test_memory_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_entries must be at least 1, got 0"):
        MemoryKeyValueStore(max_entries=0)


async def test_memory_closed_store_refuses_work() -> None:
    store = MemoryKeyValueStore()
    await store.set("k", b"v")
    await store.aclose()
    with pytest.raises(StorageError, match="closed"):
        await store.check()
    with pytest.raises(StorageError, match="closed"):
        await store.get("k")


# --- filesystem only -------------------------------------------------------------------------


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and ".tmp" not in p.parts]


async def test_filesystem_survives_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    first = FilesystemKeyValueStore(tmp_path, clock=clock)
    await first.start()
    await first.set("page", b"cached page", ttl=60)
    await first.incr("generation")
    await first.aclose()

    restarted = FilesystemKeyValueStore(tmp_path, clock=clock)
    await restarted.start()
    assert await restarted.get("page") == b"cached page"
    assert await restarted.incr("generation") == 2
    clock.now += 60
    assert await restarted.get("page") is None


async def test_filesystem_expired_entry_is_deleted_lazily(tmp_path: Path, clock: FakeClock) -> None:
    store = FilesystemKeyValueStore(tmp_path, clock=clock)
    await store.start()
    await store.set("k", b"v", ttl=1)
    files = await asyncio.to_thread(stored_files, tmp_path)
    assert len(files) == 1
    clock.now += 1
    assert await store.get("k") is None
    assert not files[0].exists()


async def test_filesystem_start_clears_stale_temp_files_only(tmp_path: Path) -> None:
    (tmp_path / ".tmp").mkdir()
    killed = tmp_path / ".tmp" / "set-killed"
    killed.write_bytes(b"half written")
    old = time.time() - STALE_TEMP_SECONDS - 10
    os.utime(killed, (old, old))
    in_flight = tmp_path / ".tmp" / "set-other-worker"
    in_flight.write_bytes(b"being written by another process right now")
    store = FilesystemKeyValueStore(tmp_path)
    await store.start()
    assert list((tmp_path / ".tmp").iterdir()) == [in_flight]


async def test_filesystem_corrupt_file_is_a_storage_error(tmp_path: Path) -> None:
    store = FilesystemKeyValueStore(tmp_path)
    await store.start()
    await store.set("k", b"v")
    [stored] = await asyncio.to_thread(stored_files, tmp_path)
    stored.write_bytes(b"not a header")
    with pytest.raises(StorageError, match="not in the pipgate-kv1 format"):
        await store.get("k")


async def test_filesystem_check_fails_when_root_is_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "kv").write_bytes(b"")
    with pytest.raises(StorageError, match="is not a directory"):
        await FilesystemKeyValueStore(tmp_path / "kv").check()


INCR_SCRIPT = """
import asyncio, json, sys
from pathlib import Path
from storage.filesystem_kv import FilesystemKeyValueStore

async def main() -> None:
    store = FilesystemKeyValueStore(Path(sys.argv[1]))
    print(json.dumps([await store.incr("generation") for _ in range(int(sys.argv[2]))]))

asyncio.run(main())
"""


async def spawn_incrementer(root: Path, count: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *(sys.executable, "-c", INCR_SCRIPT, str(root), str(count)),
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.PIPE,
    )


async def test_filesystem_incr_is_atomic_across_processes(tmp_path: Path) -> None:
    store = FilesystemKeyValueStore(tmp_path)
    await store.start()
    children = [await spawn_incrementer(tmp_path, 60) for _ in range(2)]
    mine = [await store.incr("generation") for _ in range(60)]
    outputs = [await asyncio.wait_for(child.communicate(), 60) for child in children]

    assert [child.returncode for child in children] == [0, 0]
    seen = mine + [n for stdout, _ in outputs for n in json.loads(stdout)]
    assert sorted(seen) == list(range(1, 181)), "every increment got its own value"
    assert await store.get("generation") == b"180"
