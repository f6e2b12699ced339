"""Least-recently-served eviction (issue 15, item 10), on a real filesystem blob store with
served-at times set explicitly (file mtimes), so no test depends on how long anything takes."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest

from proxy.cache_eviction import CacheEvictor
from proxy.cli import main
from storage.blob_inventory import TOUCH_INTERVAL, delete_if_unserved_since
from storage.filesystem import FilesystemBlobStore
from storage.locks import FileLockManager

NOW = time.time()  # serving stamps the real clock; ages are relative to it
HOUR = 3600.0


async def blob_store(root: Path) -> FilesystemBlobStore:
    store = FilesystemBlobStore(root)
    await store.start()
    return store


async def put(store: FilesystemBlobStore, key: str, size: int, served_at: float) -> None:
    spool = store.spool_dir / "x.part"
    spool.write_bytes(b"x" * size)
    await store.commit(key, spool)
    os.utime(store.path_for(key), (served_at, served_at))


def keys(store: FilesystemBlobStore) -> set[str]:
    return {
        str(p.relative_to(store.root))
        for p in store.root.rglob("*.whl*")
        if ".spool" not in p.parts
    }


@pytest.fixture
async def store(tmp_path: Path) -> FilesystemBlobStore:
    blobs = await blob_store(tmp_path / "data" / "blobs")
    # Served 5, 4, 3, 2 and 1 hours before NOW; 100 bytes each.
    for age in (5, 4, 3, 2, 1):
        await put(blobs, f"dist/p{age}/p{age}-1.0-py3-none-any.whl", 100, NOW - age * HOUR)
    return blobs


def evictor(store: FilesystemBlobStore, max_bytes: int, locks_dir: Path) -> CacheEvictor:
    return CacheEvictor(store, FileLockManager(locks_dir), max_bytes, clock=lambda: NOW)


async def test_the_least_recently_served_go_first_down_to_the_low_water_mark(
    store: FilesystemBlobStore, tmp_path: Path
) -> None:
    result = await evictor(store, 400, tmp_path / "locks").prune()
    assert result is not None
    # 500 > 400: evict down to 90 % of 400 = 360 bytes, oldest first: p5 and p4 go.
    assert (result.evicted, result.freed, result.remaining) == (2, 200, 300)
    assert keys(store) == {f"dist/p{a}/p{a}-1.0-py3-none-any.whl" for a in (3, 2, 1)}


async def test_under_the_limit_nothing_is_evicted(
    store: FilesystemBlobStore, tmp_path: Path
) -> None:
    result = await evictor(store, 500, tmp_path / "locks").prune()
    assert result is not None
    assert result.evicted == 0
    assert len(keys(store)) == 5


async def test_recently_served_blobs_are_kept_even_over_the_limit(tmp_path: Path) -> None:
    store = await blob_store(tmp_path / "blobs")
    await put(store, "dist/old/old-1.0-py3-none-any.whl", 100, NOW - HOUR)
    await put(store, "dist/hot/hot-1.0-py3-none-any.whl", 100, NOW - 60)  # a minute ago
    await put(store, "dist/new/new-1.0-py3-none-any.whl", 100, NOW)  # just committed
    result = await evictor(store, 50, tmp_path / "locks").prune()
    assert result is not None
    assert (result.evicted, result.protected) == (1, 2)
    assert keys(store) == {"dist/hot/hot-1.0-py3-none-any.whl", "dist/new/new-1.0-py3-none-any.whl"}


async def test_serving_a_blob_moves_it_to_the_back_of_the_queue(
    store: FilesystemBlobStore, tmp_path: Path
) -> None:
    oldest = "dist/p5/p5-1.0-py3-none-any.whl"
    assert await store.open(oldest) is not None  # served now: its mtime moves to the present
    assert os.stat(store.path_for(oldest)).st_mtime > NOW - 5 * HOUR + TOUCH_INTERVAL
    result = await evictor(store, 400, tmp_path / "locks").prune()
    assert result is not None
    assert oldest in keys(store)
    assert "dist/p4/p4-1.0-py3-none-any.whl" not in keys(store)


async def test_a_blob_served_after_the_listing_survives_its_deletion(
    store: FilesystemBlobStore,
) -> None:
    path = store.path_for("dist/p5/p5-1.0-py3-none-any.whl")
    cutoff = NOW - 10 * 60
    os.utime(path, (NOW, NOW))  # served between the listing and the delete
    assert delete_if_unserved_since(path, cutoff) is None
    assert path.exists()


async def test_one_pass_at_a_time_across_processes(
    store: FilesystemBlobStore, tmp_path: Path
) -> None:
    locks = tmp_path / "locks"
    other = FileLockManager(locks)  # another worker's lock manager, same directory
    async with other.lock("cache:prune", 5):
        assert await evictor(store, 400, locks).prune() is None
    assert len(keys(store)) == 5
    assert await evictor(store, 400, locks).prune() is not None


async def test_purge_a_project_or_one_version(tmp_path: Path) -> None:
    store = await blob_store(tmp_path / "blobs")
    for name in ("demo-1.0-py3-none-any.whl", "demo-2.0-py3-none-any.whl"):
        await put(store, f"dist/demo/{name}", 10, NOW)
        await put(store, f"metadata/demo/{name}.metadata", 1, NOW)
    await put(store, "dist/other/other-1.0-py3-none-any.whl", 10, NOW)
    cache = evictor(store, 0, tmp_path / "locks")
    one = await cache.purge("Demo", "1.0")
    assert (one.evicted, one.freed) == (2, 11)
    assert "dist/demo/demo-2.0-py3-none-any.whl" in keys(store)
    every = await cache.purge("demo")
    assert every.evicted == 2
    assert keys(store) == {"dist/other/other-1.0-py3-none-any.whl"}
    with pytest.raises(ValueError, match="not a valid version"):
        await cache.purge("demo", "not a version")


async def _five_blobs(root: Path) -> None:
    blobs = await blob_store(root)
    for age in (5, 4, 3, 2, 1):
        await put(blobs, f"dist/p{age}/p{age}-1.0-py3-none-any.whl", 100, NOW - age * HOUR)
    await blobs.aclose()


def test_the_cache_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(_five_blobs(tmp_path / "data" / "blobs"))
    data = str(tmp_path / "data")
    assert main(["cache", "stats", "--json", "--data-dir", data]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["blobs"], stats["bytes"], stats["by_kind"]["dist"]["blobs"]) == (5, 500, 5)
    assert main(["cache", "prune", "--data-dir", data]) == 2  # no limit set, no --to
    assert "cache_max_bytes is not set" in capsys.readouterr().err
    assert main(["cache", "prune", "--to", "250", "--data-dir", data]) == 0
    assert "evicted 3 blob(s), 300 bytes; 200 left" in capsys.readouterr().out
    assert main(["cache", "purge", "p1", "--data-dir", data]) == 0
    assert "p1: purged 1 blob(s), 100 bytes" in capsys.readouterr().out
    assert main(["cache", "purge", "../etc", "--data-dir", data]) == 2
