"""What is specific to the PostgreSQL fetch log (the shared contract is in
test_fetchlog_store.py and test_fetchlog_crash.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import asyncpg
import pytest

from storage.base import StorageError
from storage.postgres import PostgresFetchLog
from tests.support.fetchlog_records import (
    POSTGRES_DSN,
    drop_table,
    make_record,
    postgres_unreachable_reason,
    unique_table,
)


@pytest.fixture
async def table() -> AsyncIterator[str]:
    reason = await postgres_unreachable_reason()
    if reason is not None:
        pytest.skip(reason)
    name = unique_table()
    yield name
    await drop_table(name)


async def _fetch(sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(POSTGRES_DSN, timeout=5)
    try:
        rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
        return rows
    finally:
        await conn.close()


@pytest.mark.postgres
async def test_replicas_starting_together_create_one_schema(table: str) -> None:
    stores = [PostgresFetchLog(POSTGRES_DSN, table=table) for _ in range(4)]
    await asyncio.gather(*(store.start() for store in stores))
    try:
        await asyncio.gather(
            *(s.append_durable(make_record(f"r{i}-1.0.tar.gz")) for i, s in enumerate(stores))
        )
    finally:
        await asyncio.gather(*(store.aclose() for store in stores))
    indexes = {
        r["indexname"]
        for r in await _fetch("SELECT indexname FROM pg_indexes WHERE tablename = $1", table)
    }
    assert {f"{table}_{c}" for c in ("time", "build", "project", "client")} <= indexes
    types = dict(
        await _fetch(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1",
            table,
        )
    )
    assert types["verdicts"] == "jsonb"
    assert types["time"] == "timestamp with time zone"
    rows = await _fetch(f"SELECT verdicts->0->>'policy' AS policy FROM {table}")
    assert [r["policy"] for r in rows] == ["release-age"] * 4


@pytest.mark.postgres
async def test_a_failing_write_is_reported_and_logged(
    table: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = PostgresFetchLog(POSTGRES_DSN, table=table)
    await store.start()
    try:
        await _fetch(f"DROP TABLE {table}")
        with caplog.at_level(logging.ERROR, logger="pipgate.fetchlog"):
            with pytest.raises(StorageError, match="does not exist"):
                await store.append_durable(make_record("lost-1.0.tar.gz"))
            with pytest.raises(StorageError, match="last write failed"):
                await store.check()
        assert any("lost-1.0.tar.gz" in message for message in caplog.messages)
        await store.flush()  # the writer survived the failure
        # Once the table is back, readiness recovers without waiting for another write.
        other = PostgresFetchLog(POSTGRES_DSN, table=table)
        await other.start()  # creates the table again
        await other.aclose()
        await store.check()
    finally:
        await store.aclose()


async def test_an_unreachable_server_fails_start_without_leaking_the_password() -> None:
    store = PostgresFetchLog("postgresql://pipgate:s3cret@127.0.0.1:1/pipgate")
    with pytest.raises(StorageError, match="cannot open") as caught:
        await store.start()
    assert "s3cret" not in str(caught.value)
    assert "postgresql://pipgate@127.0.0.1:1/pipgate" in str(caught.value)
