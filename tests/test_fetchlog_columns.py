"""Fetch-log columns newer than the first schema: a table made by an older pipgate gets
them at start-up (its rows read back with ``None``), and rows can be found by sha256."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from storage.base import FetchQuery
from storage.sqlite import SqliteFetchLog
from tests.support.fetchlog_records import digest, make_record

OLD_SCHEMA = (
    "CREATE TABLE fetch_log (id INTEGER PRIMARY KEY, time INTEGER NOT NULL,"
    " client TEXT NOT NULL, user_name TEXT, build TEXT, kind TEXT NOT NULL, project TEXT,"
    " version TEXT, filename TEXT, sha256 TEXT, size INTEGER, cache TEXT, upstream TEXT,"
    " url TEXT, status INTEGER NOT NULL, verdicts TEXT NOT NULL, attestation TEXT)"
)


async def test_an_old_table_gains_upload_time_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "fetchlog.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(OLD_SCHEMA)
        conn.execute(
            "INSERT INTO fetch_log (time, client, kind, project, status, verdicts)"
            " VALUES (1, '127.0.0.1', 'page', 'demo', 200, '[]')"
        )
    for _ in range(2):  # the second start finds the column already there
        log = SqliteFetchLog(path)
        await log.start()
        await log.aclose()
    log = SqliteFetchLog(path)
    await log.start()
    try:
        await log.append_durable(make_record(upload_time="2099-01-01T00:00:00.000000Z"))
        old, new = await log.query(FetchQuery())
    finally:
        await log.aclose()
    assert (old.project, old.upload_time) == ("demo", None)
    assert new.upload_time == "2099-01-01T00:00:00.000000Z"


async def test_rows_are_found_by_sha256_in_any_case(tmp_path: Path) -> None:
    log = SqliteFetchLog(tmp_path / "fetchlog.sqlite3")
    await log.start()
    try:
        for name in ("a-1.0-py3-none-any.whl", "b-1.0-py3-none-any.whl"):
            await log.append_durable(make_record(name, sha256=digest(name)))
        wanted = digest("b-1.0-py3-none-any.whl")
        found = await log.query(FetchQuery(sha256=wanted.upper()))
    finally:
        await log.aclose()
    assert [r.filename for r in found] == ["b-1.0-py3-none-any.whl"]
