"""The five measurements of the benchmark, run against one server at a time:

Warm tests (a-c) interleave the servers rep by rep, all running at once, so that noise from
other work on a shared machine spreads over every column; cold tests (d, e) restart one server
at a time with an empty cache.

a. warm small project page, req/s and p99 (wrk -t2 -c64), pip's headers and text/html;
b. warm 6,000-file project page, same;
c. warm 10 MB file, MB/s at 16 connections;
d. cold 200 MB file: time to first byte, wall, RSS growth of the server's process tree
   (sampled every 20 ms, and VmHWM after ``clear_refs``); each rep restarts with an empty cache;
e. ``pip download`` of 25 projects, cold (fresh server) then warm.

Upstream hits are the nginx access-log lines written during a measurement.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import measure
import procs
from nginx import Nginx
from servers import Server
from tree import BIG, HUGE, SMALL, Tree

MB = 1_000_000


@dataclass
class Context:
    run_id: str
    results: Path
    nginx: Nginx
    tree: Tree
    client_python: Path
    seconds: int
    reps: int
    requirements: Path
    servers: list[Server] = field(default_factory=list)
    log: Callable[[str], None] = print
    errors: list[str] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)

    def record(self, server: str, metric: str, value: Any, rep: int | None = None) -> None:
        row = {"run": self.run_id, "server": server, "metric": metric, "rep": rep, "value": value}
        with self.results.open("a") as handle:
            handle.write(json.dumps(row) + "\n")

    def roots(self) -> list[int]:
        """Every process tree this benchmark runs: nginx and each started server."""
        roots = [s.root_pid for s in self.servers if s.process is not None]
        if self.nginx.process is not None:
            roots.append(self.nginx.process.pid)
        return roots

    @contextmanager
    def quiet(self, server: Server, key: str, rep: int) -> Iterator[None]:
        """Let every server finish queued work, then record the noise of other tenants."""
        procs.wait_idle(self.roots())
        with procs.ForeignCpu(self.roots()) as foreign:
            yield
        self.record(server.name, f"{key}.foreign_cores", round(foreign.cores, 3), rep)


def guarded(ctx: Context, server: Server, test: str, body: Callable[[], None]) -> bool:
    """Run one step; a failure is recorded (shown as n/a) and the benchmark goes on."""
    try:
        body()
    except Exception as error:  # one broken peer must not end the run
        ctx.errors.append(f"{server.name} {test}: {error}")
        ctx.record(server.name, f"{test}.error", f"{type(error).__name__}: {error}")
        ctx.log(traceback.format_exc())
        return False
    return True


def prepare_page(ctx: Context, server: Server, test: str, project: str) -> None:
    """Warm every representation the load will ask for and record what the server sends."""
    url = f"{server.index_url}{project}/"
    for name, headers in measure.PROFILES.items():
        for _ in range(2):
            info = measure.curl(url, headers)
            if info["http_code"] != 200:
                raise RuntimeError(
                    f"{url} ({name} headers): HTTP {info['http_code']}, expected 200"
                )
        headers_out = info["headers"]
        assert isinstance(headers_out, dict)
        ctx.record(server.name, f"{test}.{name}.type", headers_out.get("content-type", ["?"])[0])
        ctx.record(server.name, f"{test}.{name}.gzip", "content-encoding" in headers_out)
        ctx.record(server.name, f"{test}.{name}.bytes", info["size_download"])
    ctx.urls[f"{server.name}.{test}"] = url


def page_rep(ctx: Context, server: Server, test: str, profile: str, rep: int) -> None:
    key = f"{test}.{profile}"
    with ctx.quiet(server, key, rep), procs.CpuTime(server.root_pid) as cpu:
        hits = ctx.nginx.hits()
        result = measure.wrk(
            ctx.urls[f"{server.name}.{test}"], measure.PROFILES[profile], 64, ctx.seconds
        )
        upstream = ctx.nginx.hits() - hits
    ctx.record(
        server.name, f"{key}.cpu_us_per_req", cpu.seconds * 1e6 / max(result.requests, 1), rep
    )
    ctx.record(server.name, f"{key}.rps", result.rps, rep)
    ctx.record(server.name, f"{key}.p99_ms", result.p99_ms, rep)
    ctx.record(server.name, f"{key}.errors", result.errors, rep)
    if server.caches:
        ctx.record(server.name, f"{key}.hits_per_req", upstream / max(result.requests, 1), rep)
    ctx.log(f"  {server.name} {key} rep {rep}: {result.rps:,.1f} req/s p99 {result.p99_ms} ms")


def prepare_file(ctx: Context, server: Server) -> None:
    link = ctx.tree.big_files["10mb"]
    url = measure.file_url(f"{server.index_url}{BIG}/", link.filename)
    fetched = measure.download(url)
    if (fetched.status, fetched.sha256) != (200, link.sha256):
        raise RuntimeError(
            f"{url}: HTTP {fetched.status} sha256 {fetched.sha256}, expected 200 {link.sha256}"
        )
    ctx.urls[f"{server.name}.c"] = url


def file_rep(ctx: Context, server: Server, rep: int) -> None:
    size = ctx.tree.big_files["10mb"].size
    with ctx.quiet(server, "c.file10", rep), procs.CpuTime(server.root_pid) as cpu:
        result = measure.wrk(ctx.urls[f"{server.name}.c"], {}, 16, ctx.seconds)
    ctx.record(
        server.name, "c.file10.cpu_s_per_gb", cpu.seconds / (result.requests * size / 1e9), rep
    )
    if result.errors:
        raise RuntimeError(f"{server.name}: {result.errors} errors or non-2xx responses under load")
    ctx.record(server.name, "c.file10.mbps", result.rps * size / MB, rep)
    ctx.record(server.name, "c.file10.p99_ms", result.p99_ms, rep)
    ctx.log(f"  {server.name} c rep {rep}: {result.rps * size / MB:,.0f} MB/s")


def _timed_page(url: str) -> float:
    info = measure.curl(url, measure.PIP_HEADERS)
    if info["http_code"] != 200:
        raise RuntimeError(f"{url}: HTTP {info['http_code']}, expected 200")
    return float(str(info["time_total"]))


def cold_file_rep(ctx: Context, server: Server, rep: int) -> None:
    """Fresh server; cold pages, then the 200 MB file while its memory is watched."""
    link = ctx.tree.big_files["200mb"]
    ctx.record(server.name, "d.start_s", server.start(), rep)
    ctx.record(server.name, "d.cold_small_s", _timed_page(f"{server.index_url}{SMALL}/"), rep)
    ctx.record(server.name, "d.cold_huge_s", _timed_page(f"{server.index_url}{HUGE}/"), rep)
    url = measure.file_url(f"{server.index_url}{BIG}/", link.filename)
    with ctx.quiet(server, "d.cold200", rep):
        before = procs.reset_hwm(procs.tree(server.root_pid))
        hits = ctx.nginx.hits()
        with procs.RssSampler(server.root_pid) as sampler:
            cold = measure.download(url)
        upstream = ctx.nginx.hits() - hits
        hwm, hwm_growth = procs.hwm_growth(before)
    if (cold.status, cold.size, cold.sha256) != (200, link.size, link.sha256):
        raise RuntimeError(f"{url}: HTTP {cold.status}, {cold.size} bytes, sha256 {cold.sha256}")
    values = {
        "ttfb_s": cold.ttfb_s,
        "wall_s": cold.wall_s,
        "redirects": cold.redirects,
        "rss_peak_mb": sampler.peak / MB,
        "rss_growth_mb": (sampler.peak - sampler.baseline) / MB,
        "hwm_mb": hwm / MB,
        "hwm_growth_mb": hwm_growth / MB,
    }
    if server.caches:
        values["hits"] = upstream
    for key, value in values.items():
        ctx.record(server.name, f"d.cold200.{key}", value, rep)
    warm = measure.download(url)
    if warm.sha256 != link.sha256:
        raise RuntimeError(f"{url}: warm refetch sha256 {warm.sha256}, expected {link.sha256}")
    ctx.record(server.name, "d.warm200.wall_s", warm.wall_s, rep)
    ctx.log(
        f"  {server.name} d rep {rep}: ttfb {cold.ttfb_s * 1000:.1f} ms wall {cold.wall_s:.2f} s "
        f"rss +{values['rss_growth_mb']:.1f} MB hwm +{values['hwm_growth_mb']:.1f} MB"
    )


def pip_rep(ctx: Context, server: Server, rep: int) -> None:
    """Fresh server; ``pip download`` cold, then again warm."""
    ctx.record(server.name, "e.start_s", server.start(), rep)
    for phase in ("cold", "warm"):
        with ctx.quiet(server, f"e.pip.{phase}", rep):
            hits = ctx.nginx.hits()
            seconds = measure.pip_download(
                ctx.client_python, server.index_url, ctx.requirements, ctx.tree.pip_files
            )
            upstream = ctx.nginx.hits() - hits
        ctx.record(server.name, f"e.pip.{phase}_s", seconds, rep)
        if server.caches:
            ctx.record(server.name, f"e.pip.{phase}_hits", upstream, rep)
        ctx.log(f"  {server.name} e rep {rep}: pip {phase} {seconds:.2f} s")
