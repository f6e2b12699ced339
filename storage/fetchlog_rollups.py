"""Running totals of the fetch log, kept in the same transaction as the rows they count, so
the console's overview and builds pages read a few dozen rows instead of scanning the log.

- ``<table>_hours``: per hour, requests, cache hits and lookups, bytes of whole downloads,
  refusals (403);
- ``<table>_builds``: per build label, first and last request, requests, downloads;
- ``<table>_build_users``: which users each build saw.

The writer adds a batch's totals with one upsert per hour and build (``ON CONFLICT ... DO
UPDATE``, the same SQL on SQLite and PostgreSQL); a log made before the rollups existed is
counted once when its rollup tables are created. Pruning the log prunes the rollups too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from storage.base import FetchRecord

HOUR = 3600


@dataclass(slots=True)
class _Hour:
    requests: int = 0
    cache_hits: int = 0
    cache_lookups: int = 0
    bytes_served: int = 0
    refusals: int = 0


@dataclass(slots=True)
class _Build:
    first: dt.datetime
    last: dt.datetime
    requests: int = 0
    downloads: int = 0
    users: set[str] = field(default_factory=set)


def hour_of(moment: dt.datetime) -> int:
    return int(moment.timestamp()) // HOUR


@dataclass(frozen=True, slots=True)
class Totals:
    """One batch's contribution, as parameter rows for the upserts."""

    hours: list[tuple[object, ...]]
    builds: list[tuple[object, ...]]
    build_users: list[tuple[object, ...]]


def totals(records: Iterable[FetchRecord], encode_time: Callable[[dt.datetime], object]) -> Totals:
    hours: dict[int, _Hour] = {}
    builds: dict[str, _Build] = {}
    for record in records:
        hour = hours.setdefault(hour_of(record.time), _Hour())
        hour.requests += 1
        hour.cache_hits += record.cache == "hit"
        hour.cache_lookups += record.cache is not None
        hour.bytes_served += (record.size or 0) if record.kind == "dist" else 0
        hour.refusals += record.status == 403
        if record.build is None:
            continue
        build = builds.setdefault(record.build, _Build(record.time, record.time))
        build.first, build.last = min(build.first, record.time), max(build.last, record.time)
        build.requests += 1
        build.downloads += record.kind == "dist" and record.status == 200
        if record.user is not None:
            build.users.add(record.user)
    return Totals(
        hours=[
            (n, h.requests, h.cache_hits, h.cache_lookups, h.bytes_served, h.refusals)
            for n, h in sorted(hours.items())
        ],
        builds=[
            (label, encode_time(b.first), encode_time(b.last), b.requests, b.downloads)
            for label, b in sorted(builds.items())
        ],
        build_users=[(label, user) for label, b in builds.items() for user in sorted(b.users)],
    )


@dataclass(frozen=True, slots=True)
class RollupSql:
    """The statements of one backend (``placeholder``: ``?`` or ``$n``)."""

    schema: list[str]
    backfill: list[str]
    upsert_hours: str
    upsert_builds: str
    insert_build_users: str
    prune: list[str]
    """Each takes the cutoff hour (first statement) or cutoff time (the others)."""


def rollup_sql(
    table: str, placeholder: Callable[[int], str], time_type: str, hour_of_time: str
) -> RollupSql:
    """``time_type``: the column type of times; ``hour_of_time``: SQL for a row's hour."""
    hours, builds, users = f"{table}_hours", f"{table}_builds", f"{table}_build_users"

    def values(count: int) -> str:
        return ", ".join(placeholder(i) for i in range(1, count + 1))

    schema = [
        f"CREATE TABLE IF NOT EXISTS {hours} (hour BIGINT PRIMARY KEY, requests BIGINT NOT NULL,"
        " cache_hits BIGINT NOT NULL, cache_lookups BIGINT NOT NULL, bytes BIGINT NOT NULL,"
        " refusals BIGINT NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {builds} (build TEXT PRIMARY KEY, first_time {time_type}"
        f" NOT NULL, last_time {time_type} NOT NULL, requests BIGINT NOT NULL,"
        " downloads BIGINT NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {users} (build TEXT NOT NULL, user_name TEXT NOT NULL,"
        " PRIMARY KEY (build, user_name))",
    ]
    # Counted once, for a log written before the rollups existed (both tables empty).
    empty = f"NOT EXISTS (SELECT 1 FROM {hours}) AND NOT EXISTS (SELECT 1 FROM {builds})"  # noqa: S608
    backfill = [
        f"INSERT INTO {builds} SELECT build, min(time), max(time), count(*),"  # noqa: S608
        " sum(CASE WHEN kind = 'dist' AND status = 200 THEN 1 ELSE 0 END)"
        f" FROM {table} WHERE build IS NOT NULL AND {empty} GROUP BY build",
        f"INSERT INTO {users} SELECT DISTINCT build, user_name FROM {table}"  # noqa: S608
        f" WHERE build IS NOT NULL AND user_name IS NOT NULL"
        f" AND NOT EXISTS (SELECT 1 FROM {hours}) GROUP BY build, user_name",
        f"INSERT INTO {hours} SELECT {hour_of_time}, count(*),"  # noqa: S608
        " sum(CASE WHEN cache = 'hit' THEN 1 ELSE 0 END),"
        " sum(CASE WHEN cache IS NOT NULL THEN 1 ELSE 0 END),"
        " sum(CASE WHEN kind = 'dist' THEN coalesce(size, 0) ELSE 0 END),"
        " sum(CASE WHEN status = 403 THEN 1 ELSE 0 END)"
        f" FROM {table} WHERE NOT EXISTS (SELECT 1 FROM {hours}) GROUP BY {hour_of_time}",
    ]
    counters = ("requests", "cache_hits", "cache_lookups", "bytes", "refusals")
    add = ", ".join(f"{c} = {hours}.{c} + excluded.{c}" for c in counters)
    return RollupSql(
        schema=schema,
        backfill=backfill,
        upsert_hours=(
            f"INSERT INTO {hours} (hour, {', '.join(counters)}) VALUES ({values(6)})"  # noqa: S608
            f" ON CONFLICT (hour) DO UPDATE SET {add}"
        ),
        upsert_builds=(
            f"INSERT INTO {builds} (build, first_time, last_time, requests, downloads)"  # noqa: S608
            f" VALUES ({values(5)}) ON CONFLICT (build) DO UPDATE SET"
            f" first_time = CASE WHEN excluded.first_time < {builds}.first_time"
            f" THEN excluded.first_time ELSE {builds}.first_time END,"
            f" last_time = CASE WHEN excluded.last_time > {builds}.last_time"
            f" THEN excluded.last_time ELSE {builds}.last_time END,"
            f" requests = {builds}.requests + excluded.requests,"
            f" downloads = {builds}.downloads + excluded.downloads"
        ),
        insert_build_users=(
            f"INSERT INTO {users} (build, user_name) VALUES ({values(2)})"  # noqa: S608
            " ON CONFLICT (build, user_name) DO NOTHING"
        ),
        prune=[
            f"DELETE FROM {hours} WHERE hour < {placeholder(1)}",  # noqa: S608
            f"DELETE FROM {users} WHERE build IN (SELECT build FROM {builds}"  # noqa: S608
            f" WHERE last_time < {placeholder(1)})",
            f"DELETE FROM {builds} WHERE last_time < {placeholder(1)}",  # noqa: S608
        ],
    )


def statements(sql: RollupSql, batch: Totals) -> Sequence[tuple[str, list[tuple[object, ...]]]]:
    """(statement, parameter rows) to run in the batch's transaction, after its rows."""
    return [
        (sql.upsert_hours, batch.hours),
        (sql.upsert_builds, batch.builds),
        (sql.insert_build_users, batch.build_users),
    ]


__all__ = ["HOUR", "RollupSql", "Totals", "hour_of", "rollup_sql", "statements", "totals"]
