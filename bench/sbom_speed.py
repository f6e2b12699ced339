"""How long ``pipgate sbom`` takes for a build of N components, as a user runs it.

Fills a SQLite fetch log in a temporary data dir with N distribution rows of one build,
then runs ``python -m proxy sbom --format F`` in a fresh process R times per format and
prints wall and CPU (user + system of the child) seconds: import costs count, as they do
for a person at a terminal.

    .venv/bin/python bench/sbom_speed.py [--components 100] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.fetchlog_records import digest, fill_sqlite, make_record  # noqa: E402


def run_once(data_dir: Path, fmt: str) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPGATE_")}
    command = [sys.executable, "-m", "proxy", "sbom", "--data-dir", str(data_dir)]
    command += ["--build", "bench", "--format", fmt, "-o", str(data_dir / f"out.{fmt}.json")]
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--components", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        data_dir = Path(directory)
        rows = [
            make_record(f"pkg{i}-1.0-py3-none-any.whl", build="bench", sha256=digest(str(i)))
            for i in range(args.components)
        ]
        fill_sqlite(data_dir, rows)
        for fmt in ("cyclonedx", "spdx"):
            runs = [run_once(data_dir, fmt) for _ in range(args.rounds)]
            walls = [wall for wall, _ in runs]
            cpus = [cpu for _, cpu in runs]
            print(
                f"{fmt:9} {args.components} components: wall median "
                f"{statistics.median(walls):.2f} s (min {min(walls):.2f}, max {max(walls):.2f}), "
                f"cpu median {statistics.median(cpus):.2f} s"
            )
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
