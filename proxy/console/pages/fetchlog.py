"""Fetch log: search with filters, and the same search exported as CSV or JSON lines."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from proxy.console.access import Viewer, state_of
from proxy.console.filters import KINDS, cursor, parse_filter
from proxy.console.handler import console_page, message_page, show
from proxy.console.reports import reports_of
from proxy.console.templating import HEADERS
from storage.base import FetchRecord
from storage.fetchlog_reports import LoggedRow

PAGE_ROWS = 100
EXPORT_ROWS = 100_000
EXPORT_COLUMNS = (
    "id", "time", "client", "user", "build", "kind", "project", "version", "filename",
    "sha256", "size", "cache", "upstream", "status", "attestation", "verdicts",
)  # fmt: skip


@console_page
async def fetch_log(request: Request, viewer: Viewer) -> Response:
    state = state_of(request)
    parsed = parse_filter(request.query_params, dt.datetime.now(dt.UTC))
    rows: list[LoggedRow] = []
    if not parsed.problems:
        await state.fetchlog.flush()
        rows = await reports_of(state).search(
            parsed.where, PAGE_ROWS + 1, cursor(request.query_params)
        )
    more = len(rows) > PAGE_ROWS
    rows = rows[:PAGE_ROWS]
    return show(
        request,
        viewer,
        "log.html",
        "log",
        rows=rows,
        parsed=parsed,
        kinds=KINDS,
        next_before=rows[-1].cursor if more and rows else None,
    )


def export_row(row: LoggedRow) -> dict[str, object]:
    record: FetchRecord = row.record
    return {
        "id": row.row_id,
        "time": record.time.isoformat(),
        "client": record.client,
        "user": record.user,
        "build": record.build,
        "kind": record.kind,
        "project": record.project,
        "version": record.version,
        "filename": record.filename,
        "sha256": record.sha256,
        "size": record.size,
        "cache": record.cache,
        "upstream": record.upstream,
        "status": record.status,
        "attestation": record.attestation,
        "verdicts": [dict(v) for v in record.verdicts],
    }


@console_page
async def export(request: Request, viewer: Viewer) -> Response:
    """``log.csv`` / ``log.json`` (JSON lines): the latest 100,000 matching rows."""
    state = state_of(request)
    parsed = parse_filter(request.query_params, dt.datetime.now(dt.UTC))
    if parsed.problems:
        problems = "; ".join(f"{k}: {v}" for k, v in parsed.problems.items())
        return message_page(request, 400, f"invalid filter: {problems}")
    await state.fetchlog.flush()
    rows = await reports_of(state).search(parsed.where, EXPORT_ROWS)
    as_csv = request.url.path.endswith(".csv")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"pipgate-fetch-log-{stamp}.{'csv' if as_csv else 'jsonl'}"
    headers = HEADERS | {"Content-Disposition": f'attachment; filename="{name}"'}
    if as_csv:
        return StreamingResponse(_csv(rows), media_type="text/csv", headers=headers)
    return StreamingResponse(_jsonl(rows), media_type="application/x-ndjson", headers=headers)


async def _csv(rows: list[LoggedRow]) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, EXPORT_COLUMNS)
    writer.writeheader()
    for index, row in enumerate(rows):
        values = export_row(row)
        values["verdicts"] = json.dumps(values["verdicts"], sort_keys=True)
        writer.writerow(values)
        if index % 1000 == 999:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


async def _jsonl(rows: list[LoggedRow]) -> AsyncIterator[str]:
    chunk: list[str] = []
    for row in rows:
        chunk.append(json.dumps(export_row(row), sort_keys=True))
        if len(chunk) == 1000:
            yield "\n".join(chunk) + "\n"
            chunk = []
    if chunk:
        yield "\n".join(chunk) + "\n"


__all__ = ["export", "export_row", "fetch_log"]
