"""Turns what a request learnt (``RequestContext``) into a fetch-log row and metrics."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from proxy.model import DistFile, filename_version
from proxy.repository import RequestContext
from proxy.state import AppState
from storage.base import FetchRecord

logger = logging.getLogger(__name__)

# A page can hide thousands of files; the row keeps the first verdicts and counts the rest.
MAX_VERDICTS_PER_ROW = 100


def verdict_rows(ctx: RequestContext) -> tuple[dict[str, str], ...]:
    rows = [
        {"policy": v.policy, "decision": v.decision.value, "reason": v.reason}
        | ({"mode": "audit"} if v.audit else {})
        for v in ctx.verdicts
    ]
    if len(rows) > MAX_VERDICTS_PER_ROW:
        extra = len(rows) - MAX_VERDICTS_PER_ROW
        rows = rows[:MAX_VERDICTS_PER_ROW]
        rows.append({"policy": "*", "decision": "note", "reason": f"{extra} more verdicts"})
    return tuple(rows)


async def record_fetch(
    state: AppState,
    ctx: RequestContext,
    kind: str,
    project: str | None,
    status: int,
    *,
    file: DistFile | None = None,
    filename: str | None = None,
    sha256: str | None = None,
    size: int | None = None,
    durable: bool = False,
) -> None:
    """``file`` when the listing was found; else ``filename`` alone (refused, not found)."""
    filename = file.filename if file is not None else filename
    version = filename_version(filename) if filename is not None else None
    record = FetchRecord(
        time=dt.datetime.now(dt.UTC),
        client=ctx.client,
        kind=kind,
        project=project,
        status=status,
        user=ctx.user,
        build=ctx.build,
        version=str(version) if version is not None else None,
        filename=filename,
        sha256=sha256,
        size=size,
        cache=ctx.cache,
        upstream=ctx.upstream,
        url=file.url.split("#", 1)[0] if file is not None else None,
        verdicts=verdict_rows(ctx),
        attestation=ctx.attestation,
        upload_time=file.upload_time if file is not None else None,
    )
    state.metrics.observe_fetch(record, ctx.verdicts)
    if durable:
        await state.fetchlog.append_durable(record)
    else:
        await state.fetchlog.append(record)


@dataclass(frozen=True, slots=True)
class PendingFetch:
    """What a route is answering, kept on the request so a failure is logged too."""

    ctx: RequestContext
    kind: str
    project: str | None
    filename: str | None = None


async def record_failure(state: AppState, pending: PendingFetch, status: int) -> None:
    """The fetch-log row of a refused or failed request (403, 404, 502, 503 ...)."""
    await record_fetch(
        state, pending.ctx, pending.kind, pending.project, status, filename=pending.filename
    )
