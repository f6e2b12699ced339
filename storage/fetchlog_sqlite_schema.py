"""The embedded fetch log's table, indexes, rollups and statements, and how it stores times
(microseconds since the epoch, UTC: exact and sortable)."""

from __future__ import annotations

import datetime as dt
import sqlite3

from storage.fetchlog_reports import Dialect, report_indexes
from storage.fetchlog_rollups import rollup_sql
from storage.fetchlog_sql import ADDED_COLUMNS, COLUMNS, INDEXED_COLUMNS, utc

TABLE = "fetch_log"
SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    " id INTEGER PRIMARY KEY,"
    " time INTEGER NOT NULL,"  # microseconds since the epoch, UTC: exact and sortable
    " client TEXT NOT NULL, user_name TEXT, build TEXT, kind TEXT NOT NULL, project TEXT,"
    " version TEXT, filename TEXT, sha256 TEXT, size INTEGER, cache TEXT, upstream TEXT,"
    " url TEXT, status INTEGER NOT NULL, verdicts TEXT NOT NULL, attestation TEXT,"
    " upload_time TEXT)",
    *(
        f"CREATE INDEX IF NOT EXISTS {TABLE}_{column} ON {TABLE} ({column}"
        + (")" if column == "time" else ", time)")
        for column in INDEXED_COLUMNS
    ),
    *report_indexes(TABLE, "'[]'"),
)
ROLLUPS = rollup_sql(TABLE, lambda _: "?", "INTEGER", "(time / 3600000000)")
_PLACEHOLDERS = ", ".join("?" * len(COLUMNS))
INSERT = f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({_PLACEHOLDERS})"  # noqa: S608
DELETE_OLDER = f"DELETE FROM {TABLE} WHERE time < ?"  # noqa: S608
PROBE = f"SELECT 1 FROM {TABLE} LIMIT 1"  # noqa: S608
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def micros(moment: dt.datetime) -> int:
    return (utc(moment) - _EPOCH) // dt.timedelta(microseconds=1)


def from_micros(value: object) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=int(str(value)))


def add_missing_columns(conn: sqlite3.Connection) -> None:
    """Bring a table made by an older pipgate up to ``COLUMNS`` (another worker may race)."""
    present = {row[1] for row in conn.execute(f"PRAGMA table_info({TABLE})")}
    for column, kind in ADDED_COLUMNS:
        if column in present:
            continue
        try:
            conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN {column} {kind}")
        except sqlite3.OperationalError as error:
            if "duplicate column" not in str(error):
                raise


DIALECT = Dialect(TABLE, lambda _: "?", micros, from_micros, "verdicts", "'[]'")


__all__ = [
    "DELETE_OLDER",
    "DIALECT",
    "INSERT",
    "PROBE",
    "ROLLUPS",
    "SCHEMA",
    "TABLE",
    "add_missing_columns",
    "from_micros",
    "micros",
]
