"""A real S3-compatible server for tests: moto's server mode on a loopback port.

moto comes from PyPI (the ``test`` extra), needs no binary download, and implements the S3
REST API that the store uses (HEAD, ranged and conditional GET, PUT with Content-MD5,
multipart uploads) over real HTTP, so requests are signed, sent and parsed exactly as against
AWS. It runs in a child process: the test process's memory then measures only pipgate's
side of a transfer, and the server is ended by its PID.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

if TYPE_CHECKING:
    from types_aiobotocore_s3.client import S3Client

ACCESS_KEY = "pipgate-test-access"
SECRET_KEY = "pipgate-test-secret"
REGION = "us-east-1"

_SERVER = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()  # until the test process closes our stdin (or ends us)
server.stop()
"""


@dataclass(frozen=True, slots=True)
class S3Server:
    endpoint: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION


def _server_environment(home: Path) -> dict[str, str]:
    # No AWS_* or proxy settings of this machine may reach the server.
    keep = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    return {**env, "HOME": str(home), "NO_PROXY": "127.0.0.1"}


@contextmanager
def running_s3_server(home: Path) -> Iterator[S3Server]:
    """Start the server, yield its endpoint, stop it (``home`` is its private HOME)."""
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=_server_environment(home),
        text=True,
    )
    try:
        assert process.stdout is not None
        port = process.stdout.readline().strip()
        if not port.isdigit():
            raise RuntimeError(f"moto server did not start (exit code {process.poll()})")
        yield S3Server(endpoint=f"http://127.0.0.1:{port}")
    finally:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@asynccontextmanager
async def s3_client(server: S3Server) -> AsyncIterator[S3Client]:
    """A plain client for arranging and inspecting the bucket behind a store's back."""
    config = AioConfig(
        s3={"addressing_style": "path"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    async with get_session().create_client(
        "s3",
        endpoint_url=server.endpoint,
        region_name=server.region,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        config=config,
    ) as client:
        yield client


def isolate_from_aws_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drop this machine's AWS_* variables and config files for the SDK in this process."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.setenv(name, os.devnull)


__all__ = ["S3Server", "isolate_from_aws_config", "running_s3_server", "s3_client"]
