"""Markdown tables from one benchmark run: ``python bench/report.py [--run-id ID]``.

Reads ``bench/results/<run-id>.jsonl`` (default: the newest) and prints the measurements
(median [min-max] over the reps), what each server sends, the issue's targets with met / not
met computed from the measured ratios, and the run's facts. A value that was not measured is
shown as such, never guessed.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from results import RESULTS, Run, fmt
from targets import target_rows

DASH = "\u2013"  # en dash between min and max, as in the research tables

# (label, metric, scale): rows of the main table.
ROWS: list[tuple[str, str, float]] = [
    ("a small page, pip headers: req/s", "a.pip.rps", 1),
    ("a small page, pip headers: p99 ms", "a.pip.p99_ms", 1),
    ("a small page, text/html: req/s", "a.html.rps", 1),
    ("a small page, text/html: p99 ms", "a.html.p99_ms", 1),
    ("a upstream hits per warm request (pip)", "a.pip.hits_per_req", 1),
    ("a server CPU per request, pip headers: µs", "a.pip.cpu_us_per_req", 1),
    ("a server CPU per request, text/html: µs", "a.html.cpu_us_per_req", 1),
    ("b huge page, pip headers: req/s", "b.pip.rps", 1),
    ("b huge page, pip headers: p99 ms", "b.pip.p99_ms", 1),
    ("b huge page, text/html: req/s", "b.html.rps", 1),
    ("b huge page, text/html: p99 ms", "b.html.p99_ms", 1),
    ("b upstream hits per warm request (pip)", "b.pip.hits_per_req", 1),
    ("b server CPU per request, pip headers: µs", "b.pip.cpu_us_per_req", 1),
    ("b server CPU per request, text/html: µs", "b.html.cpu_us_per_req", 1),
    ("c 10 MB file x16 conns: MB/s", "c.file10.mbps", 1),
    ("c 10 MB file: p99 ms", "c.file10.p99_ms", 1),
    ("c server CPU per GB sent: s", "c.file10.cpu_s_per_gb", 1),
    ("d cold 200 MB: time to first byte ms", "d.cold200.ttfb_s", 1000),
    ("d cold 200 MB: wall s", "d.cold200.wall_s", 1),
    ("d cold 200 MB: redirects followed", "d.cold200.redirects", 1),
    ("d RSS growth of server tree MB (sampled 20 ms)", "d.cold200.rss_growth_mb", 1),
    ("d VmHWM growth MB (largest of one process)", "d.cold200.hwm_growth_mb", 1),
    ("d peak RSS of server tree MB", "d.cold200.rss_peak_mb", 1),
    ("d upstream hits for the cold 200 MB", "d.cold200.hits", 1),
    ("d warm 200 MB refetch: wall s", "d.warm200.wall_s", 1),
    ("d cold small page (fresh server) ms", "d.cold_small_s", 1000),
    ("d cold huge page (fresh server) ms", "d.cold_huge_s", 1000),
    ("d start with empty state s", "d.start_s", 1),
    ("e pip download 25 pkgs, cold: s", "e.pip.cold_s", 1),
    ("e pip download 25 pkgs, warm: s", "e.pip.warm_s", 1),
    ("e upstream hits during cold pip run", "e.pip.cold_hits", 1),
    ("e upstream hits during warm pip run", "e.pip.warm_hits", 1),
]
PROBES = [
    ("type for pip's Accept", "a.pip.type"),
    ("gzip for pip's Accept-Encoding", "a.pip.gzip"),
    ("small page bytes sent to pip", "a.pip.bytes"),
    ("huge page bytes sent to pip", "b.pip.bytes"),
    ("huge page bytes sent for text/html", "b.html.bytes"),
]


def cell(run: Run, server: str, metric: str, scale: float = 1) -> str:
    numbers = [n * scale for n in run.numbers(server, metric)]
    if not numbers:
        error = run.error(server, metric)
        return "n/a: failed (see results)" if error else ""
    if len(numbers) == 1:
        return fmt(numbers[0])
    middle = fmt(statistics.median(numbers))
    return f"{middle} [{fmt(min(numbers))}{DASH}{fmt(max(numbers))}]"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def measurements(run: Run) -> str:
    rows = []
    for label, metric, scale in ROWS:
        cells = [cell(run, server, metric, scale) for server in run.servers]
        if any(cells):
            rows.append([label, *cells])
    noise = []
    for server in run.servers:
        foreign = run.foreign(server)
        noise.append(
            f"{statistics.median(foreign):.2f} (max {max(foreign):.2f})" if foreign else ""
        )
    rows.append(["other processes' CPU during measurements, cores", *noise])
    return table(["measurement", *run.servers], rows)


def probes(run: Run) -> str:
    rows = []
    for label, metric in PROBES:
        values = [run.values.get((s, metric), [""])[0] for s in run.servers]
        rows.append([label, *(str(v) for v in values)])
    return table(["what the server sends", *run.servers], rows)


def facts(run: Run) -> str:
    f = run.facts
    total = f"{run.total_s / 60:.1f} min" if run.total_s else "unfinished"
    lines = [
        f"* run `{run.path.stem}`, {f.get('date', '?')}, {total}; wrk {f.get('wrk_seconds')} s "
        f"per rep, {f.get('reps')} reps (median [min{DASH}max])",
        f"* machine: {f.get('nproc')} CPUs ({f.get('cpu')}), kernel {f.get('kernel')}, "
        f"Python {f.get('python')}",
        "* `free -h`:\n\n```\n" + str(f.get("free_h", "")) + "\n```\n",
        f"* pipgate {f.get('pipgate')}, commit {f.get('commit', '?')} "
        f"(`--workers` {f.get('pipgate_workers')}, default policy set: no config file)",
        f"* proxpi: {f.get('proxpi')}",
        f"* devpi: {f.get('devpi')}",
        f"* client pip: {f.get('client_pip')}; {f.get('wrk')}; {f.get('curl')}; {f.get('nginx')}",
        f"* pip test: {len(f.get('pip_requirements', []))} projects from the "
        f"{f.get('pip_source')}, {f.get('pip_bytes', 0) / 1e6:.1f} MB of wheels: "
        + ", ".join(f"`{r}`" for r in f.get("pip_requirements", [])),
    ]
    return "\n".join(lines)


def latest() -> Path:
    runs = sorted(RESULTS.glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
    if not runs:
        raise SystemExit(f"no results in {RESULTS}: run bash bench/run.sh first")
    return runs[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run-id", help="default: the newest run")
    args = parser.parse_args()
    path = RESULTS / f"{args.run_id}.jsonl" if args.run_id else latest()
    run = Run(path)
    print("### Measurements\n")
    print(measurements(run) + "\n")
    print("### What each server sends\n")
    print(probes(run) + "\n")
    print("### Targets (issue 2)\n")
    print(table(["target", "pipgate", "measured", "ratio / limit", "result"], target_rows(run)))
    print("\n### Run\n")
    print(facts(run))


if __name__ == "__main__":
    main()
