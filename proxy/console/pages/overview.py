"""Overview: the last 24 hours in hourly bars (requests, cache hit rate, bytes served,
refusals), the health of every store and upstream, and the active policies."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from proxy.console.access import Viewer, state_of
from proxy.console.charts import Point, bar_chart
from proxy.console.handler import console_page, show
from proxy.console.reports import reports_of
from proxy.console.templating import size
from proxy.state import AppState
from storage.fetchlog_reports import Bucket


@dataclass(frozen=True, slots=True)
class Health:
    name: str
    ok: bool
    detail: str


async def store_health(state: AppState) -> list[Health]:
    checks = (
        ("blob store", state.stores.blobs.check),
        ("page store", state.stores.pages.check),
        ("state store", state.stores.state.check),
        ("fetch log", state.fetchlog.check),
    )
    found = []
    for name, check in checks:
        started = time.perf_counter()
        try:
            await check()
        except Exception as error:
            found.append(Health(name, False, str(error)))
        else:
            elapsed = 1000 * (time.perf_counter() - started)
            found.append(Health(name, True, f"answers in {elapsed:.1f} ms"))
    return found


def upstream_health(state: AppState) -> list[Health]:
    """Outcomes of this process's upstream requests since it started, from its metrics;
    an upstream is unhealthy when every request to it failed."""
    counts: dict[str, dict[str, float]] = {}
    for family in state.metrics.upstream_latency.collect():
        for sample in family.samples:
            if sample.name.endswith("_count"):
                upstream = sample.labels.get("upstream", "?")
                outcome = sample.labels.get("outcome", "?")
                counts.setdefault(upstream, {})[outcome] = sample.value
    found = []
    for name in sorted(counts):
        outcomes = counts[name]
        failed = sum(v for k, v in outcomes.items() if "error" in k or "timeout" in k)
        total = sum(outcomes.values())
        detail = ", ".join(f"{k} {v:.0f}" for k, v in sorted(outcomes.items())) or "no request yet"
        found.append(Health(name, total == 0 or failed < total, detail))
    return found


def charts(buckets: list[Bucket]) -> dict[str, object]:
    def label(b: Bucket) -> str:
        return b.start.strftime("%H:00")

    def rate(b: Bucket) -> float:
        return 100.0 * b.cache_hits / b.cache_lookups if b.cache_lookups else 0.0

    lookups = sum(b.cache_lookups for b in buckets)
    hits = sum(b.cache_hits for b in buckets)
    return {
        "requests": bar_chart(
            "c-req", "Requests per hour", [Point(label(b), b.requests) for b in buckets],
            lambda v: f"{v:.0f}",
        ),
        "hits": bar_chart(
            "c-hit", "Cache hit rate per hour", [Point(label(b), rate(b)) for b in buckets],
            lambda v: f"{v:.0f} %",
        ),
        "bytes": bar_chart(
            "c-bytes", "Bytes served per hour",
            [Point(label(b), b.bytes_served) for b in buckets], size,
        ),
        "refusals": bar_chart(
            "c-ref", "Refusals per hour", [Point(label(b), b.refusals) for b in buckets],
            lambda v: f"{v:.0f}",
        ),
        "totals": {
            "requests": sum(b.requests for b in buckets),
            "hit_rate": f"{100.0 * hits / lookups:.0f} %" if lookups else "-",
            "bytes": size(sum(b.bytes_served for b in buckets)),
            "refusals": sum(b.refusals for b in buckets),
        },
    }  # fmt: skip


@console_page
async def overview(request: Request, viewer: Viewer) -> Response:
    state = state_of(request)
    until = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) + dt.timedelta(
        hours=1
    )
    buckets = await reports_of(state).summary(until - dt.timedelta(hours=24), until)
    workflow = state.workflow
    pending = 0
    if workflow is not None:
        pending = sum(1 for v in workflow.snapshot.item_views() if v.state.value == "pending")
    return show(
        request,
        viewer,
        "overview.html",
        "overview",
        charts=charts(buckets),
        stores=await store_health(state),
        upstreams=upstream_health(state),
        policies=state.engine.describe(),
        generation=state.engine.generation,
        pending=pending,
    )


__all__ = ["overview"]
