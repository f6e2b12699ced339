"""The embedded fetch log: one SQLite file in WAL mode, written by a dedicated thread.

Requests never wait for the disk: ``append`` puts the row on a queue and returns. The
writer thread commits whatever is queued in one transaction (group commit: rows that
arrive during a commit go into the next one), so a row is committed within a few
milliseconds under normal load and well inside 50 ms under heavy load.

Durability: ``journal_mode=WAL`` with ``synchronous=NORMAL``. A committed transaction is
in the WAL file, i.e. in the operating system's page cache, before ``COMMIT`` returns, so
it survives the *process* being killed (``kill -9``, OOM killer, a crash). Only an
operating-system crash or power loss can lose the last commits; ``full_sync=True``
(``synchronous=FULL``, an fsync per commit) closes that gap at the cost of latency.
``append_durable`` waits for that commit: the app uses it for artifacts (docs/sbom.md).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, SimpleQueue
from typing import Any, TypeVar

from storage.base import FetchQuery, FetchRecord, StorageError
from storage.fetchlog_sql import (
    ADDED_COLUMNS,
    BATCH_MAX_ROWS,
    COLUMNS,
    INDEXED_COLUMNS,
    WRITE_ATTEMPTS,
    log_lost_rows,
    logger,
    record_from_values,
    record_values,
    select_statement,
    utc,
)

_TABLE = "fetch_log"
_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {_TABLE} ("
    " id INTEGER PRIMARY KEY,"
    " time INTEGER NOT NULL,"  # microseconds since the epoch, UTC: exact and sortable
    " client TEXT NOT NULL, user_name TEXT, build TEXT, kind TEXT NOT NULL, project TEXT,"
    " version TEXT, filename TEXT, sha256 TEXT, size INTEGER, cache TEXT, upstream TEXT,"
    " url TEXT, status INTEGER NOT NULL, verdicts TEXT NOT NULL, attestation TEXT,"
    " upload_time TEXT)",
    *(
        f"CREATE INDEX IF NOT EXISTS {_TABLE}_{column} ON {_TABLE} ({column}"
        + (")" if column == "time" else ", time)")
        for column in INDEXED_COLUMNS
    ),
)
_PLACEHOLDERS = ", ".join("?" * len(COLUMNS))
_INSERT = f"INSERT INTO {_TABLE} ({', '.join(COLUMNS)}) VALUES ({_PLACEHOLDERS})"  # noqa: S608
_DELETE_OLDER = f"DELETE FROM {_TABLE} WHERE time < ?"  # noqa: S608
_PROBE = f"SELECT 1 FROM {_TABLE} LIMIT 1"  # noqa: S608
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_BUSY_TIMEOUT_MS = 10_000
_T = TypeVar("_T")


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    """Bring a table made by an older pipgate up to ``COLUMNS`` (another worker may race)."""
    present = {row[1] for row in conn.execute(f"PRAGMA table_info({_TABLE})")}
    for column, kind in ADDED_COLUMNS:
        if column in present:
            continue
        try:
            conn.execute(f"ALTER TABLE {_TABLE} ADD COLUMN {column} {kind}")
        except sqlite3.OperationalError as error:
            if "duplicate column" not in str(error):
                raise


def _micros(moment: dt.datetime) -> int:
    return (utc(moment) - _EPOCH) // dt.timedelta(microseconds=1)


def _from_micros(value: object) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=int(str(value)))


@dataclass(slots=True)
class _Append:
    record: FetchRecord
    done: concurrent.futures.Future[None] | None = None


@dataclass(slots=True)
class _Call:
    """Anything but an append: runs after every row queued before it is committed."""

    action: str  # "barrier", "prune" or "stop"
    cutoff: dt.datetime | None = None
    done: concurrent.futures.Future[int] = field(default_factory=concurrent.futures.Future)


def _succeed(future: concurrent.futures.Future[_T] | None, result: _T) -> None:
    # A waiter that was cancelled (client gone) no longer cares; the row is written anyway.
    if future is not None and not future.done():
        with contextlib.suppress(concurrent.futures.InvalidStateError):
            future.set_result(result)


def _fail(future: concurrent.futures.Future[Any] | None, error: BaseException) -> None:
    if future is not None and not future.done():
        with contextlib.suppress(concurrent.futures.InvalidStateError):
            future.set_exception(error)


class SqliteFetchLog:
    """``FetchLogStore`` on one SQLite file (``<data_dir>/fetchlog.sqlite3`` by default)."""

    def __init__(self, path: Path, *, full_sync: bool = False) -> None:
        self._path = path
        self._synchronous = "FULL" if full_sync else "NORMAL"
        self._ops: SimpleQueue[_Append | _Call] = SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._failure: BaseException | None = None

    @property
    def path(self) -> Path:
        return self._path

    async def start(self) -> None:
        """Create the file and schema if needed and start the writer thread."""
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="pipgate-fetchlog-sqlite", daemon=True
        )
        self._thread.start()
        await asyncio.wrap_future(ready)

    async def append(self, record: FetchRecord) -> None:
        self._enqueue(_Append(record))

    async def append_durable(self, record: FetchRecord) -> None:
        """Queue ``record`` and return once it is committed (raises ``StorageError`` if not).

        Cancelling the caller only stops the wait: the row is still written.
        """
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._enqueue(_Append(record, done))
        await asyncio.wrap_future(done)

    async def flush(self) -> None:
        """Return once every row queued before this call is committed."""
        await self._call(_Call("barrier"))

    async def prune(self, older_than: dt.datetime) -> int:
        """Delete rows older than ``older_than``; returns how many."""
        return await self._call(_Call("prune", cutoff=older_than))

    async def query(self, query: FetchQuery) -> list[FetchRecord]:
        self._require_running()
        return await asyncio.to_thread(self._select, query)

    async def check(self) -> None:
        self._require_running()
        if self._failure is not None:
            raise StorageError(
                f"fetch log {self._path}: the last write failed: {self._failure}"
            ) from self._failure
        await asyncio.to_thread(self._probe)

    async def aclose(self) -> None:
        """Commit everything queued, then stop the writer thread. Idempotent."""
        if self._thread is None or self._closed:
            return
        if not self._thread.is_alive():
            self._closed = True
            return
        stop = _Call("stop")
        self._ops.put(stop)
        self._closed = True
        await asyncio.wrap_future(stop.done)
        await asyncio.to_thread(self._thread.join)

    def _require_running(self) -> None:
        if self._thread is None:
            raise StorageError(f"fetch log {self._path}: used before start()")
        if self._closed or not self._thread.is_alive():
            raise StorageError(f"fetch log {self._path}: the writer is stopped")

    def _enqueue(self, op: _Append | _Call) -> None:
        self._require_running()
        self._ops.put(op)

    async def _call(self, call: _Call) -> int:
        self._enqueue(call)
        return await asyncio.wrap_future(call.done)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, timeout=_BUSY_TIMEOUT_MS / 1000)
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        return conn

    # --- the writer thread -------------------------------------------------------------

    def _run(self, ready: concurrent.futures.Future[None]) -> None:
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._connect()
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            with conn:
                for statement in _SCHEMA:
                    conn.execute(statement)
                _add_missing_columns(conn)
        except (OSError, sqlite3.Error) as error:
            ready.set_exception(
                StorageError(f"fetch log {self._path}: cannot open the database: {error}")
            )
            return
        ready.set_result(None)
        try:
            while self._serve_guarded(conn, self._take_batch()):
                pass
        finally:
            conn.close()

    def _serve_guarded(self, conn: sqlite3.Connection, batch: list[_Append | _Call]) -> bool:
        try:
            return self._serve_batch(conn, batch)
        except Exception as error:  # a bug must fail this batch's waiters, not kill the writer
            logger.exception("fetch log %s: writer failed on a batch", self._path)
            failure = StorageError(f"fetch log {self._path}: writer failed: {error!r}")
            for op in batch:
                _fail(op.done, failure)
            last = batch[-1]
            return not (isinstance(last, _Call) and last.action == "stop")

    def _take_batch(self) -> list[_Append | _Call]:
        batch = [self._ops.get()]
        while len(batch) < BATCH_MAX_ROWS and not isinstance(batch[-1], _Call):
            try:
                batch.append(self._ops.get_nowait())
            except Empty:
                break
        return batch

    def _serve_batch(self, conn: sqlite3.Connection, batch: list[_Append | _Call]) -> bool:
        """Commit the batch's rows, then run its call (at most one, always last)."""
        appends = [op for op in batch if isinstance(op, _Append)]
        if appends:
            error = self._insert(conn, [op.record for op in appends])
            for op in appends:
                if error is None:
                    _succeed(op.done, None)
                else:
                    _fail(op.done, StorageError(f"fetch log {self._path}: {error}"))
        last = batch[-1]
        if not isinstance(last, _Call):
            return True
        if last.action == "prune":
            self._prune(conn, last)
        else:
            _succeed(last.done, 0)
        return last.action != "stop"

    def _insert(self, conn: sqlite3.Connection, records: list[FetchRecord]) -> sqlite3.Error | None:
        rows = [(_micros(r.time), *record_values(r)[1:]) for r in records]
        error: sqlite3.Error | None = None
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with conn:
                    conn.executemany(_INSERT, rows)
            except sqlite3.Error as exc:
                error = exc
                if attempt + 1 < WRITE_ATTEMPTS:
                    time.sleep(0.1 * 2**attempt)
                continue
            self._failure = None
            return None
        assert error is not None
        self._failure = error
        log_lost_rows(records, error)
        return error

    def _prune(self, conn: sqlite3.Connection, call: _Call) -> None:
        assert call.cutoff is not None
        try:
            with conn:
                cursor = conn.execute(_DELETE_OLDER, (_micros(call.cutoff),))
        except sqlite3.Error as error:
            _fail(call.done, StorageError(f"fetch log {self._path}: prune: {error}"))
            return
        _succeed(call.done, cursor.rowcount)

    # --- readers (worker threads, their own connection) -------------------------------

    def _select(self, query: FetchQuery) -> list[FetchRecord]:
        sql, params = select_statement(_TABLE, query, lambda _: "?", _micros)
        try:
            conn = self._connect()
            try:
                conn.execute("PRAGMA query_only = ON")
                rows = conn.execute(sql, params).fetchall()
            finally:
                conn.close()
        except sqlite3.Error as error:
            raise StorageError(f"fetch log {self._path}: query failed: {error}") from error
        return [record_from_values(row[1:], _from_micros(row[1])) for row in rows]

    def _probe(self) -> None:
        try:
            conn = self._connect()
            try:
                conn.execute(_PROBE).fetchall()
            finally:
                conn.close()
        except sqlite3.Error as error:
            raise StorageError(f"fetch log {self._path}: not readable: {error}") from error


__all__ = ["SqliteFetchLog"]
