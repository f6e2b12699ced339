"""Hostile clients against one ``pipgate serve`` on loopback (issue 15, items 1 and 2).

    python bench/hostile_clients.py                   # this checkout
    python bench/hostile_clients.py --repo OTHER      # another checkout (before/after figures)
    python bench/hostile_clients.py --tests flood     # one test: flood, slow, fds

* ``flood``: 2 connections each send ``--flood-mib`` MiB of one unterminated header line as
  fast as the server reads; peak RSS of the server's process tree, and whether the server
  cut the connections (how many bytes it took before it did).
* ``slow``: 300 connections each send a request line, then one header byte per second for
  ``--slow-seconds``; how many the server still holds open at the end.
* ``fds``: the server runs with ``ulimit -n 1024``; 1,100 connections open and send nothing;
  then ``/healthz`` is asked 5 times (is pipgate still reachable?), and again after the
  header timeout.

Loopback only; stops only the process group it started. Results are printed as JSON lines.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from procs import RssSampler, Started, rss_bytes, tree
from servers import clean_env, free_port, wait_http

REPO = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024


def start_pipgate(repo: Path, work: Path, nofile: int | None, extra: list[str]) -> Started:
    port = free_port()
    argv = [
        sys.executable, "-m", "proxy", "serve", "--port", str(port),
        "--data-dir", str(work / "data"), "--upstream", "http://127.0.0.1:9/simple/", *extra,
    ]  # fmt: skip
    # From the checkout's directory: ``python -m proxy`` imports from the working directory.
    limit = f"ulimit -n {nofile} && " if nofile is not None else ""
    argv = ["bash", "-c", f'cd "$0" && {limit}exec "$@"', str(repo), *argv]
    env = clean_env(PYTHONPATH=str(repo))
    server = Started(argv, work / "pipgate.log", env=env)
    server.port = port  # type: ignore[attr-defined]
    wait_http(f"http://127.0.0.1:{port}/healthz", server)
    return server


async def flood_one(port: int, mib: int) -> tuple[int, bool]:
    """Bytes written before the server closed (or all of them), and whether it closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Flood: ")
    block = b"a" * MIB
    sent = 0
    try:
        for _ in range(mib):
            writer.write(block)
            await asyncio.wait_for(writer.drain(), 30)
            sent += len(block)
        await asyncio.wait_for(reader.read(100), 1.0)
    except (ConnectionError, TimeoutError):
        return sent, sent < mib * MIB
    finally:
        writer.close()
    return sent, True  # the server answered (431) or closed


async def flood(port: int, pid: int, mib: int) -> dict[str, object]:
    before = rss_bytes(tree(pid))
    with RssSampler(pid) as sampler:
        results = await asyncio.gather(flood_one(port, mib), flood_one(port, mib))
    await asyncio.sleep(2)
    return {
        "test": "flood",
        "mib_per_connection": mib,
        "rss_before_mb": before // MIB,
        "rss_peak_mb": sampler.peak // MIB,
        "rss_after_mb": rss_bytes(tree(pid)) // MIB,
        "accepted_mb": [sent // MIB for sent, _ in results],
        "cut_by_server": [closed for _, closed in results],
    }


async def slow_one(port: int, seconds: float) -> bool:
    """Whether the connection was still open after ``seconds`` of one byte per second."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            writer.write(b"a")
            await writer.drain()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reader.read(1024), 1.0)
                return False  # an answer (408 closes the connection) or the end of the stream
        return True
    except ConnectionError:
        return False
    finally:
        writer.close()


async def slow(port: int, count: int, seconds: float) -> dict[str, object]:
    results = await asyncio.gather(*(slow_one(port, seconds) for _ in range(count)))
    return {"test": "slow", "connections": count, "seconds": seconds, "still_open": sum(results)}


def healthz(port: int, tries: int) -> str:
    """``/healthz`` asked ``tries`` times: how many answered 200, and what the others got."""
    seen: list[str] = []
    for _ in range(tries):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as r:
                seen.append(str(r.status))
        except urllib.error.HTTPError as error:
            seen.append(str(error.code))
        except OSError as error:
            seen.append(type(getattr(error, "reason", error)).__name__)
    return f"{seen.count('200')}/{tries} ok ({', '.join(sorted(set(seen)))})"


async def still_open(reader: asyncio.StreamReader) -> bool:
    try:
        await asyncio.wait_for(reader.read(65536), 0.05)
    except TimeoutError:
        return True
    except ConnectionError:
        return False
    return False  # an answer (every refusal closes) or the end of the stream


async def fds(port: int, count: int, wait: float, source: str) -> dict[str, object]:
    held = []
    refused = 0
    for _ in range(count):
        try:
            held.append(await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0)))
        except OSError:
            refused += 1
    await asyncio.sleep(1)
    during = await asyncio.to_thread(healthz, port, 5)
    open_after_1s = sum([await still_open(reader) for reader, _ in held])
    await asyncio.sleep(wait)
    after = await asyncio.to_thread(healthz, port, 5)
    open_after_wait = sum([await still_open(reader) for reader, _ in held])
    for _, writer in held:
        writer.close()
    return {
        "test": "fds",
        "connections": count,
        "refused_at_connect": refused,
        "source": source,
        "healthz_during": during,
        "held_by_server_after_1s": open_after_1s,
        "healthz_after_wait": after,
        "wait_s": wait,
        "held_by_server_after_wait": open_after_wait,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=REPO)
    parser.add_argument("--tests", default="flood,slow,fds")
    parser.add_argument("--flood-mib", type=int, default=64)
    parser.add_argument("--slow-seconds", type=float, default=30.0)
    parser.add_argument("--label", default="")
    parser.add_argument(
        "--source",
        default="127.0.0.1",
        help="local address the fds test's connections come from; a non-loopback address "
        "of this machine makes them look remote (the target stays 127.0.0.1)",
    )
    parser.add_argument("serve_args", nargs="*", help="extra `pipgate serve` arguments")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    tests = args.tests.split(",")
    with tempfile.TemporaryDirectory(prefix="pipgate-hostile-") as tmp:
        for test in tests:
            nofile = 1024 if test == "fds" else None
            server = start_pipgate(args.repo, Path(tmp) / test, nofile, args.serve_args)
            port = server.port  # type: ignore[attr-defined]
            try:
                if test == "flood":
                    result = await flood(port, server.pid, args.flood_mib)
                elif test == "slow":
                    result = await slow(port, 300, args.slow_seconds)
                elif test == "fds":
                    result = await fds(port, 1100, 15.0, args.source)
                else:
                    raise SystemExit(f"unknown test {test!r}")
            finally:
                server.stop()
            print(json.dumps({"label": args.label, **result}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
