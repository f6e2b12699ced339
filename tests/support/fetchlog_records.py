"""Fetch-log rows for tests, and access to the PostgreSQL server the ``postgres`` tests use."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import os
import subprocess
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg

from storage.base import FetchRecord
from storage.sqlite import SqliteFetchLog

REPO = Path(__file__).resolve().parents[2]

POSTGRES_DSN = os.environ.get(
    "PIPGATE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_record(filename: str = "demo-1.0-py3-none-any.whl", **changes: Any) -> FetchRecord:
    """A complete ``dist`` row for ``filename``; keyword arguments override any field."""
    project, version = filename.split("-")[:2]
    record = FetchRecord(
        time=T0,
        client="127.0.0.1",
        kind="dist",
        project=project.lower().replace("_", "-"),
        status=200,
        user=None,
        build="build-1",
        version=version.removesuffix(".tar.gz"),
        filename=filename,
        sha256=digest(filename),
        size=1234,
        cache="miss",
        upstream="public",
        url=f"https://files.example.org/packages/{filename}",
        verdicts=({"policy": "release-age", "decision": "warn", "reason": "3 days old"},),
        attestation=None,
    )
    return dataclasses.replace(record, **changes)


def unique_table() -> str:
    return f"pipgate_test_{uuid.uuid4().hex[:16]}"


async def postgres_unreachable_reason(dsn: str = POSTGRES_DSN) -> str | None:
    """Why the server cannot be reached (the tests then skip), or ``None`` if it can."""
    try:
        conn = await asyncpg.connect(dsn, timeout=5)
    except (OSError, TimeoutError) as error:
        return f"PostgreSQL is not reachable at {dsn} ({error!r}); CI starts it"
    await conn.close()
    return None


async def drop_table(table: str, dsn: str = POSTGRES_DSN) -> None:
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(f"DROP TABLE IF EXISTS {table}")
    finally:
        await conn.close()


def fill_sqlite(data_dir: Path, records: Sequence[FetchRecord]) -> None:
    """Write ``records`` to ``<data_dir>/fetchlog.sqlite3`` (for tests that run the CLI)."""

    async def write() -> None:
        store = SqliteFetchLog(data_dir / "fetchlog.sqlite3")
        await store.start()
        for record in records:
            await store.append(record)
        await store.aclose()

    asyncio.run(write())


def clean_environ() -> dict[str, str]:
    """This process's environment without pipgate's settings (they would leak into runs)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PIPGATE_")}


def run_cli_log(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m proxy.cli_log ARGS`` in a child process, from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "proxy.cli_log", *args],
        cwd=REPO, env=clean_environ(), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
