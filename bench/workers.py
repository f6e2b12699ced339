"""Throughput of ``pipgate serve --workers 1`` against ``--workers 2`` on the embedded defaults.

Both servers run side by side, each with its own data directory, in front of the test
suite's ``FakeUpstream`` on loopback. After a warm-up (page cached and rendered, file in the
blob store), wrk measures, alternating between the servers, for each of ``--reps`` rounds:

- a warm small project page (PEP 691 JSON, as pip asks for it): requests per second;
- a warm 1 MB wheel: MB per second of response bodies (1 MB = 10^6 bytes).

Each figure is printed as median [min-max] over the rounds, and written to ``--out``
(default ``bench/WORKERS.md``) with the command and the machine; text after the ``NOTES``
marker line in that file (the reading of the figures) is kept. Loopback only; every run is
bounded by ``--duration``; only the processes started here are stopped, by PID.

    .venv/bin/python bench/workers.py [--reps 3] [--duration 8] [--out bench/WORKERS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.support.builders import build_wheel  # noqa: E402
from tests.support.e2e import production_trust_root  # noqa: E402
from tests.support.fake_upstream import FakeUpstream  # noqa: E402
from tests.support.pipgate_server import PipgateProcess  # noqa: E402

WORKERS = (1, 2)
NOTES = (
    "<!-- Notes below are written by hand and kept when bench/workers.py rewrites this file. -->"
)
FILE_PAYLOAD = 1_000_000
JSON_ACCEPT = "application/vnd.pypi.simple.v1+json"
# wrk's done() hook: exact totals as one JSON line, instead of its rounded human summary.
REPORT_LUA = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "bytes": %d, "seconds": %.6f, "socket_errors": %d, "bad_status": %d}\\n',
    summary.requests, summary.bytes, summary.duration / 1e6,
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


@dataclass(frozen=True)
class Target:
    name: str
    path: str
    connections: int
    headers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sample:
    requests: int
    bytes: int
    seconds: float
    server_cpu: float
    """CPU seconds the server's processes used during the run: robust to a busy machine."""
    busiest_share: float
    """The busiest process's part of ``server_cpu``: 0.5 = both workers equally busy."""

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def mb_per_second(self) -> float:
        return self.bytes / self.seconds / 1e6


def tree_cpu_seconds(root: int) -> dict[int, float]:
    """User + system CPU seconds of ``root`` and of each child process (uvicorn's workers)."""
    ticks = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue  # exited while we looked
        # After the command: state, ppid, ... utime and stime are fields 14 and 15 of stat.
        if int(entry.name) == root or int(fields[1]) == root:
            ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
    return {pid: count / os.sysconf("SC_CLK_TCK") for pid, count in ticks.items()}


def wrk(
    url: str, target: Target, duration: float, script: Path, threads: int, server: int
) -> Sample:
    """One bounded wrk run against the server whose (supervisor) PID is ``server``."""
    headers = [arg for header in target.headers for arg in ("-H", header)]
    command = [
        "wrk", f"-t{threads}", f"-c{target.connections}", f"-d{duration:g}s", "--timeout", "10s",
        "-s", str(script), *headers, url,
    ]  # fmt: skip
    cpu_before = tree_cpu_seconds(server)
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=duration + 30, check=True
    )
    used = [cpu - cpu_before.get(pid, 0.0) for pid, cpu in tree_cpu_seconds(server).items()]
    line = next(ln for ln in reversed(result.stdout.splitlines()) if ln.startswith("{"))
    totals = json.loads(line)
    if totals["socket_errors"] or totals["bad_status"]:
        raise RuntimeError(f"wrk {url}: errors {totals}\n{result.stdout}")
    total = sum(used)
    share = max(used) / total if total else 1.0
    return Sample(totals["requests"], totals["bytes"], totals["seconds"], total, share)


def publish(up: FakeUpstream, directory: Path) -> tuple[str, str]:
    """A small project page (3 wheels) and a project with one 1 MB wheel."""
    for version in ("1.0", "1.1", "2.0"):
        up.add_file("bench-small", build_wheel(directory, "bench-small", version))
    payload = {"bench_big/payload.bin": os.urandom(FILE_PAYLOAD)}
    big = build_wheel(directory, "bench-big", "1.0", files=payload)
    up.add_file("bench-big", big)
    return "/simple/bench-small/", f"/files/bench-big/{big.name}"


def warm(server: PipgateProcess, targets: list[Target], script: Path) -> None:
    assert server.process is not None
    for target in targets:
        url = server.url + target.path
        request = urllib.request.Request(url, headers={"Accept": JSON_ACCEPT})
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
        # Every worker keeps its own rendered pages: let each one see requests.
        wrk(url, target, 2, script, 1, server.process.pid)


def median_range(values: list[float], spec: str = ",.0f") -> str:
    return f"{statistics.median(values):{spec}} [{min(values):{spec}}-{max(values):{spec}}]"


def machine() -> str:
    cpu = "unknown CPU"
    with open("/proc/cpuinfo", encoding="utf-8") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, Linux"


# Per target: the table's title, the throughput unit, and how a sample gives it.
MEASURES: dict[str, tuple[str, str, Callable[[Sample], float]]] = {
    "page": ("Warm small page (PEP 691 JSON), 32 connections", "req/s", lambda s: s.per_second),
    "file": ("Warm 1 MB wheel, 8 connections", "MB/s", lambda s: s.mb_per_second),
}


def target_table(name: str, results: dict[tuple[int, str], list[Sample]]) -> list[str]:
    title, unit, measure = MEASURES[name]
    lines = [
        f"### {title}",
        "",
        f"| workers | {unit} | server CPU cores busy | {unit} per busy core "
        "| busiest process's share of the server's CPU, per round |",
        "|---|---|---|---|---|",
    ]
    for workers in WORKERS:
        samples = results[(workers, name)]
        rates = [measure(s) for s in samples]
        cores = [s.server_cpu / s.seconds for s in samples]
        per_core = [rate / core for rate, core in zip(rates, cores, strict=True)]
        shares = ", ".join(f"{s.busiest_share:.0%}" for s in samples)
        lines.append(
            f"| {workers} | {median_range(rates)} | {median_range(cores, '.2f')} "
            f"| {median_range(per_core)} | {shares} |"
        )
    # Paired by round: the two servers ran back to back, so load that drifts during the run
    # affects both sides of each ratio alike.
    one, two = ([measure(s) for s in results[(w, name)]] for w in WORKERS)
    ratios = [b / a for a, b in zip(one, two, strict=True)]
    lines += ["", f"Two workers / one, per round: x{median_range(ratios, '.2f')}.", ""]
    return lines


def report(
    results: dict[tuple[int, str], list[Sample]], args: argparse.Namespace, command: str, load: str
) -> str:
    lines = [
        "## Throughput: `pipgate serve --workers 1` vs `--workers 2`",
        "",
        f"Command: `{command}`. Rounds: {args.reps}, of {args.duration:g} s per figure, the two "
        "servers alternating; each figure is the median [min-max] over the rounds.",
        "",
        f"Machine: {machine()}. wrk ({args.threads} thread) runs on the same machine over "
        "loopback, so client and servers share the cores. Load average (1, 5, 15 min) at the "
        f"start and at the end of the run: {load}. Embedded defaults (data dir, flock locks, "
        "SQLite fetch log); pages and files warm (cached, and rendered by each worker).",
        "",
        '"Server CPU cores busy" is the CPU time of the server\'s processes divided by the '
        "run's duration: how much of the machine the server got. The work done per busy core "
        "is what other load on the machine changes little. The busiest process's share is "
        "100% for one worker; for two, 50% means both were equally busy and near 100% that "
        "one worker had (almost) all of wrk's connections.",
        "",
    ]
    for name in MEASURES:
        lines += target_table(name, results)
    return "\n".join(lines)


def load_average() -> str:
    return " / ".join(f"{value:.1f}" for value in os.getloadavg())


def make_servers(home: Path, upstream: str, trust_root: Path) -> dict[int, PipgateProcess]:
    servers = {}
    for workers in WORKERS:
        (home / f"w{workers}").mkdir()
        env = {"PIPGATE_TRUST_ROOT": str(trust_root), "PIPGATE_LOG_LEVEL": "warning"}
        data_dir = home / f"w{workers}" / "data"
        servers[workers] = PipgateProcess(data_dir, upstream, "--workers", str(workers), env=env)
    return servers


def rounds(
    servers: dict[int, PipgateProcess], targets: list[Target], args: argparse.Namespace, lua: Path
) -> dict[tuple[int, str], list[Sample]]:
    results: dict[tuple[int, str], list[Sample]] = {}
    for rep in range(args.reps):
        for workers, server in servers.items():
            assert server.process is not None
            for target in targets:
                url = server.url + target.path
                sample = wrk(url, target, args.duration, lua, args.threads, server.process.pid)
                results.setdefault((workers, target.name), []).append(sample)
                print(f"round {rep + 1} workers={workers} {target.name}: {sample}")
    return results


def run(args: argparse.Namespace) -> dict[tuple[int, str], list[Sample]]:
    with tempfile.TemporaryDirectory(prefix="pipgate-workers-bench-") as scratch:
        home = Path(scratch)
        lua = home / "report.lua"
        lua.write_text(REPORT_LUA)
        trust_root = production_trust_root(home / "sigstore")
        with FakeUpstream() as up:
            page, file = publish(up, home / "dists")
            targets = [
                Target("page", page, 32, (f"Accept: {JSON_ACCEPT}",)),
                Target("file", file, 8),
            ]
            servers = make_servers(home, up.url, trust_root)
            try:
                for server in servers.values():
                    server.start()
                    warm(server, targets, lua)
                return rounds(servers, targets, args, lua)
            finally:
                for server in servers.values():
                    server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per wrk run")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "WORKERS.md")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian package wrk)", file=sys.stderr)
        return 2
    load_before = load_average()
    results = run(args)
    load = f"{load_before}, then {load_average()}"
    command = "python bench/workers.py " + shlex.join(sys.argv[1:])
    text = report(results, args, command.strip(), load)
    previous = args.out.read_text() if args.out.exists() else ""
    notes = previous[previous.index(NOTES) :] if NOTES in previous else NOTES + "\n"
    args.out.write_text(text + "\n" + notes)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
