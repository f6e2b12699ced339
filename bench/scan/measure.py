"""Recall, false positives and speed of the content scanner (policies/scan).

    python bench/scan/measure.py [--malware PATH/TO/malware-dev.zip] [--benign DIR] [--workers 2]

- recall: share of the malware sample blocked (deny or quarantine), per sample and per
  family (index.tsv beside the zip); archives are decrypted into memory, never written;
- false positives: share of the benign set (bench/scan/fetch_benign.py) blocked, and
  the share warned;
- speed: artifact MB/s (one process, and ``--workers`` processes), p50/p99 per artifact.

Prints Markdown for bench/scan/RESULTS.md; ``--missed`` lists every sample not blocked.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
import zipfile
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from policies.scan import scan_bytes, verdict  # noqa: E402

DEFAULT_MALWARE = REPO.parent / "shared" / "fixtures" / "malware" / "malware-dev.zip"
DEFAULT_BENIGN = REPO / "bench" / ".work" / "scan-benign"


def judge(item: tuple[str, bytes]) -> tuple[str, str, float, int, str]:
    name, data = item
    started = time.perf_counter()
    result = scan_bytes(data, name)
    elapsed = time.perf_counter() - started
    judged = verdict(result)
    return name, judged.decision, elapsed, len(data), judged.reason


def malware(path: Path, missed: bool) -> None:
    families = {}
    with (path.parent / "index.tsv").open() as rows:
        for row in csv.DictReader(rows, delimiter="\t"):
            families[row["archive"]] = row["family"]
    with zipfile.ZipFile(path) as sample:
        items = [(i.filename, sample.read(i, pwd=b"infected")) for i in sample.infolist()]
    results = [judge(item) for item in items]
    decisions = Counter(r[1] for r in results)
    blocked = [r for r in results if r[1] in ("deny", "quarantine")]
    by_family: dict[str, bool] = {}
    for name, decision, *_ in results:
        family = families.get(name, name)
        by_family[family] = by_family.get(family, False) or decision in ("deny", "quarantine")
    print("### Malware sample (recall)\n")
    print(f"- samples: {len(results)}, families: {len(by_family)}")
    print(
        f"- blocked (deny or quarantine): {len(blocked)} = {len(blocked) / len(results):.3f}; "
        f"deny alone: {decisions['deny'] / len(results):.3f}"
    )
    print(f"- families with a blocked sample: {sum(by_family.values()) / len(by_family):.3f}")
    print(f"- verdicts: {dict(decisions)}\n")
    if missed:
        for name, decision, _, _, reason in results:
            if decision not in ("deny", "quarantine"):
                print(f"  - missed {name}: {decision}: {reason[:160]}")
        print()


def benign(directory: Path, workers: int) -> None:
    files = sorted(p for p in directory.iterdir() if p.suffix in (".gz", ".whl", ".zip"))
    items = [(p.name, p.read_bytes()) for p in files]
    total = sum(len(d) for _, d in items)
    started = time.perf_counter()
    results = [judge(item) for item in items]
    one = time.perf_counter() - started
    started = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(judge, items, chunksize=1))
    many = time.perf_counter() - started
    decisions = Counter(r[1] for r in results)
    times = sorted(r[2] for r in results)
    blocked = [r for r in results if r[1] in ("deny", "quarantine")]
    print("### Benign set (false positives) and speed\n")
    print(f"- artifacts: {len(results)} ({total / 1e6:.0f} MB)")
    print(f"- blocked (deny or quarantine): {len(blocked)} = {len(blocked) / len(results):.2%}")
    print(f"- warned: {decisions['warn']} = {decisions['warn'] / len(results):.1%}")
    rates = f"{total / 1e6 / one:.0f} MB/s; {workers} processes: {total / 1e6 / many:.0f} MB/s"
    print(f"- one process: {rates}")
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print(
        f"- per artifact: p50 {statistics.median(times) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
        f"max {times[-1] * 1000:.0f} ms\n"
    )
    for name, decision, _, _, reason in blocked:
        print(f"  - blocked {name}: {decision}: {reason[:160]}")
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--malware", type=Path, default=DEFAULT_MALWARE)
    parser.add_argument("--benign", type=Path, default=DEFAULT_BENIGN)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--missed", action="store_true")
    args = parser.parse_args()
    if args.malware.is_file():
        malware(args.malware, args.missed)
    if args.benign.is_dir():
        benign(args.benign, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
