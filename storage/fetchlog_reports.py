"""Read-only reports on the fetch log for the console: a 24 h summary by hour and the
builds (both from the rollups, ``storage.fetchlog_rollups``), searches with an id cursor,
who pulled a file, the fetch history of a project.

Written once as SQL for both backends (SQLite and PostgreSQL): a ``Dialect`` says how a
backend spells parameters, times and the verdicts column, and the backend
runs the statements (``ReportReader.report_rows``). Every value is a bound parameter.
Searches filter in SQL on indexed columns first; a verdict filter (policy, decision) is a
``LIKE`` on the JSON text, then checked exactly on the decoded rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from packaging.utils import canonicalize_name

from storage.base import FetchRecord
from storage.fetchlog_report_rows import (
    Bucket,
    BuildSummary,
    Cursor,
    FileHistory,
    LogFilter,
    LoggedRow,
    Pull,
)
from storage.fetchlog_rollups import HOUR, hour_of
from storage.fetchlog_sql import COLUMNS, record_from_values, utc

REPORT_INDEXED = ("user_name", "sha256")
"""Indexed ``(column, time)`` besides ``INDEXED_COLUMNS``: searches by user and by hash."""
MAX_LIMIT = 100_000


def report_indexes(table: str, verdicts_empty: str) -> list[str]:
    """The extra indexes the reports need, for the backend's schema."""
    return [
        *(
            f"CREATE INDEX IF NOT EXISTS {table}_{column} ON {table} ({column}, time)"
            for column in REPORT_INDEXED
        ),
        # Decisions are a small part of the log: a partial index finds the latest at once.
        f"CREATE INDEX IF NOT EXISTS {table}_decisions ON {table} (time)"
        f" WHERE verdicts <> {verdicts_empty}",
    ]


@dataclass(frozen=True, slots=True)
class Dialect:
    table: str
    placeholder: Callable[[int], str]
    encode_time: Callable[[dt.datetime], object]
    decode_time: Callable[[object], dt.datetime]
    verdicts_text: str
    verdicts_empty: str


@runtime_checkable
class ReportReader(Protocol):
    @property
    def dialect(self) -> Dialect: ...

    async def report_rows(self, sql: str, params: Sequence[object]) -> list[Sequence[object]]: ...


class FetchLogReports:
    def __init__(self, reader: ReportReader) -> None:
        self._reader = reader
        self._d = reader.dialect

    async def summary(self, since: dt.datetime, until: dt.datetime) -> list[Bucket]:
        """Every hour from ``since`` to ``until``, empty ones included (from the rollups)."""
        d = self._d
        first, last = hour_of(since), hour_of(until - dt.timedelta(microseconds=1))
        sql = (
            "SELECT hour, requests, cache_hits, cache_lookups, bytes, refusals"  # noqa: S608
            f" FROM {d.table}_hours WHERE hour >= {d.placeholder(1)} AND hour <= {d.placeholder(2)}"
        )
        found = {_int(r[0]): r for r in await self._reader.report_rows(sql, [first, last])}
        buckets = []
        for number in range(first, last + 1):
            start = dt.datetime.fromtimestamp(number * HOUR, dt.UTC)
            row = found.get(number)
            buckets.append(Bucket(start, *(_int(v) for v in row[1:])) if row else Bucket(start))
        return buckets

    async def search(
        self, where: LogFilter, limit: int = 50, before: Cursor | None = None
    ) -> list[LoggedRow]:
        """The latest ``limit`` matching rows, newest first; ``before``: the (time, id) of
        the last row of the previous page (``LoggedRow.cursor``)."""
        limit = max(1, min(limit, MAX_LIMIT))
        conditions, params = self._conditions(where)
        if before is not None:
            d = self._d
            params += [d.encode_time(before[0]), d.encode_time(before[0]), before[1]]
            n = len(params)
            conditions.append(
                f"(time < {d.placeholder(n - 2)} OR (time = {d.placeholder(n - 1)}"
                f" AND id < {d.placeholder(n)}))"
            )
        clause = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        params.append(limit)
        sql = (
            f"SELECT id, {', '.join(COLUMNS)} FROM {self._d.table}{clause}"  # noqa: S608
            f" ORDER BY time DESC, id DESC LIMIT {self._d.placeholder(len(params))}"
        )
        rows = await self._reader.report_rows(sql, params)
        found = [LoggedRow(int(str(r[0])), self._record(r)) for r in rows]
        return [row for row in found if where.matches_verdicts(row.record)]

    async def builds(self, limit: int = 200) -> list[BuildSummary]:
        d = self._d
        sql = (
            "SELECT b.build, b.first_time, b.last_time, b.requests, b.downloads,"  # noqa: S608
            f" (SELECT count(*) FROM {d.table}_build_users u WHERE u.build = b.build)"
            f" FROM {d.table}_builds b ORDER BY b.last_time DESC LIMIT {d.placeholder(1)}"
        )
        rows = await self._reader.report_rows(sql, [limit])
        builds = []
        for label, first, last, requests, downloads, users in rows:
            builds.append(
                BuildSummary(
                    str(label),
                    d.decode_time(first),
                    d.decode_time(last),
                    _int(requests),
                    _int(downloads),
                    _int(users),
                )
            )
        return builds

    async def pulls(self, where: LogFilter, limit: int = 500) -> list[Pull]:
        """Whole downloads matching ``where``, grouped by build, user, client and file."""
        conditions, params = self._conditions(where)
        conditions += ["kind = 'dist'", "status = 200"]
        params.append(limit)
        keys = "build, user_name, client, project, version, filename, sha256"
        sql = (
            f"SELECT {keys}, min(time), max(time), count(*) FROM {self._d.table}"  # noqa: S608
            f" WHERE {' AND '.join(conditions)} GROUP BY {keys}"
            f" ORDER BY max(time) DESC LIMIT {self._d.placeholder(len(params))}"
        )
        rows = await self._reader.report_rows(sql, params)
        d = self._d
        pulls = []
        for r in rows:
            pulls.append(
                Pull(
                    _text(r[0]),
                    _text(r[1]),
                    str(r[2]),
                    _text(r[3]),
                    _text(r[4]),
                    _text(r[5]),
                    _text(r[6]),
                    d.decode_time(r[7]),
                    d.decode_time(r[8]),
                    _int(r[9]),
                )
            )
        return pulls

    async def project_files(self, project: str) -> dict[str, FileHistory]:
        """Per file of ``project``: whole downloads, the last one, users, builds, and the
        last attestation result recorded for it."""
        d = self._d
        sql = (
            "SELECT filename, user_name, build, count(*), max(time), max(attestation)"  # noqa: S608
            f" FROM {d.table} WHERE project = {d.placeholder(1)} AND kind = 'dist'"
            " AND status = 200 GROUP BY filename, user_name, build"
        )
        rows = await self._reader.report_rows(sql, [canonicalize_name(project)])
        files: dict[str, FileHistory] = {}
        for filename, user, build, count, last, attestation in rows:
            history = files.setdefault(str(filename), FileHistory())
            history.downloads += int(str(count))
            moment = d.decode_time(last)
            history.last = moment if history.last is None else max(history.last, moment)
            if user is not None and str(user) not in history.users:
                history.users.append(str(user))
            if build is not None and str(build) not in history.builds:
                history.builds.append(str(build))
            if attestation is not None:
                history.attestation = str(attestation)
        return files

    def _conditions(self, where: LogFilter) -> tuple[list[str], list[object]]:
        d = self._d
        params: list[object] = []

        def param(value: object) -> str:
            params.append(value)
            return d.placeholder(len(params))

        project = canonicalize_name(where.project) if where.project else None
        equal = {
            "project": project,
            "version": where.version,
            "filename": where.filename,
            "sha256": where.sha256.lower() if where.sha256 else None,
            "user_name": where.user,
            "build": where.build,
            "client": where.client,
            "kind": where.kind,
            "status": where.status,
        }
        conditions = [f"{c} = {param(v)}" for c, v in equal.items() if v is not None]
        if where.since is not None:
            conditions.append(f"time >= {param(d.encode_time(utc(where.since)))}")
        if where.until is not None:
            conditions.append(f"time < {param(d.encode_time(utc(where.until)))}")
        if where.decisions_only or where.policy or where.decision:
            conditions.append(f"verdicts <> {d.verdicts_empty}")
        for key, value in (("policy", where.policy), ("decision", where.decision)):
            if value:
                pattern = f'%"{key}": "{_escape_like(value)}"%'
                conditions.append(f"{d.verdicts_text} LIKE {param(pattern)} ESCAPE '\\'")
        return conditions, params

    def _record(self, row: Sequence[object]) -> FetchRecord:
        return record_from_values(row[1:], self._d.decode_time(row[1]))


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _int(value: object) -> int:
    return int(str(value or 0))


def _text(value: object) -> str | None:
    return None if value is None else str(value)


__all__ = [
    "Bucket",
    "BuildSummary",
    "Dialect",
    "FetchLogReports",
    "FileHistory",
    "LogFilter",
    "LoggedRow",
    "Pull",
    "ReportReader",
    "report_indexes",
]
