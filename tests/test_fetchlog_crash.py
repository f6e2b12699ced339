"""kill -9 under load: every row whose ``append_durable`` returned is in the log afterwards.

A child process writes background rows with ``append`` and "served artifacts" with
``append_durable``, printing each artifact's filename once the call returned (the moment
the app releases the artifact's last chunk). The parent kills it with SIGKILL mid-stream
and then finds every printed filename in the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.base import FetchQuery
from storage.fetchlog_sql import ManagedFetchLog
from storage.postgres import PostgresFetchLog
from storage.sqlite import SqliteFetchLog
from tests.support.fetchlog_records import (
    POSTGRES_DSN,
    drop_table,
    postgres_unreachable_reason,
    unique_table,
)

REPO = Path(__file__).resolve().parent.parent
CONFIRMED_BEFORE_KILL = 300
DEADLINE = 60.0

CHILD = """
import asyncio, sys
from pathlib import Path
from storage.postgres import PostgresFetchLog
from storage.sqlite import SqliteFetchLog
from tests.support.fetchlog_records import make_record

async def main(kind, where, table):
    if kind == "sqlite":
        store = SqliteFetchLog(Path(where))
    else:
        store = PostgresFetchLog(where, table=table)
    await store.start()

    async def background(n):
        i = 0
        while True:
            await store.append(make_record(f"bg{n}-{i}.0.tar.gz", kind="page"))
            i += 1
            await asyncio.sleep(0.001)

    async def served(n):
        i = 0
        while True:
            name = f"served{n}-{i}.0.tar.gz"
            await store.append_durable(make_record(name))
            sys.stdout.write(name + "\\n")
            sys.stdout.flush()
            i += 1

    await asyncio.gather(*(background(n) for n in range(4)), *(served(n) for n in range(8)))

asyncio.run(main(*sys.argv[1:]))
"""


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def target(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[list[str], ManagedFetchLog]]:
    """The child's arguments and an unstarted store on the same database."""
    if request.param == "sqlite":
        path = tmp_path / "fetchlog.sqlite3"
        yield ["sqlite", str(path), "-"], SqliteFetchLog(path)
        return
    reason = await postgres_unreachable_reason()
    if reason is not None:
        pytest.skip(reason)
    table = unique_table()
    yield ["postgres", POSTGRES_DSN, table], PostgresFetchLog(POSTGRES_DSN, table=table)
    await drop_table(table)


async def _run_and_kill(args: list[str]) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPGATE_")}
    env["PYTHONPATH"] = str(REPO)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, *args, cwd=REPO, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert child.stdout is not None
    confirmed: list[str] = []
    try:
        async with asyncio.timeout(DEADLINE):
            while len(confirmed) < CONFIRMED_BEFORE_KILL:
                line = await child.stdout.readline()
                if not line:
                    stderr = await child.stderr.read() if child.stderr else b""
                    pytest.fail(f"child exited early: {stderr.decode(errors='replace')}")
                confirmed.append(line.decode().strip())
    finally:
        os.kill(child.pid, signal.SIGKILL)
    rest, _ = await child.communicate()
    # Lines written before the kill were confirmed too; a torn last line was not.
    confirmed += [line for line in rest.decode().split("\n")[:-1] if line]
    assert await child.wait() == -signal.SIGKILL
    return confirmed


async def test_rows_confirmed_by_append_durable_survive_kill_9(
    target: tuple[list[str], ManagedFetchLog],
) -> None:
    args, store = target
    confirmed = await _run_and_kill(args)
    await store.start()
    try:
        rows = await store.query(FetchQuery())
    finally:
        await store.aclose()
    present = {r.filename for r in rows}
    missing = [name for name in confirmed if name not in present]
    assert not missing, f"{len(missing)} of {len(confirmed)} confirmed rows lost: {missing[:5]}"
    assert any(r.kind == "page" for r in rows), "the background load never reached the log"
    if args[0] == "sqlite":
        with contextlib.closing(sqlite3.connect(args[1])) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
