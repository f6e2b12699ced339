"""The cost of authentication on a warm page: ``auth = "off"`` against ``auth = "required"``
with a valid token, in one run, over loopback.

Two ``pipgate serve --workers 1`` side by side, each with its own data directory, in front of
the test suite's ``FakeUpstream``. The required one gets a token from ``pipgate token create``;
wrk sends it the way pip does for ``https://user:TOKEN@host/simple/`` (``Authorization: Basic``
on every request). After a warm-up (page cached and rendered, token verified), wrk measures
the warm small page (PEP 691 JSON), alternating between the servers, for ``--reps`` rounds;
figures are median [min-max], the ratio is paired per round. Also measured: one argon2
verification with the shipped parameters (what a request pays when its token is not in the
verified-token cache). Loopback only, bounded by ``--duration``; only the processes started
here are stopped, by PID.

    .venv/bin/python bench/auth_bench.py [--reps 5] [--duration 8]
"""

from __future__ import annotations

import argparse
import base64
import shlex
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.workers import (  # noqa: E402
    JSON_ACCEPT,
    REPORT_LUA,
    Sample,
    Target,
    load_average,
    machine,
    median_range,
    publish,
    wrk,
)
from proxy.identity.hashing import SecretHasher  # noqa: E402
from tests.support.e2e import production_trust_root  # noqa: E402
from tests.support.fake_upstream import FakeUpstream  # noqa: E402
from tests.support.pipgate_server import PipgateProcess  # noqa: E402
from tests.support.token_cli import create_token  # noqa: E402

MODES = ("off", "required")


def argon2_milliseconds(samples: int = 20) -> list[float]:
    hasher = SecretHasher()
    stored = hasher.hash("x" * 52)
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        assert hasher.matches(stored, "x" * 52)
        times.append((time.perf_counter() - start) * 1000)
    return times


def servers(home: Path, upstream: str, trust_root: Path) -> dict[str, PipgateProcess]:
    made = {}
    for mode in MODES:
        env = {
            "PIPGATE_TRUST_ROOT": str(trust_root),
            "PIPGATE_LOG_LEVEL": "warning",
            "PIPGATE_AUTH": mode,
        }
        (home / mode).mkdir()
        made[mode] = PipgateProcess(home / mode / "data", upstream, env=env)
    return made


def warm(server: PipgateProcess, target: Target, lua: Path) -> None:
    assert server.process is not None
    headers = dict(h.split(": ", 1) for h in target.headers)
    request = urllib.request.Request(server.url + target.path, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
    wrk(server.url + target.path, target, 2, lua, 1, server.process.pid)


def run(args: argparse.Namespace) -> dict[str, list[Sample]]:
    results: dict[str, list[Sample]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory(prefix="pipgate-auth-bench-") as scratch:
        home = Path(scratch)
        lua = home / "report.lua"
        lua.write_text(REPORT_LUA)
        trust_root = production_trust_root(home / "sigstore")
        with FakeUpstream() as up:
            page, _ = publish(up, home / "dists")
            made = servers(home, up.url, trust_root)
            _, token = create_token(["--data-dir", str(home / "required" / "data")], "bench")
            basic = base64.b64encode(f"bench:{token}".encode()).decode()
            targets = {
                "off": Target("page", page, 32, (f"Accept: {JSON_ACCEPT}",)),
                "required": Target(
                    "page", page, 32, (f"Accept: {JSON_ACCEPT}", f"Authorization: Basic {basic}")
                ),
            }
            try:
                for mode, server in made.items():
                    server.start()
                    warm(server, targets[mode], lua)
                for rep in range(args.reps):
                    for mode, server in made.items():
                        assert server.process is not None
                        sample = wrk(
                            server.url + page, targets[mode], args.duration, lua, args.threads,
                            server.process.pid,
                        )  # fmt: skip
                        results[mode].append(sample)
                        print(f"round {rep + 1} auth={mode}: {sample}")
            finally:
                for server in made.values():
                    server.stop()
    return results


def report(
    results: dict[str, list[Sample]], args: argparse.Namespace, command: str, load: str
) -> str:
    lines = [
        "## Authentication on a warm page",
        "",
        f"Command: `{command}`. Rounds: {args.reps}, of {args.duration:g} s per figure, the two "
        "servers alternating; each figure is the median [min-max] over the rounds. Both are "
        "`pipgate serve --workers 1` on the embedded defaults; wrk "
        f"({args.threads} thread, 32 connections, pip's PEP 691 `Accept`) on the same machine "
        f"over loopback. Machine: {machine()}. Load average at the start and the end: {load}.",
        "",
        "| auth | req/s | server CPU cores busy | req/s per busy core |",
        "|---|---|---|---|",
    ]
    for mode in MODES:
        samples = results[mode]
        rates = [s.per_second for s in samples]
        cores = [s.server_cpu / s.seconds for s in samples]
        per_core = [r / c for r, c in zip(rates, cores, strict=True)]
        label = '`"off"`' if mode == "off" else '`"required"`, valid token (Basic)'
        lines.append(
            f"| {label} | {median_range(rates)} | {median_range(cores, '.2f')} "
            f"| {median_range(per_core)} |"
        )
    pairs = list(zip(results["off"], results["required"], strict=True))
    ratios = [b.per_second / a.per_second for a, b in pairs]
    core_ratios = [(b.per_second / b.server_cpu) / (a.per_second / a.server_cpu) for a, b in pairs]
    argon2 = argon2_milliseconds()
    lines += [
        "",
        f"Required / off, per round: x{median_range(ratios, '.3f')} in req/s, "
        f"x{median_range(core_ratios, '.3f')} in req/s per busy core (the figure that other "
        "load on the machine changes least).",
        "",
        f"One argon2id verification (m=19 MiB, t=2, p=1), paid when a token is not in the "
        f"verified-token cache (at most once per token per 10 s per process): "
        f"{statistics.median(argon2):.1f} ms [{min(argon2):.1f}-{max(argon2):.1f}] over "
        f"{len(argon2)} runs.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per wrk run")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian package wrk)", file=sys.stderr)
        return 2
    load_before = load_average()
    results = run(args)
    command = "python bench/auth_bench.py " + shlex.join(sys.argv[1:])
    print(report(results, args, command.strip(), f"{load_before}, then {load_average()}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
