"""The scale-out fetch log: a PostgreSQL table shared by every replica (asyncpg).

Same contract as ``storage.sqlite``: ``append`` queues and returns, one background task
commits what is queued in one transaction per batch (group commit), ``append_durable``
waits for that commit, ``flush`` waits for everything queued before it. Every write
transaction sets ``synchronous_commit = on``, so a commit that returned is on the server's
disk whatever the server default is. The table (``pipgate_fetch_log`` by default) and its
indexes are created at ``start()``, under an advisory lock so replicas starting together
do not race.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from storage.base import FetchQuery, FetchRecord, StorageError
from storage.fetchlog_sql import (
    ADDED_COLUMNS,
    BATCH_MAX_ROWS,
    COLUMNS,
    INDEXED_COLUMNS,
    WRITE_ATTEMPTS,
    check_identifier,
    log_lost_rows,
    logger,
    record_from_values,
    record_values,
    select_statement,
    utc,
)

_DB_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)
_ACQUIRE_TIMEOUT = 10.0
_SCHEMA_LOCK_KEY = 0x70697067  # "pipg": serialises CREATE ... IF NOT EXISTS across replicas


@dataclass(slots=True)
class _Append:
    record: FetchRecord
    done: asyncio.Future[None] | None = None


@dataclass(slots=True)
class _Call:
    """Anything but an append: runs after every row queued before it is committed."""

    action: str  # "barrier" or "stop"
    done: asyncio.Future[int]


def _settle(future: asyncio.Future[Any] | None, result: Any, error: BaseException | None) -> None:
    # A waiter that was cancelled (client gone) no longer cares; the row is written anyway.
    if future is None or future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _redacted(dsn: str) -> str:
    parts = urlsplit(dsn)
    user = f"{parts.username}@" if parts.username else ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{user}{parts.hostname or ''}{port}{parts.path}"


class PostgresFetchLog:
    """``FetchLogStore`` on a PostgreSQL table; ``dsn`` is the ``postgresql://`` URL."""

    def __init__(self, dsn: str, *, table: str = "pipgate_fetch_log", pool_size: int = 4) -> None:
        self._dsn = dsn
        self._name = f"fetch log {_redacted(dsn)} table {table}"
        self._table = check_identifier(table)
        self._pool_size = pool_size
        self._pool: Any = None
        self._ops: asyncio.Queue[_Append | _Call] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._closed = False
        self._failure: BaseException | None = None
        values = ", ".join(
            f"${i}::jsonb" if column == "verdicts" else f"${i}"
            for i, column in enumerate(COLUMNS, start=1)
        )
        # The table name went through check_identifier; every value is a bound parameter.
        self._insert_sql = f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({values})"  # noqa: S608
        self._delete_sql = f"DELETE FROM {table} WHERE time < $1"  # noqa: S608
        self._probe_sql = f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT 1) AS probe"  # noqa: S608

    async def start(self) -> None:
        """Open the pool, create the table and indexes if needed, start the writer task."""
        try:
            self._pool = await asyncpg.create_pool(
                self._dsn, min_size=1, max_size=self._pool_size, timeout=_ACQUIRE_TIMEOUT
            )
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK_KEY)
                for statement in self._schema():
                    await conn.execute(statement)
        except _DB_ERRORS as error:
            if self._pool is not None:
                await self._pool.close()
                self._pool = None
            raise StorageError(f"{self._name}: cannot open: {error}") from error
        self._writer = asyncio.create_task(self._run(), name="pipgate-fetchlog-postgres")

    def _schema(self) -> list[str]:
        table = self._table
        create = (
            f"CREATE TABLE IF NOT EXISTS {table} ("
            " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
            " time TIMESTAMPTZ NOT NULL, client TEXT NOT NULL, user_name TEXT, build TEXT,"
            " kind TEXT NOT NULL, project TEXT, version TEXT, filename TEXT, sha256 TEXT,"
            " size BIGINT, cache TEXT, upstream TEXT, url TEXT, status INTEGER NOT NULL,"
            " verdicts JSONB NOT NULL, attestation TEXT, upload_time TEXT)"
        )
        # Tables made by an older pipgate get the newer columns (under the schema lock).
        added = [
            f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}"
            for column, kind in ADDED_COLUMNS
        ]
        indexes = [
            f"CREATE INDEX IF NOT EXISTS {table}_{column} ON {table} "
            + ("(time)" if column == "time" else f"({column}, time)")
            for column in INDEXED_COLUMNS
        ]
        return [create, *added, *indexes]

    async def append(self, record: FetchRecord) -> None:
        self._enqueue(_Append(record))

    async def append_durable(self, record: FetchRecord) -> None:
        """Queue ``record`` and return once it is committed (raises ``StorageError`` if not).

        Cancelling the caller only stops the wait: the row is still written.
        """
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._enqueue(_Append(record, done))
        await done

    async def flush(self) -> None:
        """Return once every row queued before this call is committed."""
        await self._call("barrier")

    async def prune(self, older_than: dt.datetime) -> int:
        """Delete rows older than ``older_than``; returns how many.

        Rows queued before the call are committed first, as in the SQLite backend.
        """
        await self.flush()
        try:
            status = await self._pool.execute(
                self._delete_sql, utc(older_than), timeout=_ACQUIRE_TIMEOUT * 6
            )
        except _DB_ERRORS as error:
            raise StorageError(f"{self._name}: prune failed: {error}") from error
        return int(str(status).rsplit(" ", 1)[-1])

    async def query(self, query: FetchQuery) -> list[FetchRecord]:
        self._require_running()
        sql, params = select_statement(self._table, query, lambda i: f"${i}", utc)
        try:
            rows = await self._pool.fetch(sql, *params, timeout=_ACQUIRE_TIMEOUT * 6)
        except _DB_ERRORS as error:
            raise StorageError(f"{self._name}: query failed: {error}") from error
        return [record_from_values(tuple(row)[1:], row["time"]) for row in rows]

    async def check(self) -> None:
        self._require_running()
        # After a failed write, probe the table itself: the server may be back (then an idle
        # replica must not stay "not ready" until its next write) or the table may be gone.
        probe = "SELECT 1" if self._failure is None else self._probe_sql
        try:
            await self._pool.fetchval(probe, timeout=_ACQUIRE_TIMEOUT)
        except _DB_ERRORS as error:
            detail = f"; the last write failed: {self._failure}" if self._failure else ""
            raise StorageError(f"{self._name}: not usable: {error}{detail}") from error
        # Rows lost during an outage were logged one by one when they were given up.
        self._failure = None

    async def aclose(self) -> None:
        """Commit everything queued, stop the writer, close the pool. Idempotent."""
        if self._writer is None or self._closed:
            return
        self._closed = True
        if not self._writer.done():
            stop = _Call("stop", asyncio.get_running_loop().create_future())
            self._ops.put_nowait(stop)
            await self._writer
        await self._pool.close()

    def _require_running(self) -> None:
        if self._writer is None:
            raise StorageError(f"{self._name}: used before start()")
        if self._closed or self._writer.done():
            raise StorageError(f"{self._name}: the writer is stopped")

    def _enqueue(self, op: _Append | _Call) -> None:
        self._require_running()
        self._ops.put_nowait(op)

    async def _call(self, action: str) -> int:
        call = _Call(action, asyncio.get_running_loop().create_future())
        self._enqueue(call)
        return await call.done

    # --- the writer task ----------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            batch = await self._take_batch()
            try:
                await self._serve_batch(batch)
            except Exception as error:  # a bug must fail this batch's waiters, not the writer
                logger.exception("%s: writer failed on a batch", self._name)
                failure = StorageError(f"{self._name}: writer failed: {error!r}")
                for op in batch:
                    _settle(op.done, None, failure)
            last = batch[-1]
            if isinstance(last, _Call) and last.action == "stop":
                return

    async def _take_batch(self) -> list[_Append | _Call]:
        batch = [await self._ops.get()]
        while len(batch) < BATCH_MAX_ROWS and not isinstance(batch[-1], _Call):
            try:
                batch.append(self._ops.get_nowait())
            except asyncio.QueueEmpty:
                break
        return batch

    async def _serve_batch(self, batch: list[_Append | _Call]) -> None:
        """Commit the batch's rows, then answer its call (at most one, always last)."""
        appends = [op for op in batch if isinstance(op, _Append)]
        if appends:
            error = await self._insert([op.record for op in appends])
            failure = StorageError(f"{self._name}: {error}") if error is not None else None
            for op in appends:
                _settle(op.done, None, failure)
        last = batch[-1]
        if isinstance(last, _Call):
            _settle(last.done, 0, None)

    async def _insert(self, records: list[FetchRecord]) -> BaseException | None:
        rows = [record_values(record) for record in records]
        error: BaseException | None = None
        for attempt in range(WRITE_ATTEMPTS):
            try:
                async with (
                    self._pool.acquire(timeout=_ACQUIRE_TIMEOUT) as conn,
                    conn.transaction(),
                ):
                    await conn.execute("SET LOCAL synchronous_commit = on")
                    await conn.executemany(self._insert_sql, rows)
            except _DB_ERRORS as exc:
                error = exc
                if attempt + 1 < WRITE_ATTEMPTS:
                    await asyncio.sleep(0.1 * 2**attempt)
                continue
            self._failure = None
            return None
        self._failure = error
        if error is not None:
            log_lost_rows(records, error)
        return error


__all__ = ["PostgresFetchLog"]
