"""Accuracy and speed of the ``typosquat`` policy.

    python bench/typosquat/measure.py --ordinary PATH/TO/pypi.tsv [SQUATS.tsv ...] [--top N]

- detection: the share of names in each typosquat TSV (``name<TAB>target...`` with a header;
  default: tests/fixtures/typosquats-sample.tsv) that the policy refuses;
- false positives: the share of ordinary existing projects it refuses: every name in the
  ``--ordinary`` table (same format as for generate_popular.py) outside the protected set;
- speed: p50/p99 time of one ``check_project`` and the total for 50,000 names (ordinary
  names, a fixed random sample), plus the time to build the index.

Results are printed as Markdown for bench/typosquat/RESULTS.md.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from policies.typosquat.policy import DEFAULT_TOP, build_index, describe  # noqa: E402
from policies.typosquat.index import Match, ProtectedIndex  # noqa: E402

DEFAULT_SQUATS = REPO / "tests" / "fixtures" / "typosquats-sample.tsv"
TIMED_NAMES = 50_000


def read_squats(path: Path) -> list[tuple[str, str]]:
    rows = [line.split("\t") for line in path.read_text().splitlines() if not line.startswith("#")]
    return [(canonicalize_name(r[0]), canonicalize_name(r[1])) for r in rows[1:] if len(r) >= 2]


def read_names(path: Path) -> list[NormalizedName]:
    with path.open(encoding="utf-8") as rows:
        column = rows.readline().rstrip("\n").split("\t").index("name")
        return sorted({canonicalize_name(line.split("\t")[column]) for line in rows})


def label(match: Match) -> str:
    return match.rule.value if match.edit is None else f"{match.rule.value}: {match.edit.kind.name}"


def detection(index: ProtectedIndex, path: Path, show_missed: bool) -> None:
    squats = read_squats(path)
    matches = {name: index.match(name) for name, _ in squats}
    caught = [name for name, _ in squats if matches[name]]
    right = [name for name, target in squats if (m := matches[name]) and m.target == target]
    print(
        f"| {path.name} | {len(squats)} | {len(caught)} | {100 * len(caught) / len(squats):.1f}% "
        f"| {100 * len(right) / len(squats):.1f}% |"
    )
    if show_missed:
        missed = ", ".join(f"{n} ({t})" for n, t in squats if not matches[n])
        print(f"\nmissed: {missed}\n")


def false_positives(index: ProtectedIndex, ordinary: list[NormalizedName], examples: int) -> None:
    names = [name for name in ordinary if name not in index]
    flagged = {name: m for name in names if (m := index.match(name))}
    print(
        f"ordinary names: {len(names)}, flagged: {len(flagged)} "
        f"= **{100 * len(flagged) / len(names):.3f}%**\n"
    )
    print("| rule | flagged |\n|---|---|")
    for rule, count in Counter(label(m) for m in flagged.values()).most_common():
        print(f"| {rule} | {count} |")
    for name in random.Random(1).sample(sorted(flagged), min(examples, len(flagged))):
        print(f"- {describe(name, flagged[name])}")


def speed(index: ProtectedIndex, ordinary: list[NormalizedName]) -> None:
    names = random.Random(0).sample(ordinary, min(TIMED_NAMES, len(ordinary)))
    timings: list[int] = []
    started = time.perf_counter()
    for name in names:
        before = time.perf_counter_ns()
        index.match(name)
        timings.append(time.perf_counter_ns() - before)
    total = time.perf_counter() - started
    cuts = statistics.quantiles(timings, n=100)
    print(
        f"| {len(names)} | {cuts[49] / 1000:.1f} µs | {cuts[98] / 1000:.1f} µs "
        f"| {max(timings) / 1000:.0f} µs | {total:.2f} s |"
    )


def sweep(tops: list[int], squats: Path, ordinary: list[NormalizedName]) -> None:
    """Detection and false positives for several sizes of the protected set."""
    print("| top | detection | false positives |\n|---|---|---|")
    names = read_squats(squats)
    for top in tops:
        index = build_index(top, frozenset())
        caught = sum(1 for name, _ in names if index.match(name))
        rest = [name for name in ordinary if name not in index]
        flagged = sum(1 for name in rest if index.match(name))
        print(f"| {top} | {100 * caught / len(names):.1f}% | {100 * flagged / len(rest):.3f}% |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("squats", type=Path, nargs="*", default=[DEFAULT_SQUATS])
    parser.add_argument("--ordinary", type=Path, required=True, help="TSV of existing projects")
    parser.add_argument("--top", type=int, default=DEFAULT_TOP)
    parser.add_argument("--examples", type=int, default=0, help="print N flagged ordinary names")
    parser.add_argument("--missed", action="store_true", help="list the squats not caught")
    parser.add_argument("--sweep", help="comma-separated top values to compare, e.g. 5000,15000")
    args = parser.parse_args(argv)
    if args.sweep:
        tops = [int(top) for top in args.sweep.split(",")]
        sweep(tops, args.squats[0], read_names(args.ordinary))
        return 0

    started = time.perf_counter()
    index = build_index(args.top, frozenset())
    print(
        f"protected names: {len(index)} (top {args.top}); "
        f"index built in {time.perf_counter() - started:.2f} s\n"
    )
    print("| squats file | names | caught | detection | with the recorded target |")
    print("|---|---|---|---|---|")
    for path in args.squats:
        detection(index, path, args.missed)
    print()
    ordinary = read_names(args.ordinary)
    false_positives(index, ordinary, args.examples)
    print("\n| names | p50 | p99 | max | total |\n|---|---|---|---|---|")
    speed(index, ordinary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
