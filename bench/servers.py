"""The servers under test, each started the way its documentation or image starts it, with an
empty state directory on every ``start()``:

* ``nginx``: the static upstream itself (reference listener, no access log);
* ``pipgate``: ``pipgate serve`` with ``--workers N`` and its default policy set (no config file);
* ``proxpi``: its Docker image's gunicorn command (1 process, 2 threads);
* ``devpi``: ``devpi-server`` (waitress) with a ``root/local`` mirror index made by devpi-client.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from nginx import Nginx
from procs import Started

# Proxy variables and pip/uv settings of this shell must not reach the servers or clients.
_DROP = ("PIP_", "UV_", "PIPGATE_", "PROXPI_", "DEVPI_")


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_DROP) and not k.lower().endswith("_proxy")
    }
    return env | extra


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(url: str, process: Started | None, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and not process.alive():
            raise RuntimeError(f"{process.argv[0]} exited with {process.proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"no 200 from {url} within {timeout} s")


class Server:
    """One column of the tables. ``index_url`` ends with ``/``."""

    name = ""
    caches = True

    def __init__(self, work: Path, upstream: str) -> None:
        self.work, self.upstream = work / self.name, upstream
        self.port = free_port()
        self.process: Started | None = None

    @property
    def index_url(self) -> str:
        raise NotImplementedError

    @property
    def root_pid(self) -> int:
        assert self.process is not None, f"{self.name} is not running"
        return self.process.pid

    def start(self) -> float:
        """Start with empty state; returns the seconds until it answered."""
        self.stop()
        state = self.work / "state"
        if state.exists():
            shutil.rmtree(state)
        state.mkdir(parents=True)
        began = time.monotonic()
        self.launch(state)
        return time.monotonic() - began

    def launch(self, state: Path) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


class NginxDirect(Server):
    name = "nginx"
    caches = False

    def __init__(self, work: Path, nginx: Nginx) -> None:
        super().__init__(work, nginx.reference_url)
        self.nginx = nginx

    @property
    def index_url(self) -> str:
        return self.nginx.reference_url

    @property
    def root_pid(self) -> int:
        assert self.nginx.process is not None, "nginx is not running"
        return self.nginx.process.pid

    def launch(self, state: Path) -> None:
        pass  # the upstream runs for the whole benchmark


class Pipgate(Server):
    def __init__(self, work: Path, upstream: str, executable: Path, workers: int) -> None:
        self.name = f"pipgate-{workers}w"
        super().__init__(work, upstream)
        self.executable, self.workers = executable, workers

    @property
    def index_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/simple/"

    def launch(self, state: Path) -> None:
        argv = [str(self.executable), "serve", "--upstream", self.upstream]
        argv += ["--port", str(self.port), "--data-dir", str(state)]
        argv += ["--workers", str(self.workers)]
        self.process = Started(argv, self.work / "server.log", clean_env())
        wait_http(f"http://127.0.0.1:{self.port}/readyz", self.process)


class Proxpi(Server):
    name = "proxpi"

    def __init__(self, work: Path, upstream: str, venv: Path) -> None:
        super().__init__(work, upstream)
        self.venv = venv

    @property
    def index_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/index/"

    def launch(self, state: Path) -> None:
        env = clean_env(PROXPI_INDEX_URL=self.upstream, PROXPI_CACHE_DIR=str(state))
        argv = [str(self.venv / "bin" / "gunicorn"), "--preload", "--access-logfile", "-"]
        argv += ["--access-logformat", '%(h)s "%(r)s" %(s)s %(b)s %(M)dms']
        argv += ["--logger-class", "proxpi.server._GunicornLogger"]
        argv += ["--bind", f"127.0.0.1:{self.port}", "--threads", "2", "proxpi.server:app"]
        self.process = Started(argv, self.work / "server.log", env)
        wait_http(f"http://127.0.0.1:{self.port}/health", self.process)


class Devpi(Server):
    name = "devpi"

    def __init__(self, work: Path, upstream: str, venv: Path) -> None:
        super().__init__(work, upstream)
        self.venv = venv

    @property
    def index_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/root/local/+simple/"

    def _run(self, *argv: str) -> None:
        bin_dir = self.venv / "bin"
        with (self.work / "setup.log").open("ab") as log:
            subprocess.run(
                [str(bin_dir / argv[0]), *argv[1:]],
                check=True,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=clean_env(HOME=str(self.work)),
                timeout=120,
            )

    def launch(self, state: Path) -> None:
        server_dir, client_dir = state / "server", str(state / "client")
        self._run("devpi-init", "--serverdir", str(server_dir), "--no-root-pypi")
        argv = [str(self.venv / "bin" / "devpi-server"), "--serverdir", str(server_dir)]
        argv += ["--host", "127.0.0.1", "--port", str(self.port)]
        self.process = Started(argv, self.work / "server.log", clean_env(HOME=str(self.work)))
        base = f"http://127.0.0.1:{self.port}"
        wait_http(f"{base}/+api", self.process, timeout=120)
        self._run("devpi", "use", "--clientdir", client_dir, base)
        self._run("devpi", "login", "--clientdir", client_dir, "root", "--password", "")
        self._run(
            "devpi", "index", "--clientdir", client_dir, "-c", "root/local",
            "type=mirror", f"mirror_url={self.upstream}",
        )  # fmt: skip
