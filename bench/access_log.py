"""What the access log costs on the warm-page fast path: ``access_log = "off"`` against
``"json"`` and ``"kv"``, on the embedded defaults.

1. End to end: three ``pipgate serve --workers 1`` side by side in front of the test suite's
   ``FakeUpstream`` on loopback, each with stdout (the access log) going to a file, as
   under a service manager. After a warm-up (page cached and rendered), wrk measures a
   warm small project page (PEP 691 JSON, 32 connections), alternating between the
   servers, for ``--reps`` rounds: requests per second and server CPU microseconds per
   request, median [min-max] over the rounds.
2. The ASGI app alone: the same three configurations in this process, the page requested
   by calling the app directly (no sockets, no HTTP parsing), ``--calls`` times per round;
   the fastest round of each is the figure least disturbed by other load on the machine.

Written to ``--out`` (default ``bench/ACCESS_LOG.md``). Loopback only, bounded by
``--duration`` and ``--calls``; only the processes started here are stopped, by PID.

    .venv/bin/python bench/access_log.py [--reps 5] [--duration 8]
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from workers import (
    JSON_ACCEPT,
    REPO,
    REPORT_LUA,
    Sample,
    Target,
    load_average,
    machine,
    median_range,
    publish,
    warm,
    wrk,
)

from proxy.settings import load_settings
from tests.support.e2e import production_trust_root
from tests.support.fake_upstream import FakeUpstream
from tests.support.pipgate_server import PipgateProcess, PipgateServer

MODES = ("off", "json", "kv")
NOTES = (
    "<!-- Notes below are written by hand and kept when bench/access_log.py rewrites this file. -->"
)


def make_servers(home: Path, upstream: str, trust_root: Path) -> dict[str, PipgateProcess]:
    servers = {}
    for mode in MODES:
        (home / mode).mkdir()
        env = {
            "PIPGATE_TRUST_ROOT": str(trust_root),
            "PIPGATE_LOG_LEVEL": "warning",
            "PIPGATE_ACCESS_LOG": mode,
        }
        servers[mode] = PipgateProcess(home / mode / "data", upstream, env=env)
    return servers


def run(args: argparse.Namespace) -> tuple[dict[str, list[Sample]], dict[str, int]]:
    results: dict[str, list[Sample]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory(prefix="pipgate-accesslog-bench-") as scratch:
        home = Path(scratch)
        lua = home / "report.lua"
        lua.write_text(REPORT_LUA)
        trust_root = production_trust_root(home / "sigstore")
        with FakeUpstream() as up:
            page, _ = publish(up, home / "dists")
            target = Target("page", page, 32, (f"Accept: {JSON_ACCEPT}",))
            servers = make_servers(home, up.url, trust_root)
            try:
                for server in servers.values():
                    server.start()
                    warm(server, [target], lua)
                for rep in range(args.reps):
                    for mode, server in servers.items():
                        assert server.process is not None
                        url = server.url + target.path
                        sample = wrk(url, target, args.duration, lua, 1, server.process.pid)
                        results[mode].append(sample)
                        print(f"round {rep + 1} access_log={mode}: {sample.per_second:,.0f} req/s")
            finally:
                for server in servers.values():
                    server.stop()
            lines = {mode: _count_lines(server.log) for mode, server in servers.items()}
    return results, lines


def _page_scope(path: str) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8080),
        "headers": [(b"host", b"127.0.0.1:8080"), (b"accept", JSON_ACCEPT.encode())],
    }  # fmt: skip


async def _calls(app: Any, path: str, count: int) -> float:
    """Microseconds per request of ``count`` direct calls of the ASGI app."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    started = time.perf_counter()
    for _ in range(count):
        await app(_page_scope(path), receive, send)
    return (time.perf_counter() - started) / count * 1e6


def in_process(args: argparse.Namespace) -> dict[str, list[float]]:
    results: dict[str, list[float]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory(prefix="pipgate-accesslog-asgi-") as scratch:
        home = Path(scratch)
        with FakeUpstream() as up:
            page, _ = publish(up, home / "dists")
            servers = {}
            for mode in MODES:
                environ = {"PIPGATE_ACCESS_LOG": mode}
                values = {"upstream": up.url, "data_dir": str(home / mode)}
                log = (home / f"{mode}.log").open("w")  # lines really written, as to stdout

                def write(text: str, log: Any = log) -> None:
                    log.write(text)
                    log.flush()

                settings = load_settings(None, environ=environ, overrides=values)
                server = PipgateServer(settings, access_out=write)
                servers[mode] = server.__enter__()
                server.call(_calls(server.app, page, 10))  # renders and caches the page
            try:
                for _ in range(args.reps):
                    for mode, server in servers.items():
                        results[mode].append(server.call(_calls(server.app, page, args.calls)))
            finally:
                for server in servers.values():
                    server.__exit__(None, None, None)
    return results


def _count_lines(log: Path) -> int:
    """Access-log lines the server wrote (its stdout and stderr share the file)."""
    text = log.read_text(errors="replace")
    return sum(1 for line in text.splitlines() if line.startswith(('{"time"', "time=")))


def report(
    results: dict[str, list[Sample]],
    lines: dict[str, int],
    asgi: dict[str, list[float]],
    header: str,
) -> str:
    out = [
        "## Access log cost on the warm-page fast path",
        "",
        header,
        "",
        "| access_log | req/s | server CPU µs per request | vs off, per round | lines written |",
        "|---|---|---|---|---|",
    ]
    off = [s.per_second for s in results["off"]]
    for mode in MODES:
        rates = [s.per_second for s in results[mode]]
        cpu = [s.server_cpu / s.requests * 1e6 for s in results[mode]]
        ratios = [rate / base for rate, base in zip(rates, off, strict=True)]
        out.append(
            f"| {mode} | {median_range(rates)} | {median_range(cpu, '.1f')} "
            f"| x{median_range(ratios, '.3f')} | {lines[mode]:,} |"
        )
    out += [
        "",
        "### The ASGI app alone (direct calls, no HTTP server)",
        "",
        "| access_log | fastest round, µs per request | added to off | median round |",
        "|---|---|---|---|",
    ]
    base = min(asgi["off"])
    for mode in MODES:
        fastest = min(asgi[mode])
        out.append(
            f"| {mode} | {fastest:.1f} | {fastest - base:+.1f} | "
            f"{statistics.median(asgi[mode]):.1f} |"
        )
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per wrk run")
    parser.add_argument("--calls", type=int, default=20_000, help="ASGI calls per round")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "ACCESS_LOG.md")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian package wrk)", file=sys.stderr)
        return 2
    load_before = load_average()
    results, lines = run(args)
    asgi = in_process(args)
    command = "python bench/access_log.py " + shlex.join(sys.argv[1:])
    header = (
        f"Command: `{command.strip()}`. {args.reps} rounds of {args.duration:g} s per figure, "
        f"the servers alternating. Machine: {machine()}; wrk (1 thread) on the same machine "
        f"over loopback. Load average before and after: {load_before}, then {load_average()}. "
        f"Median requests per server: {statistics.median(s.requests for s in results['off']):,.0f}."
    )
    text = report(results, lines, asgi, header)
    previous = args.out.read_text() if args.out.exists() else ""
    notes = previous[previous.index(NOTES) :] if NOTES in previous else NOTES + "\n"
    args.out.write_text(text + "\n" + notes)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
