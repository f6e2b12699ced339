"""The console's fetch-log reports on the embedded SQLite log: hourly totals and builds
from the rollups (kept with every batch, backfilled for an older log, pruned with it),
searches with exact verdict filters and an id cursor, who pulled what."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

from storage.base import FetchRecord
from storage.fetchlog_report_rows import parse_cursor
from storage.fetchlog_reports import FetchLogReports, LogFilter
from storage.sqlite import SqliteFetchLog

NOW = dt.datetime.now(dt.UTC).replace(minute=30, second=0, microsecond=0)
DENY = {"policy": "denylist", "decision": "deny", "reason": "denied"}
WAIVED = {"policy": "release_age", "decision": "waived", "reason": "new", "waiver": "3"}


def row(hours_ago: float, **fields: object) -> FetchRecord:
    values: dict[str, object] = {
        "time": NOW - dt.timedelta(hours=hours_ago),
        "client": "10.0.0.1",
        "kind": "dist",
        "project": "demo",
        "status": 200,
        "filename": "demo-1.0-py3-none-any.whl",
        "version": "1.0",
        "sha256": "d" * 64,
        "size": 1000,
        "cache": "hit",
    } | fields
    return FetchRecord(**values)  # type: ignore[arg-type]


ROWS = [
    row(0, user="alice", build="ci-1"),
    row(0, user="bob", build="ci-1", cache="miss"),
    row(1, user="alice", build="ci-2", kind="page", filename=None, size=None),
    row(2, status=403, verdicts=(DENY,), project="evil", filename=None, version=None),
    row(2, verdicts=(WAIVED,), user="carol", sha256="e" * 64),
    row(30, user="old", build="ci-0"),
]


async def started(path: Path) -> tuple[SqliteFetchLog, FetchLogReports]:
    log = SqliteFetchLog(path)
    await log.start()
    return log, FetchLogReports(log)


async def test_hourly_totals_and_builds_come_from_the_rollups(tmp_path: Path) -> None:
    log, reports = await started(tmp_path / "log.sqlite3")
    for record in ROWS:
        await log.append(record)
    await log.flush()
    until = NOW.replace(minute=0) + dt.timedelta(hours=1)

    buckets = await reports.summary(until - dt.timedelta(hours=24), until)
    builds = {b.build: b for b in await reports.builds()}

    assert len(buckets) == 24
    assert buckets[-1].start == NOW.replace(minute=0)
    assert (buckets[-1].requests, buckets[-1].cache_hits, buckets[-1].bytes_served) == (2, 1, 2000)
    assert (buckets[-3].requests, buckets[-3].refusals) == (2, 1)
    assert sum(b.requests for b in buckets) == 5, "the row of 30 hours ago is outside"
    assert (builds["ci-1"].requests, builds["ci-1"].downloads, builds["ci-1"].users) == (2, 2, 2)
    assert builds["ci-2"].downloads == 0
    await log.aclose()


async def test_an_older_log_is_counted_once_when_the_rollups_appear(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite3"
    log, _ = await started(path)
    for record in ROWS:
        await log.append(record)
    await log.aclose()
    with sqlite3.connect(path) as conn:
        for table in ("hours", "builds", "build_users"):
            conn.execute(f"DROP TABLE fetch_log_{table}")

    log, reports = await started(path)
    await log.aclose()
    log, reports = await started(path)  # a second start must not count them again

    builds = {b.build: b for b in await reports.builds()}
    until = NOW.replace(minute=0) + dt.timedelta(hours=1)
    buckets = await reports.summary(until - dt.timedelta(hours=48), until)
    assert sum(b.requests for b in buckets) == len(ROWS)
    assert (builds["ci-1"].requests, builds["ci-1"].users) == (2, 2)
    await log.aclose()


async def test_pruning_the_log_prunes_its_rollups(tmp_path: Path) -> None:
    log, reports = await started(tmp_path / "log.sqlite3")
    for record in ROWS:
        await log.append(record)
    await log.flush()

    await log.prune(NOW - dt.timedelta(hours=24))

    assert "ci-0" not in {b.build for b in await reports.builds()}
    until = NOW.replace(minute=0) + dt.timedelta(hours=1)
    buckets = await reports.summary(until - dt.timedelta(hours=48), until)
    assert sum(b.requests for b in buckets) == 5
    await log.aclose()


async def test_searches_filter_verdicts_exactly_and_page_with_a_cursor(tmp_path: Path) -> None:
    log, reports = await started(tmp_path / "log.sqlite3")
    for record in ROWS:
        await log.append(record)
    await log.flush()

    decisions = await reports.search(LogFilter(decisions_only=True))
    waived = await reports.search(LogFilter(decision="waived"))
    wrong_pair = await reports.search(LogFilter(policy="denylist", decision="waived"))
    first = await reports.search(LogFilter(), limit=2)
    cursor = parse_cursor(first[-1].cursor)
    rest = await reports.search(LogFilter(), limit=10, before=cursor)

    assert [r.record.project for r in decisions] == ["demo", "evil"]
    assert [r.record.user for r in waived] == ["carol"]
    assert wrong_pair == []
    assert len(first) + len(rest) == len(ROWS)
    assert {r.row_id for r in first}.isdisjoint(r.row_id for r in rest)
    await log.aclose()


async def test_who_pulled_groups_downloads_by_build_user_and_client(tmp_path: Path) -> None:
    log, reports = await started(tmp_path / "log.sqlite3")
    for record in ROWS:
        await log.append(record)
    await log.flush()

    by_hash = await reports.pulls(LogFilter(sha256="D" * 64))
    files = await reports.project_files("Demo")

    assert {(p.build, p.user) for p in by_hash} == {
        ("ci-1", "alice"),
        ("ci-1", "bob"),
        ("ci-0", "old"),
    }
    history = files["demo-1.0-py3-none-any.whl"]
    assert history.downloads == 4
    assert sorted(history.users) == ["alice", "bob", "carol", "old"]
    await log.aclose()
