"""The issue's performance targets, judged from one run's medians.

Peers are the servers that are neither ``nginx`` (the static upstream, the physical limit)
nor a pipgate variant; "best peer" is the peer with the best median for the same measurement.
A target whose numbers are missing is reported as not measured, never as met.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from results import Run, fmt


@dataclass(frozen=True)
class Target:
    label: str
    metric: str
    unit: str
    judge: Callable[[Run, str, float], tuple[str, bool | None]]
    """(run, pipgate server, its median) -> (ratio / limit text, met or None if unmeasured)"""


def _peers(run: Run) -> list[str]:
    return [s for s in run.servers if s != "nginx" and not s.startswith("pipgate")]


def _cpu_ratio(run: Run, server: str, metric: str) -> str:
    """How many times less server CPU per request than the cheapest peer: a cost ratio that,
    unlike req/s, barely moves when other work shares the machine."""
    cpu_metric = metric.replace(".rps", ".cpu_us_per_req")
    own = run.median(server, cpu_metric)
    peers = [c for p in _peers(run) if (c := run.median(p, cpu_metric)) is not None]
    if own is None or not peers or own <= 0:
        return ""
    return f"; CPU per request {min(peers) / own:.1f}x lower"


def versus_peers(
    metric: str, factor: float
) -> Callable[[Run, str, float], tuple[str, bool | None]]:
    def judge(run: Run, server: str, value: float) -> tuple[str, bool | None]:
        peers = [(m, p) for p in _peers(run) if (m := run.median(p, metric)) is not None]
        if not peers:
            return "no peer measured", None
        best, name = max(peers)
        ratio = value / best
        text = f"{ratio:.1f}x {name} ({fmt(best)}) / >= {factor:g}x"
        return text + _cpu_ratio(run, server, metric), ratio >= factor

    return judge


def versus_nginx(
    metric: str, limit: float, *, higher_is_better: bool
) -> Callable[[Run, str, float], tuple[str, bool | None]]:
    def judge(run: Run, _server: str, value: float) -> tuple[str, bool | None]:
        reference = run.median("nginx", metric)
        if reference is None:
            return "nginx not measured", None
        ratio = value / reference
        sign = ">=" if higher_is_better else "<="
        met = ratio >= limit if higher_is_better else ratio <= limit
        return f"{ratio:.3f}x nginx ({fmt(reference)}) / {sign} {limit:g}x", met

    return judge


def below(limit: float, unit: str) -> Callable[[Run, str, float], tuple[str, bool | None]]:
    def judge(_run: Run, _server: str, value: float) -> tuple[str, bool | None]:
        return f"< {limit:g} {unit}", value < limit

    return judge


TARGETS = [
    Target("warm small page, pip headers: >= 4x best peer", "a.pip.rps", "req/s",
           versus_peers("a.pip.rps", 4)),
    Target("warm small page, text/html: >= 4x best peer", "a.html.rps", "req/s",
           versus_peers("a.html.rps", 4)),
    Target("warm huge page, pip headers: >= 30x best peer", "b.pip.rps", "req/s",
           versus_peers("b.pip.rps", 30)),
    Target("warm huge page, text/html: >= 30x best peer", "b.html.rps", "req/s",
           versus_peers("b.html.rps", 30)),
    Target("warm 10 MB file x16: >= 90% of nginx", "c.file10.mbps", "MB/s",
           versus_nginx("c.file10.mbps", 0.9, higher_is_better=True)),
    Target("cold 200 MB: time to first byte < 20 ms", "d.cold200.ttfb_ms", "ms", below(20, "ms")),
    Target("cold 200 MB: RSS growth < 10 MB", "d.cold200.growth_mb", "MB", below(10, "MB")),
    Target("warm pip download: <= 1.1x nginx direct", "e.pip.warm_s", "s",
           versus_nginx("e.pip.warm_s", 1.1, higher_is_better=False)),
]  # fmt: skip


def _median(run: Run, server: str, metric: str) -> float | None:
    """Derived metrics: TTFB in ms; memory growth = the larger of the sampled tree growth and
    the largest per-process VmHWM growth (a spike between two samples still counts)."""
    if metric == "d.cold200.ttfb_ms":
        ttfb = run.median(server, "d.cold200.ttfb_s")
        return None if ttfb is None else ttfb * 1000
    if metric == "d.cold200.growth_mb":
        sampled = run.numbers(server, "d.cold200.rss_growth_mb")
        hwm = run.numbers(server, "d.cold200.hwm_growth_mb")
        if not sampled or len(sampled) != len(hwm):
            return None
        growth = sorted(max(s, h) for s, h in zip(sampled, hwm, strict=True))
        return growth[len(growth) // 2]
    return run.median(server, metric)


def target_rows(run: Run) -> list[list[str]]:
    rows = []
    measured = [
        t for t in TARGETS if any(_median(run, s, t.metric) is not None for s in run.servers)
    ]
    for server in (s for s in run.servers if s.startswith("pipgate")):
        for target in measured:
            value = _median(run, server, target.metric)
            if value is None:
                rows.append([target.label, server, "not measured", "", "not measured"])
                continue
            text, met = target.judge(run, server, value)
            verdict = {True: "**met**", False: "not met", None: "not measured"}[met]
            rows.append([target.label, server, f"{fmt(value)} {target.unit}", text, verdict])
    return rows
