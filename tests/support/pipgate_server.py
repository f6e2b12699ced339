"""Run pipgate for real on 127.0.0.1: in a background thread (fast, inspectable) or as a
``pipgate serve`` subprocess (for kill -9 and command-line tests)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette

from proxy.app import create_app
from proxy.line_sink import LineSink
from proxy.serve_options import uvicorn_options
from proxy.settings import Settings
from proxy.state import AppState

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PipgateServer:
    """``with PipgateServer(settings) as server: server.url`` -> ``http://127.0.0.1:P``."""

    def __init__(self, settings: Settings, access_out: Callable[[str], None] | None = None) -> None:
        """``access_out`` receives the access log's text; by default it is kept in memory
        (``access_lines``) instead of going to stdout."""
        self.settings = settings
        self._access: list[str] = []
        self._sink = LineSink(access_out or self._access.append)
        self.app: Starlette = create_app(settings, access_sink=self._sink)
        self._socket = socket.socket()
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.index_url = f"{self.url}/simple/"
        options = uvicorn_options(settings) | {"log_level": "warning"}
        config = uvicorn.Config(self.app, lifespan="on", **options)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="pipgate", daemon=True)
        self.loop: asyncio.AbstractEventLoop | None = None

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        try:
            self.loop.run_until_complete(self._server.serve(sockets=[self._socket]))
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.run_until_complete(self.loop.shutdown_default_executor())
        finally:
            self.loop.close()

    @property
    def state(self) -> AppState:
        state: AppState = self.app.state.pipgate
        return state

    def call(self, coroutine: Any) -> Any:
        """Run a coroutine on the server's loop (e.g. to flush the fetch log)."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)

    def access_lines(self) -> list[str]:
        """Every access-log line written so far (flushed first, on the server's loop)."""

        async def flush() -> None:
            self._sink.flush()

        self.call(flush())
        return "".join(self._access).splitlines()

    def __enter__(self) -> PipgateServer:
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("pipgate did not start")
            time.sleep(0.02)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)
        self._socket.close()


class PipgateProcess:
    """``pipgate serve`` in a subprocess; ``kill()`` sends SIGKILL to that PID only."""

    def __init__(
        self,
        data_dir: Path,
        upstream: str | None,
        *extra: str,
        env: dict[str, str] | None = None,
        program: list[str] | None = None,
    ) -> None:
        """``upstream=None`` keeps the embedded default; ``program`` replaces
        ``python -m proxy`` (e.g. the installed ``pipgate`` script)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.index_url = f"{self.url}/simple/"
        self.args = [
            *(program or [sys.executable, "-m", "proxy"]),
            "serve",
            "--port",
            str(self.port),
            "--data-dir",
            str(data_dir),
            *(["--upstream", upstream] if upstream is not None else []),
            *extra,
        ]
        base = {k: v for k, v in os.environ.items() if not k.startswith("PIPGATE_")}
        self.env = base | (env or {}) | {"PYTHONPATH": str(REPO)}
        self.process: subprocess.Popen[bytes] | None = None
        self.log = data_dir.parent / f"pipgate-{self.port}.log"

    def start(self, timeout: float = 20) -> PipgateProcess:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.args, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pipgate exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("pipgate did not become healthy")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> PipgateProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
