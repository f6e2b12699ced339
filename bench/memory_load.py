"""Memory of one pipgate worker under many concurrent clients (issue 15, item 3), and the
event loop's responsiveness while huge pages render (item 5).

    python bench/memory_load.py                    # this checkout; every test
    python bench/memory_load.py --repo OTHER       # another checkout (before/after)
    python bench/memory_load.py --tests warm,slow,pages,render

* ``warm``: 1,000 clients at once download a warm 8 MB file; peak RSS of the worker, RSS
  right after, and after 25 s idle.
* ``slow``: 300 clients read a warm 50 MB file at ~100 KB/s each for 20 s, then leave.
* ``pages``: 10 different oversized upstream pages (70 MB each, sent chunked, over the
  64 MiB cap) asked at once; peak RSS.
* ``render``: a 100,000-file page asked with 20 different Host headers while ``/healthz``
  is asked every 50 ms: the longest ``/healthz`` wait, and how long the page requests took.

The upstream is ``tests/support/fake_upstream.py`` (an aiohttp index on 127.0.0.1, in this
process); pipgate runs as ``pipgate serve`` with one worker and no policies. Loopback only;
stops only the process group it started. Results are printed as JSON lines.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

from aiohttp import web
from procs import RssSampler, Started, rss_bytes, tree
from servers import clean_env, free_port, wait_http

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.builders import build_wheel  # noqa: E402
from tests.support.fake_index import FakeFile  # noqa: E402
from tests.support.fake_upstream import FakeUpstream  # noqa: E402

MB = 1_000_000
MIB = 1024 * 1024


def start_pipgate(repo: Path, work: Path, upstream: str) -> tuple[Started, int]:
    port = free_port()
    (work / "empty.toml").write_text("")  # a config without [[policy]]: no policies
    argv = [
        sys.executable,
        "-m",
        "proxy",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(work / "data"),
        "--upstream",
        upstream,
        "--config",
        str(work / "empty.toml"),
    ]
    argv = ["bash", "-c", 'cd "$0" && ulimit -n 8192 && exec "$@"', str(repo), *argv]
    env = clean_env(PYTHONPATH=str(repo), PIPGATE_LOG_LEVEL="warning")
    server = Started(argv, work / "pipgate.log", env=env)
    wait_http(f"http://127.0.0.1:{port}/healthz", server)
    return server, port


async def fetch(
    port: int,
    path: str,
    host: str = "127.0.0.1",
    rate: int | None = None,
    seconds: float | None = None,
) -> int:
    """GET ``path``; read all (or at ``rate`` bytes/s for ``seconds``); returns bytes read."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/vnd.pypi.simple.v1+json"
        f"\r\nConnection: close\r\n\r\n".encode()
    )
    got = 0
    end = time.monotonic() + seconds if seconds is not None else None
    try:
        while chunk := await reader.read(65536 if rate is None else max(1, rate // 10)):
            got += len(chunk)
            if rate is not None:
                await asyncio.sleep(0.1)
            if end is not None and time.monotonic() > end:
                break
    except ConnectionError:
        pass
    finally:
        writer.close()
    return got


def wheel_of(work: Path, name: str, size: int) -> Path:
    blob = random.Random(name).randbytes(size)
    return build_wheel(work / "dists", name, "1.0", files={f"{name}/blob.bin": blob})


async def warm(port: int, pid: int, upstream: FakeUpstream, work: Path) -> dict[str, object]:
    wheel = upstream.add_file("warm8", wheel_of(work, "warm8", 8 * MB))
    path = f"/files/warm8/{wheel.filename}"
    await fetch(port, path)  # cached now
    before = rss_bytes(tree(pid))
    started = time.monotonic()
    with RssSampler(pid) as sampler:
        results = await asyncio.gather(*(fetch(port, path) for _ in range(1000)))
    elapsed = time.monotonic() - started
    right_after = rss_bytes(tree(pid))
    await asyncio.sleep(25)
    idle_again = rss_bytes(tree(pid))
    return {
        "test": "warm",
        "clients": 1000,
        "file_mb": 8,
        "complete": sum(r > len(wheel.data) for r in results),  # body + headers
        "seconds": round(elapsed, 1),
        "rss_before_mb": before // MIB,
        "rss_peak_mb": sampler.peak // MIB,
        "rss_right_after_mb": right_after // MIB,
        "rss_after_25s_idle_mb": idle_again // MIB,
    }


async def slow(port: int, pid: int, upstream: FakeUpstream, work: Path) -> dict[str, object]:
    wheel = upstream.add_file("slow50", wheel_of(work, "slow50", 50 * MB))
    path = f"/files/slow50/{wheel.filename}"
    await fetch(port, path)
    before = rss_bytes(tree(pid))
    with RssSampler(pid) as sampler:
        await asyncio.gather(*(fetch(port, path, rate=100_000, seconds=20) for _ in range(300)))
    await asyncio.sleep(5)
    return {
        "test": "slow",
        "clients": 300,
        "file_mb": 50,
        "rate_kb_s": 100,
        "rss_before_mb": before // MIB,
        "rss_peak_mb": sampler.peak // MIB,
        "rss_after_5s_mb": rss_bytes(tree(pid)) // MIB,
    }


def _bare(project: str, count: int) -> list[FakeFile]:
    return [
        FakeFile(
            project=project,  # type: ignore[arg-type]
            filename=f"{project}-0.{n}-py3-none-any.whl",
            data=b"",
            upload_time=None,
            yanked=False,
            requires_python=None,
            metadata=None,
            provenance=None,
            hash_override="0" * 64,
            url=None,
        )
        for n in range(count)
    ]


class OversizedPages:
    """An index whose every project page is 70 MB of JSON sent chunked (no Content-Length),
    so pipgate must read up to its 64 MiB cap to find out; on 127.0.0.1, in a thread."""

    def __init__(self) -> None:
        entry = b'{"filename":"x-1.0-py3-none-any.whl","url":"x","hashes":{}},'
        self.body = b'{"meta":{"api-version":"1.0"},"name":"x","files":[' + entry * (
            70 * MB // len(entry)
        )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/simple/"

    async def _page(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "application/vnd.pypi.simple.v1+json"}
        )
        response.enable_chunked_encoding()
        await response.prepare(request)
        with contextlib.suppress(ConnectionError):
            for offset in range(0, len(self.body), 1 << 20):
                await response.write(self.body[offset : offset + (1 << 20)])
        return response

    def __enter__(self) -> OversizedPages:
        app = web.Application()
        app.router.add_get("/simple/{name}/", self._page)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._runner = web.AppRunner(app)

        async def start() -> None:
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

        asyncio.run_coroutine_threadsafe(start(), self._loop).result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


async def pages(port: int, pid: int, upstream: object, work: Path) -> dict[str, object]:
    before = rss_bytes(tree(pid))
    with RssSampler(pid) as sampler:
        results = await asyncio.gather(*(fetch(port, f"/simple/oversized{n}/") for n in range(10)))
    await asyncio.sleep(5)
    return {
        "test": "pages",
        "pages": 10,
        "answered": sum(1 for r in results if r),
        "rss_before_mb": before // MIB,
        "rss_peak_mb": sampler.peak // MIB,
        "rss_after_5s_mb": rss_bytes(tree(pid)) // MIB,
    }


async def render(port: int, pid: int, upstream: FakeUpstream, work: Path) -> dict[str, object]:
    for file in _bare("huge", 100_000):
        upstream.index.add_file(file, "huge")
    await fetch(port, "/simple/huge/")  # the upstream page is cached; renders are what is left
    waits: list[float] = []
    done = asyncio.Event()

    async def probe() -> None:
        while not done.is_set():
            started = time.monotonic()
            await fetch(port, "/healthz")
            waits.append(time.monotonic() - started)
            await asyncio.sleep(0.05)

    prober = asyncio.create_task(probe())
    started = time.monotonic()
    await asyncio.gather(*(fetch(port, "/simple/huge/", host=f"h{n}.test") for n in range(20)))
    elapsed = time.monotonic() - started
    done.set()
    await prober
    return {
        "test": "render",
        "files": 100_000,
        "hosts": 20,
        "page_requests_s": round(elapsed, 2),
        "healthz_max_ms": round(max(waits) * 1000),
        "healthz_probes": len(waits),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=REPO)
    parser.add_argument("--tests", default="warm,slow,pages,render")
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    tests = {"warm": warm, "slow": slow, "pages": pages, "render": render}
    with tempfile.TemporaryDirectory(prefix="pipgate-memory-") as tmp:
        for name in args.tests.split(","):
            work = Path(tmp) / name
            work.mkdir()
            index = OversizedPages() if name == "pages" else FakeUpstream()
            with index as upstream:
                server, port = start_pipgate(args.repo, work, upstream.url)
                try:
                    idle = rss_bytes(tree(server.pid))
                    result = await tests[name](port, server.pid, upstream, work)
                finally:
                    server.stop()
            line = {"label": args.label, "rss_idle_mb": idle // MIB, **result}
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
