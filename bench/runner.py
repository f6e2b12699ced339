"""Run the whole benchmark once: build the upstream tree, start nginx, then measure every
server in turn and append JSON lines to ``bench/results/<run-id>.jsonl``.

Normally started by ``bash bench/run.sh`` (which installs nginx, wrk and the peers first);
``python bench/report.py`` turns the results into the tables of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import functools
import importlib.metadata
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import measure
import suites
import tree_local
from nginx import Nginx
from servers import Devpi, NginxDirect, Pipgate, Proxpi, Server, free_port
from tree import HUGE, PIP_PROJECTS, SMALL, build

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
WORK = BENCH / ".work"
VENVS = WORK / "venvs"
ALL_SERVERS = "nginx,pipgate-2w,pipgate-1w,proxpi,devpi"


def _output(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return (done.stdout + done.stderr).rstrip()


def _versions(venv: Path, packages: list[str]) -> str:
    code = (
        "import importlib.metadata as m, sys; "
        "print(', '.join(p + ' ' + m.version(p) for p in sys.argv[1:]))"
    )
    return _output([str(venv / "bin" / "python"), "-c", code, *packages])


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def facts(pipgate_workers: list[int]) -> dict[str, object]:
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "nproc": os.cpu_count(),
        "free_h": _output(["free", "-h"]),
        "cpu": _cpu_model(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "pipgate": importlib.metadata.version("pipgate"),
        "commit": _output(["git", "-C", str(REPO), "describe", "--always", "--dirty"]),
        "pipgate_workers": pipgate_workers,
        "proxpi": _versions(VENVS / "proxpi", ["proxpi", "gunicorn", "Flask", "requests"]),
        "devpi": _versions(VENVS / "devpi", ["devpi-server", "devpi-client", "waitress"]),
        "client_pip": _versions(VENVS / "client", ["pip"]),
        "nginx": _output(["nginx", "-v"]),
        "wrk": " ".join(_output(["wrk", "-v"]).split()[:2]),
        "curl": " ".join(_output(["curl", "--version"]).split()[:2]),
    }


def make_servers(names: list[str], nginx: Nginx) -> list[Server]:
    servers: list[Server] = []
    upstream = nginx.logged_url
    for name in names:
        if name == "nginx":
            servers.append(NginxDirect(WORK / "servers", nginx))
        elif name.startswith("pipgate-") and name.endswith("w"):
            executable = REPO / ".venv" / "bin" / "pipgate"
            workers = int(name.removeprefix("pipgate-").removesuffix("w"))
            servers.append(Pipgate(WORK / "servers", upstream, executable, workers))
        elif name == "proxpi":
            servers.append(Proxpi(WORK / "servers", upstream, VENVS / "proxpi"))
        elif name == "devpi":
            servers.append(Devpi(WORK / "servers", upstream, VENVS / "devpi"))
        else:
            raise SystemExit(
                f"unknown server {name!r}: expected one of {ALL_SERVERS}, pipgate-<N>w"
            )
    return servers


def _start(ctx: suites.Context, server: Server) -> None:
    ctx.record(server.name, "start_s", server.start())


def run_phases(ctx: suites.Context, tests: set[str], huge_profiles: list[str]) -> None:
    """Warm tests with every server up, rep by rep across servers; then the cold tests.
    A server that fails a step is skipped for the rest of that phase."""
    broken: set[str] = set()

    def step(server: Server, test: str, body: Callable[..., None], *args: object) -> None:
        if server.name not in broken and not suites.guarded(
            ctx, server, test, functools.partial(body, ctx, server, *args)
        ):
            broken.add(server.name)

    pages = [(t, p) for t, p in (("a", SMALL), ("b", HUGE)) if t in tests]
    if pages or "c" in tests:
        print("== warm tests: starting every server", flush=True)
        for server in ctx.servers:
            step(server, "start", _start)
            for test, project in pages:
                step(server, test, suites.prepare_page, test, project)
            if "c" in tests:
                step(server, "c", suites.prepare_file)
        for rep in range(1, ctx.reps + 1):
            for server in ctx.servers:
                for test, _ in pages:
                    for profile in measure.PROFILES if test == "a" else huge_profiles:
                        step(server, test, suites.page_rep, test, profile, rep)
                if "c" in tests:
                    step(server, "c", suites.file_rep, rep)
        for server in ctx.servers:
            server.stop()
    for test, body in (("d", suites.cold_file_rep), ("e", suites.pip_rep)):
        if test in tests:
            print(f"== cold test {test}", flush=True)
            broken.clear()
            for rep in range(1, ctx.reps + 1):
                for server in ctx.servers:
                    step(server, test, body, rep)
                    server.stop()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run-id", default=time.strftime("run-%Y%m%d-%H%M%S"))
    parser.add_argument(
        "--servers", default=ALL_SERVERS, help=f"comma list (default {ALL_SERVERS})"
    )
    parser.add_argument("--tests", default="a,b,c,d,e", help="comma list of a..e")
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per rep")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--huge-profiles",
        default="pip",
        help="header profiles for the huge page load (pip,html); html adds ~3 min",
    )
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    names, tests = args.servers.split(","), set(args.tests.split(","))
    began = time.monotonic()
    results = BENCH / "results" / f"{args.run_id}.jsonl"
    results.parent.mkdir(parents=True, exist_ok=True)
    print(f"building the upstream tree under {WORK / 'upstream'} ...", flush=True)
    local_index = tree_local.find_local_index(PIP_PROJECTS)
    tree = build(WORK / "upstream", local_index)
    requirements = WORK / "pip-list.txt"
    requirements.write_text("\n".join(tree.pip_requirements) + "\n")
    nginx = Nginx(WORK / "nginx", tree.root, free_port(), free_port())
    nginx.start()
    workers = [int(n[8:-1]) for n in names if n.startswith("pipgate-")]
    ctx = suites.Context(
        args.run_id, results, nginx, tree, VENVS / "client" / "bin" / "python",
        args.seconds, args.reps, requirements,
        log=lambda line: print(line, flush=True),
    )  # fmt: skip
    info = facts(workers) | {
        "servers": names,
        "tests": sorted(tests),
        "wrk_seconds": args.seconds,
        "reps": args.reps,
        "huge_profiles": args.huge_profiles,
        "pip_source": "local wheel index" if local_index else "built",
        "pip_requirements": tree.pip_requirements,
        "pip_bytes": sum((tree.root / "files" / f).stat().st_size for f in tree.pip_files),
    }
    ctx.record("-", "facts", info)
    ctx.servers = make_servers(names, nginx)
    try:
        run_phases(ctx, tests, args.huge_profiles.split(","))
    finally:
        for server in ctx.servers:
            server.stop()
        nginx.stop()
    ctx.record("-", "total_s", time.monotonic() - began)
    print(f"results: {results} ({time.monotonic() - began:.0f} s)")
    for error in ctx.errors:
        print(f"ERROR {error}", file=sys.stderr)
    return 1 if ctx.errors else 0


if __name__ == "__main__":
    sys.exit(main())
