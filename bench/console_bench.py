"""Console page times with a large fetch log: every page of ``/-/ui/`` against 100,000
fetch-log rows spread over the last 24 hours (200 projects, 50 users, 30 builds; 3 % of
the rows refusals, 1 % waived), over loopback.

The rows are written to the embedded SQLite fetch log before pipgate starts (``pipgate
serve`` in a subprocess, ``auth = "off"``, so the loopback client gets a session without
signing in; only that process is stopped, by PID); each page is
requested once to warm up, then ``--reps`` times on one keep-alive connection; figures are
the median, 95th percentile and maximum of the whole request as the client sees it.

    .venv/bin/python bench/console_bench.py [--rows 100000] [--reps 30]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import http.client
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from storage.base import FetchRecord  # noqa: E402
from storage.sqlite import SqliteFetchLog  # noqa: E402
from tests.support.fake_upstream import FakeUpstream  # noqa: E402
from tests.support.gate import publish  # noqa: E402
from tests.support.pipgate_server import PipgateProcess  # noqa: E402

BUDGET_MS = 100.0


def synthetic_rows(count: int, now: dt.datetime, seed: int = 12) -> list[FetchRecord]:
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        project = f"proj-{rng.randrange(200)}"
        version = f"1.{rng.randrange(20)}"
        kind = rng.choices(("page", "dist", "metadata"), (4, 4, 2))[0]
        roll = rng.random()
        verdicts: tuple[dict[str, str], ...] = ()
        status = 200
        if roll < 0.03:
            status = 403
            verdicts = (
                {"policy": "denylist", "decision": "deny", "reason": f"{project} is denied"},
            )
        elif roll < 0.04:
            verdicts = (
                {"policy": "denylist", "decision": "waived", "reason": "lifted", "waiver": "1",
                 "original": "deny"},
            )  # fmt: skip
        filename = f"{project.replace('-', '_')}-{version}-py3-none-any.whl"
        rows.append(
            FetchRecord(
                time=now - dt.timedelta(seconds=rng.uniform(0, 86_000)),
                client=f"10.0.{rng.randrange(4)}.{rng.randrange(250)}",
                kind=kind,
                project=project,
                status=status,
                user=f"user{rng.randrange(50)}",
                build=f"build-{rng.randrange(30)}" if rng.random() < 0.5 else None,
                version=version if kind != "page" else None,
                filename=filename if kind != "page" else None,
                sha256=hashlib.sha256(filename.encode()).hexdigest() if kind == "dist" else None,
                size=rng.randrange(10_000, 2_000_000) if kind == "dist" else None,
                cache="hit" if rng.random() < 0.8 else "miss",
                upstream="default",
                verdicts=verdicts,
                attestation="absent" if kind == "dist" else None,
            )
        )
        del index
    return rows


async def fill(path: Path, rows: list[FetchRecord]) -> None:
    log = SqliteFetchLog(path)
    await log.start()
    for row in rows:
        await log.append(row)
    await log.flush()
    await log.aclose()


def pages(sha: str) -> dict[str, str]:
    return {
        "overview": "/-/ui/",
        "decisions": "/-/ui/decisions",
        "decisions, policy filter": "/-/ui/decisions?policy=denylist&decision=deny",
        "decisions, by user": "/-/ui/decisions?user=user7",
        "fetch log": "/-/ui/log",
        "fetch log, by build": "/-/ui/log?build=build-3",
        "fetch log, no match": "/-/ui/log?user=nobody",
        "who pulled, project": "/-/ui/who?project=proj-3",
        "who pulled, sha256": f"/-/ui/who?sha256={sha}",
        "builds": "/-/ui/builds",
        "project page": "/-/ui/projects/bench-pkg",
        "quarantine": "/-/ui/quarantine",
        "waivers": "/-/ui/waivers",
        "policies": "/-/ui/policies",
    }


def measure(port: int, path: str, reps: int, cookie: str) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    for attempt in range(reps + 1):
        start = time.perf_counter()
        conn.request("GET", path, headers={"Cookie": cookie})
        response = conn.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - start) * 1000
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status} {body[:200]!r}")
        if attempt:
            times.append(elapsed)
    conn.close()
    return times


def session_cookie(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/-/ui/")
    response = conn.getresponse()
    response.read()
    value = response.getheader("set-cookie", "").split(";", 1)[0]
    conn.close()
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=30)
    args = parser.parse_args()
    now = dt.datetime.now(dt.UTC)
    rows = synthetic_rows(args.rows, now)
    sha = next(r.sha256 for r in rows if r.sha256)
    with tempfile.TemporaryDirectory() as tmp, FakeUpstream() as upstream:
        root = Path(tmp)
        publish(upstream, root / "wheels", "bench-pkg", *(f"1.{i}" for i in range(30)))
        started = time.perf_counter()
        asyncio.run(fill(root / "data" / "fetchlog.sqlite3", rows))
        print(f"{args.rows} rows written in {time.perf_counter() - started:.1f} s")
        config = root / "pipgate.toml"
        config.write_text('[[policy]]\nuse = "denylist"\nprojects = ["proj-1"]\n')
        gate = PipgateProcess(root / "data", upstream.url, "--config", str(config)).start()
        try:
            cookie = session_cookie(gate.port)
            print(f"\n| page ({args.rows:,} rows) | median ms | p95 ms | max ms |")
            print("|---|---:|---:|---:|")
            worst = 0.0
            for name, path in pages(sha).items():
                times = sorted(measure(gate.port, path, args.reps, cookie))
                p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
                worst = max(worst, statistics.median(times))
                print(f"| {name} | {statistics.median(times):.1f} | {p95:.1f} | {times[-1]:.1f} |")
            for name, path in (("CSV", "/-/ui/log.csv"), ("JSON lines", "/-/ui/log.json")):
                times = measure(gate.port, path, 3, cookie)
                print(f"\nexport of every row as {name}: {statistics.median(times):.0f} ms")
        finally:
            gate.stop()
    verdict = "within" if worst < BUDGET_MS else "OVER"
    print(f"\nslowest median {worst:.1f} ms: {verdict} the {BUDGET_MS:.0f} ms budget")
    return 0 if worst < BUDGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
