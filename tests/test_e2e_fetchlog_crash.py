"""Issue 5 end to end: kill -9 ``pipgate serve`` under load; every artifact a client received
completely has its fetch-log row after the restart, and the blob store holds no partial file.

Clients loop over artifact downloads, each through its own build label so that one complete
download maps to exactly one row. Two more clients fetch files the upstream sends slowly, so
that downloads are still being spooled when the process dies. The check runs against the
embedded SQLite log and against PostgreSQL (in a schema of its own, dropped afterwards).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import http.client
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from storage.base import FetchQuery, FetchRecord
from storage.fetchlog_sql import ManagedFetchLog
from storage.postgres import PostgresFetchLog
from storage.sqlite import SqliteFetchLog
from tests.support.builders import build_wheel
from tests.support.e2e import production_trust_root
from tests.support.fake_upstream import FakeUpstream
from tests.support.fetchlog_records import POSTGRES_DSN, postgres_unreachable_reason
from tests.support.pipgate_server import PipgateProcess

FAST_FILES = 6
SLOW_FILES = 2
FILE_SIZE = 512 * 1024
SLOW_RATE = 32 * 1024
"""Bytes per second: a slow file takes ~16 s, so it is always mid-download at the kill."""
CLIENTS = 8
COMPLETE_BEFORE_KILL = 60
LOAD_DEADLINE = 30.0


@dataclass(frozen=True)
class Artifact:
    project: str
    filename: str
    sha256: str


@dataclass(frozen=True)
class Backend:
    kind: str
    server_settings: str
    """Lines of the config's ``[server]`` table."""
    open_log: Callable[[], ManagedFetchLog]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield Backend("sqlite", "", lambda: SqliteFetchLog(tmp_path / "data" / "fetchlog.sqlite3"))
        return
    reason = asyncio.run(postgres_unreachable_reason())
    if reason is not None:
        pytest.skip(reason)
    # pipgate's table name is fixed; a schema of our own (via the DSN's search_path, which
    # asyncpg sends as a server setting) keeps this run apart from any other.
    schema = f"pipgate_e2e_{uuid.uuid4().hex[:12]}"
    asyncio.run(_postgres(f"CREATE SCHEMA {schema}"))
    dsn = f"{POSTGRES_DSN}{'&' if '?' in POSTGRES_DSN else '?'}search_path={schema}"
    try:
        yield Backend(
            "postgres", f"fetchlog_url = {json.dumps(dsn)}\n", lambda: PostgresFetchLog(dsn)
        )
    finally:
        asyncio.run(_postgres(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))


async def _postgres(statement: str) -> None:
    connection = await asyncpg.connect(POSTGRES_DSN, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def publish(up: FakeUpstream, directory: Path) -> tuple[list[Artifact], list[Artifact]]:
    """Fast and slow wheels of random content (so every file is big and distinct)."""
    fast, slow = [], []
    for number in range(FAST_FILES + SLOW_FILES):
        name = f"crash-demo-{number}"
        payload = {f"crash_demo_{number}/payload.bin": os.urandom(FILE_SIZE)}
        path = build_wheel(directory, name, "1.0", files=payload)
        up.add_file(name, path)
        artifact = Artifact(name, path.name, hashlib.sha256(path.read_bytes()).hexdigest())
        if number < FAST_FILES:
            fast.append(artifact)
        else:
            up.set_fault("slow", f"/files/{path.name}", rate=SLOW_RATE)
            slow.append(artifact)
    return fast, slow


class Load:
    """Client threads downloading until ``stop``; ``complete`` maps label -> artifact."""

    def __init__(self, port: int, fast: list[Artifact], slow: list[Artifact]) -> None:
        self.port = port
        self.stop = threading.Event()
        self.complete: dict[str, Artifact] = {}
        self.slow_started = threading.Semaphore(0)
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._loop, args=(n, fast), daemon=True) for n in range(CLIENTS)
        ]
        self._threads += [
            threading.Thread(target=self._slow, args=(artifact,), daemon=True) for artifact in slow
        ]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _loop(self, client: int, artifacts: list[Artifact]) -> None:
        count = 0
        while not self.stop.is_set():
            artifact = artifacts[(client + count) % len(artifacts)]
            self._download(f"c{client}-{count}", artifact)
            count += 1

    def _slow(self, artifact: Artifact) -> None:
        self._download(f"slow-{artifact.project}", artifact, self.slow_started.release)

    def _download(
        self, label: str, artifact: Artifact, on_headers: Callable[[], None] | None = None
    ) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(
                "GET", f"/builds/{label}/files/{artifact.project}/{artifact.filename}"
            )
            response = connection.getresponse()
            if on_headers is not None:
                on_headers()
            body = response.read()  # raises IncompleteRead if the body is cut short
        except (OSError, http.client.HTTPException):
            time.sleep(0.01)  # pipgate is gone: a short pause keeps the loop from spinning
            return
        finally:
            connection.close()
        length = response.getheader("Content-Length")
        whole = response.status == 200 and length is not None and int(length) == len(body)
        if whole and hashlib.sha256(body).hexdigest() == artifact.sha256:
            with self._lock:
                self.complete[label] = artifact

    def completed(self) -> int:
        with self._lock:
            return len(self.complete)


def run_until_killed(gate: PipgateProcess, fast: list[Artifact], slow: list[Artifact]) -> Load:
    with Load(gate.port, fast, slow) as load:
        deadline = time.monotonic() + LOAD_DEADLINE
        for _ in slow:
            assert load.slow_started.acquire(timeout=LOAD_DEADLINE), "a slow download never began"
        while load.completed() < COMPLETE_BEFORE_KILL:
            assert time.monotonic() < deadline, f"only {load.completed()} downloads completed"
            time.sleep(0.02)
        gate.kill()
    return load


def blob_files(blobs: Path) -> tuple[dict[str, str], list[Path]]:
    """Published blobs (filename -> sha256) and the spool files left behind."""
    published, spooled = {}, []
    for path in blobs.rglob("*"):
        if not path.is_file():
            continue
        if ".spool" in path.relative_to(blobs).parts:
            spooled.append(path)
        else:
            published[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return published, spooled


async def logged_rows(store: ManagedFetchLog) -> dict[str | None, FetchRecord]:
    await store.start()
    try:
        rows = await store.query(FetchQuery(kinds=("dist",)))
    finally:
        await store.aclose()
    return {row.build: row for row in rows}


def test_kill_9_under_load_loses_no_row_of_a_completed_download(
    tmp_path: Path, backend: Backend
) -> None:
    trust_root = production_trust_root(tmp_path / "sigstore")
    config = tmp_path / "pipgate.toml"
    config.write_text(
        f"policies = []\n[server]\ntrust_root = {json.dumps(str(trust_root))}\n"
        f"{backend.server_settings}"
    )
    data_dir = tmp_path / "data"
    with FakeUpstream() as up:
        fast, slow = publish(up, tmp_path / "dists")
        gate = PipgateProcess(data_dir, up.url, "--config", str(config)).start()
        try:
            load = run_until_killed(gate, fast, slow)
        finally:
            gate.kill()
        published, spooled = blob_files(data_dir / "blobs")
        expected = {a.filename: a.sha256 for a in fast + slow}
        assert all(published[name] == expected[name] for name in published), "a partial blob"
        assert not {a.filename for a in slow} & set(published), "a slow file was published"
        partial = [path for path in spooled if path.suffix == ".part"]
        assert partial, "no download was being spooled at the kill: the test proved nothing"
        up.clear_faults()
        with PipgateProcess(data_dir, up.url, "--config", str(config)) as restarted:
            # The interrupted download starts over and completes.
            connection = http.client.HTTPConnection("127.0.0.1", restarted.port, timeout=30)
            connection.request("GET", f"/files/{slow[0].project}/{slow[0].filename}")
            body = connection.getresponse().read()
            connection.close()
            assert hashlib.sha256(body).hexdigest() == slow[0].sha256
    assert not blob_files(data_dir / "blobs")[1], "the dead process's spool was not cleared"
    rows = asyncio.run(logged_rows(backend.open_log()))
    missing = [label for label in load.complete if label not in rows]
    assert not missing, f"{len(missing)} of {len(load.complete)} completed downloads lost rows"
    for label, artifact in load.complete.items():
        row = rows[label]
        assert (row.filename, row.sha256, row.status) == (artifact.filename, artifact.sha256, 200)
    if backend.kind == "sqlite":
        with contextlib.closing(sqlite3.connect(data_dir / "fetchlog.sqlite3")) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
