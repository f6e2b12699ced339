"""The shared backends of a scale-out test: a Redis database, an S3 bucket on a moto server,
a PostgreSQL schema, each private to the test and removed afterwards, and a Redis server of
the test's own (started as a child process, ended by its PID) for tests that must stop it.

    with shared_backends(tmp, redis_url) as backends:
        env = backends.replica_env()   # PIPGATE_* variables for every replica
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
import redis

from tests.support.fetchlog_records import POSTGRES_DSN, postgres_unreachable_reason
from tests.support.pipgate_server import free_port
from tests.support.s3_server import S3Server, running_s3_server, s3_client

SHARED_REDIS_URL = "redis://127.0.0.1:6379/9"
"""A database number of the machine's Redis that no other test uses."""
PIPGATE_KEYS = "pipgate:*"


@dataclass(frozen=True, slots=True)
class Backends:
    redis_url: str
    s3: S3Server
    bucket: str
    postgres_dsn: str
    """With ``?search_path=<schema>``: the fetch-log table lives in that schema alone."""

    def replica_env(self, cache_url: str | None = None, prefix: str = "mirror") -> dict[str, str]:
        """Settings every replica needs, as the environment variables a container gets."""
        return {
            "PIPGATE_CACHE_URL": cache_url or self.redis_url,
            "PIPGATE_BLOB_URL": f"s3://{self.bucket}/{prefix}",
            "PIPGATE_S3_ENDPOINT": self.s3.endpoint,
            "PIPGATE_S3_REGION": self.s3.region,
            "PIPGATE_S3_ACCESS_KEY": self.s3.access_key,
            "PIPGATE_S3_SECRET_KEY": self.s3.secret_key,
            "PIPGATE_FETCHLOG_URL": self.postgres_dsn,
            # The SDK must not read this machine's AWS configuration.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }


def redis_unreachable_reason(url: str) -> str | None:
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        return f"Redis is not reachable at {url} ({error!r}); .ci/services starts it"
    finally:
        client.close()
    return None


def delete_pipgate_keys(url: str) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        keys = list(client.scan_iter(match=PIPGATE_KEYS))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


async def _postgres(statement: str) -> None:
    connection = await asyncpg.connect(POSTGRES_DSN, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def postgres_rows(dsn: str, query: str, *args: object) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(dsn, timeout=5)
    try:
        rows: list[asyncpg.Record] = await connection.fetch(query, *args)
        return rows
    finally:
        await connection.close()


@contextmanager
def _postgres_schema() -> Iterator[str]:
    reason = asyncio.run(postgres_unreachable_reason())
    if reason is not None:
        pytest.skip(reason)
    schema = f"pipgate_replicas_{uuid.uuid4().hex[:12]}"
    asyncio.run(_postgres(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{POSTGRES_DSN}{'&' if '?' in POSTGRES_DSN else '?'}search_path={schema}"
    finally:
        asyncio.run(_postgres(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))


async def _create_bucket(server: S3Server, name: str) -> None:
    async with s3_client(server) as client:
        await client.create_bucket(Bucket=name)


@contextmanager
def shared_backends(home: Path, redis_url: str = SHARED_REDIS_URL) -> Iterator[Backends]:
    """Redis (``pipgate:*`` keys deleted afterwards), a fresh bucket, a fresh schema."""
    reason = redis_unreachable_reason(redis_url)
    if reason is not None:
        pytest.skip(reason)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_CONFIG_FILE", os.devnull)
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        with running_s3_server(home) as s3, _postgres_schema() as dsn:
            bucket = f"pipgate-replicas-{uuid.uuid4().hex[:12]}"
            asyncio.run(_create_bucket(s3, bucket))
            try:
                yield Backends(redis_url, s3, bucket, dsn)
            finally:
                delete_pipgate_keys(redis_url)


@dataclass(frozen=True, slots=True)
class RedisProcess:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        """SIGKILL: the server vanishes the way a crashed or partitioned one does."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@contextmanager
def private_redis(directory: Path) -> Iterator[RedisProcess]:
    """A redis-server of this test alone on a free loopback port, without persistence."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed; .ci/services installs it")
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [
        binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
        "--appendonly", "no", "--daemonize", "no", "--dir", str(directory),
    ]  # fmt: skip
    with (directory / "redis.log").open("ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    server = RedisProcess(port, process)
    try:
        _wait_for_redis(server)
        yield server
    finally:
        server.kill()


def _wait_for_redis(server: RedisProcess, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while redis_unreachable_reason(server.url) is not None:
        if server.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"redis-server on port {server.port} did not start")
        time.sleep(0.05)


__all__ = [
    "SHARED_REDIS_URL",
    "Backends",
    "RedisProcess",
    "delete_pipgate_keys",
    "postgres_rows",
    "private_redis",
    "redis_unreachable_reason",
    "shared_backends",
]
