"""The shared change feed: a change published by one process reaches every other one, once,
and whatever cannot be read becomes "every project changed" rather than nothing."""

from __future__ import annotations

import pytest

from storage.base import StorageError
from storage.change_feed import ChangeFeed, FeedEntry, decode_entry, encode_entry
from storage.memory import MemoryKeyValueStore


async def started(kv: MemoryKeyValueStore) -> ChangeFeed:
    feed = ChangeFeed(kv)
    await feed.start()
    return feed


async def test_an_entry_published_by_one_replica_reaches_the_others_once() -> None:
    kv = MemoryKeyValueStore()
    one, two, three = [await started(kv) for _ in range(3)]

    await one.publish(FeedEntry("admin", frozenset({"demo"})))
    await two.publish(FeedEntry("admin", None))

    assert await one.poll() == [FeedEntry("admin", None)]  # not its own
    assert await two.poll() == [FeedEntry("admin", frozenset({"demo"}))]
    assert await three.poll() == [
        FeedEntry("admin", frozenset({"demo"})),
        FeedEntry("admin", None),
    ]
    assert await three.poll() == []


async def test_what_was_published_before_start_is_not_replayed() -> None:
    kv = MemoryKeyValueStore()
    await (await started(kv)).publish(FeedEntry("admin", frozenset({"old"})))
    late = await started(kv)
    assert await late.poll() == []


async def test_an_entry_not_written_yet_is_waited_for_then_taken_as_everything() -> None:
    kv = MemoryKeyValueStore()
    follower = await started(kv)
    await kv.incr("change-feed")  # a publisher between its incr and its set

    assert await follower.poll() == []
    await kv.set("change-feed/1", encode_entry(FeedEntry("admin", frozenset({"late"}))))
    assert await follower.poll() == [FeedEntry("admin", frozenset({"late"}))]

    await kv.incr("change-feed")  # this one is never written (the publisher died)
    assert await follower.poll() == []
    assert await follower.poll() == []
    assert await follower.poll() == [FeedEntry("change-feed", None)]


async def test_an_invalid_entry_drops_everything() -> None:
    kv = MemoryKeyValueStore()
    follower = await started(kv)
    await kv.incr("change-feed")
    await kv.set("change-feed/1", b'{"projects": 3}')
    assert await follower.poll() == [FeedEntry("change-feed", None)]


async def test_a_store_down_at_start_means_everything_once_it_answers() -> None:
    kv = MemoryKeyValueStore()
    await kv.set("change-feed", b"not a number")
    follower = ChangeFeed(kv)
    await follower.start()  # logged, not raised
    assert await follower.poll() == []
    await kv.set("change-feed", b"4")
    assert await follower.poll() == [FeedEntry("change-feed", None)]
    assert await follower.poll() == []


def test_entries_round_trip_and_bad_ones_are_refused() -> None:
    entry = FeedEntry("osv", frozenset({"a", "b"}))
    assert decode_entry(encode_entry(entry)) == entry
    assert decode_entry(encode_entry(FeedEntry("reload", None))) == FeedEntry("reload", None)
    huge = FeedEntry("osv", frozenset(f"p{i}" for i in range(20_000)))
    assert decode_entry(encode_entry(huge)) == FeedEntry("osv", None)
    for raw in (b"[]", b'{"source": 1}', b'{"source": "x", "projects": [1]}', b"{"):
        with pytest.raises(ValueError, match=r".+"):
            decode_entry(raw)


async def test_a_corrupt_counter_is_a_storage_error_on_publish_too() -> None:
    kv = MemoryKeyValueStore()
    await kv.set("change-feed", b"x")
    with pytest.raises(StorageError):
        await ChangeFeed(kv).publish(FeedEntry("admin", None))


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        ChangeFeed(MemoryKeyValueStore(), interval=0)
