"""Decisions: every fetch-log row with a verdict (refusals, audit verdicts, waiver uses,
holds, releases, warnings), newest first, with filters and links to the project."""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request
from starlette.responses import Response

from proxy.console.access import Viewer, state_of
from proxy.console.filters import DECISIONS, cursor, parse_filter
from proxy.console.handler import console_page, show
from proxy.console.reports import reports_of

PAGE_ROWS = 50


@console_page
async def decisions(request: Request, viewer: Viewer) -> Response:
    state = state_of(request)
    parsed = parse_filter(request.query_params, dt.datetime.now(dt.UTC), decisions_only=True)
    rows = []
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
        "decisions.html",
        "decisions",
        rows=rows,
        parsed=parsed,
        decisions=DECISIONS,
        policies=sorted({p.name for p in state.engine.current.active}),
        next_before=rows[-1].cursor if more and rows else None,
    )


__all__ = ["decisions"]
