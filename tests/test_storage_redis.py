"""Redis backends against the real server on 127.0.0.1:6379: the key-value store, the
distributed lock, the shared policy generation, and how losing Redis is reported."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack

import pytest
from redis.asyncio import Redis

from storage.base import StorageError
from storage.generation import SharedGeneration
from storage.redis import RedisKeyValueStore, RedisLockManager, describe_url

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """A key prefix of this test alone; its keys are deleted afterwards."""
    raw = Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        await raw.ping()
    except Exception as error:
        await raw.aclose()
        pytest.skip(f"Redis is not reachable at {REDIS_URL} ({error!r}); .ci/services starts it")
    name = f"pipgate-test:{uuid.uuid4().hex}:"
    try:
        yield name
        keys = [key async for key in raw.scan_iter(match=f"{name}*")]
        if keys:
            await raw.delete(*keys)
    finally:
        await raw.aclose()


@pytest.fixture
async def raw() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as exits:
        yield exits


@pytest.fixture
def kv(prefix: str, stack: AsyncExitStack) -> Callable[[], RedisKeyValueStore]:
    """A fresh client per call: one per simulated replica."""

    def make() -> RedisKeyValueStore:
        store = RedisKeyValueStore(REDIS_URL, prefix=prefix)
        stack.push_async_callback(store.aclose)
        return store

    return make


@pytest.fixture
def locks(prefix: str, stack: AsyncExitStack) -> Callable[..., RedisLockManager]:
    def make(lease: float = 30.0) -> RedisLockManager:
        manager = RedisLockManager(REDIS_URL, prefix=prefix + "lock:", lease=lease)
        stack.push_async_callback(manager.aclose)
        return manager

    return make


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.redis
async def test_get_set_delete(
    kv: Callable[[], RedisKeyValueStore], raw: Redis, prefix: str
) -> None:
    store = kv()
    value = bytes(range(256))
    assert await store.get("page/foo") is None
    await store.set("page/foo", value)
    assert await store.get("page/foo") == value
    assert await raw.get(prefix + "page/foo") == value, "keys are stored under the prefix"
    assert await raw.ttl(prefix + "page/foo") == -1, "no TTL unless asked"
    await store.delete("page/foo")
    assert await store.get("page/foo") is None
    await store.delete("page/foo")  # deleting a missing key is not an error
    await store.check()


@pytest.mark.redis
async def test_keys_and_values_are_opaque(kv: Callable[[], RedisKeyValueStore]) -> None:
    store = kv()
    for key in ["../../etc", "a/b", "", "\x00", "é", "k" * 1000]:
        await store.set(key, key.encode() + b"\x00\n")
        assert await store.get(key) == key.encode() + b"\x00\n"
    await store.set("empty", b"")
    assert await store.get("empty") == b""


@pytest.mark.redis
async def test_a_closed_store_refuses_work(kv: Callable[[], RedisKeyValueStore]) -> None:
    store = kv()
    await store.aclose()
    closed = r"redis at 127\.0\.0\.1:6379: GET '.*k' refused: the client is closed"
    with pytest.raises(StorageError, match=closed):
        await store.get("k")


@pytest.mark.redis
async def test_prefixes_keep_stores_apart(prefix: str, stack: AsyncExitStack) -> None:
    pages = RedisKeyValueStore(REDIS_URL, prefix=prefix + "pages:")
    state = RedisKeyValueStore(REDIS_URL, prefix=prefix + "state:")
    stack.push_async_callback(pages.aclose)
    stack.push_async_callback(state.aclose)
    await pages.set("k", b"page")
    await state.set("k", b"state")
    assert await pages.get("k") == b"page"
    assert await state.get("k") == b"state"


@pytest.mark.redis
async def test_ttl_expires_entries(
    kv: Callable[[], RedisKeyValueStore], raw: Redis, prefix: str
) -> None:
    store = kv()
    await store.set("short", b"v", ttl=0.25)
    assert 0 < await raw.pttl(prefix + "short") <= 250
    assert await store.get("short") == b"v"
    await asyncio.sleep(0.4)
    assert await store.get("short") is None
    await store.set("fraction", b"v", ttl=0.0001)  # PX 0 would be refused by Redis
    assert await raw.pttl(prefix + "fraction") in (1, 0, -2), "rounded up to 1 ms"
    for bad in (0, -1.0):
        with pytest.raises(ValueError, match="ttl must be a positive number"):
            await store.set("k", b"v", ttl=bad)


@pytest.mark.redis
async def test_incr_is_atomic_across_replicas(kv: Callable[[], RedisKeyValueStore]) -> None:
    first, second = kv(), kv()
    results = await asyncio.gather(
        *(replica.incr("generation") for _ in range(50) for replica in (first, second))
    )
    assert sorted(results) == list(range(1, 101))
    assert await first.get("generation") == b"100"


@pytest.mark.redis
async def test_incr_keeps_the_ttl_and_refuses_non_integers(
    kv: Callable[[], RedisKeyValueStore], raw: Redis, prefix: str
) -> None:
    store = kv()
    await store.set("counter", b"41", ttl=60)
    assert await store.incr("counter") == 42
    assert await raw.ttl(prefix + "counter") > 0
    await store.set("text", b"not a number")
    with pytest.raises(StorageError, match=r"redis at 127\.0\.0\.1:6379: INCR '.*text' failed"):
        await store.incr("text")


async def test_lost_redis_is_a_storage_error_naming_server_and_operation() -> None:
    port = unused_port()
    store = RedisKeyValueStore(f"redis://127.0.0.1:{port}/0", prefix="p:", cooldown=30)
    manager = RedisLockManager(f"redis://127.0.0.1:{port}/0", prefix="l:", cooldown=30)
    try:
        with pytest.raises(StorageError, match=rf"redis at 127\.0\.0\.1:{port}: GET 'p:k' failed"):
            await store.get("k")
        started = time.monotonic()
        with pytest.raises(StorageError, match=rf"redis at 127\.0\.0\.1:{port}: SET 'p:k' skipped"):
            await store.set("k", b"v")
        with pytest.raises(StorageError, match="PING skipped: unreachable"):
            await store.check()
        assert time.monotonic() - started < 0.5, "a known-dead Redis is not contacted again"

        with pytest.raises(StorageError, match=rf"redis at 127\.0\.0\.1:{port}: lock SET NX"):
            async with manager.lock("dist/foo", timeout=5):
                pytest.fail("locked without Redis")
    finally:
        await store.aclose()
        await manager.aclose()


async def test_cooldown_ends() -> None:
    store = RedisKeyValueStore(f"redis://127.0.0.1:{unused_port()}/0", cooldown=0.05)
    try:
        with pytest.raises(StorageError, match="failed"):
            await store.get("k")
        await asyncio.sleep(0.1)
        with pytest.raises(StorageError, match="failed"):
            await store.get("k")  # tried again (not "skipped") once the cool-down is over
    finally:
        await store.aclose()


def test_describe_url_hides_credentials() -> None:
    assert describe_url("redis://user:secret@cache.internal:6380/2") == "cache.internal:6380"
    assert describe_url("rediss://cache.internal") == "cache.internal:6379"
    assert describe_url("unix:///run/redis.sock?db=1") == "/run/redis.sock"


@pytest.mark.redis
async def test_lock_excludes_holders_in_other_replicas(
    locks: Callable[..., RedisLockManager],
) -> None:
    replicas = [locks(), locks(), locks()]
    inside = 0
    most = 0
    entered = 0

    async def critical(manager: RedisLockManager) -> None:
        nonlocal inside, most, entered
        async with manager.lock("dist/foo/foo-1.0.tar.gz", timeout=10):
            inside += 1
            most = max(most, inside)
            entered += 1
            await asyncio.sleep(0.02)
            inside -= 1

    await asyncio.gather(*(critical(m) for m in replicas for _ in range(4)))
    assert entered == 12
    assert most == 1


@pytest.mark.redis
async def test_lock_times_out_while_held_elsewhere(
    locks: Callable[..., RedisLockManager],
) -> None:
    holder, waiter = locks(), locks()
    async with holder.lock("k", timeout=1):
        started = time.monotonic()
        with pytest.raises(TimeoutError, match=r"lock '.*lock:k' .* not acquired within 0.3 s"):
            async with waiter.lock("k", timeout=0.3):
                pytest.fail("two holders")
        assert 0.25 <= time.monotonic() - started < 1.5
    async with waiter.lock("k", timeout=1):
        pass


@pytest.mark.redis
async def test_lease_is_renewed_while_held(
    locks: Callable[..., RedisLockManager], raw: Redis, prefix: str
) -> None:
    holder, waiter = locks(lease=0.5), locks(lease=0.5)
    async with holder.lock("long download", timeout=1):
        with pytest.raises(TimeoutError):
            async with waiter.lock("long download", timeout=1.6):  # over three leases
                pytest.fail("the lease expired while its holder was alive")
        assert 0 < await raw.pttl(prefix + "lock:long download") <= 500
    assert await raw.exists(prefix + "lock:long download") == 0, "released on exit"


@pytest.mark.redis
async def test_release_never_deletes_someone_elses_lock(
    locks: Callable[..., RedisLockManager],
    raw: Redis,
    prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first, second = locks(lease=0.15), locks()
    key = prefix + "lock:k"
    held_by_first = first.lock("k", timeout=1)
    with caplog.at_level(logging.WARNING, logger="storage.redis"):
        await held_by_first.__aenter__()
        await raw.delete(key)  # as if the lease had run out during a network partition
        async with second.lock("k", timeout=1):
            token = await raw.get(key)
            await asyncio.sleep(0.2)  # the first holder's renewal finds the key taken
            assert await raw.get(key) == token, "renewal must not extend another's lock"
            await held_by_first.__aexit__(None, None, None)
            assert await raw.get(key) == token, "release must not delete another's lock"
    assert "expired while held" in caplog.text


@pytest.mark.redis
async def test_release_on_error_and_on_cancellation(
    locks: Callable[..., RedisLockManager], raw: Redis, prefix: str
) -> None:
    manager = locks()
    with pytest.raises(RuntimeError, match="download failed"):
        async with manager.lock("k", timeout=1):
            raise RuntimeError("download failed")
    assert await raw.exists(prefix + "lock:k") == 0

    entered = asyncio.Event()

    async def hold_forever() -> None:
        async with manager.lock("k", timeout=1):
            entered.set()
            await asyncio.sleep(3600)

    task = asyncio.create_task(hold_forever())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await raw.exists(prefix + "lock:k") == 0


@pytest.mark.redis
async def test_a_cancelled_waiter_leaves_the_holders_lock_alone(
    locks: Callable[..., RedisLockManager], raw: Redis, prefix: str
) -> None:
    holder, waiter = locks(), locks()
    async with holder.lock("k", timeout=1):
        token = await raw.get(prefix + "lock:k")
        waiting = asyncio.create_task(waiter.lock("k", timeout=30).__aenter__())
        await asyncio.sleep(0.1)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert await raw.get(prefix + "lock:k") == token
    async with waiter.lock("k", timeout=1):
        pass


@pytest.mark.redis
async def test_closed_lock_manager_refuses(locks: Callable[..., RedisLockManager]) -> None:
    manager = locks()
    await manager.aclose()
    with pytest.raises(StorageError, match="closed"):
        async with manager.lock("k", timeout=1):
            pass


@pytest.mark.redis
async def test_policy_generation_is_seen_by_every_replica(
    kv: Callable[[], RedisKeyValueStore],
) -> None:
    first = SharedGeneration(kv(), interval=0.02)
    second = SharedGeneration(kv(), interval=0.02)
    await first.start()
    await second.start()
    seen: dict[str, asyncio.Queue[int]] = {"first": asyncio.Queue(), "second": asyncio.Queue()}

    async def record(name: str, value: int) -> None:
        seen[name].put_nowait(value)

    watchers = [
        asyncio.create_task(first.watch(lambda v: record("first", v))),
        asyncio.create_task(second.watch(lambda v: record("second", v))),
    ]
    try:
        assert await first.bump() == 1
        assert await asyncio.wait_for(seen["second"].get(), timeout=5) == 1
        assert await second.bump() == 2
        assert await asyncio.wait_for(seen["first"].get(), timeout=5) == 2
        await asyncio.sleep(0.1)  # five more polls each
        assert seen["first"].empty(), "a replica does not reload on its own bump"
        assert seen["second"].empty()
    finally:
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
