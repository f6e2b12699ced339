"""What is specific to the SQLite fetch log: file setup, WAL, indexes, write failures, and
the choice of backend from ``fetchlog_url``."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.base import FetchQuery, StorageError
from storage.fetchlog_sql import (
    check_identifier,
    enforce_retention,
    open_fetch_log,
    sqlite_path,
)
from storage.postgres import PostgresFetchLog
from storage.sqlite import SqliteFetchLog
from tests.support.fetchlog_records import make_record


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteFetchLog]:
    log = SqliteFetchLog(tmp_path / "nested" / "dir" / "fetchlog.sqlite3")
    await log.start()
    yield log
    await log.aclose()


def _connect(path: Path) -> contextlib.closing[sqlite3.Connection]:
    return contextlib.closing(sqlite3.connect(path))


async def test_start_creates_the_file_in_wal_mode_with_indexes(store: SqliteFetchLog) -> None:
    assert store.path.is_file()
    with _connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        indexes = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
    assert {"fetch_log_time", "fetch_log_build", "fetch_log_project", "fetch_log_client"} <= indexes


async def test_verdicts_are_stored_as_json(store: SqliteFetchLog) -> None:
    await store.append_durable(make_record())
    with _connect(store.path) as conn:
        (text,) = conn.execute("SELECT verdicts FROM fetch_log").fetchone()
    assert text == '[{"decision": "warn", "policy": "release-age", "reason": "3 days old"}]'


async def test_filtered_queries_use_the_indexes(store: SqliteFetchLog) -> None:
    with _connect(store.path) as conn:
        plans = {
            column: " ".join(
                str(row[-1])
                for row in conn.execute(
                    f"EXPLAIN QUERY PLAN SELECT * FROM fetch_log WHERE {column} = ? ORDER BY time",
                    ("x",),
                )
            )
            for column in ("build", "project", "client")
        }
    for column, plan in plans.items():
        assert f"fetch_log_{column}" in plan, plan


async def test_start_fails_clearly_when_the_file_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a directory should be")
    log = SqliteFetchLog(blocker / "fetchlog.sqlite3")
    with pytest.raises(StorageError, match="cannot open the database"):
        await log.start()


async def test_a_failing_write_is_reported_and_logged_not_silently_dropped(
    store: SqliteFetchLog, caplog: pytest.LogCaptureFixture
) -> None:
    with _connect(store.path) as conn:
        conn.execute("DROP TABLE fetch_log")
        conn.commit()
    with caplog.at_level(logging.ERROR, logger="pipgate.fetchlog"):
        with pytest.raises(StorageError, match="no such table"):
            await store.append_durable(make_record("lost-1.0.tar.gz"))
        with pytest.raises(StorageError, match="last write failed"):
            await store.check()
    assert any("lost-1.0.tar.gz" in message for message in caplog.messages)
    await store.flush()  # the writer survived the failure


async def test_a_cancelled_durable_append_is_still_written(store: SqliteFetchLog) -> None:
    task = asyncio.create_task(store.append_durable(make_record("kept-1.0.tar.gz")))
    await asyncio.sleep(0)
    task.cancel()
    await store.flush()
    assert [r.filename for r in await store.query(FetchQuery())] == ["kept-1.0.tar.gz"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("", Path("data") / "fetchlog.sqlite3"),
        ("sqlite:///var/lib/pipgate/log.db", Path("/var/lib/pipgate/log.db")),
        ("sqlite:relative/log.db", Path("relative/log.db")),
        ("postgresql://pipgate@db.internal/pipgate", None),
        ("postgres://pipgate@db.internal/pipgate", None),
    ],
)
def test_sqlite_path_follows_the_url(url: str, expected: Path | None) -> None:
    assert sqlite_path(url, Path("data")) == expected


def test_sqlite_path_rejects_other_schemes() -> None:
    with pytest.raises(ValueError, match="expected empty, sqlite:///path"):
        sqlite_path("mysql://db/x", Path("data"))


def test_open_fetch_log_picks_the_backend(tmp_path: Path) -> None:
    assert isinstance(open_fetch_log("", tmp_path), SqliteFetchLog)
    assert isinstance(open_fetch_log("postgresql://u@h/db", tmp_path), PostgresFetchLog)


@pytest.mark.parametrize("name", ["fetch-log", "1abc", "a;drop table x", "A", "x" * 42])
def test_table_names_that_are_not_plain_identifiers_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="invalid fetch log table name"):
        check_identifier(name)


async def _wait_for_filenames(store: SqliteFetchLog, expected: list[str]) -> None:
    for _ in range(500):
        if [r.filename for r in await store.query(FetchQuery())] == expected:
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"rows never became {expected}")


async def test_retention_prunes_old_rows_periodically(store: SqliteFetchLog) -> None:
    now = dt.datetime.now(dt.UTC)
    await store.append(make_record("old-1.0.tar.gz", time=now - dt.timedelta(days=31)))
    await store.append(make_record("new-1.0.tar.gz", time=now - dt.timedelta(days=29)))
    task = asyncio.create_task(enforce_retention(store, 30, interval=0.01))
    try:
        await _wait_for_filenames(store, ["new-1.0.tar.gz"])
        await store.append(make_record("late-1.0.tar.gz", time=now - dt.timedelta(days=40)))
        await store.flush()
        await _wait_for_filenames(store, ["new-1.0.tar.gz"])  # a later round removed it
    finally:
        task.cancel()


async def test_retention_zero_keeps_everything(store: SqliteFetchLog) -> None:
    old = make_record(time=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    await store.append(old)
    await enforce_retention(store, 0)  # returns at once instead of looping
    await store.flush()
    assert await store.query(FetchQuery()) == [old]
