"""Accuracy, speed and memory of the ``typosquat`` policy on data it was not fitted on.

    python bench/typosquat/evaluate.py --ordinary PATH/TO/pypi.tsv [--targets 3000] [--seed 1]

Prints Markdown for bench/typosquat/RESULTS.md: recall per class, per group and per target
on the held-out targets' imitations (``corpus``), recall on the real sample
(tests/fixtures/typosquats-sample.tsv, reported apart), the flag rate on held-out ordinary
projects (a fixed random 20,000 and the whole half), that no popular project is flagged,
the time per check and the index's memory.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from corpus import Corpus, Imitation, load, read_sample

from policies.typosquat.index import ProtectedIndex
from policies.typosquat.tuning import DEFAULT, Tuning

RANDOM_ORDINARY = 20_000
TIMED = 50_000
BANDS = ((1, 100), (101, 1000), (1001, 5000), (5001, 15000))


def index_for(corpus: Corpus, tuning: Tuning = DEFAULT) -> ProtectedIndex:
    return ProtectedIndex(corpus.ranks, corpus.fit_structure, tuning, never_flag=corpus.ranks)


def recall_table(index: ProtectedIndex, imitations: list[Imitation], ranks: dict[str, int]) -> None:
    caught: dict[str, list[bool]] = defaultdict(list)
    right: dict[str, list[bool]] = defaultdict(list)
    per_target: dict[str, list[bool]] = defaultdict(list)
    for imitation in imitations:
        match = index.match(imitation.name)
        for key in (imitation.kind.name, f"all {imitation.kind.group}", "all"):
            caught[key].append(match is not None)
            right[key].append(match is not None and match.target == imitation.target)
        per_target[imitation.target].append(match is not None)
    print("| class | imitations | recall | with the intended target |\n|---|---|---|---|")
    for key in sorted(caught, key=lambda k: (k.startswith("all"), k)):
        hits = caught[key]
        print(f"| {key} | {len(hits)} | {_share(hits)} | {_share(right[key])} |")
    print("\n| target rank | targets | mean per-target recall | targets with recall >= 0.5 |")
    print("|---|---|---|---|")
    for low, high in (*BANDS, (1, 15000)):
        rates = [sum(v) / len(v) for t, v in per_target.items() if low <= ranks[t] <= high]
        if rates:
            good = sum(1 for rate in rates if rate >= 0.5) / len(rates)
            print(f"| {low}-{high} | {len(rates)} | {statistics.mean(rates):.3f} | {good:.3f} |")


def _share(values: list[bool]) -> str:
    return f"{sum(values) / len(values):.3f}" if values else "-"


def sample_recall(index: ProtectedIndex) -> None:
    rows = read_sample()
    matches = [(index.match(name), target) for name, target in rows]
    caught = sum(1 for m, _ in matches if m)
    right = sum(1 for m, t in matches if m and m.target == t)
    print(
        f"\nreal sample: {caught} / {len(rows)} = **{caught / len(rows):.3f}** "
        f"({right / len(rows):.3f} with the recorded target)"
    )


def flag_rate(index: ProtectedIndex, names: list[str], label: str, examples: int = 0) -> float:
    flagged = {name: m for name in names if (m := index.match(name))}
    rate = len(flagged) / len(names)
    print(f"\n{label}: {len(flagged)} / {len(names)} flagged = **{100 * rate:.3f}%**")
    rules = Counter(m.rule.value for m in flagged.values())
    print(", ".join(f"{rule} {count}" for rule, count in rules.most_common()))
    for name in random.Random(2).sample(sorted(flagged), min(examples, len(flagged))):
        match = flagged[name]
        print(f"- {name} -> {match.target} ({match.rule.value}, rank {match.rank})")
    return rate


def speed(index: ProtectedIndex, names: list[str]) -> None:
    """CPU time of one check (``thread_time``: a busy 2-core machine preempts the process,
    which wall-clock percentiles would count), and the wall-clock total."""
    timed = random.Random(0).sample(names, min(TIMED, len(names)))
    timings: list[int] = []
    started = time.perf_counter()
    for name in timed:
        before = time.thread_time_ns()
        index.match(name)
        timings.append(time.thread_time_ns() - before)
    total = time.perf_counter() - started
    cuts = statistics.quantiles(timings, n=100)
    print(
        f"\nCPU time per check ({len(timed)} ordinary names): p50 {cuts[49] / 1000:.1f} µs, "
        f"p99 {cuts[98] / 1000:.1f} µs, max {max(timings) / 1000:.0f} µs; "
        f"{total:.1f} s wall-clock for all"
    )


_MEASURE = """
import resource, sys, time, tracemalloc
from policies.typosquat.popular import build_index
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize()
traced = sys.argv[1] == "traced"
before = rss()
if traced:
    tracemalloc.start()
started = time.perf_counter()
index = build_index(15000, frozenset())
took = time.perf_counter() - started
if traced:
    current, peak = tracemalloc.get_traced_memory()
    print(f"{current / 2**20:.1f} MiB held (tracemalloc; peak {peak / 2**20:.1f} MiB)")
else:
    print(f"built in {took:.2f} s, RSS +{(rss() - before) / 2**20:.1f} MiB")
"""


def memory() -> None:
    """The shipped index in fresh processes: RSS growth (without tracemalloc, which adds
    its own) and the allocations tracemalloc sees, both for building and holding it."""
    repo = Path(__file__).resolve().parents[2]
    outs = [
        subprocess.run(
            [sys.executable, "-c", _MEASURE, mode],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for mode in ("rss", "traced")
    ]
    print(f"\nmemory of the index of 15,000 names: {outs[0]}; {outs[1]}")


def report(corpus: Corpus, tuning: Tuning = DEFAULT, examples: int = 0) -> None:
    index = index_for(corpus, tuning)
    targets = len(set(corpus.held_targets))
    print(f"held-out targets: {targets}, imitations: {len(corpus.held_imitations)}\n")
    recall_table(index, corpus.held_imitations, corpus.ranks)
    sample_recall(index)
    ordinary = random.Random(3).sample(corpus.held_ordinary, RANDOM_ORDINARY)
    flag_rate(index, ordinary, "random held-out ordinary projects (seed 3)", examples)
    flag_rate(index, corpus.held_ordinary, "every held-out ordinary project")
    flagged = [name for name in corpus.ranks if index.match(name)]
    print(f"\npopular projects flagged: {len(flagged)} of {len(corpus.ranks)}")
    speed(index, corpus.held_ordinary)
    memory()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ordinary", type=Path, required=True, help="download-rank TSV")
    parser.add_argument("--targets", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--examples", type=int, default=0, help="print N flagged ordinary names")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    corpus = load(args.ordinary, targets=args.targets, seed=args.seed)
    print(f"corpus built in {time.perf_counter() - started:.1f} s\n", file=sys.stderr)
    report(corpus, examples=args.examples)
    return 0


if __name__ == "__main__":
    sys.exit(main())
