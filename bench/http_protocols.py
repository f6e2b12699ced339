"""uvicorn's HTTP protocols side by side on pipgate's ``/healthz``: why the connection guard
(``proxy/connection_guard.py``) wraps httptools instead of switching to h11.

    python bench/http_protocols.py [--seconds 5] [--connections 64]

Each protocol serves the same app (one worker, no upstream needed) while ``wrk -t2`` asks
``/healthz``; prints req/s and the server's CPU seconds per 10,000 requests as JSON lines.
Loopback only; stops only the process group it started.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from procs import CpuTime, Started
from servers import clean_env, free_port, wait_http

REPO = Path(__file__).resolve().parents[1]

_SERVE = """
import sys, uvicorn
from proxy.serve_options import uvicorn_options
from proxy.settings import load_settings
settings = load_settings()
options = uvicorn_options(settings)
if sys.argv[1] != "guarded":
    options["http"] = sys.argv[1]
uvicorn.run("proxy.app:app_from_environment", factory=True, host="127.0.0.1",
            port=int(sys.argv[2]), **options)
"""


def measure(protocol: str, work: Path, seconds: int, connections: int) -> dict[str, object]:
    port = free_port()
    env = clean_env(
        PYTHONPATH=str(REPO),
        PIPGATE_DATA_DIR=str(work / protocol),
        PIPGATE_UPSTREAM="http://127.0.0.1:9/simple/",
        PIPGATE_LOG_LEVEL="warning",
    )
    server = Started(
        [sys.executable, "-c", _SERVE, protocol, str(port)], work / f"{protocol}.log", env=env
    )
    try:
        url = f"http://127.0.0.1:{port}/healthz"
        wait_http(url, server)
        with CpuTime(server.pid) as cpu:
            out = subprocess.run(
                ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", url],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        total = rate * seconds
        return {
            "protocol": protocol,
            "req_per_s": round(rate),
            "cpu_s_per_10k": round(cpu.seconds / total * 10_000, 3),
        }
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pipgate-protocols-") as tmp:
        for _ in range(args.reps):
            for protocol in ("h11", "httptools", "guarded"):
                result = measure(protocol, Path(tmp), args.seconds, args.connections)
                print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
