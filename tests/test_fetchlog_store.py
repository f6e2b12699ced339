"""The FetchLogStore contract, run against SQLite and the real PostgreSQL server."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from storage.base import FetchQuery, FetchRecord, StorageError
from storage.fetchlog_sql import ManagedFetchLog
from storage.postgres import PostgresFetchLog
from storage.sqlite import SqliteFetchLog
from tests.support.fetchlog_records import (
    POSTGRES_DSN,
    T0,
    drop_table,
    make_record,
    postgres_unreachable_reason,
    unique_table,
)

Opener = Callable[[], ManagedFetchLog]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def opener(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    """Makes unstarted stores that all share one database (file or table)."""
    if request.param == "sqlite":
        path = tmp_path / "data" / "fetchlog.sqlite3"
        yield lambda: SqliteFetchLog(path)
        return
    reason = await postgres_unreachable_reason()
    if reason is not None:
        pytest.skip(reason)
    table = unique_table()
    yield lambda: PostgresFetchLog(POSTGRES_DSN, table=table)
    await drop_table(table)


@pytest.fixture
async def store(opener: Opener) -> AsyncIterator[ManagedFetchLog]:
    log = opener()
    await log.start()
    yield log
    await log.aclose()


async def test_round_trip_keeps_every_field(store: ManagedFetchLog) -> None:
    record = make_record(
        user="alice",
        attestation="verified:github:acme/demo/.github/workflows/release.yml",
        verdicts=(
            {"policy": "osv", "decision": "warn", "reason": "GHSA-1"},
            {"policy": "typosquat", "decision": "deny", "reason": "near 'demos'", "mode": "audit"},
        ),
    )
    page = dataclasses.replace(
        make_record(), kind="page", filename=None, sha256=None, version=None, size=None, url=None
    )
    await store.append(record)
    await store.append(dataclasses.replace(page, time=T0 + dt.timedelta(seconds=1)))
    await store.flush()
    rows = await store.query(FetchQuery())
    assert rows == [record, dataclasses.replace(page, time=T0 + dt.timedelta(seconds=1))]


async def test_many_concurrent_appends_are_all_kept(store: ManagedFetchLog) -> None:
    async def client(n: int) -> None:
        for i in range(40):
            await store.append(make_record(f"p{n}-{i}.0.tar.gz", client=f"10.0.0.{n}"))

    await asyncio.gather(*(client(n) for n in range(50)))
    await store.flush()
    rows = await store.query(FetchQuery())
    assert len(rows) == 2000
    assert {r.filename for r in rows} == {
        f"p{n}-{i}.0.tar.gz" for n in range(50) for i in range(40)
    }


async def test_append_is_committed_soon_without_flush(
    opener: Opener, store: ManagedFetchLog
) -> None:
    reader = opener()
    await reader.start()
    try:
        await store.append(make_record())
        started = time.monotonic()
        while not await reader.query(FetchQuery()):
            assert time.monotonic() - started < 1.0, "row not committed within 1 s"
            await asyncio.sleep(0.005)
    finally:
        await reader.aclose()


async def test_append_durable_returns_after_commit(opener: Opener, store: ManagedFetchLog) -> None:
    await store.append_durable(make_record())
    reader = opener()  # another connection: the row must be in the database, not in memory
    await reader.start()
    try:
        assert [r.filename for r in await reader.query(FetchQuery())] == [make_record().filename]
    finally:
        await reader.aclose()


async def test_aclose_commits_what_is_queued(opener: Opener) -> None:
    writer = opener()
    await writer.start()
    for i in range(300):
        await writer.append(make_record(f"q-{i}.0.tar.gz"))
    await writer.aclose()
    reader = opener()
    await reader.start()
    try:
        assert len(await reader.query(FetchQuery())) == 300
    finally:
        await reader.aclose()


def _slice() -> list[FetchRecord]:
    at = [T0 + dt.timedelta(hours=h) for h in range(6)]
    return [
        make_record("alpha-1.0.tar.gz", time=at[0], build="b1", client="10.0.0.1", user="ann"),
        make_record("Foo_Bar-2.0.tar.gz", time=at[1], build="b1", project="foo-bar"),
        make_record("alpha-1.1.tar.gz", time=at[2], build="b2", client="10.0.0.2", user="bob"),
        make_record("alpha-1.2.tar.gz", time=at[3], build=None, kind="metadata"),
        make_record("gamma-3.0.tar.gz", time=at[4], build="b2", client="10.0.0.1"),
        make_record("delta-4.0.tar.gz", time=at[5], build="b3", kind="provenance"),
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            FetchQuery(),
            ["alpha-1.0", "Foo_Bar-2.0", "alpha-1.1", "alpha-1.2", "gamma-3.0", "delta-4.0"],
        ),
        (FetchQuery(build="b2"), ["alpha-1.1", "gamma-3.0"]),
        (FetchQuery(project="alpha"), ["alpha-1.0", "alpha-1.1", "alpha-1.2"]),
        (FetchQuery(project="FOO.bar"), ["Foo_Bar-2.0"]),
        (FetchQuery(client="10.0.0.1"), ["alpha-1.0", "gamma-3.0"]),
        (FetchQuery(user="bob"), ["alpha-1.1"]),
        (
            FetchQuery(since=T0 + dt.timedelta(hours=2)),
            ["alpha-1.1", "alpha-1.2", "gamma-3.0", "delta-4.0"],
        ),
        (FetchQuery(until=T0 + dt.timedelta(hours=2)), ["alpha-1.0", "Foo_Bar-2.0"]),
        (FetchQuery(kinds=("metadata", "provenance")), ["alpha-1.2", "delta-4.0"]),
        (FetchQuery(kinds=()), []),
        (FetchQuery(limit=2), ["gamma-3.0", "delta-4.0"]),
        (
            FetchQuery(build="b1", project="alpha", client="10.0.0.1", kinds=("dist",)),
            ["alpha-1.0"],
        ),
        (
            FetchQuery(
                since=(T0 + dt.timedelta(hours=1)).astimezone(dt.timezone(dt.timedelta(hours=5))),
                until=(T0 + dt.timedelta(hours=4)).replace(tzinfo=None),  # naive = UTC
            ),
            ["Foo_Bar-2.0", "alpha-1.1", "alpha-1.2"],
        ),
    ],
)
async def test_query_filters(
    store: ManagedFetchLog, query: FetchQuery, expected: list[str]
) -> None:
    for record in reversed(_slice()):  # insertion order must not matter: rows sort by time
        await store.append(record)
    await store.flush()
    rows = await store.query(query)
    assert [r.filename.removesuffix(".tar.gz") for r in rows if r.filename] == expected


async def test_prune_deletes_only_older_rows(store: ManagedFetchLog) -> None:
    for record in _slice():
        await store.append(record)
    cutoff = T0 + dt.timedelta(hours=3)
    assert await store.prune(cutoff) == 3
    remaining = await store.query(FetchQuery())
    assert [r.time for r in remaining] == [T0 + dt.timedelta(hours=h) for h in (3, 4, 5)]
    assert await store.prune(cutoff) == 0


async def test_check_passes_on_a_working_store(store: ManagedFetchLog) -> None:
    await store.check()


async def test_store_refuses_use_outside_its_lifetime(opener: Opener) -> None:
    log = opener()
    with pytest.raises(StorageError, match=r"before start\(\)"):
        await log.append(make_record())
    await log.start()
    await log.aclose()
    await log.aclose()  # idempotent
    with pytest.raises(StorageError, match="stopped"):
        await log.append(make_record())
    with pytest.raises(StorageError, match="stopped"):
        await log.query(FetchQuery())
