"""SharedGeneration over any KeyValueStore: change detection and error tolerance (the
cross-replica behaviour on Redis is in test_storage_redis.py)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from storage.base import StorageError
from storage.generation import POLICY_GENERATION_KEY, SharedGeneration
from storage.memory import MemoryKeyValueStore


async def test_bump_read_and_poll() -> None:
    kv = MemoryKeyValueStore()
    generation = SharedGeneration(kv)
    assert generation.seen is None
    await generation.start()
    assert generation.seen == 0
    assert await generation.poll() is None
    assert await generation.bump() == 1
    assert await generation.poll() is None, "a replica's own bump is not a change for it"
    await kv.incr(POLICY_GENERATION_KEY)  # another replica
    assert await generation.poll() == 2
    assert await generation.poll() is None


async def test_a_store_down_at_start_reloads_on_first_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kv = MemoryKeyValueStore()
    await kv.aclose()  # every operation now raises StorageError
    generation = SharedGeneration(kv)
    with caplog.at_level(logging.WARNING, logger="storage.generation"):
        await generation.start()
        assert await generation.poll() is None
    assert "memory key-value store is closed" in caplog.text
    up = MemoryKeyValueStore()
    await up.set(POLICY_GENERATION_KEY, b"0")
    late = SharedGeneration(up)
    late_seen_before = late.seen
    assert late_seen_before is None
    assert await late.poll() == 0, "unknown before: a reload is harmless, a missed one is not"


async def test_non_integer_value_is_a_storage_error() -> None:
    kv = MemoryKeyValueStore()
    await kv.set(POLICY_GENERATION_KEY, b"garbage")
    with pytest.raises(StorageError, match="holds b'garbage', not an integer"):
        await SharedGeneration(kv).read()


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval must be a positive"):
        SharedGeneration(MemoryKeyValueStore(), interval=0)


@pytest.mark.parametrize("fails", [False, True])
async def test_watch_survives_bad_values_and_failing_reloads(
    fails: bool, caplog: pytest.LogCaptureFixture
) -> None:
    kv = MemoryKeyValueStore()
    generation = SharedGeneration(kv, interval=0.005)
    await generation.start()
    calls: asyncio.Queue[int] = asyncio.Queue()

    async def apply(value: int) -> None:
        calls.put_nowait(value)
        if fails:
            raise RuntimeError("bad policy file")

    watcher = asyncio.create_task(generation.watch(apply))
    try:
        await kv.set(POLICY_GENERATION_KEY, b"garbage")
        await asyncio.sleep(0.05)  # ten polls of a value that cannot be applied
        await kv.set(POLICY_GENERATION_KEY, b"1")
        assert await asyncio.wait_for(calls.get(), timeout=5) == 1
        await kv.incr(POLICY_GENERATION_KEY)
        assert await asyncio.wait_for(calls.get(), timeout=5) == 2, "still watching"
        assert calls.empty()
        assert "not an integer" in caplog.text
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    assert ("applying shared generation 1 failed" in caplog.text) is fails
